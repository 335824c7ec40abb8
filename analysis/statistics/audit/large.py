"""The audit's ``O(n k d)``, ``O(k^2)`` and ``O(n^2)`` passes for large sets (above ``[audit] exact_max_rows``).

At a million images of 40,000 identities the exact audit would make:

* two ``n x k`` products for the per-image scores (own leave-one-out centroid, nearest other
  centroid, silhouette: :func:`analysis.statistics.audit.image_audit.centroid_scores`), about
  4 x 10^13 operations, and float64 copies of the rows (4 GB each);
* every one of the 8 x 10^8 centroid pairs held at once for its median and quantiles (3.2 GB, and
  as much again for each sort);
* an ``n^2 / 2`` screen of image pairs for near-duplicates (5 x 10^11 pairs).

Here, instead:

* :func:`centroid_scores_indexed`: own-centroid terms exact, by row blocks; the nearest other
  centroid (largest cosine) and the ``b`` term of the silhouette (largest mean cosine to another
  identity) searched among the ``m`` centroids nearest to the row's own centroid (found exactly,
  ``O(k^2 d)`` once), ``m`` raised until 99% of seeded rows agree with an exhaustive search (the
  agreement is recorded); the values of the found centroids are recomputed exactly. (An IVF index
  of the centroids was tried first: in 512-D every other centroid is about as far from a row, so
  IVF needed to search almost every cell.);
* :func:`centroid_pair_sample`: the pair-cosine distribution (median, robust spread, split
  quantile) from every pair of a seeded sample of identities; the flagged pairs themselves
  are still searched among *all* pairs, exactly (:func:`top_centroid_pairs`);
* :func:`near_duplicates_indexed`: the same exact 32-D screen as the small-set search, but each
  row is compared only with the rows of its ``nprobe`` nearest cells of an IVF index of the
  projected rows; ``nprobe`` is raised until the index finds the nearest screened row of 99% of
  seeded rows (a near-duplicate is far closer than a typical nearest neighbour).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.statistics.search.centre_search import CentreSearch, TARGET_AGREEMENT
from analysis.statistics.search.large_sets import BLOCK_ROWS, group_sums_blocks
from analysis.types import l2_normalize


#: Most cells of the projected-row index searched per row by the near-duplicate screen.
MAX_DUPLICATE_PROBES = 16


@dataclass(frozen=True)
class DuplicateSearch:
    """How the near-duplicate screen was narrowed by an IVF index of the projected rows."""

    nlist: int
    nprobe: int
    recall: float  # share of checked rows whose nearest screened row the index found
    checked_rows: int


# --------------------------------------------------------------------------- per-image scores
def centroid_neighbours(unit: np.ndarray, m: int, block: int = 1024) -> np.ndarray:
    """The ``m`` most cosine-similar other rows of every unit row, most similar first (exact, by blocks)."""
    k = len(unit)
    m = int(min(m, k - 1))
    out = np.empty((k, m), dtype=np.int64)
    u = np.asarray(unit, dtype=np.float32)
    for start in range(0, k, block):
        stop = min(k, start + block)
        sim = u[start:stop] @ u.T
        sim[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        part = np.argpartition(-sim, m - 1, axis=1)[:, :m]
        order = np.argsort(-np.take_along_axis(sim, part, axis=1), axis=1, kind="stable")
        out[start:stop] = np.take_along_axis(part, order, axis=1)
    return out


def _best_among(x: np.ndarray, unit: np.ndarray, scale: np.ndarray, cand: np.ndarray, order: np.ndarray,
                bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in ``unit``) of the largest ``x . unit`` and of the largest ``x . unit * scale`` among the
    candidates of each row's own identity: one product per identity serves both."""
    best = np.empty(len(x), dtype=np.int64)
    best_scaled = np.empty(len(x), dtype=np.int64)
    for p in range(len(bounds) - 1):
        members = order[bounds[p] : bounds[p + 1]]
        if not len(members):
            continue
        c = cand[p]
        prod = np.asarray(x[members], dtype=np.float32) @ unit[c].T
        best[members] = c[np.argmax(prod, axis=1)]
        best_scaled[members] = c[np.argmax(prod * scale[c], axis=1)]
    return best, best_scaled


def _other_best(x: np.ndarray, labels: np.ndarray, present: np.ndarray, means: np.ndarray, neighbours: np.ndarray,
                random_state: int, check_rows: int = 2000,
                ) -> tuple[np.ndarray, np.ndarray, CentreSearch, CentreSearch, np.ndarray, np.ndarray, np.ndarray]:
    """Label codes of the identity with the largest cosine to the row's unit centroid, and of the one with
    the largest inner product with its mean (the silhouette's ``b``), own label excluded.

    A row lies near its own centroid, so its best other identity is almost always among the
    identities whose centroids are nearest to its own: each row is compared with the ``m`` nearest
    centroids of its own identity (``neighbours``, exact), ``m`` doubled from 8 until 99% of seeded
    rows agree with an exhaustive search of every other identity on both answers (the measured
    agreements), or until every neighbour list is used. ``mean = unit * |mean|``, so one product
    of the rows with the unit centroids gives both. Returns the two code arrays, the two searches,
    the checked rows and their exact codes.
    """
    pos = np.full(int(labels.max()) + 1, -1)
    pos[present] = np.arange(len(present))
    p_of_row = pos[labels]
    order = np.argsort(p_of_row, kind="stable")
    bounds = np.searchsorted(p_of_row[order], np.arange(len(present) + 1))
    scale = np.linalg.norm(means, axis=1).astype(np.float32)
    unit = (np.asarray(means, dtype=np.float64) / np.maximum(scale, 1e-30)[:, None]).astype(np.float32)
    checked = np.sort(np.random.default_rng(random_state).choice(len(x), size=min(len(x), check_rows), replace=False))
    xc = np.asarray(x[checked], dtype=np.float32)
    sim = xc @ unit.T
    sim[np.arange(len(checked)), p_of_row[checked]] = -np.inf
    truth, truth_scaled = np.argmax(sim, axis=1), np.argmax(sim * scale[None, :], axis=1)
    c_order = np.argsort(p_of_row[checked], kind="stable")
    c_bounds = np.searchsorted(p_of_row[checked][c_order], np.arange(len(present) + 1))
    m = min(8, neighbours.shape[1])
    while True:
        found, found_scaled = _best_among(xc, unit, scale, neighbours[:, :m], c_order, c_bounds)
        agree = float(np.mean(found == truth)) if len(checked) else 1.0
        agree_scaled = float(np.mean(found_scaled == truth_scaled)) if len(checked) else 1.0
        if min(agree, agree_scaled) >= TARGET_AGREEMENT or m >= neighbours.shape[1]:
            break
        m = min(2 * m, neighbours.shape[1])
    best, best_scaled = _best_among(x, unit, scale, neighbours[:, :m], order, bounds)
    method = f"the {m} nearest centroids of the own identity"
    searches = (CentreSearch(method, len(x), len(present), 0, m, agree, len(checked)),
                CentreSearch(method, len(x), len(present), 0, m, agree_scaled, len(checked)))
    return (present[best], present[best_scaled], *searches, checked, present[truth], present[truth_scaled])


def centroid_scores_indexed(x: np.ndarray, labels: np.ndarray, n_labels: int, random_state: int = 0,
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[CentreSearch, ...], float]:
    """:func:`analysis.statistics.audit.image_audit.centroid_scores` through centroid indexes (same outputs).

    Returns
    -------
    own_cosine, nearest_other, other_cosine, silhouette, searches, flag_agreement
        The first four as the exact function; ``searches`` the nearest-centroid and
        silhouette-``b`` searches with their measured agreement; ``flag_agreement`` the share of
        the checked rows whose suspected-mislabel flag (negative margin or silhouette) is the one
        the exhaustive search gives. In 512-D a row's nearest other centroid is often one of many
        almost equally similar ones, so the flag, not the neighbour's name, is what matters.
    """
    counts = np.bincount(labels, minlength=n_labels).astype(np.float64)
    sums = group_sums_blocks(x, labels, n_labels)
    present = np.flatnonzero(counts > 0)
    means = sums / np.maximum(counts, 1)[:, None]
    unit = l2_normalize(means).astype(np.float64)
    # Candidate identities of each row: the centroids nearest to its own identity's centroid.
    neighbours = centroid_neighbours(unit[present], 512)
    nearest, b_code, s_cos, s_mean, checked, true_near, true_b = _other_best(x, labels, present, means[present],
                                                                            neighbours, random_state)
    n = len(x)
    own_cosine, other_cosine, sil = np.empty(n), np.empty(n), np.empty(n)
    for start in range(0, n, BLOCK_ROWS):
        sl = slice(start, start + BLOCK_ROWS)
        xb = np.asarray(x[sl], dtype=np.float64)
        lab = labels[sl]
        own_count = counts[lab]
        own_sum = sums[lab] - xb  # leave-one-out sums
        own_norm = np.linalg.norm(own_sum, axis=1)
        alone = own_count < 2
        dot = np.einsum("ij,ij->i", xb, own_sum)
        with np.errstate(invalid="ignore", divide="ignore"):
            own_cosine[sl] = np.where(alone | (own_norm == 0), np.nan, dot / own_norm)
            a = np.where(alone, 0.0, 1.0 - dot / np.maximum(own_count - 1, 1))
            b = 1.0 - np.einsum("ij,ij->i", xb, means[b_code[sl]])
            s = np.where(alone, 0.0, (b - a) / np.maximum(a, b))
        other_cosine[sl] = np.einsum("ij,ij->i", xb, unit[nearest[sl]])
        sil[sl] = np.nan_to_num(s, nan=0.0)
    # The suspect flag of the checked rows with the exhaustive search's identities instead.
    xc = np.asarray(x[checked], dtype=np.float64)
    lab = labels[checked]
    alone = counts[lab] < 2
    a = np.where(alone, 0.0, 1.0 - np.einsum("ij,ij->i", xc, sums[lab] - xc) / np.maximum(counts[lab] - 1, 1))
    b = 1.0 - np.einsum("ij,ij->i", xc, means[true_b])
    with np.errstate(invalid="ignore", divide="ignore"):
        sil_exact = np.nan_to_num(np.where(alone, 0.0, (b - a) / np.maximum(a, b)), nan=0.0)
    other_exact = np.einsum("ij,ij->i", xc, unit[true_near])
    flag_exact = (np.nan_to_num(own_cosine[checked] - other_exact, nan=0.0) < 0) | (sil_exact < 0)
    flag = (np.nan_to_num(own_cosine[checked] - other_cosine[checked], nan=0.0) < 0) | (sil[checked] < 0)
    flag_agreement = float(np.mean(flag == flag_exact)) if len(checked) else 1.0
    return own_cosine, nearest.astype(np.int64), other_cosine, sil, (s_cos, s_mean), flag_agreement


# --------------------------------------------------------------------------- centroid pairs
def centroid_pair_sample(c: np.ndarray, max_identities: int, random_state: int) -> tuple[np.ndarray, int]:
    """Cosines of every pair among a seeded sample of ``max_identities`` unit centroids ``c``.

    Returns the float32 upper-triangle cosines and the number of identities sampled.
    """
    k = len(c)
    chosen = np.sort(np.random.default_rng(random_state + 11).choice(k, size=min(k, max_identities), replace=False))
    sub = np.asarray(c[chosen], dtype=np.float32)
    out = []
    for start in range(0, len(sub), 1024):
        sim = np.clip(sub[start : start + 1024] @ sub[start:].T, -1.0, 1.0)
        i, j = np.nonzero(np.triu(np.ones(sim.shape, dtype=bool), k=1))
        out.append(sim[i, j])
    return np.concatenate(out), len(chosen)


def top_centroid_pairs(c: np.ndarray, threshold: float, top: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair ``i < j`` of unit rows ``c`` with cosine >= ``threshold``, or the ``top`` most similar
    when fewer reach it; ordered by cosine (descending), then ``i``, then ``j`` (exact, all pairs)."""
    k = len(c)
    c = np.asarray(c, dtype=np.float32)
    fi, fj, fv = [], [], []
    for start in range(0, k, 1024):
        stop = min(k, start + 1024)
        # Only the columns from ``start`` on: the pairs j < start were made by earlier blocks (half the work).
        sim = np.clip(c[start:stop] @ c[start:].T, -1.0, 1.0)
        width = k - start
        sim[np.arange(width)[None, :] <= np.arange(stop - start)[:, None]] = -np.inf  # j > i only
        flat = sim.ravel()
        keep = np.flatnonzero(flat >= threshold) if np.isfinite(threshold) else np.zeros(0, dtype=np.int64)
        if len(keep) < top:  # the block's own top candidates, so that the global top is among them
            m = min(top, flat.size)
            keep = np.union1d(keep, np.argpartition(-flat, m - 1)[:m])
        keep = keep[np.isfinite(flat[keep])]
        fi.append(keep // width + start)
        fj.append(keep % width + start)
        fv.append(flat[keep])
    i, j, v = np.concatenate(fi), np.concatenate(fj), np.concatenate(fv).astype(np.float64)
    n_keep = max(top, int((v >= threshold).sum()))
    order = np.lexsort((j, i, -v))[:n_keep]
    return i[order], j[order], v[order]


# --------------------------------------------------------------------------- near-duplicates
def near_duplicates_indexed(x: np.ndarray, threshold: float, prefilter_dims: int = 32, random_state: int = 0,
                            check_rows: int = 2000, nprobe_start: int = 4,
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, DuplicateSearch]:
    """Pairs ``i < j`` of unit rows with cosine >= ``threshold`` found through an IVF index of a 32-D projection.

    Returns ``(first, second, cosine, DuplicateSearch)``, unsorted; every returned pair is checked
    with its full cosine, so there are no false pairs, only possibly missed ones (the recall).
    """
    import faiss

    x = np.asarray(x, dtype=np.float32)
    n, d = x.shape
    sample = x[np.random.default_rng(0).choice(n, size=min(n, 5000), replace=False)].astype(np.float64)
    basis = np.linalg.eigh(sample.T @ sample)[1][:, ::-1][:, :prefilter_dims].T  # as the exact screen
    z = np.empty((n, basis.shape[0]), dtype=np.float32)
    for start in range(0, n, BLOCK_ROWS):
        z[start : start + BLOCK_ROWS] = x[start : start + BLOCK_ROWS].astype(np.float64) @ basis.T
    dz = z.shape[1]
    nlist = int(max(1, min(n // 39, round(4 * np.sqrt(n)))))
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dz), dz, nlist)
    index.cp.seed = int(random_state) + 1234
    index.cp.niter = 10
    train = np.sort(np.random.default_rng(random_state).choice(n, size=min(n, 40 * nlist), replace=False))
    index.train(z[train])
    index.add(z)
    # Tune nprobe on the nearest screened row of seeded rows (2 = the row itself and its neighbour).
    checked = np.sort(np.random.default_rng(random_state + 1).choice(n, size=min(n, check_rows), replace=False))
    flat = faiss.IndexFlatL2(dz)
    flat.add(z)
    _, truth = flat.search(z[checked], 2)
    nprobe = int(min(nprobe_start, nlist))
    while True:
        index.nprobe = nprobe
        _, found = index.search(z[checked], 2)
        recall = float(np.mean([len(set(f) & set(t)) / 2 for f, t in zip(found, truth)]))
        # Capped: each probe of a million rows scans 250 x 10^6 projected rows (tens of seconds).
        if recall >= TARGET_AGREEMENT or nprobe >= min(nlist, MAX_DUPLICATE_PROBES):
            break
        nprobe = min(2 * nprobe, nlist, MAX_DUPLICATE_PROBES)
    screen = max(2.0 - 2.0 * float(threshold), 0.0) + 1e-4  # as the exact screen (float32 margin)
    firsts, seconds, sims = [], [], []
    for start in range(0, n, BLOCK_ROWS):
        q = z[start : start + BLOCK_ROWS]
        lims, _, idx = index.range_search(q, screen)
        rows = np.repeat(np.arange(len(q)) + start, np.diff(lims).astype(np.int64))
        keep = idx > rows
        i, j = rows[keep], idx[keep].astype(np.int64)
        cos = np.einsum("ij,ij->i", x[i], x[j])
        ok = cos >= threshold
        firsts.append(i[ok])
        seconds.append(j[ok])
        sims.append(np.minimum(cos[ok], 1.0).astype(np.float64))
    return (np.concatenate(firsts).astype(np.int64), np.concatenate(seconds).astype(np.int64), np.concatenate(sims),
            DuplicateSearch(nlist, nprobe, recall, len(checked)))
