"""Row-block versions of ``O(n d)`` passes whose whole-array forms need ``n x d`` float64 copies.

At a million 512-D rows one float64 copy of the vectors is 4 GB, half of the 8 GB a large study
may use; the small-set code makes several (``x.astype(np.float64)``, ``centroids[codes]``,
``x - centroids[codes]``). These functions give the same quantities by blocks of rows
(float64 arithmetic inside a block, memory ``block x d``). The sums run in another order, so the
values agree with the whole-array forms to rounding, not to the bit: callers use them only
above their exact-size thresholds, and small studies keep the byte-identical original code.
"""
from __future__ import annotations

import numpy as np

BLOCK_ROWS = 65536


def group_sums_blocks(x: np.ndarray, codes: np.ndarray, k: int, block: int = BLOCK_ROWS) -> np.ndarray:
    """Row sums of ``x`` per code, shape ``(k, d)``, float64, by row blocks."""
    from analysis.statistics.clustering.metrics import group_sums

    sums = np.zeros((k, x.shape[1]))
    for start in range(0, len(x), block):
        sl = slice(start, start + block)
        sums += group_sums(x[sl], codes[sl], k)
    return sums


def compact_rows(x: np.ndarray, keep: np.ndarray, block: int = BLOCK_ROWS) -> np.ndarray:
    """``x[keep]`` without a second array: the kept rows are moved up in place, block by block.

    Returns a view of the first ``keep.sum()`` rows of ``x``, which is overwritten (the caller
    owns it). Safe because a kept row only ever moves to a position at or before its own.
    """
    keep = np.asarray(keep, dtype=bool)
    at = 0
    for start in range(0, len(x), block):
        rows = x[start : start + block][keep[start : start + block]]  # copy of one block's kept rows
        x[at : at + len(rows)] = rows
        at += len(rows)
    return x[:at]


def own_centroid_distances(x: np.ndarray, codes: np.ndarray, centroids: np.ndarray, block: int = BLOCK_ROWS) -> np.ndarray:
    """Euclidean distance of every row to the centroid of its code (float64), by row blocks."""
    out = np.empty(len(x))
    for start in range(0, len(x), block):
        sl = slice(start, start + block)
        # np.linalg.norm reduces each row on its own: the same values as one whole-array call.
        out[sl] = np.linalg.norm(x[sl] - centroids[codes[sl]], axis=1)
    return out


def davies_bouldin_calinski_harabasz_blocks(x: np.ndarray, labels: np.ndarray, block: int = BLOCK_ROWS) -> tuple[float, float]:
    """Davies-Bouldin and Calinski-Harabasz indices without an ``n x d`` float64 copy.

    Same definitions as :func:`analysis.statistics.clustering.metrics.davies_bouldin_calinski_harabasz`
    (labels re-coded to the clusters present; coincident centroids contribute 0 to
    Davies-Bouldin, as in scikit-learn); the ``k x k`` centroid separations are also taken by
    blocks of centroids, so memory stays ``O(block x max(d, k))``.
    """
    codes = np.unique(labels, return_inverse=True)[1].astype(np.int64).ravel()
    k = int(codes.max()) + 1
    n = len(x)
    if not 2 <= k <= n - 1:
        raise ValueError(f"the number of clusters must be in [2, n_samples - 1], got {k} for {n} rows")
    size = np.bincount(codes, minlength=k).astype(np.float64)
    centroids = group_sums_blocks(x, codes, k, block) / size[:, None]
    dist = own_centroid_distances(x, codes, centroids, block)
    intra = np.bincount(codes, weights=dist, minlength=k) / size
    c_sq = np.einsum("ij,ij->i", centroids, centroids)
    worst = np.zeros(k)
    max_sep = 0.0
    step = max(1, block // max(k, 1) * 8)  # centroid rows per block: about 8 * block floats
    for start in range(0, k, step):
        stop = min(k, start + step)
        sep = np.sqrt(np.maximum(c_sq[start:stop, None] - 2.0 * centroids[start:stop] @ centroids.T + c_sq[None, :], 0.0))
        max_sep = max(max_sep, float(sep.max()))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (intra[start:stop, None] + intra[None, :]) / sep
        ratio[~np.isfinite(ratio)] = 0.0
        ratio[np.arange(stop - start), np.arange(start, stop)] = 0.0
        worst[start:stop] = ratio.max(axis=1)
    db = 0.0 if np.allclose(intra, 0) or np.isclose(max_sep, 0) else float(worst.mean())
    mean = x.mean(axis=0, dtype=np.float64)
    extra = float((size * ((centroids - mean) ** 2).sum(axis=1)).sum())
    within = float((dist**2).sum())
    ch = 1.0 if within == 0.0 else extra * (n - k) / (within * (k - 1))
    return db, ch
