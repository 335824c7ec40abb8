"""Junk labels (``[study] junk_labels``, default ``unknown``) in identity tables.

A catch-all label names no person: as a row of a "top identities" table or as somebody's
"nearest other identity" it hides the answer the table is for. Identity tables drop it and the
page reports the junk group once, in one sentence of its own.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from report.model import Code, P, Paragraph


def is_junk(names, junk_labels: tuple[str, ...]) -> np.ndarray:
    """Boolean mask: which ``names`` are junk labels (compared case-insensitively)."""
    junk = {j.lower() for j in junk_labels}
    return np.array([str(n).lower() in junk for n in np.asarray(names)], dtype=bool)


def without_junk(frame: pd.DataFrame, junk_labels: tuple[str, ...], column: str = "identity") -> pd.DataFrame:
    """``frame`` without the rows whose ``column`` is a junk label."""
    return frame[~is_junk(frame[column], junk_labels)].reset_index(drop=True)


def junk_note(names, counts, junk_labels: tuple[str, ...]) -> Paragraph | None:
    """One sentence naming the junk groups present and their sizes; None when there is none."""
    mask = is_junk(names, junk_labels)
    if not mask.any():
        return None
    parts: list = ["Identity tables on this page leave out the catch-all "
                   + ("label " if mask.sum() == 1 else "labels ")]
    for i, (name, n) in enumerate(zip(np.asarray(names)[mask], np.asarray(counts)[mask])):
        parts += ([", "] if i else []) + [Code(str(name)), f" ({int(n):,d} images)"]
    parts.append(", which names no person ([study] junk_labels); it is not a candidate nearest identity either.")
    return P(*parts)
