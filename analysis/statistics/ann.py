"""Approximate nearest neighbours (FAISS IVF-Flat) with their measured recall.

The exact k-NN graph of a million rows costs ``n^2 d`` (about 5 x 10^14 operations at 512-D),
hours on two cores. An inverted-file index (IVF-Flat [1]_) clusters the rows into ``nlist``
cells and searches each query only in the ``nprobe`` nearest cells: one to two orders of
magnitude less work, at the price of sometimes missing a neighbour. The price is measured, not
assumed: :func:`approximate_knn` searches a seeded sample of query rows exactly as well and
reports the recall (the share of the true ``k`` neighbours found), which the pages show.

Deterministic: IVF training is FAISS's k-means with a fixed seed, and the assignment of rows and
the search are plain distance computations; HNSW is avoided because its multi-threaded graph
construction depends on thread timing.

References
----------
.. [1] Jegou, Douze, Schmid. "Product quantization for nearest neighbor search." IEEE TPAMI 33 (2011);
   Johnson, Douze, Jegou. "Billion-scale similarity search with GPUs." IEEE TBD (2019) (FAISS).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AnnReport:
    """How an approximate search was made and how good it was."""

    method: str  # "IVF-Flat"
    nlist: int
    nprobe: int
    recall: float  # share of the exact k neighbours found, on ``recall_queries`` seeded rows
    recall_queries: int


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise ImportError("approximate k-NN needs FAISS: pip install faiss-cpu") from exc
    return faiss


def approximate_knn(x: np.ndarray, k: int, nprobe: int = 32, recall_queries: int = 1000,
                    random_state: int = 0, target_recall: float = 0.99) -> tuple[np.ndarray, np.ndarray, AnnReport]:
    """Distances and positions of about the ``k`` nearest rows of every row (itself included).

    ``nprobe`` is chosen from a measured recall: the seeded query rows are searched exactly first,
    then with the index at ``nprobe``, ``2 nprobe``, ... until the recall reaches ``target_recall``
    (or every cell is searched, which is exact); every row is then searched at that ``nprobe``.
    At 20,000 rows a fixed ``nprobe = 32`` gave a recall of 0.92 and moved the k-NN accuracy by
    0.57 points; the target of 0.99 keeps it within the issue's 0.5.

    Parameters
    ----------
    x : ndarray of shape (n, d), float32
    k : int
    nprobe : int, default=32
        First number of cells searched per query (of ``nlist = 4 sqrt(n)``); raised as needed.
    recall_queries : int, default=1000
        Seeded query rows also searched exactly to measure the recall.
    random_state : int, default=0
    target_recall : float, default=0.99

    Returns
    -------
    (distances, indices, AnnReport)
        Euclidean distances, nearest first; shape ``(n, k)``. Rows the index could not fill
        (fewer than ``k`` rows in the searched cells) hold index -1 and distance inf.
    """
    faiss = _faiss()
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    nlist = int(max(1, min(n // 39, round(4 * np.sqrt(n)))))
    quantizer = faiss.IndexFlatL2(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist)
    # Train on a seeded sample (FAISS would subsample to 256 rows per cell anyway) with a fixed seed.
    train_rows = np.sort(np.random.default_rng(random_state).choice(n, size=min(n, 64 * nlist), replace=False))
    index.cp.seed = int(random_state) + 1234
    index.train(x[train_rows])
    index.add(x)
    queries = np.sort(np.random.default_rng(random_state + 1).choice(n, size=min(n, recall_queries), replace=False))
    # Exact answer of the query rows by brute force (faiss.knn: no second copy of the rows in an index).
    _, true_idx = faiss.knn(x[queries], x, k)
    probe = int(min(max(1, nprobe), nlist))
    while True:
        index.nprobe = probe
        _, found_idx = index.search(x[queries], k)
        found = sum(len(np.intersect1d(f, t)) for f, t in zip(found_idx, true_idx))
        recall = float(found / true_idx.size)
        if recall >= target_recall or probe >= nlist:
            break
        probe = min(2 * probe, nlist)
    d2, idx = index.search(x, k)
    dist = np.where(idx >= 0, np.sqrt(np.maximum(d2, 0.0)), np.inf)
    report = AnnReport("IVF-Flat", nlist, int(index.nprobe), recall, len(queries))
    return dist, idx.astype(np.int64), report
