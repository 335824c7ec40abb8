"""The split audit: identities whose images fall into two substantial, dissimilar parts (two people under one name).

2-means inside every identity with enough images (:func:`_two_means`); a split is suspected when
both parts hold at least ``split_min_share`` of the images, their centroids' cosine is below the
split threshold and the parts are ``split_min_separation`` within-part SDs apart along the axis
joining them (:func:`_separation`). At many identities the work runs on worker processes
(:data:`PARALLEL_SPLIT_IDENTITIES`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from analysis.statistics.audit.params import AuditParams


@dataclass(frozen=True, eq=False)
class SplitIdentities:
    """Per checked identity: the two parts found by 2-means inside it."""

    identity: np.ndarray  # label codes of the checked identities
    images: np.ndarray
    n_parts: np.ndarray  # parts holding >= split_min_share of the images (0, 1 or 2)
    largest_share: np.ndarray
    second_share: np.ndarray
    parts_cosine: np.ndarray  # cosine of the centroids of the two parts (NaN if one is empty)
    separation: np.ndarray  # gap between the parts along their axis, in within-part SDs (NaN: a part < 2 rows)
    flagged: np.ndarray
    max_cosine: float  # effective split threshold (AuditResult.merged.thresholds.split)



def _two_means(x: np.ndarray, random_state: int, n_init: int = 3) -> np.ndarray:
    """Best of ``n_init`` seeded k-means++ 2-means runs (lowest inertia): part of every row.

    SciPy's ``kmeans2`` rather than scikit-learn's ``KMeans``: on the tens of rows of one
    identity, KMeans' per-call validation and thread-pool set-up cost about 12 ms against 1 ms
    of arithmetic, and an audit runs it for every one of a thousand identities.
    """
    from scipy.cluster.vq import kmeans2
    import warnings

    x = np.asarray(x, dtype=np.float64)
    best, best_inertia = None, np.inf
    for run in range(n_init):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "one of the clusters is empty" on duplicate rows
            # check_finite=False: the rows are unit embeddings (checked on load); SciPy's check of
            # every call was a fifth of the split audit's time at a million rows.
            centres, parts = kmeans2(x, 2, minit="++", seed=np.random.default_rng([random_state, run]),
                                     check_finite=False)
        inertia = float(((x - centres[parts]) ** 2).sum())
        if inertia < best_inertia - 1e-12:
            best, best_inertia = parts, inertia
    return np.asarray(best, dtype=np.int64)


#: From this many identities on, the split audit runs on worker processes, one per core this process
#: may use: its 2-means are tens of thousands of tiny Python-bound problems at a million rows (78 s on
#: one core), which threads would not speed up. Each identity's result does not depend on where it ran.
PARALLEL_SPLIT_IDENTITIES = 5000
#: Rows of identities sent to a worker at a time.
CHUNK_ROWS = 20_000


def _split_identities(x, labels, codes, params: AuditParams, max_cosine: float, random_state: int,
                      keep: np.ndarray | None = None) -> SplitIdentities:
    """2-means inside every identity with enough images: two substantial, dissimilar parts = suspect.

    ``keep`` (a row mask) leaves rows out without a copy of the others (2 GB at a million rows).
    """
    from analysis.blocks import usable_cores

    rows = np.arange(len(labels)) if keep is None else np.flatnonzero(keep)
    kept_labels = labels[rows]
    by_label = np.argsort(kept_labels, kind="stable")
    order = rows[by_label]  # row positions in x, grouped by identity, in row order within one
    sorted_labels = kept_labels[by_label]
    bounds = np.searchsorted(sorted_labels, codes, side="left"), np.searchsorted(sorted_labels, codes, side="right")
    workers = usable_cores()
    if workers > 1 and len(codes) >= PARALLEL_SPLIT_IDENTITIES:
        return _split_parallel(x, order, bounds, codes, params, max_cosine, random_state, workers)
    # One BLAS thread for a thousand tiny problems (see analysis.statistics.geometry._space_geometry).
    with threadpool_limits(limits=1):
        return _split_rows(x, order, bounds, codes, params, max_cosine, random_state)


def _split_chunk(x, lo, hi, codes, params: AuditParams, max_cosine: float, random_state: int) -> SplitIdentities:
    """:func:`_split_rows` of a chunk of identities whose rows ``x`` are given in order (a worker task)."""
    with threadpool_limits(limits=1):
        return _split_rows(x, np.arange(len(x)), (lo, hi), codes, params, max_cosine, random_state)


def _split_parallel(x, order, bounds, codes, params: AuditParams, max_cosine: float, random_state: int,
                    workers: int) -> SplitIdentities:
    """:func:`_split_rows` on ``workers`` loky processes, by chunks of identities, results in identity order."""
    import dataclasses

    from analysis.blocks import process_map

    def chunk_args(ids: np.ndarray):
        lo, hi = bounds[0][ids], bounds[1][ids]
        sizes = hi - lo
        members = np.concatenate([order[a:b] for a, b in zip(lo, hi)]) if len(ids) else np.zeros(0, dtype=np.int64)
        local_lo = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        # Only the chunk's rows travel to the worker (a few tens of MB), never the whole set.
        return np.asarray(x[members]), local_lo, local_lo + sizes, codes[ids], params, max_cosine, random_state

    # Chunks of about CHUNK_ROWS rows (40 MB): uneven chunks even out, and at most two per worker are
    # in flight (memory: with a quarter of the rows per chunk the audit's peak rose by 1.4 GB).
    n_rows = int((bounds[1] - bounds[0]).sum())
    chunks = np.array_split(np.arange(len(codes)), max(2 * workers, -(-n_rows // CHUNK_ROWS)))
    parts = process_map(_split_chunk, (chunk_args(ids) for ids in chunks), workers)
    fields = [f.name for f in dataclasses.fields(SplitIdentities) if f.name != "max_cosine"]
    return SplitIdentities(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in fields},
                           max_cosine=float(max_cosine))


def _separation(x: np.ndarray, in_first: np.ndarray) -> float:
    """Gap between the two parts along the axis joining them, in pooled within-part SDs (leave-one-out).

    2-means cuts any elongated cloud in two, so far-apart parts alone do not show two people:
    a single Gaussian cut by 2-means gives about 2.65 (means at +-0.80 sigma, within-part SD
    0.60 sigma); two distinct people give far more, the gap between them being large against
    the spread of each. Each image is projected on the axis joining the two part means computed
    without it (relative to their midpoint): with tens of images in 128-512 dimensions an axis
    fitted on the same images finds a gap in pure noise (a 10-image identity of the demo gave
    10 with the in-sample axis).
    """
    a, b = x[in_first], x[~in_first]
    na, nb = len(a), len(b)
    sa, sb = a.sum(axis=0), b.sum(axis=0)
    # Leave-one-out part means for the rows of a, then of b.
    ma_a, mb_a = (sa - a) / (na - 1), np.broadcast_to(sb / nb, a.shape)
    ma_b, mb_b = np.broadcast_to(sa / na, b.shape), (sb - b) / (nb - 1)

    def project(rows, ma, mb):
        axis = ma - mb
        norm = np.linalg.norm(axis, axis=1)
        norm = np.where(norm > 0, norm, 1.0)
        return np.einsum("ij,ij->i", rows - (ma + mb) / 2, axis) / norm

    pa, pb = project(a, ma_a, mb_a), project(b, ma_b, mb_b)
    pooled = np.sqrt((((pa - pa.mean()) ** 2).sum() + ((pb - pb.mean()) ** 2).sum()) / (na + nb - 2))
    gap = float(pa.mean() - pb.mean())
    return gap / float(pooled) if pooled > 0 else (float("inf") if gap > 0 else 0.0)


def _split_rows(x, order, bounds, codes, params: AuditParams, max_cosine: float, random_state: int) -> SplitIdentities:
    rows_out = []
    for code, lo, hi in zip(codes, *bounds):
        members = order[lo:hi]
        if len(members) < params.split_min_images:
            continue
        xi = x[members]
        parts = _two_means(xi, random_state)
        counts = np.bincount(parts, minlength=2)
        big, small = (0, 1) if counts[0] >= counts[1] else (1, 0)
        shares = counts[[big, small]] / len(members)
        a = xi[parts == big].sum(axis=0)
        b = xi[parts == small].sum(axis=0)
        parts_cos = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)) if counts[small] else float("nan")
        sep = _separation(xi, parts == big) if counts[small] >= 2 and counts[big] >= 2 else float("nan")
        n_parts = int((shares >= params.split_min_share).sum())
        flagged = n_parts >= 2 and parts_cos < max_cosine and sep >= params.split_min_separation
        rows_out.append((code, len(members), n_parts, shares[0], shares[1], parts_cos, sep, flagged))
    cols = list(zip(*rows_out)) if rows_out else [[]] * 8
    return SplitIdentities(
        identity=np.array(cols[0], dtype=np.int64),
        images=np.array(cols[1], dtype=np.int64),
        n_parts=np.array(cols[2], dtype=np.int64),
        largest_share=np.array(cols[3], dtype=np.float64),
        second_share=np.array(cols[4], dtype=np.float64),
        parts_cosine=np.array(cols[5], dtype=np.float64),
        separation=np.array(cols[6], dtype=np.float64),
        flagged=np.array(cols[7], dtype=bool),
        max_cosine=float(max_cosine),
    )
