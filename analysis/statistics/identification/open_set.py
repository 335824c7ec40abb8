"""Open-set identification: FNIR at FPIR, as NIST FRTE 1:N and IJB-C define them.

With a threshold ``t`` on the rank-1 score of a search of the open-set gallery [1]_ [2]_:

* the **false positive identification rate** FPIR(t) is the share of *non-mated* searches (probes
  of identities not in the gallery) whose rank-1 candidate scores at least ``t``;
* the **false negative identification rate** FNIR(t) is the share of *mated* searches whose mate
  is not returned at rank 1 with a score of at least ``t`` (NIST's FNIR(N, R = 1, T); IJB-C's
  TPIR at FPIR is ``1 - FNIR``). NIST's FRTE 1:N tables at a threshold count a mate returned
  above the threshold at any rank of the candidate list; that FNIR (the share of mated searches
  whose mate scores below ``t``) is reported beside it (``fnir_any_rank``).

FNIR at an FPIR level ``f`` uses the lowest threshold whose FPIR does not exceed ``f``: with the
non-mated rank-1 scores sorted in decreasing order ``u_1 >= u_2 >= ...`` and ``q = floor(f N)``,
the threshold lies just above ``u_{q+1}``. It is reported only when at least
``min_nonmated_above`` non-mated searches score at or above it; its interval is the Wilson
interval over the mated searches at that threshold (the threshold itself taken as fixed).

References
----------
.. [1] Grother, Ngan, Hanaoka. "Face Recognition Vendor Test (FRVT) Part 2: Identification."
   NISTIR 8271 (2019), section 3: FNIR(N, R, T) and FPIR(N, T).
.. [2] Maze et al. "IARPA Janus Benchmark - C: Face Dataset and Protocol." ICB 2018 (open-set
   1:N protocol: TPIR = 1 - FNIR at FPIR).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from analysis.statistics.uncertainty import Interval, wilson_interval


@dataclass(frozen=True)
class FnirAtFpir:
    """FNIR at one FPIR level, or why it is not estimable (then ``fnir`` is NaN and ``interval`` None)."""

    fpir: float  # the level
    fnir: float  # rank 1
    interval: Interval | None
    fnir_any_rank: float  # mate below the threshold, whatever its rank (NIST FRTE 1:N, T > 0)
    threshold: float
    achieved_fpir: float  # FPIR at the threshold (at most the level)
    nonmated_above: int
    n_nonmated: int
    estimable: bool
    reason: str


@dataclass(frozen=True, eq=False)
class OpenSetResult:
    """Result of :func:`open_set_metrics`."""

    enrolled_identities: int
    unenrolled_identities: tuple[str, ...]
    n_mated: int
    n_nonmated: int
    fnir_at_fpir: tuple[FnirAtFpir, ...]
    rank1_fnir: float  # FNIR without a threshold: mated searches whose rank-1 candidate is not the mate
    thresholds: np.ndarray  # the curve, by decreasing threshold
    fpir: np.ndarray
    fnir: np.ndarray


def open_set_metrics(mated_hit_score: np.ndarray, nonmated_score: np.ndarray, levels: Sequence[float],
                     min_nonmated_above: int, confidence: float, enrolled_identities: int,
                     unenrolled: tuple[str, ...], mated_score: np.ndarray | None = None) -> OpenSetResult:
    """FNIR at each FPIR level and the FNIR-vs-FPIR curve.

    Parameters
    ----------
    mated_hit_score : ndarray of shape (n_mated,)
        For each mated search, the mate's score when the mate is the rank-1 candidate, NaN
        otherwise (a miss at any threshold).
    nonmated_score : ndarray of shape (n_nonmated,)
        Rank-1 score of each non-mated search.
    mated_score : ndarray of shape (n_mated,), optional
        The mate's score of every mated search, whatever its rank (for ``fnir_any_rank``); by
        default the hits' scores (then both FNIRs are the rank-1 one).
    levels : sequence of float
    min_nonmated_above : int
    confidence : float
    enrolled_identities : int
    unenrolled : tuple of str
    """
    hits = np.asarray(mated_hit_score, dtype=np.float64)
    nm = np.sort(np.asarray(nonmated_score, dtype=np.float64))[::-1]
    n_mated, n_nm = len(hits), len(nm)
    hit_sorted = np.sort(hits[np.isfinite(hits)])
    mate_sorted = np.sort(np.asarray(mated_score, dtype=np.float64)) if mated_score is not None else hit_sorted

    def fnir_at(t: float) -> tuple[float, int]:
        found = len(hit_sorted) - int(np.searchsorted(hit_sorted, t, side="left"))  # hits scoring >= t
        return (1.0 - found / n_mated if n_mated else float("nan")), n_mated - found

    rows = []
    for level in levels:
        q = int(math.floor(level * n_nm + 1e-9))
        if n_nm == 0:
            rows.append(FnirAtFpir(level, float("nan"), None, float("nan"), float("nan"), float("nan"), 0, 0, False,
                                   "no non-mated searches"))
            continue
        t = float(np.nextafter(nm[q], np.inf)) if q < n_nm else float(nm[-1])
        above = int(np.sum(nm >= t))
        fnir, misses = fnir_at(t)
        any_rank = float(np.searchsorted(mate_sorted, t, side="left") / n_mated) if n_mated else float("nan")
        if above < min_nonmated_above:
            need = int(math.ceil(min_nonmated_above / level))
            rows.append(FnirAtFpir(level, float("nan"), None, float("nan"), t, above / n_nm, above, n_nm, False, (
                f"only {above:,d} of {n_nm:,d} non-mated searches score above its threshold; at least "
                f"{min_nonmated_above:,d} are needed (about {need:,d} non-mated searches at this FPIR)")))
            continue
        rows.append(FnirAtFpir(level, fnir, wilson_interval(misses, n_mated, confidence), any_rank, t, above / n_nm,
                               above, n_nm, True, ""))
    # The curve: at each distinct non-mated score (and above the highest: FPIR 0).
    thr = np.unique(nm)[::-1]
    thr = np.concatenate([[np.nextafter(thr[0], np.inf)] if len(thr) else [np.inf], thr])
    fpir = (n_nm - np.searchsorted(nm[::-1], thr, side="left")) / max(n_nm, 1)
    fnir = 1.0 - (len(hit_sorted) - np.searchsorted(hit_sorted, thr, side="left")) / max(n_mated, 1)
    rank1 = 1.0 - len(hit_sorted) / n_mated if n_mated else float("nan")
    return OpenSetResult(enrolled_identities, unenrolled, n_mated, n_nm, tuple(rows), rank1, thr, fpir, fnir)
