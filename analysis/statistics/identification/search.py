"""Every probe against every template: the mate's rank, the rank-1 candidate, the open-set candidate.

For each probe the search returns the score of its own identity's template (the *mate*), the
mate's rank (capped at ``max_rank + 1``), the rank-1 template of the closed-set gallery and the
rank-1 template of the open-set gallery (the enrolled templates only) with their scores. The
mate's rank is ``1 + #{j != mate: s_j >= s_mate}`` (ties count against the probe); the rank-1
candidate is the mate at rank 1, else the best other template (equal scores: the first in
template order, i.e. sorted identity names).

* **Exact** (:func:`exact_search`): the probe x template products by blocks of probes.
* **Inverted file** (:func:`indexed_search`, above ``[identification] exact_max_rows`` rows and
  with at least :data:`~analysis.statistics.search.centre_search.MIN_INDEXED_CENTRES` templates): the
  templates are grouped into about ``sqrt(templates)`` seeded spherical k-means cells
  (:mod:`analysis.statistics.search.ivf_blas`) and each probe is compared with the templates of its
  ``nprobe`` nearest cells only, by matrix products cell by cell. The mate's score is always
  computed, so the mate's rank counts the scanned templates that beat it: a missed template can
  only make a rank better, never worse. The price is measured: ``check_probes`` seeded probes are
  searched exactly as well, ``nprobe`` grows by steps of 1.25x until at least 99% of them get the exact mate rank
  (capped at ``max_rank + 1``: what the CMC reads) or the cap of 64 cells is reached, and that
  agreement, the agreement of the rank-1 and open-set rank-1 candidates and the recall (the share
  of each checked probe's exact ``max_rank`` best templates in the cells it scans) are recorded for
  the page. A probe whose scanned cells hold no candidate is searched exactly.

The rank-1 score of a *non-mated* search is the largest of thousands of unrelated, nearly equal
cosines, which an inverted file finds only by scanning nearly every cell (a lower maximum would
bias the FPIR down); above the threshold the open-set analysis therefore scores a seeded sample
of the non-mated searches exactly (:func:`open_scores`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.statistics.search.centre_search import MAX_PROBES, MIN_INDEXED_CENTRES, TARGET_AGREEMENT
from analysis.statistics.search.ivf_blas import QUERY_BLOCK
from analysis.types import l2_normalize

#: Scores per block of the exact search (memory: this many float32 and as many booleans).
BLOCK_SCORES = 1 << 24


class RowView:
    """Rows ``rows`` of ``x``, L2-normalised as they are read, block by block: neither the normalised set nor
    the probes are ever copied whole (each is 2 GB at a million rows). A row reads exactly as the same
    row of :func:`analysis.types.l2_normalize` of the whole set (the normalisation is row by row)."""

    def __init__(self, x: np.ndarray, rows: np.ndarray) -> None:
        self.x, self.rows = x, np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key) -> np.ndarray:
        return np.ascontiguousarray(l2_normalize(self.x[self.rows[key]]), dtype=np.float32)


@dataclass(frozen=True)
class SearchReport:
    """How the searches were made; for an inverted file, how well they agreed with the exact search."""

    method: str  # "exact" or "IVF"
    n_probes: int
    n_templates: int
    nlist: int = 0
    nprobe: int = 0
    checked_probes: int = 0
    rank_agreement: float = 1.0  # share of checked probes with the exact (capped) mate rank: nprobe tuned on it
    top1_agreement: float = 1.0
    open_agreement: float = 1.0
    recall: float = 1.0  # share of the exact max_rank best templates in the scanned cells
    exact_fallbacks: int = 0  # probes searched exactly because their probed cells held too few templates


@dataclass(frozen=True, eq=False)
class SearchOutcome:
    """Per probe: mate score and rank, closed- and open-set rank-1 candidates with their scores."""

    mate_score: np.ndarray  # float32
    rank: np.ndarray  # int64, capped at max_rank + 1
    top1: np.ndarray  # int64 template
    top1_score: np.ndarray
    open_top1: np.ndarray  # int64 enrolled template (-1 when every template is enrolled: no open set)
    open_top1_score: np.ndarray
    report: SearchReport


def use_index(n_rows: int, n_templates: int, exact_max_rows: int) -> bool:
    """Whether the search goes through the inverted file (see module docstring)."""
    return bool(exact_max_rows) and n_rows > exact_max_rows and n_templates >= MIN_INDEXED_CENTRES


def exact_search(probes: np.ndarray, templates: np.ndarray, mate: np.ndarray, enrolled: np.ndarray,
                 max_rank: int) -> SearchOutcome:
    """Every probe against every template: :func:`_scan_part` with one cell holding every template."""
    t = np.ascontiguousarray(templates, dtype=np.float32)
    n, m = len(probes), len(t)
    enrolled = np.asarray(enrolled, dtype=bool)
    cells = _cells(t, np.arange(m), np.array([0, m]), enrolled)
    out = _scan_part(cells, probes, np.asarray(mate, dtype=np.int64), np.zeros((n, 1), np.int64), enrolled,
                     not bool(np.all(enrolled)), max_rank)
    return SearchOutcome(**out, report=SearchReport("exact", n, m))


def _empty(n: int) -> dict:
    return {"mate_score": np.zeros(n, np.float32), "rank": np.zeros(n, np.int64), "top1": np.zeros(n, np.int64),
            "top1_score": np.zeros(n, np.float32), "open_top1": np.full(n, -1, np.int64),
            "open_top1_score": np.full(n, np.nan, np.float32)}


def _agree(a: dict, b: SearchOutcome, mated: np.ndarray) -> tuple[float, float, float]:
    """Agreement of the capped mate rank, the rank-1 candidate and (mated searches) the open-set one."""
    open_ = (a["open_top1"] == b.open_top1)[mated]
    return (float(np.mean(a["rank"] == b.rank)), float(np.mean(a["top1"] == b.top1)),
            float(np.mean(open_)) if len(open_) else 1.0)


@dataclass(frozen=True, eq=False)
class _Cells:
    """The templates of each cell, enrolled ones first (ascending ids within each group), so that the
    open-set gallery of a cell is a leading block of its columns: no mask, no copy per block."""

    members: tuple[np.ndarray, ...]  # template ids of each cell
    bases: tuple[np.ndarray, ...]  # (cell size, d) float32
    n_enrolled: tuple[int, ...]
    cell_of: np.ndarray  # (m,) cell of each template
    pos_in_cell: np.ndarray  # (m,) its column in that cell
    templates: np.ndarray  # (m, d) float32


def _cells(templates: np.ndarray, order: np.ndarray, bounds: np.ndarray, enrolled: np.ndarray) -> _Cells:
    members, bases, n_enr = [], [], []
    cell_of = np.empty(len(templates), np.int64)
    pos = np.empty(len(templates), np.int64)
    for c in range(len(bounds) - 1):
        ids = order[bounds[c]:bounds[c + 1]]
        ids = np.concatenate([np.sort(ids[enrolled[ids]]), np.sort(ids[~enrolled[ids]])])
        members.append(ids)
        bases.append(np.ascontiguousarray(templates[ids]))
        n_enr.append(int(enrolled[ids].sum()))
        cell_of[ids] = c
        pos[ids] = np.arange(len(ids))
    return _Cells(tuple(members), tuple(bases), tuple(n_enr), cell_of, pos, templates)


#: Scores within this of the mate's count as ties (against the probe): a few float32 rounding steps
#: of a cosine, so that identical templates tie however BLAS splits a product into tiles.
TIE_ATOL = 4 * float(np.finfo(np.float32).eps)


def _scan_part(cells: _Cells, q, mate: np.ndarray, probes: np.ndarray, enrolled: np.ndarray, open_set: bool,
               max_rank: int) -> dict:
    """Outcome fields of some probes from the templates of their probed cells (``probes``: cell ids per probe).

    The mate's score is one product of its own; its rank counts the scanned templates that score at
    least as high (ties count against the probe), so a template the search misses can only make a
    rank better than the exact one, never worse, whether or not the mate's own cell was probed. The
    rank-1 candidate is the mate when nothing scanned beats it, else the best scanned template (ties
    to the smaller template id). Every score is read once, as it is made (three passes over each
    block of scores: compare, count, maximum); no candidate list is kept.
    """
    if not isinstance(q, RowView):
        q = np.asarray(q, dtype=np.float32)
    nq, nprobe = probes.shape
    nlist = len(cells.members)
    sm = np.empty(nq, np.float32)
    for a in range(0, nq, 65536):
        sm[a:a + 65536] = np.einsum("ij,ij->i", np.ascontiguousarray(q[a:a + 65536]), cells.templates[mate[a:a + 65536]])
    beats = np.zeros(nq, np.int64)
    beats_open = np.zeros(nq, np.int64)
    best_s = np.full(nq, -np.inf, np.float32)
    best_i = np.full(nq, -1, np.int64)
    open_s = np.full(nq, -np.inf, np.float32)
    open_i = np.full(nq, -1, np.int64)
    flat_q = np.repeat(np.arange(nq), nprobe)
    flat_c = probes.ravel()
    by_cell = np.argsort(flat_c, kind="stable")
    bounds = np.searchsorted(flat_c[by_cell], np.arange(nlist + 1))
    big = np.iinfo(np.int64).max

    def block_best(s, members):  # best of each row, ties to the first column (the smaller id of the block)
        if s.shape[1] == 0:
            return np.full(len(s), -np.inf, np.float32), np.full(len(s), big, np.int64)
        j = s.argmax(axis=1)
        return s[np.arange(len(s)), j], members[j]

    def merge(cur_s, cur_i, qs, v, ids):
        known = np.where(cur_i[qs] < 0, big, cur_i[qs])
        up = np.isfinite(v) & ((v > cur_s[qs]) | ((v == cur_s[qs]) & (ids < known)))
        cur_s[qs[up]], cur_i[qs[up]] = v[up], ids[up]

    for c in range(nlist):
        members, base, n_enr = cells.members[c], cells.bases[c], cells.n_enrolled[c]
        queries = flat_q[by_cell[bounds[c]:bounds[c + 1]]]  # distinct: a probe scans a cell once
        if not len(members) or not len(queries):
            continue
        step = int(max(1, min(QUERY_BLOCK, BLOCK_SCORES // len(members))))
        for a in range(0, len(queries), step):
            qs = queries[a:a + step]
            s = q[qs] @ base.T
            mt = mate[qs]
            own = np.flatnonzero(cells.cell_of[mt] == c)
            # The mate's score from this same product: einsum and BLAS round a float32 dot product
            # differently, and a template identical to the mate's (one photo filed under two names)
            # scored a rounding step below it, which ranked a tie in the probe's favour.
            sm[qs[own]] = s[own, cells.pos_in_cell[mt[own]]]
            s[own, cells.pos_in_cell[mt[own]]] = -np.inf  # the mate is scored apart, once
            ge = s >= (sm[qs] - TIE_ATOL)[:, None]
            # Enrolled columns first: the open-set counts and maximum are those of the leading block.
            head = np.count_nonzero(ge[:, :n_enr], axis=1)
            beats[qs] += head + np.count_nonzero(ge[:, n_enr:], axis=1)
            v1, i1 = block_best(s[:, :n_enr], members[:n_enr])
            v2, i2 = block_best(s[:, n_enr:], members[n_enr:])
            second = (v2 > v1) | ((v2 == v1) & (i2 < i1))
            merge(best_s, best_i, qs, np.where(second, v2, v1), np.where(second, i2, i1))
            if open_set:
                beats_open[qs] += head
                merge(open_s, open_i, qs, v1, i1)
    out = _empty(nq)
    out["mate_score"] = sm
    out["rank"] = np.minimum(1 + beats, max_rank + 1)
    first = beats == 0
    out["top1"] = np.where(first, mate, best_i)
    out["top1_score"] = np.where(first, sm, best_s).astype(np.float32)
    if open_set:
        mate_first = enrolled[mate] & (beats_open == 0)
        out["open_top1"] = np.where(mate_first, mate, open_i)
        out["open_top1_score"] = np.where(mate_first, sm, np.where(open_i >= 0, open_s, np.nan)).astype(np.float32)
    return out


def _scan(cells: _Cells, q, mate: np.ndarray, probes: np.ndarray, enrolled: np.ndarray, max_rank: int) -> dict:
    """:func:`_scan_part` over parts of :data:`~analysis.statistics.search.ivf_blas.SEARCH_PART` probes on
    threads (one per BLAS thread of the process, single-threaded BLAS in each), as
    :func:`analysis.statistics.search.ivf_blas.search_cells` does; the parts do not depend on the thread count."""
    from analysis.statistics.search.ivf_blas import SEARCH_PART, in_parts

    open_set = not bool(np.all(enrolled))

    def part(a: int) -> dict:
        return _scan_part(cells, np.ascontiguousarray(q[a:a + SEARCH_PART], dtype=np.float32), mate[a:a + SEARCH_PART],
                          probes[a:a + SEARCH_PART], enrolled, open_set, max_rank)

    parts = in_parts(part, len(q))
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def indexed_search(probes: np.ndarray, templates: np.ndarray, mate: np.ndarray, enrolled: np.ndarray, max_rank: int,
                   check_probes: int = 2000, random_state: int = 0, nprobe_start: int = 4,
                   target: float = TARGET_AGREEMENT, block_rows: int = 262144) -> SearchOutcome:
    """The search through an inverted file of the templates (see module docstring)."""
    import faiss

    from analysis.statistics.search.ivf_blas import cell_index, probe, train_centres

    t = np.ascontiguousarray(templates, dtype=np.float32)
    n, m = len(probes), len(t)
    k = int(min(max_rank, m))
    # About sqrt(m) cells of sqrt(m) templates: each probe-cell product is then large enough for BLAS.
    nlist = int(max(1, round(np.sqrt(m))))
    cells = train_centres(t, nlist, random_state, niter=10, spherical=True)
    nlist = len(cells)
    index = cell_index(t, cells)
    scan_cells = _cells(t, index.order, index.bounds, enrolled)
    max_probe = int(min(nlist, MAX_PROBES))
    checked = np.sort(np.random.default_rng(random_state).choice(n, size=min(n, check_probes), replace=False))
    pq = np.ascontiguousarray(probes[checked], dtype=np.float32)
    truth = exact_search(pq, t, mate[checked], enrolled, max_rank)
    _, truth_lists = faiss.knn(pq, t, k, faiss.METRIC_INNER_PRODUCT)
    q_probes = probe(pq, cells, max_probe)
    nprobe = int(min(max(1, nprobe_start), max_probe))
    while True:
        got = _scan(scan_cells, pq, mate[checked], q_probes[:, :nprobe], enrolled, max_rank)
        got = _exact_where_unanswered(got, pq, t, mate[checked], enrolled, max_rank)[0]
        agreement = _agree(got, truth, enrolled[mate[checked]])
        if agreement[0] >= target or nprobe >= max_probe:
            break
        nprobe = min(int(np.ceil(1.25 * nprobe)), max_probe)  # steps of 1.25x: the cost is linear in nprobe
    # Recall: the share of each checked probe's exact best k templates that lie in the cells it scans.
    cell_of = np.empty(m, np.int64)
    cell_of[index.order] = np.repeat(np.arange(nlist), np.diff(index.bounds))
    scanned = q_probes[:, :nprobe]
    recall = float(np.mean([np.isin(cell_of[row], cells_row).mean() for row, cells_row in zip(truth_lists, scanned)]))
    out = _empty(n)
    fallbacks = 0
    for a in range(0, n, block_rows):
        p = np.ascontiguousarray(probes[a:a + block_rows], dtype=np.float32)
        part = _scan(scan_cells, p, mate[a:a + len(p)], _nearest_cells(p, cells, nprobe), enrolled, max_rank)
        part, redone = _exact_where_unanswered(part, p, t, mate[a:a + len(p)], enrolled, max_rank)
        fallbacks += redone
        for name, values in part.items():
            out[name][a:a + len(p)] = values
    report = SearchReport("IVF", n, m, nlist, nprobe, len(pq), *agreement, recall=recall, exact_fallbacks=fallbacks)
    return SearchOutcome(**out, report=report)


def _nearest_cells(q: np.ndarray, centres: np.ndarray, nprobe: int) -> np.ndarray:
    """The ``nprobe`` nearest cell centres of every probe, in no particular order (the scan reads them all):
    :func:`analysis.statistics.search.ivf_blas.probe` without ordering them, a fifth of its cost here. Equal
    distances cannot arise between distinct centres of continuous data; if they did, the set could differ."""
    out = np.empty((len(q), nprobe), np.int64)
    c = np.ascontiguousarray(centres, dtype=np.float32)
    for a in range(0, len(q), 16384):
        s = np.ascontiguousarray(q[a:a + 16384], dtype=np.float32) @ c.T
        out[a:a + len(s)] = np.argpartition(-s, nprobe - 1, axis=1)[:, :nprobe] if nprobe < len(c) else np.arange(len(c))
    return out


def _exact_where_unanswered(out: dict, probes: np.ndarray, templates: np.ndarray, mate: np.ndarray,
                            enrolled: np.ndarray, max_rank: int) -> tuple[dict, int]:
    """Probes whose scanned cells held no candidate (no template, or no enrolled one) searched exactly."""
    rows = np.flatnonzero((out["top1"] < 0) | ((out["open_top1"] < 0) & ~bool(np.all(enrolled))))
    if len(rows):
        exact = exact_search(probes[rows], templates, mate[rows], enrolled, max_rank)
        for name in out:
            out[name][rows] = getattr(exact, name)
    return out, len(rows)


def open_scores(probes: np.ndarray, templates: np.ndarray, enrolled: np.ndarray) -> np.ndarray:
    """Exact rank-1 score of each probe against the open-set gallery (the enrolled templates)."""
    t = np.ascontiguousarray(np.asarray(templates, dtype=np.float32)[np.asarray(enrolled, dtype=bool)])
    out = np.empty(len(probes), dtype=np.float32)
    block = int(max(1, min(8192, BLOCK_SCORES // max(len(t), 1))))
    for a in range(0, len(probes), block):
        out[a:a + block] = (np.ascontiguousarray(probes[a:a + block], dtype=np.float32) @ t.T).max(axis=1)
    return out


def search(probes: np.ndarray, templates: np.ndarray, mate: np.ndarray, enrolled: np.ndarray, max_rank: int,
           n_rows: int, exact_max_rows: int, check_probes: int = 2000, random_state: int = 0) -> SearchOutcome:
    """:func:`indexed_search` above the size threshold (:func:`use_index`), :func:`exact_search` below.

    Parameters
    ----------
    probes : ndarray of shape (n_probes, d)
        Unit rows.
    templates : ndarray of shape (n_templates, d)
        Unit rows.
    mate : ndarray of shape (n_probes,)
        Template of each probe's own identity.
    enrolled : ndarray of shape (n_templates,), bool
        The open-set gallery (all true: no open set).
    max_rank : int
    n_rows : int
        Rows of the cell (the size the threshold is compared with).
    exact_max_rows : int
    check_probes, random_state : int
    """
    enrolled = np.asarray(enrolled, dtype=bool)
    mate = np.asarray(mate, dtype=np.int64)
    if use_index(n_rows, len(templates), exact_max_rows):
        return indexed_search(probes, templates, mate, enrolled, max_rank, check_probes, random_state)
    return exact_search(probes, templates, mate, enrolled, max_rank)
