"""Frozen results of :func:`analysis.statistics.verification.differentials.differentials.analyze_differentials`."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.statistics.uncertainty import Interval
from analysis.statistics.verification.differentials.params import DifferentialsParams
from analysis.statistics.verification.differentials.thresholds import OperatingPoint

#: Name of the group of rows without a value when ``[differentials] missing = "group"``.
MISSING_GROUP = "(missing)"


@dataclass(frozen=True)
class GroupRate:
    """One group's FNMR or FMR at one global threshold.

    ``errors`` false non-matches (false matches) among ``pairs`` mated (non-mated) pairs inside the
    group; above ``exact_max_rows`` the FMR's counts are those of the stratified sample. ``interval``
    is ``None`` when the rate is not estimable (``reason`` says why) or the group has too few
    identities for a bootstrap.
    """

    estimate: float
    interval: Interval | None
    errors: int
    pairs: int
    reason: str = ""

    @property
    def estimable(self) -> bool:
        return not self.reason


@dataclass(frozen=True)
class GroupResult:
    """Everything measured inside one group of one column."""

    name: str
    rows: int
    identities: int
    mated_pairs: int
    nonmated_pairs: int  # all of them, also when they were sampled
    eer: float
    eer_threshold: float
    d_prime: float
    fnmr: tuple[GroupRate, ...]  # one per FMR level
    fmr: tuple[GroupRate, ...]
    few_identities: bool  # fewer than min_identities: shown, flagged, no interval, not in the ratios


@dataclass(frozen=True)
class GroupRatio:
    """Max/min of one rate across the groups at one threshold, with its bootstrap interval.

    ``estimate`` is the highest group's rate over the lowest's (``inf`` when the lowest had no error at
    all, ``nan`` when fewer than two groups could be compared: ``reason`` says why). ``interval`` is the
    bootstrap interval of the ratio of these two groups' rates: when it holds 1, the two named groups do
    not differ beyond the sampling of identities.
    """

    metric: str  # "FNMR" or "FMR"
    level: float
    estimate: float
    interval: Interval | None
    highest: str
    lowest: str
    groups: int  # groups compared
    reason: str = ""

    @property
    def available(self) -> bool:
        return not self.reason and not math.isnan(self.estimate)


@dataclass(frozen=True, eq=False)
class ColumnDifferentials:
    """The differentials of one group column (``sex``, ``age_band``, ``session``...)."""

    column: str
    groups: tuple[GroupResult, ...]  # sorted by name
    cross_fmr: np.ndarray  # (levels, groups, groups): FMR of non-mated pairs with one side in each
    cross_pairs: np.ndarray  # (groups, groups) non-mated pairs, all of them
    cross_sampled: np.ndarray  # (groups, groups) non-mated pairs binned (sampled above exact_max_rows)
    cross_estimable: np.ndarray  # (levels, groups, groups) bool
    ratios: tuple[GroupRatio, ...]  # FNMR then FMR, one per level
    missing_rows: int  # rows without a value in this column
    mixed_identities: int  # identities with rows in two or more groups (a per-image covariate)
    cross_group_mated_pairs: int  # mated pairs whose two rows are in different groups: in no group's FNMR
    skipped: str = ""  # why the column was not analysed ("" when it was)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups)

    def ratio(self, metric: str, level: float) -> GroupRatio | None:
        return next((r for r in self.ratios if r.metric == metric and r.level == level), None)


@dataclass(frozen=True, eq=False)
class DifferentialsResult:
    """Result of :func:`~analysis.statistics.verification.differentials.differentials.analyze_differentials`."""

    n_samples: int
    n_identities: int
    operating_points: tuple[OperatingPoint, ...]  # the global thresholds, one per FMR level
    columns: tuple[ColumnDifferentials, ...]
    sampled: bool  # non-mated pairs sampled (above exact_max_rows)
    impostor_pairs: int  # non-mated pairs of the set
    impostor_pairs_binned: int  # of them binned for the global thresholds
    bootstrap_reps: int
    bootstrap_pairs_exhaustive: bool  # the replicates' FMRs read every non-mated pair of every group
    confidence: float
    planted: str  # synthetic data: the differential the generator planted ("" otherwise)
    sources: str  # where the group values came from (the dataset adapter's note)
    params: DifferentialsParams

    @property
    def levels(self) -> tuple[float, ...]:
        return tuple(p.level for p in self.operating_points)
