"""The ``[audit]`` table of a study config (:class:`AuditParams`); the audit is in :mod:`analysis.statistics.audit.audit`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuditParams:
    """The ``[audit]`` table.

    Parameters
    ----------
    enabled : bool, default=True
    ignore_identities : tuple of str, default=("unknown",)
        Identities that are not people (junk groups); left out of the mislabel, merge and split
        audits (still searched for near-duplicates).
    merge_quantile : float, default=0.75
        Quantile of the cell's genuine-pair cosines used as the merge threshold.
    merge_threshold : float or None, default=None
        Absolute centroid cosine at or above which a pair of identities is suspected to be one
        person; None derives it from ``merge_quantile`` (recommended: an absolute value suits
        one network only, e.g. 0.7 flags every pair of dlib identities).
    split_quantile : float, default=0.9
        Quantile of the cosines between centroids of different identities used as the split
        threshold.
    genuine_max_images : int, default=100
        Images per identity (a seeded sample) whose pairs enter the genuine-pair distribution.
    split_min_share : float, default=0.2
        Share of an identity's images that each 2-means part must hold.
    split_min_images : int, default=10
        Identities with fewer images are not checked for splits.
    split_max_cosine : float or None, default=None
        Absolute override of the split threshold: the two parts must have centroids less
        similar than this. None derives it from ``split_quantile``.
    split_min_separation : float, default=4.0
        The two parts must also be this many within-part standard deviations apart along the
        axis joining them: 2-means cuts one elongated identity in two (about 2.65 for a
        Gaussian), two people leave a gap.
    detection_low_z : float, default=3.0
        Detection suspects: a kept face whose detector score lies this many robust standard
        deviations below the median score of the cell's kept faces (a derived, detector-free
        rule: SCRFD probabilities and dlib margins have different scales).
    detection_small_px : float, default=60.0
        Detection suspects: a kept face box whose shorter side (original pixels) is smaller
        (dlib and ArcFace crops are 150 and 112 px: a 60 px face is upsampled 2-2.5 times).
    detection_off_centre : float, default=0.5
        Detection suspects: a kept face whose box centre lies farther from the image centre than
        this share of the half-diagonal (portraits have their subject near the middle).
    duplicate_threshold : float, default=0.995
        Cosine at or above which two images are near-duplicates.
    max_duplicates : int, default=5000
        Most near-duplicate pairs kept (the most similar ones).
    block_size : int, default=512
        Rows per block of the near-duplicate search.
    exact_max_rows : int, default=200000
        Above this many rows the per-image centroid scores, the centroid-pair distribution and
        the near-duplicate screen use the large-set methods of
        :mod:`analysis.statistics.audit.large` (FAISS indexes with measured agreement, a seeded
        sample of identities for the pair distribution), stated on the page. 0 keeps every
        pass exact at any size.
    pair_sample_identities : int, default=6000
        Above ``exact_max_rows`` rows, the distribution of centroid-pair cosines (median, robust
        spread, split quantile) is taken over every pair of a seeded sample of this many
        identities (18 million pairs at 6,000).
    """

    enabled: bool = True
    ignore_identities: tuple[str, ...] = ("unknown",)
    merge_quantile: float = 0.75
    merge_threshold: float | None = None
    split_quantile: float = 0.9
    genuine_max_images: int = 100
    split_min_share: float = 0.2
    split_min_images: int = 10
    split_max_cosine: float | None = None
    split_min_separation: float = 4.0
    detection_low_z: float = 3.0
    detection_small_px: float = 60.0
    detection_off_centre: float = 0.5
    duplicate_threshold: float = 0.995
    max_duplicates: int = 5000
    block_size: int = 512
    exact_max_rows: int = 200_000
    pair_sample_identities: int = 6000

    def __post_init__(self) -> None:
        if self.merge_threshold is not None and not -1 <= self.merge_threshold <= 1:
            raise ValueError(f"merge_threshold must be a cosine in [-1, 1] (or absent to derive it), got {self.merge_threshold}")
        for name in ("merge_quantile", "split_quantile"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        if self.genuine_max_images < 2:
            raise ValueError("genuine_max_images must be at least 2")
        if not 0 < self.split_min_share <= 0.5:
            raise ValueError("split_min_share must be in (0, 0.5]: two parts must each hold that share")
        if self.split_min_images < 2:
            raise ValueError("split_min_images must be at least 2")
        if self.split_max_cosine is not None and not -1 <= self.split_max_cosine <= 1:
            raise ValueError("split_max_cosine must be a cosine in [-1, 1]")
        if self.detection_low_z <= 0 or self.detection_small_px < 0 or not 0 < self.detection_off_centre <= 1:
            raise ValueError("need detection_low_z > 0, detection_small_px >= 0 and detection_off_centre in (0, 1]")
        if not 0 < self.duplicate_threshold <= 1:
            raise ValueError("duplicate_threshold must be in (0, 1]")
        if self.exact_max_rows < 0 or self.pair_sample_identities < 3:
            raise ValueError("exact_max_rows must be >= 0 (0: always exact) and pair_sample_identities >= 3")
        if self.max_duplicates < 1 or self.block_size < 1:
            raise ValueError("max_duplicates and block_size must be at least 1")
