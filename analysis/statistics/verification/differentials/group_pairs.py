"""Pairs by group: cosine histograms per pair of group codes, exactly or by a stratified sample.

Every row carries one code per group column: ``0 .. G-1`` for its group, ``G`` when its value is
missing. A pair belongs to the (unordered) pair of its rows' codes. Three passes, all binned by
the quantisation of :func:`analysis.statistics.verification.pair_histograms.pair_histograms`
(``trunc(n_bins / 2 * (cos + 1))`` produced by the matrix product itself from augmented rows), so
that the global thresholds are the similarity page's:

* :func:`all_pair_counts`: every pair ``i < j``, counted per (column, code pair, bin) in one pass of
  float32 blocks shared by all columns, the mated pairs (same label) counted from the same products,
  so that non-mated counts are the difference. ``O(n^2 d / 2)``, used up to ``exact_max_rows``.
* :func:`stratum_pairs`: the non-mated pairs of one code pair, all of them when they are few,
  otherwise a seeded sample of ``m x m`` blocks of rows drawn inside the two groups, so that a small
  group gets as many sampled pairs as a large one; optionally with the identity pairs that score at
  or above given thresholds (the bootstrap's numerators).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class AbovePairs:
    """Non-mated pairs at or above the thresholds, aggregated by identity pair.

    ``count[e]`` pairs between identities ``first[e] < second[e]`` pass the first ``passes[e]``
    thresholds (thresholds ascending, so they pass every looser one too).
    """

    first: np.ndarray
    second: np.ndarray
    passes: np.ndarray
    count: np.ndarray


@dataclass(frozen=True, eq=False)
class StratumPairs:
    """The non-mated pairs of one pair of group codes ``g <= h``: all of them or a seeded sample."""

    g: int
    h: int
    population: int  # non-mated pairs of the stratum
    sampled: int  # non-mated pairs binned (== population when exhaustive)
    exhaustive: bool
    hist: np.ndarray  # (n_bins,) int64
    s1: float  # sum of the binned pairs' cosines
    s2: float  # sum of their squares
    above: AbovePairs | None = None

    @property
    def rate(self) -> float:
        """Share of the stratum's pairs that were binned."""
        return self.sampled / self.population if self.population else 1.0


def _augmented(x: np.ndarray, half: np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Left rows ``[half * x, half]`` and right rows ``[x, 1]``: their product is ``half * cos + half``."""
    n = len(x)
    left = np.hstack([x * half, np.full((n, 1), half, dtype=np.float32)])
    right = np.hstack([x, np.ones((n, 1), dtype=np.float32)])
    return left, right


def _label_order(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stable order by label and, per sorted row, the end (exclusive) of its identity's rows."""
    order = np.argsort(labels, kind="stable")
    _, starts, sizes = np.unique(labels[order], return_index=True, return_counts=True)
    return order, np.repeat(starts + sizes, sizes)


def all_pair_counts(x: np.ndarray, labels: np.ndarray, codes: list[np.ndarray], n_codes: int, n_bins: int,
                    block_rows: int = 512, col_chunk: int = 32768) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Counts of every pair ``i < j``, and of the mated ones, per (code pair, bin) for each column.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_dims)
        L2-normalised rows.
    labels : ndarray of shape (n_samples,), int
    codes : list of ndarray of shape (n_samples,), int
        Group code of every row, one array per column, in ``[0, n_codes)``.
    n_codes, n_bins : int
    block_rows, col_chunk : int
        Rows and columns of each float32 block of products (memory ``20 * block_rows * col_chunk`` bytes).

    Returns
    -------
    totals, mated : list of ndarray of shape (n_codes, n_codes, n_bins), int64
        Per column, all pairs and mated pairs by the codes of their two rows, symmetrised:
        ``[g, h]`` for ``g < h`` holds both orders, ``g > h`` is zero.
    """
    labels = np.asarray(labels)
    order, end_of = _label_order(labels)
    xs = np.ascontiguousarray(np.asarray(x, dtype=np.float32)[order])
    lab = labels[order]
    cs = [np.asarray(c, dtype=np.int64)[order] for c in codes]
    n = len(xs)
    half = np.float32(n_bins / 2)
    left, right = _augmented(xs, half)
    right = np.ascontiguousarray(right.T)
    nb1 = n_bins + 1  # bin n_bins: products that round past cosine 1, folded into the last bin
    size = n_codes * n_codes * nb1
    col_chunk = max(col_chunk, block_rows)
    totals = [np.zeros(size, dtype=np.int64) for _ in cs]
    mated = [np.zeros(size, dtype=np.int64) for _ in cs]
    col_off = [c * nb1 for c in cs]
    cap = min(block_rows, n) * min(col_chunk, n)
    s_buf, q_buf, k_buf = np.empty(cap, np.float32), np.empty(cap, np.intp), np.empty(cap, np.int64)
    for a in range(0, n, block_rows):
        b = min(n, a + block_rows)
        m = b - a
        band_end = int(end_of[b - 1])
        row_off = [c[a:b] * (n_codes * nb1) for c in cs]
        tril = np.tril_indices(m)
        for c0 in range(a, n, col_chunk):
            c1 = min(n, c0 + col_chunk)
            s = s_buf[: m * (c1 - c0)].reshape(m, c1 - c0)
            np.matmul(left[a:b], right[:, c0:c1], out=s)
            q = q_buf[: s.size].reshape(s.shape)
            np.copyto(q, s, casting="unsafe")
            w = min(c1, band_end) - c0  # mated pairs of this block lie in columns [a, band_end)
            band = None
            if w > 0:
                band = (lab[a:b, None] == lab[None, c0 : c0 + w]) & (np.arange(c0, c0 + w)[None, :] > np.arange(a, b)[:, None])
            for t, g, ro, co in zip(totals, mated, row_off, col_off):
                k = k_buf[: s.size].reshape(s.shape)
                np.add(q, ro[:, None], out=k)
                k += co[c0:c1][None, :]
                t += np.bincount(k.ravel(), minlength=size)
                if c0 == a:  # pairs j <= i of the square block are no pairs i < j
                    t -= np.bincount(k[:, :m][tril], minlength=size)
                if band is not None:
                    g += np.bincount(k[:, :w][band], minlength=size)

    def folded(t: np.ndarray) -> np.ndarray:
        t = t.reshape(n_codes, n_codes, nb1)
        t[:, :, n_bins - 1] += t[:, :, n_bins]
        return _fold(t[:, :, :n_bins])

    return [folded(t) for t in totals], [folded(g) for g in mated]


def _fold(t: np.ndarray) -> np.ndarray:
    """Ordered code pairs ``(g, h)`` and ``(h, g)`` summed into ``g <= h``."""
    folded = np.triu(np.ones(t.shape[:2], dtype=bool), 1)
    out = t.copy()
    out[folded] += t.transpose(1, 0, 2)[folded]
    out[folded.T] = 0
    return out


def stratum_pairs(x: np.ndarray, labels: np.ndarray, codes: np.ndarray, g: int, h: int, n_bins: int, budget: int,
                  rng: np.random.Generator, thresholds: np.ndarray | None = None, group_rows: int = 1024,
                  block_rows: int = 1024) -> StratumPairs:
    """Non-mated pairs between two groups of rows (``same``: inside one group), all or a seeded sample.

    All pairs are binned when the group pair holds at most ``budget`` pairs; otherwise about
    ``budget`` pairs are drawn as blocks ``A x B`` of ``m`` distinct rows of each group (``A`` and
    ``B`` disjoint inside one group), one float32 product per block. Every ordered pair of distinct
    rows is then equally likely, so rates read from the sample are unbiased.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_dims)
        L2-normalised rows (may be a memory map: only the rows used are read).
    labels : ndarray of shape (n_samples,), int
        Identity codes ``0 .. k-1``.
    codes : ndarray of shape (n_samples,), int
        Group code of every row.
    g, h : int
        The two codes, ``g <= h`` (``g == h``: pairs inside one group).
    n_bins, budget : int
    rng : numpy Generator
    thresholds : ndarray of int, ascending, optional
        Bins of the thresholds; when given, the identity pairs at or above them are returned too.
    group_rows, block_rows : int

    Returns
    -------
    StratumPairs
    """
    labels = np.asarray(labels)
    half = np.float32(n_bins / 2)
    same = g == h
    rows_g = np.flatnonzero(codes == g)
    rows_h = rows_g if same else np.flatnonzero(codes == h)
    ng, nh = len(rows_g), len(rows_h)
    k = int(labels.max()) + 1 if len(labels) else 1
    per_g = np.bincount(labels[rows_g], minlength=k).astype(np.int64)
    per_h = per_g if same else np.bincount(labels[rows_h], minlength=k).astype(np.int64)
    population = ng * (ng - 1) // 2 if same else ng * nh  # every pair; the mated ones are subtracted below
    nonmated = population - (int((per_g * (per_g - 1) // 2).sum()) if same else int(per_g @ per_h))
    hist = np.zeros(n_bins + 1, dtype=np.int64)
    sums = [0.0, 0.0]
    keys: list[np.ndarray] = []
    n_thr = 0 if thresholds is None else len(thresholds)

    def add(a_rows: np.ndarray, b_rows: np.ndarray, s: np.ndarray, keep: np.ndarray | None) -> int:
        """Bin the products ``s`` of rows ``a_rows x b_rows`` whose ``keep`` is set (None: all of them)."""
        q = s.astype(np.intp)  # products rounding past cosine 1 land in bin n_bins, folded below
        v = s if keep is None else s[keep]
        hist[:] += np.bincount(q.ravel() if keep is None else q[keep], minlength=n_bins + 1)
        # sum of cos = (sum s) / half - m and sum of cos^2 = (sum s^2 - 2 half sum s + m half^2) / half^2, in float64
        v64 = v.astype(np.float64).ravel()
        m, t1, t2 = len(v64), float(v64.sum()), float(v64 @ v64)
        hf = float(half)
        sums[0] += t1 / hf - m
        sums[1] += (t2 - 2 * hf * t1 + m * hf * hf) / (hf * hf)
        if thresholds is not None:
            sel = q >= thresholds[0]
            if keep is not None:
                sel &= keep
            ii, jj = np.nonzero(sel)
            la, lb = labels[a_rows[ii]].astype(np.int64), labels[b_rows[jj]].astype(np.int64)
            passes = np.searchsorted(thresholds, q[ii, jj], side="right")
            keys.append((np.minimum(la, lb) * k + np.maximum(la, lb)) * (n_thr + 1) + passes)
        return m

    def mask(la: np.ndarray, lb: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray | None:
        """Which pairs to bin: different labels (and ``extra``); None when that is every pair."""
        if extra is None and not np.intersect1d(la, lb, assume_unique=False).size:
            return None  # e.g. two groups of a per-identity column share no identity
        keep = la[:, None] != lb[None, :]
        return keep if extra is None else keep & extra

    sampled = 0
    exhaustive = population <= budget
    if exhaustive and same:
        left, right = _augmented(np.asarray(x[rows_g], dtype=np.float32), half)
        lab = labels[rows_g]
        for a in range(0, ng, block_rows):
            b = min(ng, a + block_rows)
            s = left[a:b] @ right[a:].T
            keep = mask(lab[a:b], lab[a:], np.arange(a, ng)[None, :] > np.arange(a, b)[:, None])
            sampled += add(rows_g[a:b], rows_g[a:], s, keep)
    elif exhaustive:
        small, large, swap = (rows_g, rows_h, False) if ng <= nh else (rows_h, rows_g, True)
        _, right = _augmented(np.asarray(x[small], dtype=np.float32), half)
        for a in range(0, len(large), block_rows):
            part = large[a : a + block_rows]
            left, _ = _augmented(np.asarray(x[part], dtype=np.float32), half)
            s = left @ right.T
            sampled += add(part, small, s, mask(labels[part], labels[small]))
    else:
        m = int(max(1, min(group_rows, ng // 2 if same else min(ng, nh), int(np.sqrt(budget / 32)))))
        for _ in range(max(2, -(-budget // (m * m)))):
            if same:
                drawn = rows_g[rng.choice(ng, size=2 * m, replace=False)]
                a_rows, b_rows = drawn[:m], drawn[m:]
            else:
                a_rows, b_rows = rows_g[rng.choice(ng, size=m, replace=False)], rows_h[rng.choice(nh, size=m, replace=False)]
            left, _ = _augmented(np.asarray(x[a_rows], dtype=np.float32), half)
            _, right = _augmented(np.asarray(x[b_rows], dtype=np.float32), half)
            s = left @ right.T
            sampled += add(a_rows, b_rows, s, mask(labels[a_rows], labels[b_rows]))
    hist[n_bins - 1] += hist[n_bins]
    above = None
    if thresholds is not None:
        allk = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        uk, cnt = np.unique(allk, return_counts=True)
        pair, passes = uk // (n_thr + 1), uk % (n_thr + 1)
        above = AbovePairs(pair // k, pair % k, passes, cnt.astype(np.int64))
    return StratumPairs(g, h, nonmated, sampled, exhaustive, hist[:n_bins], sums[0], sums[1], above)
