"""The nearest neighbours of every row by cosine in the full embedding space, exactly.

The explorer lists, for a clicked point, its nearest neighbours in the space the network
scores faces in (not on the 2-D map, whose neighbourhoods t-SNE and UMAP distort), with their
cosine. The lists are computed here, at build time, on the rows the explorer maps (the manifold
analysis' sample), and stored compactly in the explorer's data.

The search is exact: row blocks of L2-normalised float32 vectors multiplied against every row
(a matrix product per block, memory bounded by :data:`BLOCK_CELLS`), the best ``k + margin``
candidates of each row kept, then their cosines recomputed in float64 and sorted by (cosine
descending, row ascending). The float64 pass makes the order independent of how BLAS rounds a
float32 product (thread count, block position), so the same rows give the same lists on every
machine; the margin covers float32 ranks that differ from float64 ones at the k-th place.
Exact duplicates tie at cosine 1 and are ordered by row.

Cost: ``O(n^2 d)``; 2,000 x 512 rows take about 0.1 s, 5,000 (the manifold's default sample)
about 0.5 s, 100,000 several minutes on two cores.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Similarity-matrix cells per block (float32): 2^25 cells = 128 MiB whatever the row count.
BLOCK_CELLS = 1 << 25
#: Most rows per block (bounds the float64 re-ranking array: rows x (k + MARGIN) x dims).
BLOCK_ROWS = 1024
#: Extra float32 candidates re-ranked in float64 (ties and rounding at the k-th place).
MARGIN = 4


@dataclass(frozen=True)
class NeighbourParams:
    """How many neighbours per row (the explorer lists 10)."""

    k: int = 10

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")


@dataclass(frozen=True, eq=False)
class NeighbourLists:
    """The ``k`` nearest other rows of every row, nearest first.

    Attributes
    ----------
    index : ndarray of shape (n_rows, k), int64
        Row positions of the neighbours; ``-1`` pads the lists when there are at most ``k`` rows.
    cosine : ndarray of shape (n_rows, k), float64
        Cosine of each neighbour (``nan`` where ``index`` is ``-1``).
    """

    index: np.ndarray
    cosine: np.ndarray

    @property
    def k(self) -> int:
        return int(self.index.shape[1])


def nearest_neighbours(x: np.ndarray, params: NeighbourParams = NeighbourParams()) -> NeighbourLists:
    """Exact cosine nearest neighbours of every row of ``x`` among the other rows.

    Parameters
    ----------
    x : ndarray of shape (n_rows, n_dims)
        Raw or normalised vectors (normalised here; a zero row has cosine 0 to every row).
    params : NeighbourParams

    Returns
    -------
    NeighbourLists
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (n_rows, n_dims), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or inf")
    n, k = len(x), params.k
    x64 = x.astype(np.float64)
    norms = np.linalg.norm(x64, axis=1, keepdims=True)
    unit64 = x64 / np.where(norms > 0, norms, 1.0)
    unit32 = unit64.astype(np.float32)
    index = np.full((n, k), -1, dtype=np.int64)
    cosine = np.full((n, k), np.nan, dtype=np.float64)
    keep = min(k, n - 1)
    if keep <= 0:
        return NeighbourLists(index, cosine)
    cand = min(keep + MARGIN, n - 1)
    block = max(1, min(n, BLOCK_ROWS, BLOCK_CELLS // n))
    for a in range(0, n, block):
        b = min(n, a + block)
        sims = unit32[a:b] @ unit32.T
        sims[np.arange(b - a), np.arange(a, b)] = -np.inf  # never a row's own neighbour
        top = np.argpartition(-sims, cand - 1, axis=1)[:, :cand]  # cand <= n - 1: the row itself is never kept
        # Where more rows tie at the last candidate's score (duplicate faces), argpartition's pick among them
        # depends on numpy's selection code (SIMD, CPU): take the lowest-numbered ones instead.
        last = np.take_along_axis(sims, top, axis=1).min(axis=1)
        for r in np.flatnonzero((sims >= last[:, None]).sum(axis=1) > cand):
            top[r] = np.lexsort((np.arange(n), -sims[r]))[:cand]
        exact = np.einsum("id,ijd->ij", unit64[a:b], unit64[top])
        order = np.lexsort((top, -exact), axis=1)[:, :keep]
        rows = np.arange(b - a)[:, None]
        index[a:b, :keep] = top[rows, order]
        cosine[a:b, :keep] = exact[rows, order]
    return NeighbourLists(index, cosine)
