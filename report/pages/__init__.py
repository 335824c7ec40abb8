"""Page builders: typed analysis results -> page model sections, one module per analysis."""
