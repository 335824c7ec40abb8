"""Genuine pairs exactly, impostor pairs by seeded sampling: the similarity pass at a million rows.

All pairs of a million embeddings are 5 x 10^11 cosines, hours on two cores. Genuine pairs are
few (``sum n_i^2 / 2``, about 12 million at 25 images per identity) and lie, once rows are sorted
by label, in a narrow band next to the diagonal: they are binned exactly, block by block, by the
same quantisation as :func:`analysis.statistics.verification.pair_histograms.pair_histograms`. Impostor pairs
are sampled (seeded) in independent groups, each the ``m x m`` block of pairs between two
disjoint random sets of ``m`` rows, so that sampling runs at matrix-product speed; a FAR read
from the sample gets its interval from the spread between groups (:func:`far_interval`).
10^8 pairs put about 10^4 of them above the FAR = 10^-4 threshold (a relative standard error
near 1% for independent pairs; the group spread says how much row sharing adds).

:func:`analysis.statistics.verification.similarity.analyze_similarity` switches here automatically above
``SimilarityParams.exact_max_rows`` rows; the page says so with the sample size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.statistics.verification.pair_histograms import PairHistograms


@dataclass(frozen=True, eq=False)
class ImpostorSample:
    """How the impostor histogram of a sampled pass was drawn.

    ``group_counts[g]`` is the impostor histogram of group ``g`` alone: groups are independent
    draws, so the spread of a rate between groups gives its standard error (:func:`far_interval`).
    """

    n_sampled: int  # impostor pairs in the histogram
    population: int  # all impostor pairs of the set
    seed: int
    group_rows: int  # rows on each side of a group's block of pairs
    group_counts: np.ndarray  # (n_groups, n_bins) int64


def _genuine_band(x: np.ndarray, lab: np.ndarray, n_bins: int, block_rows: int):
    """Exact genuine counts and float64 sums over same-label pairs ``i < j`` (rows sorted by label)."""
    n = len(x)
    _, starts, sizes = np.unique(lab, return_index=True, return_counts=True)
    end_of = np.repeat(starts + sizes, sizes)
    half = np.float32(n_bins / 2)
    counts = np.zeros(n_bins + 1, dtype=np.int64)
    s1 = s2 = 0.0
    m_gen = 0
    for a in range(0, n, block_rows):
        b = min(n, a + block_rows)
        w = int(end_of[b - 1]) - a
        # The augmented rows [x * half, half] and [x, 1] of this block only: whole-set copies
        # would be two more n x (d + 1) arrays (4 GB at a million rows); same products.
        left = np.hstack([x[a:b] * half, np.full((b - a, 1), half, dtype=np.float32)])
        right = np.hstack([x[a : a + w], np.ones((w, 1), dtype=np.float32)])
        s = left @ right.T
        band = (lab[a:b, None] == lab[None, a : a + w]) & (np.arange(w)[None, :] > np.arange(b - a)[:, None])
        q = s[band].astype(np.intp)
        counts += np.bincount(q, minlength=n_bins + 1)
        g = (s[band].astype(np.float64) - half) / half
        s1 += g.sum()
        s2 += g @ g
        m_gen += len(g)
    counts[n_bins - 1] += counts[n_bins]
    return counts[:n_bins], s1, s2, m_gen


def _impostor_sample(x: np.ndarray, lab: np.ndarray, n_bins: int, n_samples: int, seed: int, group_rows: int):
    """Per-group histograms and float64 sums of about ``n_samples`` seeded impostor pairs.

    Each group draws ``2 m`` distinct rows without replacement (seeded), splits them into two
    halves ``A`` and ``B`` and bins every pair of ``A x B`` whose labels differ: one float32
    matrix product per group, so sampling costs what BLAS costs, not a gather per pair. Every
    ordered pair of distinct rows is equally likely, so the binned rates are unbiased; pairs
    of one group share rows, so the interval comes from the spread *between* groups.
    """
    rng = np.random.default_rng(seed)
    n = len(x)
    # At least about 32 groups, so that the between-group spread (the interval) is well estimated.
    m = int(max(1, min(group_rows, n // 2, int(np.sqrt(n_samples / 32)))))
    half = np.float32(n_bins / 2)
    n_groups = int(max(2, -(-n_samples // (m * m))))
    groups = np.zeros((n_groups, n_bins + 1), dtype=np.int64)
    s1 = s2 = 0.0
    for g in range(n_groups):
        rows = rng.choice(n, size=2 * m, replace=False)
        a, b = rows[:m], rows[m:]
        c = x[a] @ x[b].T
        keep = lab[a][:, None] != lab[b][None, :]
        v = c[keep]
        groups[g] = np.bincount(np.clip((v * half + half).astype(np.intp), 0, n_bins), minlength=n_bins + 1)
        v64 = v.astype(np.float64)
        s1 += v64.sum()
        s2 += float(np.dot(v64, v64))
    groups[:, n_bins - 1] += groups[:, n_bins]
    groups = groups[:, :n_bins]
    return groups, s1, s2, m


def sampled_pair_histograms(x: np.ndarray, labels: np.ndarray, n_bins: int = 4000, n_samples: int = 100_000_000,
                            random_state: int = 0, block_rows: int = 2048,
                            group_rows: int = 1024) -> tuple[PairHistograms, ImpostorSample]:
    """Exact genuine histogram, sampled impostor histogram (see module docstring).

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_dims)
        L2-normalised rows.
    labels : ndarray of shape (n_samples,), int
    n_bins : int, default=4000
    n_samples : int, default=10**8
        Pairs drawn (seeded), in groups of ``group_rows x group_rows``; same-label pairs of
        a group are left out, so the impostor count is slightly lower.
    random_state : int, default=0
    block_rows : int, default=2048
        Rows per block of the genuine band.
    group_rows : int, default=1024
        Rows on each side of a group (memory ``group_rows^2 x 4`` bytes per group).

    Returns
    -------
    (PairHistograms, ImpostorSample)
        Impostor counts, mean and variance are those of the sample.
    """
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError("sampled impostor pairs need at least 2 labels")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    order = np.argsort(labels, kind="stable")
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32)[order])
    lab = labels[order]
    # Blocks of at most 256 rows: each block's products reach to the end of its last identity, so a
    # 2,048-row block computed 2,048 x ~2,070 products for a band ~25 wide (10^12 at a million rows).
    genuine, g1, g2, n_gen = _genuine_band(x, lab, n_bins, min(block_rows, 256))
    groups, i1, i2, m = _impostor_sample(x, lab, n_bins, n_samples, random_state, group_rows)
    impostor = groups.sum(axis=0)
    n_imp = int(impostor.sum())
    n = len(x)
    population = n * (n - 1) // 2 - n_gen

    def moments(s1: float, s2: float, m: int) -> tuple[float, float]:
        if m == 0:
            return float("nan"), float("nan")
        return s1 / m, max(s2 / m - (s1 / m) ** 2, 0.0)

    gm, gv = moments(g1, g2, n_gen)
    im, iv = moments(i1, i2, n_imp)
    hist = PairHistograms(
        edges=np.linspace(-1.0, 1.0, n_bins + 1), genuine=genuine, impostor=impostor, n_genuine=int(n_gen),
        n_impostor=int(n_imp), genuine_mean=gm, genuine_var=gv, impostor_mean=im, impostor_var=iv,
    )
    return hist, ImpostorSample(n_imp, int(population), int(random_state), m, groups)


def far_interval(sample: ImpostorSample, first_bin: int, z: float = 1.96) -> tuple[float, float, int]:
    """FAR at a threshold (pairs in bins ``>= first_bin``) with its ``z``-sigma interval.

    The groups of :func:`sampled_pair_histograms` are independent, equally sized draws: the
    standard error of the pooled rate is the standard deviation of the per-group rates over
    the square root of the number of groups (batch means), which accounts for the rows that
    pairs of one group share.

    Returns
    -------
    (low, high, n_above)
        Interval bounds (clipped to [0, 1]) and the sampled impostor pairs above the threshold.
    """
    above = sample.group_counts[:, first_bin:].sum(axis=1).astype(np.float64)
    totals = sample.group_counts.sum(axis=1).astype(np.float64)
    rate = above.sum() / max(totals.sum(), 1.0)
    per_group = above / np.maximum(totals, 1.0)
    se = per_group.std(ddof=1) / np.sqrt(len(per_group)) if len(per_group) > 1 else float("nan")
    return float(max(0.0, rate - z * se)), float(min(1.0, rate + z * se)), int(above.sum())
