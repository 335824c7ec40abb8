"""Verification in the terms of ISO/IEC 19795-1: FNMR at FMR, FMR100, FMR1000, ZeroFMR, ZeroFNMR.

The standard names a comparison of two samples of one person *mated* and of two people
*non-mated*; the false match rate FMR(t) is the share of non-mated comparisons that score at or
above the threshold ``t``, the false non-match rate FNMR(t) the share of mated comparisons below
it [1]_. Over all pairs of a set they are this project's FAR and 1 - TAR: the values here are
read from the same ROC (:func:`analysis.statistics.verification.verification.verification_metrics`, one
point per histogram bin edge), so their resolution is one bin (``2 / n_bins`` in cosine).

* **FNMR at FMR** for each level (NIST FRTE 1:1 report cards read FNMR at FMR = 1e-4 ... 1e-6
  [2]_): the lowest FNMR whose FMR does not exceed the level, with its threshold. The rule of
  TAR at FAR applies unchanged (:func:`analysis.statistics.uncertainty.tar_estimability`): it is
  reported only when at least ``min_impostor_pairs`` non-mated pairs score above its threshold,
  and its interval is the bootstrap over identities of TAR at that level, turned into
  ``1 - TAR`` (:func:`fnmr_from_tar`).
* **FMR100 and FMR1000** (FVC [3]_, pyeer [4]_): the lowest FNMR at FMR <= 1% and <= 0.1%, i.e.
  FNMR at FMR = 1e-2 and 1e-3.
* **ZeroFMR**: the lowest FNMR at which no non-mated pair is accepted; **ZeroFNMR**: the lowest
  FMR at which no mated pair is rejected. Each rests on one extreme pair (the highest non-mated or
  the lowest mated score), so it gets no interval; pages say so.

pyeer reads FMR100 at the threshold whose FMR is *nearest* 1% rather than at most 1%; the two
differ by one step of the non-mated scores, checked in the tests.

References
----------
.. [1] ISO/IEC 19795-1:2021, Information technology - Biometric performance testing and
   reporting - Part 1: Principles and framework.
.. [2] Grother, Ngan, Hanaoka. "Face Recognition Technology Evaluation (FRTE) Part 1:
   Verification." NIST (ongoing report cards, formerly FRVT 1:1).
.. [3] Maio, Maltoni, Cappelli, Wayman, Jain. "FVC2000: Fingerprint verification competition."
   IEEE TPAMI 24(3), 402-412 (2002).
.. [4] Aguado Martinez, pyeer: https://github.com/manuelaguadomtz/pyeer
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from analysis.statistics.uncertainty import Interval, TarAtFar, tar_estimability
from analysis.statistics.verification.verification import Verification

#: FMR levels of the FNMR at FMR table (NIST FRTE 1:1 reads 1e-4 ... 1e-6).
FMR_LEVELS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
#: The levels FMR100 and FMR1000 are read at.
FMR100, FMR1000 = 1e-2, 1e-3


@dataclass(frozen=True)
class FnmrAtFmr:
    """FNMR at one FMR level, or why it is not estimable (then ``fnmr`` is NaN and ``interval`` None)."""

    fmr: float
    fnmr: float
    interval: Interval | None
    threshold: float
    accepted_impostors: int  # non-mated pairs at or above the threshold
    n_impostor: int
    estimable: bool
    reason: str


@dataclass(frozen=True)
class ExtremePoint:
    """ZeroFMR (``value`` = FNMR, ``errors`` = mated pairs rejected) or ZeroFNMR (``value`` = FMR,
    ``errors`` = non-mated pairs accepted), at ``threshold`` (``inf``: every pair rejected)."""

    value: float
    threshold: float
    errors: int


@dataclass(frozen=True)
class OperatingPoints:
    """Result of :func:`operating_points`."""

    fnmr_at_fmr: tuple[FnmrAtFmr, ...]  # by decreasing FMR
    zero_fmr: ExtremePoint
    zero_fnmr: ExtremePoint
    n_genuine: int
    n_impostor: int

    def at(self, level: float) -> FnmrAtFmr:
        """The row of FMR ``level`` (KeyError naming the levels computed otherwise)."""
        for row in self.fnmr_at_fmr:
            if math.isclose(row.fmr, level, rel_tol=1e-9):
                return row
        raise KeyError(f"FMR {level:g} was not computed; levels: {', '.join(f'{r.fmr:g}' for r in self.fnmr_at_fmr)}")

    @property
    def fmr100(self) -> FnmrAtFmr:
        return self.at(FMR100)

    @property
    def fmr1000(self) -> FnmrAtFmr:
        return self.at(FMR1000)


def required_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """``levels`` with the FMR100 and FMR1000 levels added, unique, by decreasing FMR."""
    out: list[float] = []
    for f in sorted({float(f) for f in (*levels, FMR100, FMR1000)}, reverse=True):
        if not any(math.isclose(f, g, rel_tol=1e-9) for g in out):
            out.append(f)
    return tuple(out)


def fnmr_from_tar(t: TarAtFar) -> FnmrAtFmr:
    """The same operating point in ISO terms: FNMR = 1 - TAR, interval ``[1 - high, 1 - low]``."""
    interval = None
    if t.interval is not None:
        i = t.interval
        interval = Interval(1.0 - i.estimate, 1.0 - i.high, 1.0 - i.low, i.confidence)
    fnmr = 1.0 - t.interval.estimate if t.estimable and t.interval is not None else float("nan")
    return FnmrAtFmr(t.far, fnmr, interval, t.threshold, t.accepted_impostors, t.n_impostor, t.estimable, t.reason)


def _point_row(v: Verification, n_impostor: int, level: float, min_impostor_pairs: int) -> FnmrAtFmr:
    """A row without bootstrap replicates (no interval), by the same estimability rule."""
    tar, thr, accepted, reason = tar_estimability(v.far, v.tar, v.thresholds, n_impostor, level, min_impostor_pairs)
    return FnmrAtFmr(level, 1.0 - tar if not reason else float("nan"), None, thr, accepted, n_impostor,
                     not reason, reason)


def operating_points(v: Verification, n_genuine: int, n_impostor: int, levels: Sequence[float],
                     tar_at_fmr: Sequence[TarAtFar] = (), min_impostor_pairs: int = 100) -> OperatingPoints:
    """FNMR at each FMR level, ZeroFMR and ZeroFNMR from a cell's ROC.

    Parameters
    ----------
    v : Verification
        The ROC (``far``, ``tar``, ``thresholds``: accept when cosine >= threshold).
    n_genuine, n_impostor : int
        Mated and non-mated pairs behind the ROC.
    levels : sequence of float
        FMR levels; FMR100 and FMR1000 are added (:func:`required_levels`).
    tar_at_fmr : sequence of TarAtFar, optional
        The bootstrap's TAR at these levels
        (:func:`analysis.statistics.uncertainty.bootstrap_verification` with ``fmr_levels``): their
        intervals and estimability are used. Levels without one are computed from the ROC alone.
    min_impostor_pairs : int, default=100
        For levels without a bootstrap row: the estimability rule of TAR at FAR.

    Returns
    -------
    OperatingPoints
    """
    nan = float("nan")
    rows = []
    for level in required_levels(levels):
        given = [t for t in tar_at_fmr if math.isclose(t.far, level, rel_tol=1e-9)]
        rows.append(fnmr_from_tar(given[0]) if given else _point_row(v, n_impostor, level, min_impostor_pairs))
    if len(v.far) == 0 or n_genuine == 0 or n_impostor == 0:
        none = ExtremePoint(nan, nan, 0)
        return OperatingPoints(tuple(rows), none, none, int(n_genuine), int(n_impostor))
    far, tar, thr = np.asarray(v.far), np.asarray(v.tar), np.asarray(v.thresholds)
    # ZeroFMR: of the ROC points accepting no non-mated pair, the one accepting the most mated ones.
    j = int(np.flatnonzero(far <= 0)[-1])
    zero_fmr = ExtremePoint(float(1.0 - tar[j]), float(thr[j]), int(round((1.0 - tar[j]) * n_genuine)))
    # ZeroFNMR: the first (strictest) ROC point accepting every mated pair.
    i = int(np.flatnonzero(tar >= 1.0)[0])
    zero_fnmr = ExtremePoint(float(far[i]), float(thr[i]), int(round(far[i] * n_impostor)))
    return OperatingPoints(tuple(rows), zero_fmr, zero_fnmr, int(n_genuine), int(n_impostor))
