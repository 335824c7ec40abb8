"""Genuine pairs exactly, impostor pairs by seeded sampling: the similarity pass at a million rows.

All pairs of a million embeddings are 5 x 10^11 cosines, hours on two cores. Genuine pairs are
few (``sum n_i^2 / 2``, about 12 million at 25 images per identity) and lie, once rows are sorted
by label, in a narrow band next to the diagonal: they are binned exactly, block by block, by the
same quantisation as :func:`analysis.statistics.pair_histograms.pair_histograms`. Impostor pairs
are drawn uniformly with replacement (seeded): ``n_samples`` random pairs ``(i, j)``, pairs of the
same label redrawn. Each sampled pair is an independent Bernoulli trial for "cosine above
``t``", so a FAR read from the sample has a binomial standard error and a Wilson interval
(:func:`far_interval`); 10^8 pairs put about 10^4 of them above the FAR = 10^-4 threshold (a
relative standard error near 1%).

:func:`analysis.statistics.similarity.analyze_similarity` switches here automatically above
``SimilarityParams.exact_max_rows`` rows; the page says so with the sample size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.statistics.pair_histograms import PairHistograms


@dataclass(frozen=True)
class ImpostorSample:
    """How the impostor histogram of a sampled pass was drawn."""

    n_sampled: int  # impostor pairs in the histogram
    population: int  # all impostor pairs of the set
    seed: int


def _genuine_band(x: np.ndarray, lab: np.ndarray, n_bins: int, block_rows: int):
    """Exact genuine counts and float64 sums over same-label pairs ``i < j`` (rows sorted by label)."""
    n = len(x)
    _, starts, sizes = np.unique(lab, return_index=True, return_counts=True)
    end_of = np.repeat(starts + sizes, sizes)
    half = np.float32(n_bins / 2)
    left = np.hstack([x * half, np.full((n, 1), half, dtype=np.float32)])
    right = np.hstack([x, np.ones((n, 1), dtype=np.float32)])
    counts = np.zeros(n_bins + 1, dtype=np.int64)
    s1 = s2 = 0.0
    m_gen = 0
    for a in range(0, n, block_rows):
        b = min(n, a + block_rows)
        w = int(end_of[b - 1]) - a
        s = left[a:b] @ right[a : a + w].T
        band = (lab[a:b, None] == lab[None, a : a + w]) & (np.arange(w)[None, :] > np.arange(b - a)[:, None])
        q = s[band].astype(np.intp)
        counts += np.bincount(q, minlength=n_bins + 1)
        g = (s[band].astype(np.float64) - half) / half
        s1 += g.sum()
        s2 += g @ g
        m_gen += len(g)
    counts[n_bins - 1] += counts[n_bins]
    return counts[:n_bins], s1, s2, m_gen


def _impostor_sample(x: np.ndarray, lab: np.ndarray, n_bins: int, n_samples: int, seed: int, chunk: int):
    """Histogram and float64 sums of ``n_samples`` seeded random impostor pairs."""
    rng = np.random.default_rng(seed)
    n = len(x)
    half = np.float32(n_bins / 2)
    counts = np.zeros(n_bins + 1, dtype=np.int64)
    s1 = s2 = 0.0
    drawn = 0
    while drawn < n_samples:
        m = min(chunk, n_samples - drawn)
        i = rng.integers(0, n, size=m)
        j = rng.integers(0, n, size=m)
        ok = lab[i] != lab[j]  # same label (or the same row): not an impostor pair, redraw
        i, j = i[ok], j[ok]
        c = np.einsum("ij,ij->i", x[i], x[j])
        q = np.clip((c * half + half).astype(np.intp), 0, n_bins)
        counts += np.bincount(q, minlength=n_bins + 1)
        c64 = c.astype(np.float64)
        s1 += c64.sum()
        s2 += c64 @ c64
        drawn += len(c)
    counts[n_bins - 1] += counts[n_bins]
    return counts[:n_bins], s1, s2, drawn


def sampled_pair_histograms(x: np.ndarray, labels: np.ndarray, n_bins: int = 4000, n_samples: int = 100_000_000,
                            random_state: int = 0, block_rows: int = 2048,
                            chunk: int = 1_000_000) -> tuple[PairHistograms, ImpostorSample]:
    """Exact genuine histogram, sampled impostor histogram (see module docstring).

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_dims)
        L2-normalised rows.
    labels : ndarray of shape (n_samples,), int
    n_bins : int, default=4000
    n_samples : int, default=10**8
        Impostor pairs drawn (with replacement, seeded).
    random_state : int, default=0
    block_rows : int, default=2048
        Rows per block of the genuine band.
    chunk : int, default=10**6
        Impostor pairs per vectorised draw (memory ``chunk x n_dims x 8`` bytes).

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
    genuine, g1, g2, n_gen = _genuine_band(x, lab, n_bins, block_rows)
    impostor, i1, i2, n_imp = _impostor_sample(x, lab, n_bins, n_samples, random_state, chunk)
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
    return hist, ImpostorSample(int(n_imp), int(population), int(random_state))


def far_interval(n_above: int, n_sampled: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a false accept rate estimated as ``n_above / n_sampled``.

    Each sampled impostor pair is an independent Bernoulli trial (uniform draws with
    replacement), so the count above a threshold is binomial.
    """
    if n_sampled <= 0:
        return float("nan"), float("nan")
    p = n_above / n_sampled
    denom = 1 + z * z / n_sampled
    centre = (p + z * z / (2 * n_sampled)) / denom
    half = z * np.sqrt(p * (1 - p) / n_sampled + z * z / (4 * n_sampled**2)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
