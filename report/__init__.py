"""Rendering: page model, figures, tables, site and paper."""
