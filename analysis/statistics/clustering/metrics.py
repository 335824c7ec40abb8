"""Cluster evaluation metrics: external (against true labels) and internal (geometry only).

scikit-learn provides most of them; this module validates inputs once, with messages that say
the fix, re-exports scikit-learn's metrics under the same validation, and adds what scikit-learn
lacks:

* external: :func:`purity_score`, :func:`pair_counts` (unordered pairs),
  :func:`pairwise_precision_recall_fscore`, :func:`bcubed_precision_recall_fscore`;
* internal: :func:`silhouette_per_cluster` and :func:`dunn_index` (chunked, memory-bounded),
  and vectorised :func:`davies_bouldin` / :func:`calinski_harabasz` (scikit-learn's loop over
  clusters in Python: minutes with thousands of clusters; values checked equal in the tests).

Every function is pure: arrays in, numbers out, no randomness except through ``random_state``.
Pair-counting metrics are computed from the contingency table (``O(n + n_true * n_pred)``), never
by looping over the ``n (n - 1) / 2`` pairs.

References
----------
.. [MRS] Manning, Raghavan, Schuetze. *Introduction to Information Retrieval*, chapter 16.3
   "Evaluation of clustering". Cambridge University Press, 2008.
.. [AGAV] Amigo, Gonzalo, Artiles, Verdejo. "A comparison of extrinsic clustering evaluation
   metrics based on formal constraints." Information Retrieval 12(4), 461-486 (2009).
.. [Dunn] Dunn. "Well-separated clusters and optimal fuzzy partitions." Journal of Cybernetics
   4(1), 95-104 (1974).
"""
from __future__ import annotations

from dataclasses import dataclass

import warnings

import numpy as np

__all__ = [
    "PairCounts",
    "adjusted_mutual_info",
    "adjusted_rand",
    "bcubed_precision_recall_fscore",
    "calinski_harabasz",
    "check_clusterings",
    "check_internal",
    "davies_bouldin",
    "dunn_index",
    "normalized_mutual_info",
    "pair_counts",
    "pairwise_precision_recall_fscore",
    "purity_score",
    "rand_index",
    "silhouette",
    "silhouette_per_cluster",
    "silhouette_samples",
]


# --------------------------------------------------------------------------- validation
def _reject_mixed_types(labels, name: str) -> None:
    """Refuse labels mixing strings and numbers: ``1`` and ``"1"`` would silently become one label.

    NumPy turns ``[1, "1"]`` into the string array ``["1", "1"]``, so the check looks at the
    Python objects before any conversion.
    """
    if isinstance(labels, np.ndarray) and labels.dtype.kind != "O":
        return  # a typed array holds one type
    values = np.asarray(labels, dtype=object).ravel()
    kinds = {"text" if isinstance(v, (str, bytes, np.str_, np.bytes_)) else "other" for v in values if v is not None}
    if len(kinds) > 1:
        raise ValueError(
            f"{name} mixes strings and numbers (such as 1 and '1'), which would be merged or split silently; "
            "convert them to one type first, e.g. np.asarray(labels).astype(str)"
        )


def _check_labels(labels, name: str) -> np.ndarray:
    _reject_mixed_types(labels, name)
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,), got shape {arr.shape}; pass a flat array of labels")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(
            f"{name} contains NaN or inf; drop those rows or give them an explicit label such as -1"
        )
    if arr.dtype.kind == "O":
        bad = [v for v in arr if v is None or (isinstance(v, float) and not np.isfinite(v))]
        if bad:
            raise ValueError(f"{name} contains None or NaN; drop those rows or give them an explicit label")
    return arr


def check_clusterings(labels_true, labels_pred) -> tuple[np.ndarray, np.ndarray]:
    """Validate two labelings of the same samples.

    Returns
    -------
    labels_true, labels_pred : ndarray of shape (n_samples,), int64
        Label codes ``0 .. n_classes - 1`` (any hashable labels are accepted on input).

    Raises
    ------
    ValueError
        On non 1-D input, NaN/None labels, different lengths or empty input.
    """
    t = _check_labels(labels_true, "labels_true")
    p = _check_labels(labels_pred, "labels_pred")
    if len(t) != len(p):
        raise ValueError(
            f"labels_true has {len(t)} samples but labels_pred has {len(p)}; both must label the same rows"
        )
    if len(t) == 0:
        raise ValueError("labels_true and labels_pred are empty; at least one sample is needed")
    t_codes = np.unique(t.astype(str) if t.dtype.kind == "O" else t, return_inverse=True)[1]
    p_codes = np.unique(p.astype(str) if p.dtype.kind == "O" else p, return_inverse=True)[1]
    return t_codes.astype(np.int64).ravel(), p_codes.astype(np.int64).ravel()


def check_internal(X, labels) -> tuple[np.ndarray, np.ndarray]:
    """Validate data and cluster labels for an internal metric.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32 or float64 as given (float64 otherwise)
    labels : ndarray of shape (n_samples,), int64 codes

    Raises
    ------
    ValueError
        On NaN/inf in ``X``, mismatched lengths, or a number of clusters outside ``[2, n - 1]``.
    """
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or inf; drop those rows before computing internal metrics")
    lab = _check_labels(labels, "labels")
    if len(lab) != len(X):
        raise ValueError(f"X has {len(X)} rows but labels has {len(lab)}; labels must have one entry per row")
    codes = np.unique(lab.astype(str) if lab.dtype.kind == "O" else lab, return_inverse=True)[1].astype(np.int64).ravel()
    k = int(codes.max()) + 1 if len(codes) else 0
    if not 2 <= k <= len(X) - 1:
        raise ValueError(
            f"internal metrics need between 2 and n_samples - 1 = {len(X) - 1} clusters, got {k}; "
            "they are undefined for a single cluster or all-singleton clusters"
        )
    return X, codes


# --------------------------------------------------------------------------- external
def purity_score(labels_true, labels_pred) -> float:
    """Purity: share of samples belonging to the majority true class of their cluster [MRS]_.

    ``purity = (1 / n) * sum_k max_j |cluster_k ∩ class_j|``. In ``(0, 1]``; 1 for a
    clustering that never mixes classes (all singletons score 1: purity alone rewards
    over-splitting; read it with inverse purity or BCubed recall).
    """
    from sklearn.metrics.cluster import contingency_matrix

    t, p = check_clusterings(labels_true, labels_pred)
    c = contingency_matrix(t, p, sparse=True).tocsc()
    return float(c.max(axis=0).toarray().sum() / len(t))


@dataclass(frozen=True)
class PairCounts:
    """Counts of unordered sample pairs [MRS]_.

    ``tp``: same class, same cluster; ``fp``: different classes, same cluster; ``fn``: same
    class, different clusters; ``tn``: different classes, different clusters. They sum to
    ``n (n - 1) / 2``.
    """

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def pair_counts(labels_true, labels_pred) -> PairCounts:
    """Pair confusion counts over unordered pairs (scikit-learn counts ordered pairs: halved here)."""
    from sklearn.metrics.cluster import pair_confusion_matrix

    t, p = check_clusterings(labels_true, labels_pred)
    c = pair_confusion_matrix(t, p)  # rows: same class? (0 no, 1 yes); columns: same cluster?
    return PairCounts(tp=int(c[1, 1]) // 2, fp=int(c[0, 1]) // 2, fn=int(c[1, 0]) // 2, tn=int(c[0, 0]) // 2)


def _f_beta(precision: float, recall: float, beta: float) -> float:
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    b2 = beta * beta
    denom = b2 * precision + recall
    return float((1 + b2) * precision * recall / denom) if denom > 0 else 0.0


def pairwise_precision_recall_fscore(labels_true, labels_pred, beta: float = 1.0) -> tuple[float, float, float]:
    """Pair-counting precision, recall and F-beta [MRS]_.

    ``precision = TP / (TP + FP)`` (pairs put together that belong together),
    ``recall = TP / (TP + FN)``. When a labeling has no pair at all in one cluster/class
    (all singletons), the corresponding ratio is ``0 / 0``; it is taken as 1 (nothing was
    claimed, nothing was wrong), so identical partitions always score 1.

    Returns
    -------
    precision, recall, fscore : float
    """
    c = pair_counts(labels_true, labels_pred)
    precision = c.tp / (c.tp + c.fp) if c.tp + c.fp else 1.0
    recall = c.tp / (c.tp + c.fn) if c.tp + c.fn else 1.0
    return float(precision), float(recall), _f_beta(precision, recall, beta)


def bcubed_precision_recall_fscore(labels_true, labels_pred, beta: float = 1.0) -> tuple[float, float, float]:
    """BCubed precision, recall and F-beta [AGAV]_.

    For each item ``i`` with cluster ``C(i)`` and class ``L(i)`` (both containing ``i``):
    ``precision(i) = |C(i) ∩ L(i)| / |C(i)|`` and ``recall(i) = |C(i) ∩ L(i)| / |L(i)|``,
    averaged over items. From the contingency table ``n_jk``:
    ``precision = (1 / n) sum_jk n_jk^2 / |C_k|``, ``recall = (1 / n) sum_jk n_jk^2 / |L_j|``.
    Unlike purity, BCubed satisfies all four constraints of [AGAV]_ (homogeneity,
    completeness, rag bag, size vs quantity).

    Returns
    -------
    precision, recall, fscore : float
    """
    from sklearn.metrics.cluster import contingency_matrix

    t, p = check_clusterings(labels_true, labels_pred)
    c = contingency_matrix(t, p, sparse=True).tocoo()
    n = len(t)
    class_size = np.bincount(t).astype(np.float64)
    cluster_size = np.bincount(p).astype(np.float64)
    sq = c.data.astype(np.float64) ** 2
    precision = float((sq / cluster_size[c.col]).sum() / n)
    recall = float((sq / class_size[c.row]).sum() / n)
    return precision, recall, _f_beta(precision, recall, beta)


def rand_index(labels_true, labels_pred) -> float:
    """Rand index (scikit-learn ``rand_score``): share of pairs on which both labelings agree."""
    from sklearn import metrics as _skm

    return float(_skm.rand_score(*check_clusterings(labels_true, labels_pred)))


def adjusted_rand(labels_true, labels_pred) -> float:
    """Adjusted Rand index (scikit-learn ``adjusted_rand_score``); 0 for chance, 1 for identity, >= -0.5."""
    from sklearn import metrics as _skm

    return float(_skm.adjusted_rand_score(*check_clusterings(labels_true, labels_pred)))


def normalized_mutual_info(labels_true, labels_pred) -> float:
    """NMI with arithmetic normalisation (scikit-learn ``normalized_mutual_info_score``)."""
    from sklearn import metrics as _skm

    return float(_skm.normalized_mutual_info_score(*check_clusterings(labels_true, labels_pred)))


def adjusted_mutual_info(labels_true, labels_pred) -> float:
    """AMI (scikit-learn ``adjusted_mutual_info_score``); 0 for chance, 1 for identity.

    Above :data:`analysis.statistics.clustering.mutual_info.GROUPED_MIN_CELLS` (class x cluster) pairs the
    expected-MI term is summed once per distinct pair of sizes (same value to rounding; scikit-learn's
    loop over every pair takes minutes with thousands of classes and clusters).
    """
    from sklearn import metrics as _skm
    from analysis.statistics.clustering.mutual_info import GROUPED_MIN_CELLS, adjusted_mutual_info_grouped

    t, p = check_clusterings(labels_true, labels_pred)
    if (int(t.max()) + 1) * (int(p.max()) + 1) > GROUPED_MIN_CELLS:
        return adjusted_mutual_info_grouped(t, p)
    return float(_skm.adjusted_mutual_info_score(t, p))


# --------------------------------------------------------------------------- internal
def silhouette_samples(X, labels, metric: str = "euclidean") -> np.ndarray:
    """Per-sample silhouette (scikit-learn ``silhouette_samples``, chunked internally).

    ``metric="precomputed"`` takes a square distance matrix as ``X``, so that one matrix serves
    the silhouettes of many clusterings of the same rows.
    """
    from sklearn import metrics as _skm

    X, codes = check_internal(X, labels)
    return _skm.silhouette_samples(X, codes, metric=metric).astype(np.float64)


def silhouette(X, labels, metric: str = "euclidean", sample_size: int | None = None, random_state: int = 0) -> float:
    """Mean silhouette (scikit-learn ``silhouette_score``), on a seeded sample when ``sample_size`` is set."""
    from sklearn import metrics as _skm

    X, codes = check_internal(X, labels)
    if sample_size is not None and sample_size >= len(X):
        sample_size = None
    return float(_skm.silhouette_score(X, codes, metric=metric, sample_size=sample_size, random_state=random_state))


def silhouette_per_cluster(sample_values, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean silhouette of each cluster from per-sample values.

    Parameters
    ----------
    sample_values : ndarray of shape (n_samples,)
        Output of :func:`silhouette_samples`.
    labels : ndarray of shape (n_samples,)

    Returns
    -------
    clusters : ndarray of shape (n_clusters,)
        Sorted unique labels.
    mean : ndarray of shape (n_clusters,)
    size : ndarray of shape (n_clusters,), int64
    """
    s = np.asarray(sample_values, dtype=np.float64)
    lab = _check_labels(labels, "labels")
    if len(s) != len(lab):
        raise ValueError(f"sample_values has {len(s)} entries but labels has {len(lab)}; they must be aligned")
    clusters, codes = np.unique(lab, return_inverse=True)
    size = np.bincount(codes, minlength=len(clusters))
    mean = np.bincount(codes, weights=s, minlength=len(clusters)) / np.maximum(size, 1)
    return clusters, mean, size.astype(np.int64)


def group_sums(X: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """Row sums of ``X`` per code, shape (k, n_features), float64.

    A sparse indicator product: ``np.add.at`` is unbuffered and about 100 times slower.
    """
    from scipy.sparse import csr_matrix

    indicator = csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(k, len(codes)))
    return np.asarray(indicator @ np.asarray(X, dtype=np.float64))


def _centroid_stats(X: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centroids, sizes and distance of every row to its own centroid (float64, ``O(n d)``)."""
    k = int(codes.max()) + 1
    size = np.bincount(codes, minlength=k).astype(np.float64)
    centroids = group_sums(X, codes, k) / size[:, None]
    dist = np.linalg.norm(X - centroids[codes], axis=1)
    return centroids, size, dist


def davies_bouldin(X, labels) -> float:
    """Davies-Bouldin index; lower is better, >= 0.

    Same definition and value as scikit-learn's ``davies_bouldin_score`` (checked in the tests)
    but vectorised: scikit-learn loops over clusters in Python, which takes minutes for the
    thousands of clusters of a face dataset.
    """
    X, codes = check_internal(X, labels)
    return _davies_bouldin(*_centroid_stats(X, codes), codes)


def calinski_harabasz(X, labels) -> float:
    """Calinski-Harabasz index (variance ratio); higher is better.

    Same value as scikit-learn's ``calinski_harabasz_score`` (checked in the tests), vectorised
    over clusters.
    """
    X, codes = check_internal(X, labels)
    return _calinski_harabasz(X, *_centroid_stats(X, codes))


def davies_bouldin_calinski_harabasz(X, labels) -> tuple[float, float]:
    """Both centroid-based indices from one pass over the rows (they share the centroids and the
    distances to them, the ``O(n d)`` part: a KMeans sweep scores many clusterings of 40,000 rows)."""
    X, codes = check_internal(X, labels)
    stats = _centroid_stats(X, codes)
    return _davies_bouldin(*stats, codes), _calinski_harabasz(X, *stats)


def _davies_bouldin(centroids: np.ndarray, size: np.ndarray, dist: np.ndarray, codes: np.ndarray) -> float:
    from sklearn.metrics.pairwise import euclidean_distances

    intra = np.bincount(codes, weights=dist, minlength=len(size)) / size
    sep = euclidean_distances(centroids)
    if np.allclose(intra, 0) or np.allclose(sep, 0):
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (intra[:, None] + intra[None, :]) / sep
    ratio[~np.isfinite(ratio)] = 0.0  # coincident centroids, as in scikit-learn
    np.fill_diagonal(ratio, 0.0)
    return float(ratio.max(axis=1).mean())


def _calinski_harabasz(X: np.ndarray, centroids: np.ndarray, size: np.ndarray, dist: np.ndarray) -> float:
    n, k = len(X), len(size)
    mean = X.mean(axis=0, dtype=np.float64)
    extra = float((size * ((centroids - mean) ** 2).sum(axis=1)).sum())
    intra = float((dist**2).sum())
    return 1.0 if intra == 0.0 else extra * (n - k) / (intra * (k - 1))


def dunn_index(X, labels, metric: str = "euclidean", working_memory: int | None = 64) -> float:
    """Dunn index: smallest inter-cluster distance over largest cluster diameter [Dunn]_.

    ``D = min_{k != l} min_{i in k, j in l} d(i, j) / max_k max_{i, j in k} d(i, j)`` (single
    linkage separation, complete diameter). Higher is better. Computed over row blocks with
    :func:`sklearn.metrics.pairwise_distances_chunked`, so memory stays under
    ``working_memory`` MiB whatever ``n``; time is ``O(n^2 d)``: subsample large sets.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
    metric : str, default="euclidean"
    working_memory : int, default=64
        MiB per distance block.

    Returns
    -------
    float
        NaN, with an :class:`UndefinedMetricWarning`, when every cluster has zero diameter
        (singletons or duplicates): the ratio is then 0/0 or x/0, undefined rather than infinite.
    """
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import pairwise_distances_chunked

    X, codes = check_internal(X, labels)
    n = len(X)
    min_sep = np.inf
    max_diam = 0.0
    start = 0

    def reduce(block, offset):
        lab = codes[offset : offset + len(block)]
        same = lab[:, None] == codes[None, :]
        diam = np.where(same, block, 0.0).max(axis=1)
        sep = np.where(same, np.inf, block).min(axis=1)
        return diam, sep

    for diam, sep in pairwise_distances_chunked(X, reduce_func=reduce, metric=metric, working_memory=working_memory):
        max_diam = max(max_diam, float(diam.max()))
        min_sep = min(min_sep, float(sep.min()))
        start += len(diam)
    assert start == n
    if max_diam == 0:
        warnings.warn("Dunn index undefined: every cluster has zero diameter (singletons or identical points); "
                      "returning NaN", UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    return float(min_sep / max_diam)
