"""Number formatting shared by pages and paper, so the same value reads the same everywhere.

Rules a reader expects: counts are integers with thousands separators and never in scientific
notation (``68,970``, not ``6.897e+04`` or ``68970.000``); a spread is written with ``±``; a
count agrees with its noun (``1 network``, ``2 networks``, never ``network(s)``).
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, (float, np.floating)) and math.isnan(x))


def num(x: float, digits: int = 3) -> str:
    """Format a number with ``digits`` significant digits; integers and large values without decimals."""
    if _missing(x):
        return "\u2014"
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return f"{int(x):,d}"
    x = float(x)
    if abs(x) >= 10 ** digits or (x == round(x) and abs(x) >= 1):
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def fixed(x: float, decimals: int = 3) -> str:
    """Fixed decimals; NaN as an em dash."""
    if _missing(x):
        return "\u2014"
    return f"{x:.{decimals}f}"


def pct(x: float, decimals: int = 1) -> str:
    """Fraction as a percentage."""
    if _missing(x):
        return "\u2014"
    return f"{100 * x:.{decimals}f}%"


def count(n: int) -> str:
    """An integer count with thousands separators."""
    return f"{int(n):,d}"


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``"1 network"``, ``"2 networks"``, ``"3 identities"`` (pass ``many`` for irregular plurals)."""
    n = int(n)
    return f"{n:,d} {noun if n == 1 else (many or noun + 's')}"


def pm(mean: float, std: float, decimals: int = 3, percent: bool = False) -> str:
    """``"0.912 ± 0.010"`` (or ``"91.2% ± 1.0%"`` with ``percent``)."""
    if percent:
        return f"{pct(mean, decimals)} \u00b1 {pct(std, decimals)}"
    return f"{fixed(mean, decimals)} \u00b1 {fixed(std, decimals)}"


_FLOAT_SPEC = re.compile(r"^(?P<lead>[^.]*)\.(?P<digits>\d+)(?P<kind>[fgeE%])$")


def cell(value: Any, spec: str | None) -> str:
    """One table cell.

    NaN/None as an em dash, booleans as yes/no, integers (and integral floats under a default
    or ``g`` spec) as thousands-separated integers; ``g`` specs never switch to scientific
    notation for values of at least 1, so ``68970.0`` reads ``68,970``; a float spec applied to
    an integer gives the integer (a column of ``k`` reads ``5``, not ``5.000``).
    """
    if _missing(value):
        return "\u2014"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    is_int = isinstance(value, (int, np.integer))
    if spec:
        m = _FLOAT_SPEC.match(spec)
        if is_int and m and m.group("kind") != "%":
            return f"{int(value):,d}"
        if m and m.group("kind") == "g" and isinstance(value, (float, np.floating)):
            return num(float(value), int(m.group("digits")))
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            return str(value)
    if is_int:
        return f"{int(value):,d}"
    if isinstance(value, (float, np.floating)):
        return num(float(value), 3)
    return str(value)
