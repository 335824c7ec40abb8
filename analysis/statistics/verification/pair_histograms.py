"""Exact genuine/impostor cosine histograms over all pairs of a set, in bounded memory.

The cosine of *every* pair of embeddings, split into genuine (same label) and impostor
(different labels) pairs, is accumulated exactly into fixed-bin histograms on ``[-1, 1]`` by
blocks of float32 rows, so that 40,000 embeddings (800 million pairs) never need an ``n x n``
matrix in memory (:func:`pair_histograms`). Means and variances are exact: closed forms on Gram
matrices (:func:`_gram_moments`), not the bins. The verification metrics read from these
histograms are in :mod:`analysis.statistics.verification.verification`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.blocks import block_map, in_dask_task


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
    # an overflow bin folded into the last one. Blocks are independent: inside a Dask task
    # (backend "dask") they run as tasks of the cluster (analysis.blocks).
    half = np.float32(n_bins / 2)
    left = np.hstack([x * half, np.full((n, 1), half, dtype=np.float32)])
    right = np.ascontiguousarray(np.hstack([x, np.ones((n, 1), dtype=np.float32)]).T)
    starts_of_blocks = [(a, min(n, a + block_rows)) for a in range(0, n, block_rows)]
    if in_dask_task():
        parts = block_map(_block_counts, (left, right, lab, end_of, n_bins), starts_of_blocks)
    else:
        # Buffers are allocated once here: first-touch page faults on a fresh 400 MB array per
        # block cost more than the arithmetic.
        rows_max = min(block_rows, n)
        bufs = (np.empty(rows_max * n, dtype=np.float32), np.empty(rows_max * n, dtype=np.intp))
        parts = [_block_counts(left, right, lab, end_of, n_bins, a, b, *bufs) for a, b in starts_of_blocks]
    total = np.zeros(n_bins + 1, dtype=np.int64)
    genuine = np.zeros(n_bins + 1, dtype=np.int64)
    g_s1 = g_s2 = 0.0
    n_gen = 0
    for t, g, s1, s2, m in parts:  # in block order, so float sums do not depend on the backend
        total += t
        genuine += g
        g_s1 += s1
        g_s2 += s2
        n_gen += m
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


def _block_counts(left: np.ndarray, right: np.ndarray, lab: np.ndarray, end_of: np.ndarray, n_bins: int,
                  a: int, b: int, s_buf: np.ndarray | None = None, q_buf: np.ndarray | None = None):
    """Bin counts of the pairs ``(i, j > i)`` for rows ``a <= i < b`` (one block of :func:`pair_histograms`).

    Returns (all-pair counts, genuine counts, genuine sum, genuine sum of squares, genuine pairs).
    """
    n = len(left)
    half = np.float32(n_bins / 2)
    m, cols = b - a, n - a
    s_buf = np.empty(m * cols, dtype=np.float32) if s_buf is None else s_buf
    q_buf = np.empty(m * cols, dtype=np.intp) if q_buf is None else q_buf
    s = s_buf[: m * cols].reshape(m, cols)
    np.matmul(left[a:b], right[:, a:], out=s)  # pairs (i, j >= a): square block first
    q = q_buf[: m * cols].reshape(m, cols)
    np.copyto(q, s, casting="unsafe")
    tril = np.tril_indices(m)
    total = np.bincount(q.ravel(), minlength=n_bins + 1)
    total -= np.bincount(q[:, :m][tril], minlength=n_bins + 1)  # j <= i: not a pair i < j
    w = int(end_of[b - 1]) - a
    band = (lab[a:b, None] == lab[None, a : a + w]) & (np.arange(w)[None, :] > np.arange(m)[:, None])
    genuine = np.bincount(q[:, :w][band], minlength=n_bins + 1)
    g = (s[:, :w][band].astype(np.float64) - half) / half  # genuine cosines, exact up to float32
    return total.astype(np.int64), genuine.astype(np.int64), float(g.sum()), float(g @ g), len(g)
