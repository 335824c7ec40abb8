"""Image-level audit scores: nearest-centroid margins and silhouettes, near-duplicate pairs.

* :func:`centroid_scores`: for every image, the cosine to the leave-one-out centroid of its
  own identity, the nearest centroid of another identity and its cosine, and the cosine
  silhouette [1]_ on the identity labels; :func:`analysis.statistics.audit.audit.analyze_audit`
  suspects a mislabel where the margin or the silhouette is negative.
* :func:`near_duplicate_pairs`: pairs of images with cosine at least a threshold, found exactly
  by a blockwise screen in a low-dimensional projection and a full-cosine check of the
  survivors.

Silhouette and nearest-centroid margins use an exact identity: for unit vectors the cosine
distance ``1 - x.y`` is linear in ``y``, so the mean distance of ``x`` to a set of unit vectors is
``1 - x.mean(set)``. That gives the same silhouette values as
``sklearn.metrics.silhouette_samples(X, labels, metric="cosine")`` in ``O(n k d)`` instead of
``O(n^2 d)`` (the tests check the equality).

References
----------
.. [1] Rousseeuw. "Silhouettes: a graphical aid to the interpretation and validation of cluster
   analysis." Journal of Computational and Applied Mathematics 20 (1987).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from analysis.types import l2_normalize

if TYPE_CHECKING:  # pragma: no cover - annotation only
    from analysis.statistics.audit.large import DuplicateSearch


@dataclass(frozen=True, eq=False)
class NearDuplicates:
    """Image pairs with cosine >= threshold, most similar first (``first < second`` rows)."""

    first: np.ndarray  # row positions in the input
    second: np.ndarray
    cosine: np.ndarray
    n_found: int  # before truncation to max_duplicates
    truncated: bool
    # Large sets: the screen went through an IVF index of the projected rows (recall measured).
    search: "DuplicateSearch | None" = None


# --------------------------------------------------------------------------- per-image scores
def centroid_scores(x: np.ndarray, labels: np.ndarray, n_labels: int) -> tuple[np.ndarray, ...]:
    """Leave-one-out nearest-centroid margins and cosine silhouettes of unit vectors.

    Parameters
    ----------
    x : ndarray of shape (n, d)
        L2-normalised rows.
    labels : ndarray of shape (n,)
        Codes in ``0..n_labels-1``; at least two distinct codes present.
    n_labels : int

    Returns
    -------
    own_cosine, nearest_other, other_cosine, silhouette : ndarrays of shape (n,)
        ``own_cosine`` is NaN for rows alone in their label; their silhouette is 0.

    Notes
    -----
    With unit vectors the mean cosine distance of ``x`` to the set ``S`` is ``1 - x.mean(S)``,
    so ``a(i) = 1 - x_i.(sum_own - x_i) / (n_own - 1)`` and ``b(i)`` is the smallest
    ``1 - x_i.mean(S)`` over other labels: the silhouette of [1]_ with the cosine metric.
    """
    x = np.asarray(x, dtype=np.float64)
    counts = np.bincount(labels, minlength=n_labels).astype(np.float64)
    sums = np.zeros((n_labels, x.shape[1]))
    np.add.at(sums, labels, x)
    present = counts > 0
    means = sums / np.maximum(counts, 1)[:, None]
    unit_centroids = l2_normalize(means).astype(np.float64)
    n = len(x)
    rows = np.arange(n)
    own_count = counts[labels]
    own_sum = sums[labels] - x  # leave-one-out sums
    own_norm = np.linalg.norm(own_sum, axis=1)
    alone = own_count < 2
    with np.errstate(invalid="ignore", divide="ignore"):
        own_cosine = np.where(alone | (own_norm == 0), np.nan, np.einsum("ij,ij->i", x, own_sum) / own_norm)
        a = np.where(alone, 0.0, 1.0 - np.einsum("ij,ij->i", x, own_sum) / np.maximum(own_count - 1, 1))
    nearest_other = np.zeros(n, dtype=np.int64)
    other_cosine = np.zeros(n)
    b = np.zeros(n)
    for start in range(0, n, 4096):  # bounded (block x n_labels) memory
        sl = slice(start, start + 4096)
        cos = x[sl] @ unit_centroids.T
        mean_dist = 1.0 - x[sl] @ means.T
        own = labels[sl]
        block_rows = rows[sl] - start
        cos[block_rows, own] = -np.inf
        cos[:, ~present] = -np.inf
        mean_dist[block_rows, own] = np.inf
        mean_dist[:, ~present] = np.inf
        nearest_other[sl] = np.argmax(cos, axis=1)
        other_cosine[sl] = cos[block_rows, nearest_other[sl]]
        b[sl] = mean_dist.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sil = np.where(alone, 0.0, (b - a) / np.maximum(a, b))
    sil = np.nan_to_num(sil, nan=0.0)
    return own_cosine, nearest_other, other_cosine, sil


# --------------------------------------------------------------------------- near-duplicates
def near_duplicate_pairs(x: np.ndarray, threshold: float, max_pairs: int, block_size: int = 512,
                         prefilter_dims: int = 32) -> NearDuplicates:
    """Pairs ``i < j`` of unit rows with cosine >= ``threshold``, most similar first (exact).

    For unit rows ``cos >= t`` means ``|x_i - x_j|^2 <= 2 - 2t``, and an orthonormal projection
    ``P`` never lengthens a difference: ``|P x_i - P x_j| <= |x_i - x_j|``. So pairs are first
    screened in ``prefilter_dims`` dimensions (the leading principal axes of a sample, where
    the rows spread most, so the screen discards the most pairs): no pair at or above the
    threshold can fail the screen, and the few survivors are checked with their full cosine.
    At 40,000 x 512 this replaced a 512-D all-pairs product (about 10 s) by a 32-D one.
    Blockwise products of ``block_size`` rows against the rows after them keep memory at
    ``block_size x n`` floats; only the ``max_pairs`` most similar pairs are kept.
    """
    x = np.asarray(x, dtype=np.float32)
    n, d = x.shape
    radius2 = max(2.0 - 2.0 * float(threshold), 0.0)
    if 0 < prefilter_dims < d:
        sample = x[np.random.default_rng(0).choice(n, size=min(n, 5000), replace=False)].astype(np.float64)
        # Leading eigenvectors of the d x d second-moment matrix (an SVD of the sample rows gives
        # the same axes at many times the cost); any orthonormal basis keeps the screen exact.
        basis = np.linalg.eigh(sample.T @ sample)[1][:, ::-1][:, :prefilter_dims].T
        z = (x.astype(np.float64) @ basis.T).astype(np.float32)
    else:
        z = x
    sq = np.einsum("ij,ij->i", z, z)
    # float32 products of values near 1 carry ~1e-6 relative error: widen the screen by far more.
    screen = radius2 + 1e-4
    firsts, seconds, sims = [], [], []
    for start in range(0, n, block_size):
        stop = min(n, start + block_size)
        m = stop - start
        d2 = z[start:stop] @ z[start:].T  # squared distances, built in place (no temporaries)
        d2 *= -2.0
        d2 += sq[None, start:]
        d2 += sq[start:stop, None]
        d2[np.arange(m), np.arange(m)] = np.inf  # a row with itself is not a pair
        # Near-duplicates are rare: a row minimum (one vectorised pass) finds the few rows
        # holding a candidate, and only those are searched.
        hot = np.flatnonzero(d2.min(axis=1) <= screen)
        i, j = np.nonzero(d2[hot] <= screen)
        i = hot[i]
        keep = j > i  # upper triangle only (column offset equals row offset)
        i, j = i[keep] + start, j[keep] + start
        cos = np.einsum("ij,ij->i", x[i], x[j])
        ok = cos >= threshold
        firsts.append(i[ok])
        seconds.append(j[ok])
        sims.append(np.minimum(cos[ok], 1.0).astype(np.float64))
    first = np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)
    second = np.concatenate(seconds) if seconds else np.zeros(0, dtype=np.int64)
    cosine = np.concatenate(sims) if sims else np.zeros(0)
    return ranked_duplicates(first, second, cosine, max_pairs)


def ranked_duplicates(first: np.ndarray, second: np.ndarray, cosine: np.ndarray, max_pairs: int,
                      search: "DuplicateSearch | None" = None) -> NearDuplicates:
    """The ``max_pairs`` most similar of the found pairs (ties by rows), with the count before truncation."""
    order = np.lexsort((second, first, -cosine))
    n_found = len(order)
    order = order[:max_pairs]
    return NearDuplicates(first[order].astype(np.int64), second[order].astype(np.int64), cosine[order], n_found,
                          n_found > max_pairs, search)
