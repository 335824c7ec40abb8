"""The ``[differentials]`` table: operating points, missing values, intervals, estimability, cost.

Settings shared with the similarity analysis (histogram bins, the exact/sampled switch, the
impostor sample, the estimability rule, the confidence level) default to ``None``: the study
takes them from ``[similarity]`` (:meth:`DifferentialsParams.following`), so that this page's
thresholds are the similarity page's and one switch moves both to the large-set path.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from analysis.statistics.levels import check_levels


@dataclass(frozen=True)
class DifferentialsParams:
    """The ``[differentials]`` table.

    Parameters
    ----------
    enabled : bool, default=True
        Runs on every cell whose dataset has ``group_columns`` (``[[datasets]]``); other cells get no page.
    fmr_levels : tuple of float, default=(1e-2, 1e-3, 1e-4)
        False match rates over all pairs that set the global thresholds (NIST's operating points).
    missing : {"exclude", "group"}, default="exclude"
        Rows without a value: left out of every group (``"exclude"``, counted on the page), or a group
        of their own named ``(missing)``. Either way they count in the global thresholds (all pairs).
    min_identities : int, default=10
        Groups with fewer identities are shown but flagged and get no interval (a bootstrap over a
        handful of people says nothing), and they are left out of the max/min ratios.
    max_groups : int, default=20
        A column with more distinct values is not analysed (the page says why): bin ages into bands first.
    bootstrap_reps : int, default=200
        Replicates of the bootstrap over identities; 0 for none.
    bootstrap_impostor_pairs : int, default=20_000_000
        Non-mated pairs inside each group that the replicates' FMRs are read from, all of them when the
        group has fewer, else a seeded sample (point estimates always use every pair, up to
        ``exact_max_rows``).
    block_rows : int, default=512
        Rows per float32 block of the all-pairs pass (memory about ``block_rows * 32768 * 20`` bytes).
    n_bins, exact_max_rows, impostor_samples, min_impostor_pairs : int or None
        As in ``[similarity]`` (``None``: follow it). Above ``exact_max_rows`` rows, mated pairs stay
        exact and non-mated pairs are sampled, ``impostor_samples`` per column, stratified by pair of
        groups. A group's FMR at level ``f`` is estimable when the group holds at least
        ``min_impostor_pairs / f`` non-mated pairs (sampled pairs above ``exact_max_rows``).
    confidence : float or None
        Level of every interval (``None``: ``[similarity] confidence``).
    """

    enabled: bool = True
    fmr_levels: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
    missing: Literal["exclude", "group"] = "exclude"
    min_identities: int = 10
    max_groups: int = 20
    bootstrap_reps: int = 200
    bootstrap_impostor_pairs: int = 20_000_000
    block_rows: int = 512
    n_bins: int | None = None
    exact_max_rows: int | None = None
    impostor_samples: int | None = None
    min_impostor_pairs: int | None = None
    confidence: float | None = None

    def __post_init__(self) -> None:
        check_levels("fmr_levels", self.fmr_levels)
        if self.min_identities < 2 or not 2 <= self.max_groups <= 100:
            raise ValueError("min_identities must be >= 2 and max_groups in [2, 100]")
        if self.bootstrap_reps < 0 or self.bootstrap_impostor_pairs < 1 or self.block_rows < 1:
            raise ValueError("bootstrap_reps >= 0, bootstrap_impostor_pairs >= 1 and block_rows >= 1 are required")
        if self.n_bins is not None and not 10 <= self.n_bins <= 100_000:
            raise ValueError(f"n_bins must be in [10, 100000], got {self.n_bins}")
        if self.exact_max_rows is not None and self.exact_max_rows < 0:
            raise ValueError("exact_max_rows must be >= 0 (0: always exact)")
        if self.impostor_samples is not None and self.impostor_samples < 1:
            raise ValueError("impostor_samples must be >= 1")
        if self.min_impostor_pairs is not None and self.min_impostor_pairs < 1:
            raise ValueError("min_impostor_pairs must be >= 1")
        if self.confidence is not None and not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")

    def following(self, similarity) -> "DifferentialsParams":
        """These params with every ``None`` setting taken from a ``SimilarityParams``."""
        shared = ("n_bins", "exact_max_rows", "impostor_samples", "min_impostor_pairs", "confidence")
        return dataclasses.replace(self, **{k: getattr(similarity, k) for k in shared if getattr(self, k) is None})

    def resolved(self) -> "DifferentialsParams":
        """Every shared setting set: those left ``None`` take ``SimilarityParams``' defaults."""
        from analysis.statistics.verification.similarity import SimilarityParams

        return self.following(SimilarityParams())
