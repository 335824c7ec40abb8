"""Approximate nearest neighbours (an inverted file of k-means cells) with their measured recall.

The exact k-NN graph of a million rows costs ``n^2 d`` (about 5 x 10^14 operations at 512-D),
hours on two cores. An inverted-file index (IVF-Flat [1]_) clusters the rows into ``nlist``
cells and searches each query only in the ``nprobe`` nearest cells: one to two orders of
magnitude less work, at the price of sometimes missing a neighbour. The cells are FAISS's seeded
k-means (spherical for unit rows: plain k-means made one hub cell of 13% of the rows at 300,000
rows, see :func:`analysis.statistics.search.ivf_blas.train_centres`); the search itself groups the
queries by cell and computes distances as matrix products (:mod:`analysis.statistics.search.ivf_blas`).
The price is measured, not assumed: :func:`approximate_knn` searches a seeded sample of query
rows exactly as well and reports the recall (the share of the true ``k`` neighbours found) and,
given labels, how often the k-NN vote is the exact one, which the pages show.

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
    # Recall of the first ``first_k`` neighbours (those a k-NN vote reads).
    recall_first: float | None = None
    first_k: int = 0
    # Share of the seeded rows whose leave-one-out k-NN vote (``vote_k`` nearest other rows) is the
    # one the exact neighbours give; with labels, nprobe was tuned on this.
    vote_agreement: float | None = None
    vote_k: int = 0


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise ImportError("approximate k-NN needs FAISS: pip install faiss-cpu") from exc
    return faiss


#: nprobe stops doubling beyond this share of the cells: past it the search costs about as much as an
#: exhaustive one (hours at a million rows), so the recall reached is reported instead.
MAX_PROBED_SHARE = 1 / 8
#: ... and beyond this many cells. With spherical cells the recall per probe is lower than with the
#: old hub cell (100,863 rows: first-4 recall 0.971 at 32 probes against 0.988), and 32 probes
#: left the k-NN accuracy 0.46 points from the exact one; at a million rows the vote reached its
#: target at 32 (each probe there is about 10 s of matrix products).
MAX_PROBES = 64


def _loo_votes(idx: np.ndarray, queries: np.ndarray, labels: np.ndarray, vote_k: int) -> np.ndarray:
    """Majority label of the first ``vote_k`` rows of each list other than the query itself (ties: smallest)."""
    from scipy.stats import mode

    others = np.where(idx == queries[:, None], -1, idx)
    # Stable: drop the query (and unfilled -1 slots) and keep the first vote_k of the rest in order.
    order = np.argsort(others < 0, axis=1, kind="stable")[:, :vote_k]
    first = np.take_along_axis(others, order, axis=1)
    votes = np.where(first >= 0, labels[np.maximum(first, 0)], -1)
    return mode(votes, axis=1, keepdims=False).mode


def approximate_knn(x: np.ndarray, k: int, nprobe: int = 4, recall_queries: int = 1000,
                    random_state: int = 0, target_recall: float = 0.99, target_k: int | None = None,
                    labels: np.ndarray | None = None, vote_k: int = 0, queries: np.ndarray | None = None,
                    ) -> tuple[np.ndarray, np.ndarray, AnnReport]:
    """Distances and positions of about the ``k`` nearest rows of every row (itself included),
    or of the rows ``queries`` only.

    ``nprobe`` is chosen from a measured recall: the seeded query rows are searched exactly first,
    then with the index at ``nprobe``, ``2 nprobe``, ... until the recall of the first
    ``target_k`` neighbours (default: all ``k``) reaches ``target_recall``, or until the next step
    would search more than :data:`MAX_PROBED_SHARE` of the cells; every row is then searched at
    that ``nprobe``. At 20,000 rows a fixed ``nprobe = 32`` gave a recall of 0.92 (all 17) and moved
    the k-NN accuracy by 0.57 points. The neighbours far down a list (impostors of identities with
    few images, at near-random distances) are the hardest to find and matter least: a k-NN vote
    reads the first few, hence ``target_k``.

    Parameters
    ----------
    x : ndarray of shape (n, d), float32
    k : int
    nprobe : int, default=4
        First number of cells searched per query (of ``nlist = 2 sqrt(n)``); doubled as needed.
    recall_queries : int, default=1000
        Seeded query rows also searched exactly to measure the recall.
    random_state : int, default=0
    target_recall : float, default=0.99
    target_k : int, optional
        Number of leading neighbours the recall target applies to (the row itself included).
    labels, vote_k : ndarray of int and int, optional
        With both, ``nprobe`` is tuned on what a k-NN classifier reads instead of the recall: the
        share of the seeded rows whose leave-one-out vote of their ``vote_k`` nearest other rows
        is the exact search's (``target_recall`` applies to it). On 300,000 synthetic rows the
        recall of the first 4 neighbours only went from 0.954 to 0.973 between 8 and 32 probed
        cells (a few true neighbours lie in far cells), at twice the cost, while a vote needs
        only most of them.
    queries : ndarray of int, optional
        Sorted positions of the rows to search for (default: every row); the seeded rows that
        measure the recall are drawn among them. Every row is still indexed.

    Returns
    -------
    (distances, indices, AnnReport)
        Euclidean distances, nearest first; shape ``(n, k)``, or ``(len(queries), k)``. Rows the
        index could not fill (fewer than ``k`` rows in the searched cells) hold index -1 and
        distance inf.
    """
    from analysis.statistics.search.ivf_blas import brute_force_blocks, cell_index, probe, search_cells, train_centres

    _faiss()  # the cells are FAISS's k-means: say so before any work
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    # 2 sqrt(n) cells of 20 seeded training rows each, 10 k-means iterations: at a million rows the
    # coarse steps (training, every row's probes) cost about 10^12 operations each, and the scan
    # of each probed cell about 5 x 10^11 (matrix products, analysis.statistics.search.ivf_blas).
    nlist = int(max(1, min(n // 39, round(2 * np.sqrt(n)))))
    # Spherical k-means for unit rows (the usual case: cosine neighbours); see train_centres.
    unit = bool(np.allclose(np.einsum("ij,ij->i", x[:1000], x[:1000]), 1.0, atol=1e-3))
    centres = train_centres(x, nlist, random_state, train_rows=min(n, 20 * nlist), niter=10, spherical=unit)
    nlist = len(centres)
    probe_start = int(min(max(1, nprobe), nlist))
    max_probe = max(probe_start, min(MAX_PROBES, int(nlist * MAX_PROBED_SHARE)))
    if queries is None:
        # Every row's probes once, as many as the largest nprobe tried; the first is its own cell.
        probes = probe(x, centres, max_probe).astype(np.int32)
        index = cell_index(x, centres, cell=probes[:, 0])
        pool = np.arange(n)
    else:
        pool = np.asarray(queries, dtype=np.int64)
        probes = probe(x[pool], centres, max_probe).astype(np.int32)  # the searched rows' probes only
        # Every row's own cell: the searched rows' first probe, the others' nearest centre (by row
        # blocks, no copy of the unsearched rows).
        cell = np.empty(n, dtype=np.int64)
        cell[pool] = probes[:, 0]
        unsearched = np.ones(n, dtype=bool)
        unsearched[pool] = False
        for start in range(0, n, 65536):
            rows = np.flatnonzero(unsearched[start : start + 65536]) + start
            if len(rows):
                cell[rows] = probe(x[rows], centres, 1)[:, 0]
        index = cell_index(x, centres, cell=cell)
    # Seeded rows of the pool searched exactly too, to measure the recall (`checked` indexes pool).
    checked = np.sort(np.random.default_rng(random_state + 1).choice(len(pool), size=min(len(pool), recall_queries),
                                                                     replace=False))
    sample = pool[checked]
    # Their exact answer by brute force over row blocks (no second copy of the rows in an index;
    # 1,000 queries at a million rows: 15.0 s against faiss.knn's 23.8 s, the same neighbours).
    _, true_idx = brute_force_blocks(x[sample], x, k)
    first_k = int(min(target_k or k, k))
    voting = labels is not None and vote_k > 0
    if voting:
        labels = np.asarray(labels)
        true_votes = _loo_votes(true_idx, sample, labels, vote_k)
    agreement = None
    probe_n = probe_start
    while True:
        _, found_idx = search_cells(index, x[sample], k, probes[checked, :probe_n])
        recall = float(sum(len(np.intersect1d(f, t)) for f, t in zip(found_idx, true_idx)) / true_idx.size)
        first = float(sum(len(np.intersect1d(f[:first_k], t[:first_k])) for f, t in zip(found_idx, true_idx))
                      / max(1, len(sample) * first_k))
        if voting:
            agreement = float(np.mean(_loo_votes(found_idx, sample, labels, vote_k) == true_votes))
        if (agreement if voting else first) >= target_recall or probe_n >= nlist or 2 * probe_n > max_probe:
            break
        probe_n = min(2 * probe_n, nlist)
    d2, idx = search_cells(index, x[pool] if queries is not None else x, k, np.ascontiguousarray(probes[:, :probe_n]))
    dist = np.where(idx >= 0, np.sqrt(np.maximum(d2, 0.0)), np.inf)
    report = AnnReport("IVF (cells searched by matrix products)", nlist, probe_n, recall, len(sample), first, first_k,
                       agreement, int(vote_k) if voting else 0)
    return dist, idx.astype(np.int64), report
