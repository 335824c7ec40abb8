"""Bootstrap over identities for group FNMRs, FMRs and their max/min ratios, at fixed thresholds.

As in :func:`analysis.statistics.uncertainty.bootstrap_verification`, identities are the sampling
unit: a replicate draws the ``k`` identities with replacement; an identity drawn ``w`` times weighs
its mated pairs by ``w`` and a non-mated pair between identities ``a`` and ``b`` by ``w_a w_b``
(pairs between two copies of one identity are not formed). The thresholds stay where the
operating points put them: the interval is that of a group's error rate at the deployed threshold.

Everything is a weighted sum of per-identity counts, so a replicate costs a few matrix products:

* FNMR of group ``g`` at threshold ``t``: ``sum_a w_a F_agt / sum_a w_a M_ag`` (``M``: mated pairs of
  identity ``a`` inside ``g``, ``F``: those below ``t``);
* FMR: ``sum_(a<b) w_a w_b A_abgt / rate_g`` over ``sum_(a<b) w_a w_b n_ag n_bg``, where ``A`` counts
  the non-mated pairs at or above ``t`` (all of them, or a sample at ``rate_g``: Horvitz-Thompson) and
  the denominator has the closed form ``((w.n_g)^2 - (w^2).(n_g^2)) / 2``.
"""
from __future__ import annotations

import math

import numpy as np

from analysis.statistics.uncertainty import Interval
from analysis.statistics.verification.differentials.group_pairs import AbovePairs

def identity_weights(k: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, k) multiplicities of the identities in each replicate (as the verification bootstrap draws them)."""
    if n_boot == 0 or k == 0:
        return np.zeros((n_boot, k))
    return np.stack([np.bincount(rng.integers(0, k, k), minlength=k) for _ in range(n_boot)]).astype(np.float64)


def fnmr_replicates(w: np.ndarray, mated: np.ndarray, misses: np.ndarray) -> np.ndarray:
    """(n_boot, groups, levels) FNMRs from ``mated`` (k, groups) and ``misses`` (k, groups, levels)."""
    k, n_groups, n_levels = misses.shape
    num = (w @ misses.reshape(k, n_groups * n_levels)).reshape(len(w), n_groups, n_levels)
    den = w @ mated
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den[:, :, None]


def fmr_replicates(w: np.ndarray, rows: np.ndarray, above: list[AbovePairs], rates: np.ndarray,
                   n_levels: int) -> np.ndarray:
    """(n_boot, groups, levels) within-group FMRs.

    Parameters
    ----------
    w : ndarray of shape (n_boot, k)
    rows : ndarray of shape (k, groups)
        Rows of each identity in each group.
    above : list of AbovePairs, one per group
    rates : ndarray of shape (groups,)
        Share of each group's non-mated pairs the ``above`` pairs were read from.
    n_levels : int
    """
    n_boot, n_groups = len(w), rows.shape[1]
    wn = w @ rows
    den = (wn**2 - (w**2) @ (rows**2)) / 2
    num = np.zeros((n_boot, n_groups, n_levels))
    from scipy import sparse

    k = w.shape[1]
    for g, ab in enumerate(above):
        for level in range(n_levels):
            keep = ab.passes > level  # a pair passing a threshold passes every looser one
            if not keep.any():
                continue
            # sum over identity pairs of count_ab w_a w_b = sum_a w_a (C w)_a, C the sparse (k x k) count matrix:
            # one sparse product per level instead of gathering (n_boot x pairs) weights.
            c = sparse.csr_matrix((ab.count[keep].astype(np.float64), (ab.first[keep], ab.second[keep])), shape=(k, k))
            num[:, g, level] = np.einsum("kr,rk->r", np.asarray(c @ w.T), w)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / np.where(rates > 0, rates, 1.0)[None, :, None] / den[:, :, None]


def ratio_replicates(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """``high / low`` per replicate: ``inf`` when only ``low`` is 0, NaN when both are (or either is NaN)."""
    high, low = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(low > 0, high / np.where(low > 0, low, 1.0), np.where(high > 0, np.inf, np.nan))


def percentile_interval(values: np.ndarray, estimate: float, confidence: float) -> Interval:
    """Central percentile interval of the finite-or-infinite replicates, widened to include the estimate.

    Percentiles are order statistics (no interpolation), so an infinite ratio in the upper tail gives an
    unbounded interval instead of NaN. NaN replicates (a group none of whose identities was drawn) are
    dropped.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if not len(v) or math.isnan(estimate):
        return Interval(estimate, math.nan, math.nan, confidence)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(v, [alpha, 1 - alpha], method="inverted_cdf")
    # A percentile interval of a skewed statistic can miss the all-pairs estimate; widen it to include it.
    return Interval(estimate, float(min(lo, estimate)), float(max(hi, estimate)), confidence)
