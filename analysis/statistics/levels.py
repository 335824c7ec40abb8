"""Error-rate levels (FAR, FMR, FPIR) and the one label each gets in keys, tables and figures.

A level such as ``1e-3`` names a column, a figure's marker, a value key
(``.../tar-at-far-1e-3``) and a table row. Labels rounded to one digit (``f"{x:.0e}"``) gave
0.015 the label of 0.01 and 0.0015 that of 0.002: a key named another level than it held, and
two levels sharing a key stopped the build after every analysis had run. So a level has at most
two significant digits (``1e-3``, ``2.5e-3``), checked when its parameters are made, and its label
is exact.
"""
from __future__ import annotations

import math
from typing import Sequence

#: Significant digits a level may have.
DIGITS = 2


def level_text(x: float) -> str:
    """``1e-3`` for 0.001, ``2.5e-3`` for 0.0025, ``1.5e-1`` for 0.15 (exact for a valid level)."""
    mantissa, exponent = f"{float(x):.{DIGITS - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def level_slug(x: float) -> str:
    """``1e-3``, ``2-5e-3``: the label as a part of a value key (no dot)."""
    return level_text(x).replace(".", "-")


def check_levels(name: str, levels: Sequence[float], *, allow_empty: bool = False) -> tuple[float, ...]:
    """``levels`` as floats, or ValueError naming ``name``: each in (0, 1), at most two significant digits, distinct.

    Raises
    ------
    ValueError
        On an empty list (unless ``allow_empty``), a value outside (0, 1) or not finite, one with more digits than
        its label shows, or two equal levels.
    """
    try:
        values = tuple(float(f) for f in levels)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of rates in (0, 1) such as [0.01, 0.001], got {levels!r}") from None
    if not values and not allow_empty:
        raise ValueError(f"{name} must be a non-empty list of rates in (0, 1) such as [0.01, 0.001]")
    for f in values:
        if not (math.isfinite(f) and 0 < f < 1):
            raise ValueError(f"{name} must be rates in (0, 1) such as [0.01, 0.001], got {list(values)}")
        if not math.isclose(float(level_text(f)), f, rel_tol=1e-9):
            raise ValueError(f"{name}: {f!r} has more than {DIGITS} significant digits (levels are labelled "
                             f"{level_text(f)}, which would name another level); use e.g. {level_text(f)}")
    labels = [level_text(f) for f in values]
    if len(set(labels)) != len(labels):
        raise ValueError(f"{name} must not repeat a level, got {list(values)}")
    return values
