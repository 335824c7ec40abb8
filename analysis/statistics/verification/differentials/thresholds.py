"""The threshold that gives a false match rate over all pairs, read from a cosine histogram.

A pair is accepted when its cosine is at least the threshold; thresholds are bin edges, as in
:func:`analysis.statistics.verification.verification.verification_metrics`, so the one found here
for FMR = 1e-3 is the similarity page's threshold at FAR = 1e-3 when both read the same histogram.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def fmr_threshold_bin(impostor: np.ndarray, level: float, occupied: np.ndarray | None = None) -> int:
    """First accepted bin ``b`` of the loosest threshold whose FMR does not exceed ``level``.

    Parameters
    ----------
    impostor : ndarray of shape (n_bins,)
        Non-mated pair counts (or estimated counts, floats, from a weighted sample) per cosine bin.
    level : float
        Target false match rate in (0, 1).
    occupied : ndarray of shape (n_bins,) of bool, optional
        Bins holding any pair (mated or not). The threshold then moves up to the first occupied bin at
        or above ``b``: the same decisions on every pair, and the bin edge
        :func:`~analysis.statistics.verification.verification.verification_metrics` reports (its ROC
        has one point per occupied bin).

    Returns
    -------
    int
        ``b`` in ``[0, n_bins]``; pairs in bins ``>= b`` are accepted (``n_bins``: none is).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    counts = np.asarray(impostor, dtype=np.float64)
    total = counts.sum()
    n_bins = len(counts)
    if total <= 0:
        return n_bins
    # tail[b]: impostor weight in bins >= b, with tail[n_bins] = 0 (accept nothing).
    tail = np.concatenate([np.cumsum(counts[::-1])[::-1], [0.0]])
    b = int(np.flatnonzero(tail / total <= level)[0])
    if occupied is not None and b < n_bins:
        later = np.flatnonzero(np.asarray(occupied, dtype=bool)[b:])
        if len(later):
            b += int(later[0])
    return b


@dataclass(frozen=True)
class OperatingPoint:
    """The global threshold at one FMR level and what it does over all pairs.

    ``accepted_impostors`` counts the non-mated pairs (sampled ones above ``exact_max_rows``) at or
    above the threshold; below ``min_impostor_pairs`` the threshold rests on a handful of pairs and
    the level is not estimable (``reason`` says why), as for TAR@FAR.
    """

    level: float
    bin: int
    threshold: float  # cosine; a pair is accepted when its cosine is at least this
    fmr: float  # achieved over all non-mated pairs
    fnmr: float  # over all mated pairs
    accepted_impostors: int
    estimable: bool
    reason: str = ""


def operating_point(genuine: np.ndarray, impostor: np.ndarray, impostor_sampled: np.ndarray, edges: np.ndarray,
                    level: float, min_impostor_pairs: int) -> OperatingPoint:
    """The threshold at ``level`` over all pairs, its achieved FMR and FNMR, and whether it is estimable.

    Parameters
    ----------
    genuine : ndarray of shape (n_bins,)
        Mated pair counts over all pairs.
    impostor : ndarray of shape (n_bins,)
        Non-mated pair counts, or estimated counts of all pairs from a weighted sample.
    impostor_sampled : ndarray of shape (n_bins,)
        The non-mated pairs actually binned (``impostor`` itself on the exact path): the
        estimability count.
    edges : ndarray of shape (n_bins + 1,)
    level : float
    min_impostor_pairs : int
    """
    occupied = (np.asarray(genuine) + np.asarray(impostor_sampled)) > 0
    b = fmr_threshold_bin(impostor, level, occupied)
    n_imp, n_gen = float(np.sum(impostor)), float(np.sum(genuine))
    fmr = float(np.sum(impostor[b:]) / n_imp) if n_imp else math.nan
    fnmr = float(np.sum(genuine[:b]) / n_gen) if n_gen else math.nan
    accepted = int(np.sum(impostor_sampled[b:]))
    reason = ""
    if n_imp == 0:
        reason = "no non-mated pairs"
    elif accepted < min_impostor_pairs:
        reason = (f"only {accepted:,d} non-mated pairs score at or above its threshold; at least "
                  f"{min_impostor_pairs:,d} are needed (about {math.ceil(min_impostor_pairs / level):,d} pairs "
                  "at this FMR)")
    threshold = float(edges[min(b, len(edges) - 1)])
    return OperatingPoint(level, b, threshold, fmr, fnmr, accepted, not reason, reason)
