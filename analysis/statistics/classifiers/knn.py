"""Exact k-NN for cross-validation: one shared neighbour search serves every fold.

Cross-validated k-NN needs, for each test row, its ``k`` nearest *training* rows of that fold.
:func:`neighbour_graph` searches the ``m`` (>> k) nearest rows of every row once (FAISS's exact
flat index when installed, else scikit-learn's brute force); :func:`knn_predict` picks the
first ``k`` training rows from each list and searches again exactly for the rare rows whose
list holds fewer, so predictions equal those of
:class:`sklearn.neighbors.KNeighborsClassifier`. :class:`_GraphKNN` puts one fold of that
behind the ``fit(x, y).predict(x)`` calls of the cross-validation loop of
:mod:`analysis.statistics.classifiers.classifiers`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.blocks import block_map, in_dask_task
from analysis.statistics.search.ann import AnnReport, approximate_knn

#: Query rows per block task under Dask: FAISS's flat index itself searches queries in blocks
#: of 4,096 rows (``distance_compute_blas_query_bs``), so splitting on its boundaries leaves
#: every distance computed by the same matrix products as one whole search.
QUERY_BLOCK = 4096


@dataclass(frozen=True, eq=False)
class NeighbourGraph:
    """The ``m`` nearest other rows of every row of a set, computed once.

    Cross-validated k-NN only ever needs, for a test row, its ``k`` nearest *training* rows;
    with random folds those are almost always among its ``m`` (>> k) nearest rows overall.
    One exact all-rows search therefore serves every fold and both label sources, instead of
    one brute-force search per fold (ten at five folds): rows whose list holds fewer than ``k``
    training rows are searched again exactly (:func:`knn_predict`), so the result is exact.
    """

    x: np.ndarray  # (n, d) the rows searched
    index: np.ndarray  # (n, m) nearest other rows, nearest first (-1: none found, approximate only)
    distance: np.ndarray  # (n, m)
    ann: AnnReport | None = None  # set when the search was approximate (above ``exact_max_rows``)
    # Rows whose lists were searched (None: every row); the others hold -1 / inf.
    searched: np.ndarray | None = None


def neighbour_graph(x: np.ndarray, m: int, exact_max_rows: int = 0, random_state: int = 0,
                    vote_k: int = 0, labels: np.ndarray | None = None,
                    queries: np.ndarray | None = None) -> NeighbourGraph:
    """The ``m`` nearest other rows of every row (Euclidean; cosine order on unit vectors), or
    of the rows ``queries`` only (sorted positions; the lists of the others hold -1 and inf).

    With FAISS installed (``faiss-cpu``) the search is its exact flat index, otherwise
    scikit-learn's brute-force search; both return the same neighbours. FAISS keeps the float32
    product in single precision where scikit-learn upcasts blocks to float64: on 20,000 x 512
    rows here 4.4 s against 8.6 s, and this search is the largest cost of the classifiers.
    Above ``exact_max_rows`` rows (0: never) the search is approximate, FAISS IVF-Flat with
    its recall measured (:mod:`analysis.statistics.search.ann`, recorded in ``ann``); with ``vote_k``
    and ``labels`` its ``nprobe`` is tuned on the agreement of the leave-one-out ``vote_k``-NN
    vote with the exact search's; with ``vote_k`` alone on the recall of the first
    ``vote_k + 1`` other rows (those a k-NN vote reads), else on the whole list.
    """
    n = len(x)
    m = int(min(m, n - 1))
    xf = np.ascontiguousarray(x, dtype=np.float32)
    rows = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    ann = None
    if exact_max_rows and n > exact_max_rows:
        dist, idx, ann = approximate_knn(xf, m + 1, random_state=random_state,  # m + the row itself
                                         target_k=vote_k + 2 if vote_k else None, labels=labels, vote_k=vote_k,
                                         queries=queries)
    elif in_dask_task() and len(rows) > QUERY_BLOCK:
        # Row blocks of queries as tasks of the cluster; each searches every row, so the lists
        # are those of one search (blocks are FAISS's own query blocks, see QUERY_BLOCK).
        parts = block_map(_exact_knn_rows, (xf, m + 1, rows),
                          [(a, min(len(rows), a + QUERY_BLOCK)) for a in range(0, len(rows), QUERY_BLOCK)])
        dist, idx = np.concatenate([d for d, _ in parts]), np.concatenate([i for _, i in parts])
    else:
        dist, idx = _exact_knn(xf, m + 1, None if queries is None else xf[rows])
    # Drop each row itself; with exact duplicates it need not come first, so remove it by value.
    self_hit = idx == rows[:, None]
    drop = np.where(self_hit.any(axis=1), self_hit.argmax(axis=1), m)
    keep = np.arange(m + 1)[None, :] != drop[:, None]
    index, distance = idx[keep].reshape(len(rows), m), dist[keep].reshape(len(rows), m)
    if queries is None:
        return NeighbourGraph(x, index, distance, ann)
    full_index = np.full((n, m), -1, dtype=index.dtype)
    full_distance = np.full((n, m), np.inf, dtype=distance.dtype)
    full_index[rows], full_distance[rows] = index, distance
    return NeighbourGraph(x, full_index, full_distance, ann, rows)


def _exact_knn(x: np.ndarray, k: int, queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distances and positions of the ``k`` nearest rows of ``x`` to every query row (default: ``x``)."""
    queries = x if queries is None else queries
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None:
        index = faiss.IndexFlatL2(x.shape[1])
        index.add(x)
        d2, idx = index.search(queries, k)
        return np.sqrt(np.maximum(d2, 0.0)), idx.astype(np.int64)
    from sklearn.neighbors import NearestNeighbors

    # Euclidean on unit vectors ranks neighbours exactly as cosine does, and scikit-learn's
    # Euclidean brute-force path is a chunked matmul with a heap (its cosine path is slower).
    return NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean").fit(x).kneighbors(queries)


def _exact_knn_rows(x: np.ndarray, k: int, rows: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_exact_knn` for the query rows ``rows[a:b]`` of ``x`` (one block task)."""
    return _exact_knn(x, k, x[rows[a:b]])


def knn_predict(graph: NeighbourGraph, train: np.ndarray, test: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Majority vote of the ``k`` nearest training rows of each test row (rows of ``graph.x``).

    Parameters
    ----------
    graph : NeighbourGraph
    train, test : ndarray of int
        Row positions in ``graph.x``; ``y`` holds a label for every row (used for ``train`` only).
    k : int

    Returns
    -------
    ndarray
        Labels; ties go to the smallest label, as in
        :class:`sklearn.neighbors.KNeighborsClassifier` (both use :func:`scipy.stats.mode`).
    """
    from scipy.stats import mode

    if graph.searched is not None:
        searched = np.zeros(len(graph.x), dtype=bool)
        searched[graph.searched] = True
        if not searched[test].all():
            raise ValueError("knn_predict: some test rows were not searched by the neighbour graph (its queries)")
    is_train = np.zeros(len(graph.x), dtype=bool)
    is_train[train] = True
    k = int(min(k, len(train)))
    cand = graph.index[test]
    ok = is_train[cand] & (cand >= 0)  # -1: an approximate search found no row there
    # Position of each candidate among the training candidates of its row: the first k win.
    rank = np.cumsum(ok, axis=1)
    chosen = ok & (rank <= k)
    short = np.flatnonzero(ok.sum(axis=1) < k)
    neigh = np.empty((len(test), k), dtype=np.int64)
    full = np.setdiff1d(np.arange(len(test)), short, assume_unique=True)
    neigh[full] = cand[full][chosen[full]].reshape(len(full), k)
    if len(short) and graph.ann is not None:
        # Rare: fewer than k training rows among the m nearest: search those rows exactly, among the
        # training rows in place (fitting a search on a copy of them was 1.6 GB and 15 s a fold at 1M rows).
        from analysis.statistics.search.ivf_blas import brute_force_blocks

        neigh[short] = brute_force_blocks(graph.x[test[short]], graph.x, k, allowed=is_train)[1]
    elif len(short):
        # The same for an exact graph, by scikit-learn's search: predictions equal KNeighborsClassifier's.
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean").fit(graph.x[train])
        neigh[short] = train[nn.kneighbors(graph.x[test[short]], return_distance=False)]
    return mode(y[neigh], axis=1, keepdims=False).mode


class _GraphKNN:
    """k-NN of one fold on the shared neighbour graph, behind the ``fit(x, y).predict(x)`` calls
    of the cross-validation loop (their arguments are ignored: the fold's rows are given here)."""

    def __init__(self, graph: NeighbourGraph, train: np.ndarray, test: np.ndarray, y_graph: np.ndarray, k: int):
        self.graph, self.train, self.test, self.y_graph, self.k = graph, train, test, y_graph, k

    def fit(self, _x, _y):
        return self

    def predict(self, _x):
        return knn_predict(self.graph, self.train, self.test, self.y_graph, self.k)
