"""Similarity analyses: centroid similarity matrices, genuine/impostor distributions, verification.

Three views of how identities sit relative to each other, all on L2-normalised vectors:

* **Centroids.** The cosine and Euclidean matrices between identity centroids; for each
  identity the nearest *other* centroid, its cosine, and the margin between that distance and
  the identity's own radius; and, as in the FRGC notebook this project replaces, the similarity
  of consecutive identities (identity ``i`` vs ``i + 1`` in sorted name order), which is a cheap
  sample of unrelated pairs.
* **Genuine vs impostor pairs.** The cosine of *every* pair of embeddings, split into genuine
  (same label) and impostor (different labels) pairs, accumulated exactly into fixed-bin
  histograms on ``[-1, 1]`` by blocks of float32 rows, so that 40,000 embeddings (800 million
  pairs) never need an ``n x n`` matrix in memory. Means and variances are exact (closed forms
  on Gram matrices, see :func:`pair_histograms`); everything that needs a threshold (ROC, EER,
  TAR at a FAR, overlap, angle quantiles) is read from the histograms, so its resolution is one
  bin (``2 / n_bins`` in cosine).
* **Pairs protocol.** Where a dataset provides verification pairs (LFW's ``pairs.txt``), the
  standard 10-fold accuracy with the threshold chosen on the nine training folds
  (:func:`pairs_protocol`).

Labels are taken as given: a junk group such as ``unknown`` counts as one identity, so its
pairs are "genuine" although nothing says they are the same person; pages say so.

The all-pairs histograms are computed in :mod:`analysis.statistics.verification.pair_histograms`, the
verification metrics and the pairs protocol in :mod:`analysis.statistics.verification.verification`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from analysis.statistics.search.centroid_pairs import matrix_identities, nearest_other_centroids, paired_cosine_distance
from analysis.statistics.search.large_sets import group_sums_blocks, own_centroid_distances
from analysis.statistics.verification.pair_histograms import PairHistograms, pair_histograms
from analysis.statistics.uncertainty import VerificationUncertainty, bootstrap_verification
from analysis.statistics.verification.operating_points import FMR_LEVELS, OperatingPoints, operating_points, required_levels
from analysis.statistics.verification.sampled_pairs import ImpostorSample, sampled_pair_histograms
from analysis.statistics.verification.verification import PairsProtocolResult, Verification, pairs_protocol, verification_metrics
from analysis.statistics.levels import check_levels
from analysis.types import EmbeddingSet


@dataclass(frozen=True)
class SimilarityParams:
    """The ``[similarity]`` table.

    Parameters
    ----------
    n_bins : int, default=4000
        Bins of the genuine/impostor cosine histograms on ``[-1, 1]``; thresholds, EER and
        TAR@FAR have a resolution of ``2 / n_bins`` in cosine.
    block_rows : int, default=2048
        Rows per float32 block of the all-pairs computation (memory is about
        ``block_rows * n_samples * 12`` bytes).
    far_levels : tuple of float, default=(1e-2, 1e-3, 1e-4)
        False accept rates at which the true accept rate is reported.
    fmr_levels : tuple of float, default=(1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
        False match rates at which the false non-match rate is reported (ISO/IEC 19795-1 terms,
        :mod:`analysis.statistics.verification.operating_points`); 1e-2 and 1e-3 (FMR100, FMR1000) are
        always added. Same estimability rule and bootstrap as TAR@FAR.
    top_n : int, default=10
        Rows of the nearest-other-identity top/bottom tables.
    heatmap_max_identities : int, default=300
        The Euclidean centroid heatmap shows at most this many identities (the largest).
    pairs_folds : int, default=10
        Folds of the pairs protocol (10 for LFW).
    bootstrap_reps : int, default=200
        Replicates of the bootstrap over identities that gives the intervals of EER, d-prime and
        TAR@FAR (:func:`analysis.statistics.uncertainty.bootstrap_verification`); 0 for none.
    confidence : float, default=0.95
        Confidence level of every interval.
    min_impostor_pairs : int, default=100
        A TAR at a FAR is reported only when at least this many impostor pairs score above its
        threshold; otherwise it is shown as not estimable, with the count.
    bootstrap_max_embeddings : int, default=4000
        Above this many embeddings the bootstrap replicates use a seeded sample of this many.
    exact_max_rows : int, default=200000
        Up to this many rows every pair is binned exactly; above, genuine pairs stay exact and
        ``impostor_samples`` seeded random impostor pairs are binned instead
        (:mod:`analysis.statistics.verification.sampled_pairs`). 0 keeps the exact pass at any size.
    impostor_samples : int, default=100000000
        Impostor pairs drawn above ``exact_max_rows``.
    matrix_max_identities : int, default=5000
        Above this many identities the centroid cosine / Euclidean matrices (and the "all pairs of
        identities" distribution read from them) cover a seeded sample of this many identities
        (:mod:`analysis.statistics.search.centroid_pairs`; 12.8 GB per full matrix at 40,000 identities);
        each identity's nearest other centroid is still searched among all of them, exactly.
    """

    enabled: bool = True
    n_bins: int = 4000
    block_rows: int = 2048
    far_levels: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
    fmr_levels: tuple[float, ...] = FMR_LEVELS
    top_n: int = 10
    heatmap_max_identities: int = 300
    pairs_folds: int = 10
    bootstrap_reps: int = 200
    confidence: float = 0.95
    min_impostor_pairs: int = 100
    bootstrap_max_embeddings: int = 4000
    exact_max_rows: int = 200_000
    impostor_samples: int = 100_000_000
    matrix_max_identities: int = 5000

    def __post_init__(self) -> None:
        if not 10 <= self.n_bins <= 1_000_000:
            raise ValueError(f"n_bins must be in [10, 1e6], got {self.n_bins}; 4000 gives a 5e-4 cosine resolution")
        if self.block_rows < 1:
            raise ValueError(f"block_rows must be >= 1, got {self.block_rows}")
        check_levels("far_levels", self.far_levels)
        check_levels("fmr_levels", self.fmr_levels, allow_empty=True)
        if self.top_n < 1 or self.heatmap_max_identities < 2:
            raise ValueError("top_n >= 1 and heatmap_max_identities >= 2 are required")
        if self.pairs_folds < 2:
            raise ValueError(f"pairs_folds must be >= 2, got {self.pairs_folds}")
        if self.bootstrap_reps < 0 or not 0 < self.confidence < 1 or self.min_impostor_pairs < 1:
            raise ValueError("bootstrap_reps >= 0, confidence in (0, 1) and min_impostor_pairs >= 1 are required")
        if self.bootstrap_max_embeddings < 10:
            raise ValueError(f"bootstrap_max_embeddings must be >= 10, got {self.bootstrap_max_embeddings}")
        if self.exact_max_rows < 0 or self.impostor_samples < 1:
            raise ValueError("exact_max_rows must be >= 0 (0: always exact) and impostor_samples >= 1")
        if self.matrix_max_identities < 2:
            raise ValueError(f"matrix_max_identities must be >= 2, got {self.matrix_max_identities}")


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class NearestOther:
    """For each identity (aligned with ``names``) the nearest other centroid."""

    names: np.ndarray
    count: np.ndarray
    neighbor: np.ndarray  # index of the nearest other identity
    cosine: np.ndarray
    distance: np.ndarray  # Euclidean distance between the two centroids
    radius: np.ndarray  # max distance of the identity's embeddings to its centroid
    mean_distance: np.ndarray  # mean distance of its embeddings to its centroid
    margin: np.ndarray  # distance - radius; negative: the other centroid lies inside the radius


@dataclass(frozen=True, eq=False)
class ConsecutivePairs:
    """Centroid similarity of identity ``i`` vs ``i + 1`` in sorted name order (FRGC notebook)."""

    first: np.ndarray  # index i
    cosine: np.ndarray  # (n_identities - 1,)
    distance: np.ndarray


@dataclass(frozen=True, eq=False)
class SimilarityResult:
    """Result of :func:`analyze_similarity`."""

    n_samples: int
    n_dims: int
    names: np.ndarray
    counts: np.ndarray
    centroid_cosine: np.ndarray  # (k, k)
    centroid_euclidean: np.ndarray  # (k, k)
    nearest: NearestOther
    consecutive: ConsecutivePairs
    histograms: PairHistograms
    verification: Verification
    pairs: PairsProtocolResult | None
    junk_identities: tuple[str, ...]  # labels kept as given; flagged on the page
    singleton_identities: int  # identities with one image: no genuine pair, no radius
    params: SimilarityParams
    pairs_skipped: str = ""  # why given verification pairs could not be scored
    uncertainty: VerificationUncertainty | None = None  # intervals (bootstrap over identities)
    impostor_sample: ImpostorSample | None = None  # set when impostor pairs were sampled (large sets)
    # Above matrix_max_identities: the identity codes the centroid matrices cover (None: all), and the
    # centroids themselves (for neighbour searches the partial matrices cannot answer).
    matrix_identities: np.ndarray | None = None
    centroids: np.ndarray | None = None
    operating_points: OperatingPoints | None = None  # FNMR at FMR, ZeroFMR, ZeroFNMR (ISO/IEC 19795-1)

    @property
    def matrix_names(self) -> np.ndarray:
        """Names of the rows / columns of the centroid matrices."""
        return self.names if self.matrix_identities is None else self.names[self.matrix_identities]

    @property
    def matrix_counts(self) -> np.ndarray:
        """Image counts of the rows / columns of the centroid matrices."""
        return self.counts if self.matrix_identities is None else self.counts[self.matrix_identities]


# --------------------------------------------------------------------------- centroids
def _centroids(x: np.ndarray, labels: np.ndarray, k: int, block_sums: bool = False,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centroids, counts, radius and mean distance to the centroid per label (``block_sums``: sums by
    row blocks, for large sets, where ``np.add.at``, unbuffered, takes tens of seconds)."""
    counts = np.bincount(labels, minlength=k)
    if block_sums:
        sums = group_sums_blocks(x, labels, k)
    else:
        sums = np.zeros((k, x.shape[1]), dtype=np.float64)
        np.add.at(sums, labels, x)
    cent = sums / counts[:, None]
    # By row blocks: the same per-row values without an n x d float64 temporary (4 GB at 1M x 512).
    dist = own_centroid_distances(x, labels, cent)
    radius = np.zeros(k)
    np.maximum.at(radius, labels, dist)
    mean_dist = np.bincount(labels, weights=dist, minlength=k) / counts
    return cent, counts, radius, mean_dist


def analyze_similarity(
    emb: EmbeddingSet,
    params: SimilarityParams,
    random_state: int = 0,
    pairs: Sequence[tuple[str, str, bool]] | None = None,
) -> SimilarityResult:
    """Centroid similarities, genuine/impostor distributions and verification metrics.

    Parameters
    ----------
    emb : EmbeddingSet
        At least two identities. Computed on L2-normalised vectors.
    params : SimilarityParams
    random_state : int, default=0
        Seed of the bootstrap over identities and of the impostor sample above
        ``params.exact_max_rows`` rows (below that, the pair statistics are exact).
    pairs : sequence of (item_a, item_b, same), optional
        Verification pairs of the dataset (LFW); when given, :func:`pairs_protocol` runs.

    Returns
    -------
    SimilarityResult
    """
    from sklearn.metrics.pairwise import cosine_similarity, euclidean_distances

    names = emb.identity_names
    k = len(names)
    if k < 2:
        raise ValueError(f"similarity needs at least 2 identities, got {k}; choose a larger subset")
    labels = emb.labels
    x = emb.normalized()
    cent, counts, radius, mean_dist = _centroids(x, labels, k, bool(params.exact_max_rows) and len(x) > params.exact_max_rows)
    subset = matrix_identities(k, params.matrix_max_identities, random_state)
    rows = np.arange(k)
    if subset is None:
        ccos = np.clip(cosine_similarity(cent), -1.0, 1.0)
        ceuc = euclidean_distances(cent)
        np.fill_diagonal(ceuc, 0.0)
        masked = ccos.copy()
        np.fill_diagonal(masked, -np.inf)
        nb = np.argmax(masked, axis=1)
        nb_cos, nb_dist = ccos[rows, nb], ceuc[rows, nb]
        cons_cos, cons_dist = ccos[rows[:-1], rows[1:]], ceuc[rows[:-1], rows[1:]]
    else:
        # Too many identities for k x k matrices: matrices of a seeded sample, neighbours exact.
        ccos = np.clip(cosine_similarity(cent[subset]), -1.0, 1.0)
        ceuc = euclidean_distances(cent[subset])
        np.fill_diagonal(ceuc, 0.0)
        nb, nb_cos, nb_dist = nearest_other_centroids(cent)
        cons_cos, cons_dist = paired_cosine_distance(cent, rows[:-1], rows[1:])
    nearest = NearestOther(
        names=names,
        count=counts,
        neighbor=nb,
        cosine=nb_cos,
        distance=nb_dist,
        radius=radius,
        mean_distance=mean_dist,
        margin=nb_dist - radius,
    )
    consecutive = ConsecutivePairs(first=np.arange(k - 1), cosine=cons_cos, distance=cons_dist)
    sample = None
    if params.exact_max_rows and len(x) > params.exact_max_rows:
        hist, sample = sampled_pair_histograms(x, labels, params.n_bins, params.impostor_samples, random_state,
                                               params.block_rows)
    else:
        hist = pair_histograms(x, labels, params.n_bins, params.block_rows)
    ver = verification_metrics(hist, params.far_levels)
    iso_levels = required_levels(params.fmr_levels)
    unc = bootstrap_verification(
        x, labels, eer=ver.eer, d_prime=ver.d_prime, roc=(ver.far, ver.tar, ver.thresholds),
        n_impostor=hist.n_impostor, far_levels=params.far_levels, n_boot=params.bootstrap_reps,
        confidence=params.confidence, min_impostor_pairs=params.min_impostor_pairs,
        max_embeddings=params.bootstrap_max_embeddings, block_rows=min(params.block_rows, 1024),
        random_state=random_state, fmr_levels=iso_levels,
    )
    iso = operating_points(ver, hist.n_genuine, hist.n_impostor, iso_levels, unc.tar_at_fmr, params.min_impostor_pairs)
    pr, pairs_skipped = None, ""
    if pairs is not None:
        try:
            pr = pairs_protocol(emb, pairs, params.pairs_folds)
        except ValueError as exc:  # unusable pairs must not cost the rest of the analysis
            pairs_skipped = str(exc)
    return SimilarityResult(
        n_samples=emb.n_samples,
        n_dims=emb.n_dims,
        names=names,
        counts=counts,
        centroid_cosine=ccos,
        centroid_euclidean=ceuc,
        nearest=nearest,
        consecutive=consecutive,
        histograms=hist,
        verification=ver,
        pairs=pr,
        junk_identities=tuple(str(n) for n in names if str(n).lower() in ("unknown", "junk")),
        singleton_identities=int((counts < 2).sum()),
        params=params,
        pairs_skipped=pairs_skipped,
        uncertainty=unc,
        impostor_sample=sample,
        matrix_identities=subset,
        centroids=None if subset is None else cent.astype(np.float32),
        operating_points=iso,
    )
