"""Where the project's non-Python files are: Jinja templates, study configs, vendored JavaScript.

In a source checkout they sit at the project root (``templates/``, ``configs/``, ``.vendor/``).
An installed wheel (``pip install .``) carries them inside the package as ``report/templates``,
``report/configs`` and ``report/vendor`` (see ``pyproject.toml``). Both layouts are looked up
here, in that order, so no other module hard-codes a path.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent


def _first_dir(*candidates: Path) -> Path:
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]


def templates_dir() -> Path:
    """Folder of the Markdown page templates."""
    return _first_dir(PROJECT_ROOT / "templates", PACKAGE_DIR / "templates")


def configs_dir() -> Path:
    """Folder of the shipped study configs (``demo.toml``, ...)."""
    return _first_dir(PROJECT_ROOT / "configs", PACKAGE_DIR / "configs")


def mathjax_dir() -> Path:
    """Folder of the vendored MathJax ``es5`` build (``tex-chtml.js`` and its fonts)."""
    return _first_dir(PROJECT_ROOT / ".vendor" / "mathjax" / "es5", PACKAGE_DIR / "vendor" / "mathjax" / "es5")


def is_source_checkout() -> bool:
    """True when running from the project's own folder (not from an installed wheel)."""
    return (PROJECT_ROOT / "configs").is_dir() and (PROJECT_ROOT / "build_report.py").is_file()
