"""Nearest centres among many (KMeans assignment, nearest centroids) through a FAISS IVF index.

Assigning ``n`` rows to ``k`` centres costs ``n k d``: with a million rows and about 40,000
identity centroids in 512-D that is 2 x 10^13 multiply-adds, over five minutes of BLAS on two
cores for *one* assignment, and a study makes about twenty of them (the KMeans sweep, the audit's
nearest other centroid and silhouette, the nearest-centroid classifier of every fold). Above a
size, :func:`search_centres` indexes the centres in an inverted file (IVF [1]_: the centres
are clustered into ``nlist`` cells and each row is compared with the centres of its ``nprobe``
nearest cells only; distances by matrix products, cell by cell: :mod:`analysis.statistics.search.ivf_blas`).

The price is measured, never assumed: a seeded sample of rows is searched exactly as well, and
``nprobe`` is doubled from ``nprobe_start`` until the share of those rows whose ``k`` nearest
centres are all found (the *agreement*) reaches ``target`` (or every cell is searched, which is
exact). The result records the agreement, which the pages state.

Below the size threshold (:func:`use_index`) callers keep their exact code unchanged, so small
studies (the demo, the tests) get byte-identical numbers.

References
----------
.. [1] Jegou, Douze, Schmid. "Product quantization for nearest neighbor search." IEEE TPAMI 33 (2011);
   Johnson, Douze, Jegou. "Billion-scale similarity search with GPUs." IEEE TBD (2019) (FAISS).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Below this many centres an exact product costs about as much as the coarse search of an
#: index (``4 sqrt(k)`` cells), so the index is never used.
MIN_INDEXED_CENTRES = 1024
#: Agreement with the exact search that the adaptive ``nprobe`` aims at.
TARGET_AGREEMENT = 0.99
#: Most cells searched per row: past it an index costs about as much as the exact product.
MAX_PROBES = 64


@dataclass(frozen=True)
class CentreSearch:
    """How an approximate nearest-centre search was made and how well it agreed with the exact one.

    Attributes
    ----------
    method : str
        ``"IVF-Flat"``.
    n_rows, n_centres : int
    nlist, nprobe : int
        Cells of the index and cells searched per row (chosen adaptively).
    agreement : float
        Share of ``checked_rows`` seeded rows whose ``k`` nearest centres equal the exact ones.
    checked_rows : int
    """

    method: str
    n_rows: int
    n_centres: int
    nlist: int
    nprobe: int
    agreement: float
    checked_rows: int


def use_index(n_rows: int, n_centres: int, exact_max_rows: int) -> bool:
    """Whether a nearest-centre search of ``n_rows`` rows goes through the index.

    ``exact_max_rows = 0`` keeps every search exact; otherwise the index is used above that
    many rows when there are at least :data:`MIN_INDEXED_CENTRES` centres.
    """
    return bool(exact_max_rows) and n_rows > exact_max_rows and n_centres >= MIN_INDEXED_CENTRES


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise ImportError("the nearest-centre index needs FAISS: pip install faiss-cpu") from exc
    return faiss


def search_centres(x: np.ndarray, centres: np.ndarray, k: int = 1, metric: str = "l2", nprobe_start: int = 2,
                   target: float = TARGET_AGREEMENT, check_rows: int = 2000, random_state: int = 0,
                   block_rows: int = 262144) -> tuple[np.ndarray, np.ndarray, CentreSearch]:
    """The ``k`` nearest centres of every row through an IVF-Flat index of the centres.

    Parameters
    ----------
    x : ndarray of shape (n, d)
    centres : ndarray of shape (m, d)
    k : int, default=1
    metric : {"l2", "ip"}, default="l2"
        ``"l2"``: smallest squared Euclidean distance first; ``"ip"``: largest inner product first
        (cosine on unit vectors).
    nprobe_start : int, default=2
        First ``nprobe`` tried; doubled until the agreement reaches ``target``.
    target : float, default=0.99
    check_rows : int, default=2000
        Seeded rows searched exactly as well to measure the agreement.
    random_state : int, default=0
    block_rows : int, default=262144
        Rows converted to float32 and searched at a time (memory ``block_rows x d``).

    Returns
    -------
    values, index, CentreSearch
        ``values``: squared distances (``"l2"``) or inner products (``"ip"``), float32, shape
        ``(n, k)``, best first; ``index``: int64 centre positions, -1 where the searched cells
        held fewer than ``k`` centres (callers fall back to an exact search for those rows).
    """
    if metric not in ("l2", "ip"):
        raise ValueError(f"unknown metric {metric!r}; valid: 'l2', 'ip'")
    from analysis.statistics.search.ivf_blas import cell_index, probe, search_cells, train_centres

    faiss = _faiss()
    c = np.ascontiguousarray(centres, dtype=np.float32)
    m, d = c.shape
    n = len(x)
    k = int(min(k, m))
    nlist = int(max(1, min(m // 39, round(4 * np.sqrt(m)))))
    # Unit centres (inner-product search of centroids): spherical cells, see train_centres.
    cells = train_centres(c, nlist, random_state, niter=10, spherical=metric == "ip")
    nlist = len(cells)
    index = cell_index(c, cells)
    max_probe = int(min(nlist, MAX_PROBES))
    # The exact answer for a seeded sample of rows, to measure (and tune) the agreement.
    checked = np.sort(np.random.default_rng(random_state).choice(n, size=min(n, check_rows), replace=False))
    xq = np.ascontiguousarray(x[checked], dtype=np.float32)
    _, truth = faiss.knn(xq, c, k, faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)
    q_probes = probe(xq, cells, max_probe)
    nprobe = int(min(max(1, nprobe_start), max_probe))
    while True:
        _, found = search_cells(index, xq, k, q_probes[:, :nprobe], metric)
        agreement = float(np.mean([set(f) == set(t) for f, t in zip(found, truth)])) if len(xq) else 1.0
        if agreement >= target or nprobe >= max_probe:
            break
        nprobe = min(2 * nprobe, max_probe)
    values = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block_rows):
        block = np.ascontiguousarray(x[start : start + block_rows], dtype=np.float32)
        sl = slice(start, start + len(block))
        values[sl], idx[sl] = search_cells(index, block, k, probe(block, cells, nprobe), metric)
    return values, idx, CentreSearch("IVF", n, m, nlist, nprobe, agreement, len(xq))


def nearest_centre(x: np.ndarray, centres: np.ndarray, random_state: int = 0) -> tuple[np.ndarray, np.ndarray, CentreSearch]:
    """Nearest centre (squared Euclidean) of every row through the index; missed rows searched exactly.

    Returns
    -------
    labels : ndarray of int64, shape (n,)
    d2 : ndarray of float64, shape (n,)
        Squared distance of each row to its centre, recomputed in float64 from the vectors
        (not FAISS's float32 expansion), so the inertia does not depend on the search.
    CentreSearch
    """
    _, idx, report = search_centres(x, centres, 1, "l2", random_state=random_state)
    labels = idx[:, 0].copy()
    missed = np.flatnonzero(labels < 0)
    if len(missed):  # the searched cells held no centre: rare, searched exactly
        c = np.asarray(centres, dtype=np.float32)
        xm = np.asarray(x[missed], dtype=np.float32)
        labels[missed] = (np.einsum("ij,ij->i", c, c)[None, :] - 2.0 * xm @ c.T).argmin(axis=1)
    d2 = np.empty(len(x))
    c64 = np.asarray(centres, dtype=np.float64)
    for start in range(0, len(x), 65536):
        sl = slice(start, start + 65536)
        diff = np.asarray(x[sl], dtype=np.float64) - c64[labels[sl]]
        d2[sl] = np.einsum("ij,ij->i", diff, diff)
    return labels, d2, report
