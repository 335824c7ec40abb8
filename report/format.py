"""Number formatting shared by pages and paper, so the same value reads the same everywhere."""
from __future__ import annotations

import math


def num(x: float, digits: int = 3) -> str:
    """Format a float with ``digits`` significant digits; NaN as an em dash."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "\u2014"
    if isinstance(x, int):
        return f"{x:,d}"
    return f"{x:.{digits}g}" if abs(x) < 1e5 else f"{x:,.0f}"


def fixed(x: float, decimals: int = 3) -> str:
    """Fixed decimals; NaN as an em dash."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "\u2014"
    return f"{x:.{decimals}f}"


def pct(x: float, decimals: int = 1) -> str:
    """Fraction as a percentage."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "\u2014"
    return f"{100 * x:.{decimals}f}%"


def count(n: int) -> str:
    return f"{int(n):,d}"
