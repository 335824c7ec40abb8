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
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.metrics.pairwise import cosine_similarity, euclidean_distances

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
    top_n : int, default=10
        Rows of the nearest-other-identity top/bottom tables.
    heatmap_max_identities : int, default=300
        The Euclidean centroid heatmap shows at most this many identities (the largest).
    pairs_folds : int, default=10
        Folds of the pairs protocol (10 for LFW).
    """

    enabled: bool = True
    n_bins: int = 4000
    block_rows: int = 2048
    far_levels: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
    top_n: int = 10
    heatmap_max_identities: int = 300
    pairs_folds: int = 10

    def __post_init__(self) -> None:
        if not 10 <= self.n_bins <= 1_000_000:
            raise ValueError(f"n_bins must be in [10, 1e6], got {self.n_bins}; 4000 gives a 5e-4 cosine resolution")
        if self.block_rows < 1:
            raise ValueError(f"block_rows must be >= 1, got {self.block_rows}")
        if not self.far_levels or not all(0 < f < 1 for f in self.far_levels):
            raise ValueError(f"far_levels must be a non-empty tuple of rates in (0, 1), got {self.far_levels}")
        if self.top_n < 1 or self.heatmap_max_identities < 2:
            raise ValueError("top_n >= 1 and heatmap_max_identities >= 2 are required")
        if self.pairs_folds < 2:
            raise ValueError(f"pairs_folds must be >= 2, got {self.pairs_folds}")


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class PairHistograms:
    """Exact genuine/impostor cosine histograms over all pairs ``i < j``.

    ``genuine[b]`` / ``impostor[b]`` count pairs whose cosine falls in ``[edges[b], edges[b+1])``
    (the last bin is closed). Means and variances are exact, not binned.
    """

    edges: np.ndarray  # (n_bins + 1,)
    genuine: np.ndarray  # (n_bins,) int64
    impostor: np.ndarray  # (n_bins,) int64
    n_genuine: int
    n_impostor: int
    genuine_mean: float
    genuine_var: float
    impostor_mean: float
    impostor_var: float

    @property
    def resolution(self) -> float:
        return float(self.edges[1] - self.edges[0])


@dataclass(frozen=True, eq=False)
class Verification:
    """Verification metrics read from :class:`PairHistograms` (accept when cosine >= threshold)."""

    d_prime: float
    overlap: float  # shared area of the two normalised histograms, in [0, 1]
    eer: float
    eer_threshold: float
    auc: float
    far: np.ndarray  # ROC, one point per bin edge, increasing
    tar: np.ndarray
    thresholds: np.ndarray
    far_levels: tuple[float, ...]
    tar_at_far: np.ndarray  # NaN where the level is below 1 / n_impostor
    threshold_at_far: np.ndarray
    genuine_angle_median: float  # degrees, from the histogram
    impostor_angle_median: float


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
class PairsProtocolResult:
    """Result of :func:`pairs_protocol`."""

    n_pairs: int
    n_missing: int  # pairs skipped because an item has no embedding
    fold_accuracy: np.ndarray
    fold_threshold: np.ndarray
    scores: np.ndarray
    same: np.ndarray

    @property
    def accuracy_mean(self) -> float:
        return float(self.fold_accuracy.mean())

    @property
    def accuracy_std(self) -> float:
        return float(self.fold_accuracy.std())


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


# --------------------------------------------------------------------------- all pairs
def _gram_moments(x: np.ndarray) -> tuple[float, float, int]:
    """Exact sum and sum of squares of ``x_i . x_j`` over pairs ``i < j`` (float64).

    ``sum_{i<j} x_i.x_j = (|sum x|^2 - sum |x_i|^2) / 2`` and
    ``sum_{i<j} (x_i.x_j)^2 = (|X^T X|_F^2 - sum |x_i|^4) / 2``: no pair is ever formed.
    """
    x = x.astype(np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    total = x.sum(axis=0)
    s1 = (total @ total - sq.sum()) / 2
    g = x.T @ x
    s2 = (np.einsum("ij,ij->", g, g) - (sq**2).sum()) / 2
    return float(s1), float(s2), len(x) * (len(x) - 1) // 2


def pair_histograms(x: np.ndarray, labels: np.ndarray, n_bins: int = 4000, block_rows: int = 2048) -> PairHistograms:
    """Genuine and impostor cosine histograms over all pairs, exactly, in bounded memory.

    Rows are sorted by label and all pairs ``i < j`` binned block by block (float32
    ``X[a:b] @ X[a:].T``, quantised to bin indices and counted with :func:`numpy.bincount`);
    genuine pairs are picked from the same blocks (a band next to the diagonal) and impostor
    counts are the difference, so every pair is counted exactly once. Memory is
    ``O(block_rows * n_samples)``. Genuine means and variances are summed in float64 from the
    float32 similarities; the all-pair sums come from closed forms on the Gram matrix
    (:func:`_gram_moments`), so impostor moments are exact too without forming a pair.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_dims)
        L2-normalised rows (cosine = dot product).
    labels : ndarray of shape (n_samples,), int
    n_bins : int, default=4000
    block_rows : int, default=2048

    Returns
    -------
    PairHistograms
    """
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    # Sorted by label, the genuine pairs of a block of rows lie in a narrow band of columns
    # next to the diagonal, and are binned from the same float32 values as all pairs.
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32)[order])
    lab = labels[order]
    n = len(x)
    _, starts, sizes = np.unique(lab, return_index=True, return_counts=True)
    end_of = np.repeat(starts + sizes, sizes)  # end (exclusive) of each row's identity
    # Bin index = trunc(half * cos + half), produced by the matmul itself from an augmented
    # column (left rows [half * x, half], right rows [x, 1]); values rounding past 1.0 land in
    # an overflow bin folded into the last one. Buffers are allocated once: first-touch page
    # faults on a fresh 400 MB array per block cost more than the arithmetic.
    half = np.float32(n_bins / 2)
    left = np.hstack([x * half, np.full((n, 1), half, dtype=np.float32)])
    right = np.ascontiguousarray(np.hstack([x, np.ones((n, 1), dtype=np.float32)]).T)
    rows_max = min(block_rows, n)
    s_buf = np.empty(rows_max * n, dtype=np.float32)
    q_buf = np.empty(rows_max * n, dtype=np.intp)
    total = np.zeros(n_bins + 1, dtype=np.int64)
    genuine = np.zeros(n_bins + 1, dtype=np.int64)
    g_s1 = g_s2 = 0.0
    n_gen = 0
    tril_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for a in range(0, n, block_rows):
        b = min(n, a + block_rows)
        m, cols = b - a, n - a
        s = s_buf[: m * cols].reshape(m, cols)
        np.matmul(left[a:b], right[:, a:], out=s)  # pairs (i, j >= a): square block first
        q = q_buf[: m * cols].reshape(m, cols)
        np.copyto(q, s, casting="unsafe")
        tril = tril_cache.setdefault(m, np.tril_indices(m))
        total += np.bincount(q.ravel(), minlength=n_bins + 1)
        total -= np.bincount(q[:, :m][tril], minlength=n_bins + 1)  # j <= i: not a pair i < j
        w = int(end_of[b - 1]) - a
        band = (lab[a:b, None] == lab[None, a : a + w]) & (np.arange(w)[None, :] > np.arange(m)[:, None])
        genuine += np.bincount(q[:, :w][band], minlength=n_bins + 1)
        g = (s[:, :w][band].astype(np.float64) - half) / half  # genuine cosines, exact up to float32
        g_s1 += g.sum()
        g_s2 += g @ g
        n_gen += len(g)
    total[n_bins - 1] += total[n_bins]
    genuine[n_bins - 1] += genuine[n_bins]
    total, genuine = total[:n_bins], genuine[:n_bins]
    a_s1, a_s2, n_all = _gram_moments(x)
    n_imp = n_all - n_gen
    impostor = total - genuine

    def moments(s1: float, s2: float, m: int) -> tuple[float, float]:
        if m == 0:
            return float("nan"), float("nan")
        mean = s1 / m
        return mean, max(s2 / m - mean**2, 0.0)

    gm, gv = moments(g_s1, g_s2, n_gen)
    im, iv = moments(a_s1 - g_s1, a_s2 - g_s2, n_imp)
    return PairHistograms(
        edges=np.linspace(-1.0, 1.0, n_bins + 1),
        genuine=genuine,
        impostor=impostor,
        n_genuine=int(n_gen),
        n_impostor=int(n_imp),
        genuine_mean=gm,
        genuine_var=gv,
        impostor_mean=im,
        impostor_var=iv,
    )


def _hist_median_angle(counts: np.ndarray, edges: np.ndarray) -> float:
    """Median angle in degrees from a cosine histogram (angle is decreasing in cosine)."""
    if counts.sum() == 0:
        return float("nan")
    cum = np.cumsum(counts) / counts.sum()
    b = int(np.searchsorted(cum, 0.5))
    frac = (0.5 - (cum[b - 1] if b else 0.0)) / max(counts[b] / counts.sum(), 1e-300)
    cos = edges[b] + frac * (edges[b + 1] - edges[b])
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def verification_metrics(h: PairHistograms, far_levels: Sequence[float] = (1e-2, 1e-3, 1e-4)) -> Verification:
    """ROC, EER, AUC, d-prime, overlap and TAR at given FARs from exact pair histograms.

    The ROC is :func:`sklearn.metrics.roc_curve` on the bin indices weighted by the counts, so
    thresholds are bin edges (resolution ``2 / n_bins`` in cosine). The EER is interpolated
    linearly between the two ROC points where FRR - FAR changes sign. TAR at a FAR level is the
    largest TAR whose FAR does not exceed it (NaN when the level is below ``1 / n_impostor``).
    d-prime uses the exact means and variances [1]_.

    References
    ----------
    .. [1] Daugman, "Biometric decision landscapes", University of Cambridge TR-482 (2000).
    """
    levels = tuple(float(f) for f in far_levels)
    n_bins = len(h.genuine)
    nan = float("nan")
    if h.n_genuine == 0 or h.n_impostor == 0:
        empty = np.array([])
        return Verification(nan, nan, nan, nan, nan, empty, empty, empty, levels,
                            np.full(len(levels), nan), np.full(len(levels), nan), nan, nan)
    bins = np.arange(n_bins)
    used = (h.genuine + h.impostor) > 0
    y = np.concatenate([np.ones(used.sum()), np.zeros(used.sum())])
    score = np.concatenate([bins[used], bins[used]]).astype(float)
    weight = np.concatenate([h.genuine[used], h.impostor[used]]).astype(float)
    far, tar, thr = roc_curve(y, score, sample_weight=weight, drop_intermediate=False)
    auc = float(roc_auc_score(y, score, sample_weight=weight))
    thr_cos = np.where(np.isfinite(thr), h.edges[np.clip(thr, 0, n_bins - 1).astype(int)], np.inf)
    frr = 1 - tar
    diff = frr - far  # decreasing along the ROC
    k = int(np.argmax(diff <= 0))
    if k == 0:
        eer, eer_thr = float(far[0]), float(thr_cos[0])
    else:
        t = diff[k - 1] / (diff[k - 1] - diff[k])
        eer = float(far[k - 1] + t * (far[k] - far[k - 1]))
        eer_thr = float(thr_cos[k])
    tar_at = np.full(len(levels), nan)
    thr_at = np.full(len(levels), nan)
    for i, level in enumerate(levels):
        if level * h.n_impostor < 1:
            continue
        ok = np.flatnonzero(far <= level)
        j = ok[-1]
        tar_at[i], thr_at[i] = tar[j], thr_cos[j]
    pg = h.genuine / h.n_genuine
    pi = h.impostor / h.n_impostor
    d_prime = abs(h.genuine_mean - h.impostor_mean) / np.sqrt((h.genuine_var + h.impostor_var) / 2)
    return Verification(
        d_prime=float(d_prime),
        overlap=float(np.minimum(pg, pi).sum()),
        eer=eer,
        eer_threshold=eer_thr,
        auc=auc,
        far=far,
        tar=tar,
        thresholds=thr_cos,
        far_levels=levels,
        tar_at_far=tar_at,
        threshold_at_far=thr_at,
        genuine_angle_median=_hist_median_angle(h.genuine, h.edges),
        impostor_angle_median=_hist_median_angle(h.impostor, h.edges),
    )


# --------------------------------------------------------------------------- pairs protocol
def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """Threshold maximising accuracy of ``score >= threshold`` (midpoints between sorted scores).

    Ties in accuracy go to the smallest threshold, so the choice is deterministic.
    """
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    u = np.unique(scores)
    candidates = np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])
    order = np.argsort(scores, kind="stable")
    s_sorted, y_sorted = scores[order], same[order]
    # For threshold t: correct = positives with score >= t + negatives with score < t.
    below = np.searchsorted(s_sorted, candidates, side="left")
    neg_below = np.concatenate([[0], np.cumsum(~y_sorted)])[below]
    pos_above = y_sorted.sum() - np.concatenate([[0], np.cumsum(y_sorted)])[below]
    return float(candidates[int(np.argmax(neg_below + pos_above))])


def pairs_protocol(
    emb: EmbeddingSet, pairs: Sequence[tuple[str, str, bool]], folds: int = 10
) -> PairsProtocolResult:
    """Verification accuracy on given pairs by the standard LFW 10-fold protocol.

    The pairs are split in order into ``folds`` consecutive folds (LFW's ``pairs.txt`` lists
    its ten folds one after the other); for each fold the cosine threshold that maximises
    accuracy on the other folds is applied to it [1]_.

    Parameters
    ----------
    emb : EmbeddingSet
    pairs : sequence of (item_a, item_b, same)
        Items as in ``emb.items``. Pairs whose item has no embedding (failed detection) are
        skipped and counted in ``n_missing``.
    folds : int, default=10

    Returns
    -------
    PairsProtocolResult

    References
    ----------
    .. [1] Huang, Ramesh, Berg, Learned-Miller. "Labeled Faces in the Wild: A Database for
       Studying Face Recognition in Unconstrained Environments." UMass TR 07-49 (2007).
    """
    index = {str(item): i for i, item in enumerate(emb.items)}
    a_idx, b_idx, same, missing = [], [], [], 0
    for a, b, s in pairs:
        if str(a) in index and str(b) in index:
            a_idx.append(index[str(a)])
            b_idx.append(index[str(b)])
            same.append(bool(s))
        else:
            missing += 1
    same_arr = np.array(same, dtype=bool)
    if len(same_arr) < folds or same_arr.all() or not same_arr.any():
        raise ValueError(
            f"pairs protocol needs at least {folds} usable pairs with both same and different ones; "
            f"got {len(same_arr)} usable ({missing} had an item without embedding). Check that pair items "
            "match EmbeddingSet.items"
        )
    x = emb.normalized()
    scores = np.einsum("ij,ij->i", x[a_idx].astype(np.float64), x[b_idx].astype(np.float64))
    parts = np.array_split(np.arange(len(scores)), folds)
    acc, thr = np.zeros(folds), np.zeros(folds)
    for f, test in enumerate(parts):
        train = np.setdiff1d(np.arange(len(scores)), test)
        thr[f] = best_threshold(scores[train], same_arr[train])
        acc[f] = np.mean((scores[test] >= thr[f]) == same_arr[test])
    return PairsProtocolResult(
        n_pairs=len(scores), n_missing=missing, fold_accuracy=acc, fold_threshold=thr, scores=scores, same=same_arr
    )


# --------------------------------------------------------------------------- centroids
def _centroids(x: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centroids, counts, radius and mean distance to the centroid per label."""
    counts = np.bincount(labels, minlength=k)
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, x)
    cent = sums / counts[:, None]
    dist = np.linalg.norm(x - cent[labels], axis=1)
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
        Unused (everything here is exact); kept for the common compute signature.
    pairs : sequence of (item_a, item_b, same), optional
        Verification pairs of the dataset (LFW); when given, :func:`pairs_protocol` runs.

    Returns
    -------
    SimilarityResult
    """
    del random_state
    names = emb.identity_names
    k = len(names)
    if k < 2:
        raise ValueError(f"similarity needs at least 2 identities, got {k}; choose a larger subset")
    labels = emb.labels
    x = emb.normalized()
    cent, counts, radius, mean_dist = _centroids(x, labels, k)
    ccos = np.clip(cosine_similarity(cent), -1.0, 1.0)
    ceuc = euclidean_distances(cent)
    np.fill_diagonal(ceuc, 0.0)
    masked = ccos.copy()
    np.fill_diagonal(masked, -np.inf)
    nb = np.argmax(masked, axis=1)
    rows = np.arange(k)
    nearest = NearestOther(
        names=names,
        count=counts,
        neighbor=nb,
        cosine=ccos[rows, nb],
        distance=ceuc[rows, nb],
        radius=radius,
        mean_distance=mean_dist,
        margin=ceuc[rows, nb] - radius,
    )
    consecutive = ConsecutivePairs(
        first=np.arange(k - 1), cosine=ccos[rows[:-1], rows[1:]], distance=ceuc[rows[:-1], rows[1:]]
    )
    hist = pair_histograms(x, labels, params.n_bins, params.block_rows)
    ver = verification_metrics(hist, params.far_levels)
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
    )
