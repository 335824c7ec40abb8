"""The ``[identification]`` table of a study config (:class:`IdentificationParams`).

The analysis is :func:`analysis.statistics.identification.identification.analyze_identification`.
"""
from __future__ import annotations

from dataclasses import dataclass

from analysis.statistics.levels import check_levels


@dataclass(frozen=True)
class IdentificationParams:
    """The ``[identification]`` table.

    Parameters
    ----------
    enabled : bool, default=True
    gallery_images : int, default=1
        Items of each identity enrolled, the first ones in sorted item order; the template is the
        re-normalised mean of their L2-normalised embeddings. Identities with fewer than
        ``gallery_images + 1`` items are left out (counted on the page).
    unenrolled_share : float, default=0.2
        Share of the identities left out of the open-set gallery (seeded draw; at least one and at
        most all but one when positive); their probes are the non-mated searches. 0 turns the
        open-set protocol off.
    max_rank : int, default=20
        Last rank of the CMC curve.
    fpir_levels : tuple of float, default=(1e-1, 1e-2, 1e-3)
        False positive identification rates at which the false negative identification rate is
        reported (open set).
    min_nonmated_above : int, default=10
        An FNIR at an FPIR is reported only when at least this many non-mated searches score at or
        above its threshold; otherwise it is not estimable (the threshold would rest on a handful of
        searches).
    top_confusions : int, default=10
        Rows of the most-confused identity pairs and of the hardest identities.
    confidence : float, default=0.95
        Level of the Wilson intervals.
    exact_max_rows : int, default=200000
        Up to this many rows every probe is compared with every template; above (and with at
        least 1,024 templates) the templates are searched through an inverted file of seeded
        k-means cells, tuned and checked against the exact search on ``check_probes`` seeded probes
        (:mod:`analysis.statistics.identification.search`). 0 keeps the search exact at any size.
    check_probes : int, default=2000
        Probes searched exactly as well above ``exact_max_rows``, to measure the agreement.
    nonmated_sample : int, default=20000
        Above ``exact_max_rows``, at most this many non-mated searches (seeded) are scored exactly
        against the whole open-set gallery for the FPIR; their rank-1 score is the maximum of
        thousands of unrelated cosines, which an inverted file would underestimate.
    junk_labels : tuple of str, default=("unknown",)
        Labels that name no person: neither enrolled nor searched. Set from ``[study]
        junk_labels`` (the ``[identification]`` table does not take this key).
    """

    enabled: bool = True
    gallery_images: int = 1
    unenrolled_share: float = 0.2
    max_rank: int = 20
    fpir_levels: tuple[float, ...] = (1e-1, 1e-2, 1e-3)
    min_nonmated_above: int = 10
    top_confusions: int = 10
    confidence: float = 0.95
    exact_max_rows: int = 200_000
    check_probes: int = 2000
    nonmated_sample: int = 20_000
    junk_labels: tuple[str, ...] = ("unknown",)

    def __post_init__(self) -> None:
        if not 1 <= self.gallery_images <= 10_000:
            raise ValueError(f"gallery_images must be in [1, 10000], got {self.gallery_images}")
        if not 0.0 <= self.unenrolled_share < 1.0:
            raise ValueError(f"unenrolled_share must be in [0, 1) (0 turns the open set off), got {self.unenrolled_share}")
        if not 1 <= self.max_rank <= 1000:
            raise ValueError(f"max_rank must be in [1, 1000], got {self.max_rank}")
        check_levels("fpir_levels", self.fpir_levels, allow_empty=True)
        if self.min_nonmated_above < 1 or self.top_confusions < 1:
            raise ValueError("min_nonmated_above and top_confusions must be >= 1")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.exact_max_rows < 0 or self.check_probes < 10 or self.nonmated_sample < 100:
            raise ValueError("exact_max_rows must be >= 0 (0: always exact), check_probes >= 10 and "
                             "nonmated_sample >= 100")
