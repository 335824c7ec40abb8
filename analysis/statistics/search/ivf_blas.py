"""An inverted-file (IVF) nearest-neighbour search whose distances are matrix products, cell by cell.

FAISS's IVF-Flat search scans, for each query, the vectors of its ``nprobe`` cells one distance at
a time. The same work grouped by cell is a matrix product: all the queries that probe cell ``c``
against the rows of ``c`` in one BLAS call, then each query keeps its best ``k`` over its cells.
Same partition, same candidates, same exact distances within them: only the order of the work
changes. The products and the selection are numpy's (:func:`_brute_force`): on this 2-core
machine ``q @ b.T`` with ``argpartition`` ran 2-7x faster than :func:`faiss.knn` on the shapes
of one cell (220-8,800 queries against 274-4,000 rows, ``k = 17``: 2.6 vs 11.3 ms up to 17 vs
123 ms; ``bench/README.md``).

The coarse partition is FAISS's k-means (seeded; spherical for unit rows, see
:func:`train_centres`); the probes of every query are its ``nprobe`` nearest cell centres,
found exactly by the same brute force.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class CellIndex:
    """Rows of a base set grouped by their nearest cell centre."""

    centres: np.ndarray  # (nlist, d) float32
    order: np.ndarray  # base rows sorted by cell
    bounds: np.ndarray  # (nlist + 1,) start of each cell in ``order``
    base: np.ndarray  # (m, d) float32
    norms: np.ndarray  # (m,) float32 squared norms of ``base``


def train_centres(base: np.ndarray, nlist: int, random_state: int, train_rows: int | None = None,
                  niter: int = 10, spherical: bool = False) -> np.ndarray:
    """Seeded k-means cell centres of ``base`` (FAISS), trained on at most ``train_rows`` seeded rows.

    ``spherical``: centres re-normalised after every iteration, for unit rows. Plain k-means of
    unit rows leaves the centre of a loose cell short, and a short centre is nearer (in L2) to
    every unrelated unit row than their own cells' centres: at 300,000 rows of 12,000 synthetic
    identities one cell took 39,866 rows (median 30), and every query probed it.
    """
    import faiss

    m, d = base.shape
    nlist = int(max(1, min(nlist, m)))
    rows = np.arange(m)
    if train_rows is not None and train_rows < m:
        rows = np.sort(np.random.default_rng(random_state).choice(m, size=train_rows, replace=False))
    km = faiss.Kmeans(d, nlist, niter=niter, seed=int(random_state) + 1234, verbose=False, spherical=spherical)
    km.train(np.ascontiguousarray(base[rows], dtype=np.float32))
    return np.ascontiguousarray(km.centroids, dtype=np.float32)


#: Queries per part of :func:`search_cells`: parts run on parallel threads, and their size is fixed so
#: that the result does not depend on the number of threads.
SEARCH_PART = 65536

#: Query rows per matrix product of :func:`_brute_force` (memory: this many x the base rows, float32).
QUERY_BLOCK = 4096


def _scores(queries: np.ndarray, base: np.ndarray, metric: str, base_norms: np.ndarray | None = None) -> np.ndarray:
    """Scores of every (query, base row) pair, smaller is better: squared distance (``|q|^2 + |b|^2
    - 2 q.b`` in float32, as FAISS computes it) or minus the inner product."""
    s = queries @ base.T
    if metric == "l2":
        if base_norms is None:
            base_norms = np.einsum("ij,ij->i", base, base)
        s *= np.float32(-2.0)
        s += base_norms[None, :]
        s += np.einsum("ij,ij->i", queries, queries)[:, None]
    else:
        np.negative(s, out=s)
    return s


def _brute_force(queries: np.ndarray, base: np.ndarray, k: int, metric: str = "l2") -> tuple[np.ndarray, np.ndarray]:
    """Scores (smaller is better) and positions of the ``k`` best ``base`` rows of every query, best
    first, ties by position (deterministic)."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    b = np.ascontiguousarray(base, dtype=np.float32)
    k = int(min(k, len(b)))
    norms = np.einsum("ij,ij->i", b, b) if metric == "l2" else None
    out_s = np.empty((len(q), k), dtype=np.float32)
    out_i = np.empty((len(q), k), dtype=np.int64)
    for start in range(0, len(q), QUERY_BLOCK):
        s = _scores(q[start : start + QUERY_BLOCK], b, metric, norms)
        keep = _top_k(s, np.broadcast_to(np.arange(len(b), dtype=np.int64), s.shape), k)
        out_s[start : start + len(s)] = np.take_along_axis(s, keep, axis=1)
        out_i[start : start + len(s)] = keep
    return out_s, out_i


#: Base rows per block of :func:`brute_force_blocks` (memory: the queries x this many, float32).
BASE_BLOCK = 65536
#: ... and queries per block.
BASE_BLOCK_QUERIES = 1024


def brute_force_blocks(queries: np.ndarray, base: np.ndarray, k: int, allowed: np.ndarray | None = None,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_brute_force` (squared L2) for a few queries against many rows, in blocks of base rows.

    A block of the queries against all base rows at once would be ``queries x rows`` floats (4 GB
    for 1,000 queries at a million rows); blocks of :data:`BASE_BLOCK` rows keep the products large
    and the memory bounded. The running best ``k`` of each query are merged block by block with
    the order of :func:`_top_k` (score, then position), so the result is the one-block result.
    ``allowed`` (a mask of the base rows) restricts the search to those rows: in place when they
    are most of the base (no copy of 800,000 training rows), on a copy of them when they are few.
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if allowed is not None and 4 * int(np.count_nonzero(allowed)) < len(base):
        # Few allowed rows: a copy of them is small, and searching it skips the others' products.
        rows = np.flatnonzero(allowed)
        s, i = brute_force_blocks(q, base[rows], k)
        return s, np.where(i >= 0, rows[np.maximum(i, 0)], -1)
    if len(q) > BASE_BLOCK_QUERIES:  # bounded memory: 1,024 x 65,536 scores (256 MB) at a time
        parts = [brute_force_blocks(q[a : a + BASE_BLOCK_QUERIES], base, k, allowed)
                 for a in range(0, len(q), BASE_BLOCK_QUERIES)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    k = int(min(k, len(base) if allowed is None else int(np.count_nonzero(allowed))))
    best_s = np.full((len(q), k), np.inf, dtype=np.float32)
    best_i = np.full((len(q), k), -1, dtype=np.int64)
    for start in range(0, len(base), BASE_BLOCK):
        b = np.ascontiguousarray(base[start : start + BASE_BLOCK], dtype=np.float32)
        s = _scores(q, b, "l2")
        if allowed is not None:
            s[:, ~allowed[start : start + len(b)]] = np.inf
        ids = np.broadcast_to(np.arange(start, start + len(b), dtype=np.int64), s.shape)
        best_s, best_i = _merge_best(best_s, best_i, s, ids, k)
    return best_s, best_i


def probe(queries: np.ndarray, centres: np.ndarray, nprobe: int) -> np.ndarray:
    """The ``nprobe`` nearest cell centres of every query, nearest first (exact, BLAS)."""
    return _brute_force(queries, centres, int(min(nprobe, len(centres))))[1]


def cell_index(base: np.ndarray, centres: np.ndarray, cell: np.ndarray | None = None) -> CellIndex:
    """Rows of ``base`` grouped by their nearest centre (``cell``, when already known from :func:`probe`)."""
    base = np.ascontiguousarray(base, dtype=np.float32)
    if cell is None:
        cell = probe(base, centres, 1)[:, 0]
    order = np.argsort(cell, kind="stable")
    bounds = np.searchsorted(cell[order], np.arange(len(centres) + 1))
    return CellIndex(centres, order, bounds, base, np.einsum("ij,ij->i", base, base))


def search_cells(index: CellIndex, queries: np.ndarray, k: int, probes: np.ndarray, metric: str = "l2",
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best base rows of every query among the rows of the cells ``probes`` (one row per query).

    Returns ``(values, positions)`` of shape ``(nq, k)``, best first: squared Euclidean distances
    (``"l2"``, smallest first) or inner products (``"ip"``, largest first), float32; positions -1
    (value inf / -inf) where the probed cells held fewer than ``k`` rows.

    The queries are searched in parts of :data:`SEARCH_PART` rows, one thread per core this
    process may use (its BLAS thread count), each with single-threaded BLAS. Half of the search
    is selection and bookkeeping that numpy runs on one core: 131,072 queries at 300,000 rows
    (``nprobe`` 32) took 23.3 s on two threads against 35.4 s as one part with two BLAS threads
    (1.52x), the same neighbours. The parts and their
    single-threaded products do not depend on how many threads ran them, so neither does the result.
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    probes = np.asarray(probes)

    def part(a: int) -> tuple[np.ndarray, np.ndarray]:
        return _search_part(index, q[a : a + SEARCH_PART], k, probes[a : a + SEARCH_PART], metric)

    parts = in_parts(part, len(q))
    return np.concatenate([v for v, _ in parts]), np.concatenate([i for _, i in parts])


def in_parts(part, n: int) -> list:
    """``[part(0), part(SEARCH_PART), ...]`` over ``n`` queries: one thread per core this process may use, each
    with single-threaded BLAS (see :func:`search_cells`); the results do not depend on the thread count."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from analysis.blocks import usable_cores

    starts = list(range(0, n, SEARCH_PART)) or [0]
    threads = usable_cores()
    with threadpool_limits(limits=1, user_api="blas"):
        if threads > 1 and len(starts) > 1:
            with ThreadPoolExecutor(min(threads, len(starts))) as pool:
                return list(pool.map(part, starts))
        return [part(a) for a in starts]


def _search_part(index: CellIndex, q: np.ndarray, k: int, probes: np.ndarray, metric: str,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`search_cells` of one part of the queries (float32, contiguous), in this thread."""
    nq, nprobe = probes.shape
    nlist = len(index.centres)
    # Scores are "smaller is better": squared distance, or minus the inner product.
    best_s = np.full((nq, k), np.inf, dtype=np.float32)
    best_i = np.full((nq, k), -1, dtype=np.int64)
    # First every query's nearest cell, which usually holds its nearest rows; then its other cells,
    # where a row can only enter the list if it beats the k-th best found so far: only queries
    # with such a row are selected again (the selection cost as much as the products).
    for ranks in (slice(0, 1), slice(1, nprobe)):
        part = probes[:, ranks]
        flat_q = np.repeat(np.arange(nq), part.shape[1])
        flat_c = part.ravel()
        by_cell = np.argsort(flat_c, kind="stable")
        cell_bounds = np.searchsorted(flat_c[by_cell], np.arange(nlist + 1))
        for c in range(nlist):
            members = index.order[index.bounds[c] : index.bounds[c + 1]]
            queries_c = flat_q[by_cell[cell_bounds[c] : cell_bounds[c + 1]]]
            if not len(members) or not len(queries_c):
                continue
            base = index.base[members]
            norms = index.norms[members]
            for start in range(0, len(queries_c), QUERY_BLOCK):
                qs = queries_c[start : start + QUERY_BLOCK]  # distinct: a query probes a cell once
                s = _scores(q[qs], base, metric, norms)
                # Ties with the k-th best stay candidates: _top_k orders ties by row id.
                improves = (s <= best_s[qs, k - 1][:, None]).any(axis=1)
                if not improves.all():
                    qs, s = qs[improves], s[improves]
                    if not len(qs):
                        continue
                best_s[qs], best_i[qs] = _merge_best(best_s[qs], best_i[qs], s, np.broadcast_to(members, s.shape), k)
    found = best_i >= 0
    if metric == "l2":
        values = np.where(found, best_s, np.inf).astype(np.float32)
    else:
        values = np.where(found, -best_s, -np.inf).astype(np.float32)
    return values, best_i


def _merge_best(best_s: np.ndarray, best_i: np.ndarray, s: np.ndarray, ids: np.ndarray, k: int,
                ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of a running best list and one block's scores ``s`` (rows ``ids``), per query,
    in :func:`_top_k`'s order (score, then row id)."""
    keep = _top_k(s, ids, k)
    all_s = np.concatenate([best_s, np.take_along_axis(s, keep, axis=1)], axis=1)
    all_i = np.concatenate([best_i, np.take_along_axis(ids, keep, axis=1)], axis=1)
    keep = _top_k(all_s, all_i, k)
    return np.take_along_axis(all_s, keep, axis=1), np.take_along_axis(all_i, keep, axis=1)


def _top_k(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Column positions of the ``k`` smallest scores per row, ordered by score then id (deterministic ties)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else np.tile(np.arange(scores.shape[1]), (len(scores), 1))
    s = np.take_along_axis(scores, part, axis=1)
    i = np.take_along_axis(ids, part, axis=1)
    # Sort the k kept by (score, id); -1 ids carry inf scores and fall last.
    order = np.lexsort((i, s), axis=1)
    return np.take_along_axis(part, order, axis=1)
