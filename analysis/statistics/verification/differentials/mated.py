"""Mated pairs by identity and group, counted at known thresholds without storing a pair.

A million images at 25 per identity on average hold some 58 million mated pairs (the counts are
heavy-tailed); keeping each pair's rows, bin and cosine would cost gigabytes. Once the global
thresholds are known (they depend on the non-mated pairs only), one pass over the mated pairs
accumulates everything the differentials read from them:

* every mated pair's cosine histogram (the global FNMR at each threshold);
* per column, per identity ``a`` and group ``g``: the mated pairs with both images in ``g`` by how many
  of the (sorted) thresholds they pass, so that FNMR and its bootstrap replicates are sums over identities;
* per column and group: the histogram and the first two moments of its mated pairs (EER, d');
* per column: the mated pairs whose two images are in two different groups (a per-image covariate).

Identities are multiplied in padded batches (one ``(B, m, m)`` stack of products, ``m`` the largest
identity of the batch, identities sorted by size so the padding is small): the work is
``sum_i n_i^2 d``, and the counting runs on the dense blocks (entries that are no pair go to a dump
bin), never gathering pair by pair. Products are binned as
:func:`analysis.statistics.verification.pair_histograms.pair_histograms` bins them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

#: Identities with more images than this are paired by row blocks instead of a padded batch.
BIG_IDENTITY = 1024


@dataclass(frozen=True, eq=False)
class ColumnMated:
    """The mated pairs of one group column (codes ``0 .. G-1`` groups, ``G`` left out)."""

    per_identity: np.ndarray  # (k, codes, thresholds + 1): pairs inside a code passing exactly p thresholds
    hist: np.ndarray  # (codes, n_bins): pairs inside a code, by cosine bin
    s1: np.ndarray  # (codes,) sum of their cosines
    s2: np.ndarray  # (codes,) sum of their squares
    across: int  # pairs whose images are in two different groups (the left-out code excluded)


@dataclass(frozen=True, eq=False)
class MatedStats:
    """Result of :func:`mated_stats`."""

    hist: np.ndarray  # (n_bins,) every mated pair by cosine bin
    columns: tuple[ColumnMated, ...]

    @property
    def count(self) -> int:
        return int(self.hist.sum())


class _Accumulator:
    """Running sums of :func:`mated_stats` (one instance per call)."""

    def __init__(self, k: int, codes: list[np.ndarray], n_codes: list[int], n_bins: int, thresholds: np.ndarray):
        self.k, self.codes, self.n_codes, self.n_bins = k, codes, n_codes, n_bins
        self.thresholds = np.asarray(thresholds, dtype=np.int64)
        L = len(self.thresholds)
        self.hist = np.zeros(n_bins, dtype=np.int64)
        self.per = [np.zeros(k * nc * (L + 1), dtype=np.int64) for nc in n_codes]
        self.chist = [np.zeros(nc * n_bins, dtype=np.int64) for nc in n_codes]
        self.s1 = [np.zeros(nc) for nc in n_codes]
        self.s2 = [np.zeros(nc) for nc in n_codes]
        self.across = [0 for _ in n_codes]

    def add(self, row_ids: np.ndarray, col_ids: np.ndarray, ident: np.ndarray, s: np.ndarray, pair: np.ndarray,
            half: float) -> None:
        """Blocks of products ``s`` (B, r, c) between rows ``row_ids`` (B, r) and ``col_ids`` (B, c) of identities
        ``ident`` (B,), counting the entries where ``pair`` is set.

        Everything is dense on the blocks (entries that are no pair go to a dump bin): streaming passes over a
        few million contiguous values instead of gathering each pair.
        """
        n_bins, L = self.n_bins, len(self.thresholds)
        q = np.minimum(s.astype(np.intp), n_bins - 1)  # a product rounding past cosine 1 is in the last bin
        self.hist += np.bincount(np.where(pair, q, n_bins).ravel(), minlength=n_bins + 1)[:n_bins]
        passed = np.zeros(q.shape, dtype=np.intp)
        for t in self.thresholds:
            passed += q >= t
        cos = (s.astype(np.float64) - half) / half
        for c, (codes, nc) in enumerate(zip(self.codes, self.n_codes)):
            ci, cj = codes[row_ids][:, :, None], codes[col_ids][:, None, :]
            inside = pair & (ci == cj) & (ci < nc - 1)
            where = np.where(inside, ci, nc)  # group code of the pair, nc for no group
            key = (ident[:, None, None] * nc + where) * (L + 1) + passed
            size = len(self.per[c])
            self.per[c] += np.bincount(np.where(inside, key, size).ravel(), minlength=size + 1)[:size]
            size = len(self.chist[c])
            self.chist[c] += np.bincount(np.where(inside, where * n_bins + q, size).ravel(), minlength=size + 1)[:size]
            self.s1[c] += np.bincount(where.ravel(), weights=cos.ravel(), minlength=nc + 1)[:nc]
            self.s2[c] += np.bincount(where.ravel(), weights=(cos * cos).ravel(), minlength=nc + 1)[:nc]
            self.across[c] += int((pair & (ci != cj) & (ci < nc - 1) & (cj < nc - 1)).sum())

    def result(self) -> MatedStats:
        L = len(self.thresholds)
        cols = tuple(ColumnMated(per.reshape(self.k, nc, L + 1), ch.reshape(nc, self.n_bins), s1, s2, across)
                     for per, ch, s1, s2, across, nc in zip(self.per, self.chist, self.s1, self.s2, self.across,
                                                            self.n_codes))
        return MatedStats(self.hist, cols)


def mated_stats(x: np.ndarray, labels: np.ndarray, codes: list[np.ndarray], n_codes: list[int], n_bins: int,
                thresholds: np.ndarray, batch_rows: int = 8192) -> MatedStats:
    """Every mated pair counted by identity, group and threshold (see the module docstring).

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_dims)
        L2-normalised rows (a memory map is fine: only the rows of a batch are read at a time).
    labels : ndarray of shape (n_samples,), int
        Identity codes ``0 .. k-1``.
    codes : list of ndarray of shape (n_samples,), int
        Group code of every row per column; the last code of each column (``n_codes[c] - 1``) is the
        left-out one (missing values).
    n_codes : list of int
    n_bins : int
    thresholds : ndarray of int
        Threshold bins, ascending: a pair in bin ``q`` passes threshold ``t`` when ``q >= t``.
    batch_rows : int, default=8192
        Rows of identities multiplied in one padded batch.
    """
    # Thousands of small products: one BLAS thread (threads spin-waiting on each small product cost more
    # than they share, as for the per-identity PCA of the geometry).
    with threadpool_limits(limits=1):
        return _mated_stats(x, labels, codes, n_codes, n_bins, thresholds, batch_rows)


def _mated_stats(x, labels, codes, n_codes, n_bins, thresholds, batch_rows) -> MatedStats:
    labels = np.asarray(labels)
    k = int(labels.max()) + 1 if len(labels) else 0
    acc = _Accumulator(k, [np.asarray(c, dtype=np.int64) for c in codes], list(n_codes), n_bins, thresholds)
    order = np.argsort(labels, kind="stable")
    _, starts, sizes = np.unique(labels[order], return_index=True, return_counts=True)
    half = np.float32(n_bins / 2)
    by_size = [int(i) for i in np.argsort(sizes, kind="stable") if sizes[i] >= 2]
    small = [i for i in by_size if sizes[i] <= BIG_IDENTITY]
    at = 0
    while at < len(small):
        end = at + 1
        while end < len(small) and (end - at + 1) * int(sizes[small[end]]) <= batch_rows:
            end += 1
        ids = np.array(small[at:end])
        m = int(sizes[ids[-1]])
        valid = np.arange(m)[None, :] < sizes[ids][:, None]
        rows = order[np.where(valid, starts[ids][:, None] + np.arange(m)[None, :], starts[ids][:, None])]
        block = np.asarray(x[rows.ravel()], dtype=np.float32)
        left = np.concatenate([block * half, np.full((len(block), 1), half, np.float32)], axis=1).reshape(len(ids), m, -1)
        right = np.concatenate([block, np.ones((len(block), 1), np.float32)], axis=1).reshape(len(ids), m, -1)
        s = np.matmul(left, np.ascontiguousarray(right.transpose(0, 2, 1)))
        pair = valid[:, :, None] & valid[:, None, :] & np.triu(np.ones((m, m), dtype=bool), 1)[None]
        acc.add(rows, rows, labels[rows[:, 0]], s, pair, float(half))
        at = end
    for i in (i for i in by_size if sizes[i] > BIG_IDENTITY):
        rows = order[starts[i] : starts[i] + sizes[i]]
        block = np.asarray(x[rows], dtype=np.float32)
        left = np.hstack([block * half, np.full((len(block), 1), half, np.float32)])
        right = np.hstack([block, np.ones((len(block), 1), np.float32)])
        for a in range(0, len(rows), 512):
            s = left[a : a + 512] @ right[a:].T
            pair = np.arange(a, len(rows))[None, :] > np.arange(a, min(a + 512, len(rows)))[:, None]
            acc.add(rows[None, a : a + 512], rows[None, a:], labels[rows[:1]], s[None], pair[None], float(half))
    return acc.result()
