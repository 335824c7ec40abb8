"""Intervals for verification and classification figures, and when a difference is real.

Two kinds of interval, both pure (arrays in, frozen results out, randomness only through
``random_state``):

* :func:`bootstrap_verification`: a seeded bootstrap **over identities** for the EER, d-prime
  and TAR at each FAR. Identities, not pairs, are the sampling unit: pairs of one identity
  share its images, so resampling pairs would pretend that a study of 20 people holds
  thousands of independent observations. Each replicate draws ``k`` identities with
  replacement; an identity drawn ``w`` times weighs its genuine pairs by ``w`` and every
  impostor pair between identities ``a`` and ``b`` by ``w_a * w_b`` (pairs between two copies
  of one identity are not formed). The pairs are binned once; a replicate only re-weights the
  bins, so 200 replicates cost about 200 weighted :func:`numpy.bincount` calls. Intervals are
  percentile intervals of the replicates.
* :func:`wilson_interval`: the Wilson score interval of a proportion (classifier accuracy over
  its cross-validated predictions). It treats predictions as independent, so it is a lower
  bound on the uncertainty across identities; pages say so.

A TAR at a FAR is *estimable* only when at least ``min_impostor_pairs`` impostor pairs score at
or above its threshold: with three accepted impostors the threshold, hence the TAR, is set by
three pairs (:func:`tar_estimability`).

:func:`compare_intervals` decides whether one value is better than another: only when their
intervals do not overlap; otherwise the difference is "within the intervals".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval ``[low, high]`` at ``confidence``."""

    estimate: float
    low: float
    high: float
    confidence: float = 0.95

    def overlaps(self, other: "Interval") -> bool:
        """Whether the two intervals share a point (NaN bounds count as overlapping: nothing is known)."""
        if not all(math.isfinite(v) for v in (self.low, self.high, other.low, other.high)):
            return True
        return self.low <= other.high and other.low <= self.high


@dataclass(frozen=True)
class TarAtFar:
    """TAR at one FAR level, or why it is not estimable.

    ``interval`` is ``None`` and ``estimable`` is false when fewer than the required impostor
    pairs lie above the threshold; ``reason`` then says how many did and how many were needed.
    """

    far: float
    interval: Interval | None
    threshold: float
    accepted_impostors: int
    n_impostor: int
    estimable: bool
    reason: str


@dataclass(frozen=True)
class VerificationUncertainty:
    """Result of :func:`bootstrap_verification`."""

    eer: Interval
    d_prime: Interval
    tar_at_far: tuple[TarAtFar, ...]
    n_boot: int
    confidence: float
    n_identities: int
    n_embeddings_used: int  # embeddings the replicates were drawn from (capped by max_embeddings)
    n_embeddings: int
    min_impostor_pairs: int
    # The TAR at each level of ``fmr_levels`` (the FNMR at FMR table reads FNMR = 1 - TAR from these).
    tar_at_fmr: tuple[TarAtFar, ...] = ()

    @property
    def subsampled(self) -> bool:
        return self.n_embeddings_used < self.n_embeddings


# --------------------------------------------------------------------------- estimability
def tar_estimability(
    far: np.ndarray, tar: np.ndarray, thresholds: np.ndarray, n_impostor: int, level: float, min_impostor_pairs: int
) -> tuple[float, float, int, str]:
    """TAR, threshold and accepted impostors at ``level`` on a ROC, and why it is not estimable ("" when it is).

    The operating point is the ROC point with the largest TAR whose FAR does not exceed
    ``level`` (as :func:`analysis.statistics.verification.verification.verification_metrics` reads it).
    """
    far = np.asarray(far, dtype=float)
    need = int(math.ceil(min_impostor_pairs / level))
    if n_impostor == 0 or len(far) == 0:
        return float("nan"), float("nan"), 0, "no impostor pairs"
    ok = np.flatnonzero(far <= level)
    j = int(ok[-1]) if len(ok) else 0
    accepted = int(round(far[j] * n_impostor))
    if accepted < min_impostor_pairs:
        return float("nan"), float(thresholds[j]), accepted, (
            f"only {accepted:,d} of {n_impostor:,d} impostor pairs score above its threshold; at least "
            f"{min_impostor_pairs:,d} are needed (about {need:,d} impostor pairs at this FAR)")
    return float(tar[j]), float(thresholds[j]), accepted, ""


# --------------------------------------------------------------------------- bootstrap
#: Identity pairs per chunk of the bootstrap's impostor sum (memory ``n_boot x PAIR_CHUNK`` floats).
PAIR_CHUNK = 200_000


def _binned_pairs(x: np.ndarray, labels: np.ndarray, k: int, n_bins: int, block_rows: int):
    """Every pair ``i < j`` binned once: a sparse (identity x bin) genuine count matrix and a sparse
    (identity pair x bin) impostor count matrix with the two identities of each row."""
    from scipy import sparse

    n = len(x)
    gen_keys, imp_keys = [], []
    for a in range(0, n, block_rows):
        s = x[a:a + block_rows] @ x[a:].T
        rows, cols = np.triu_indices(s.shape[0], 1, m=s.shape[1])
        # Pairs inside the block above its diagonal, plus every pair with later rows.
        b = np.clip(((s[rows, cols] + 1.0) * (n_bins / 2.0)).astype(np.int64), 0, n_bins - 1)
        la, lb = labels[a + rows].astype(np.int64), labels[a + cols].astype(np.int64)
        same = la == lb
        gen_keys.append(la[same] * n_bins + b[same])
        lo, hi = np.minimum(la[~same], lb[~same]), np.maximum(la[~same], lb[~same])
        imp_keys.append((lo * k + hi) * n_bins + b[~same])
    gk, gc = np.unique(np.concatenate(gen_keys), return_counts=True)
    gen = sparse.csr_matrix((gc.astype(float), (gk // n_bins, gk % n_bins)), shape=(k, n_bins))
    ik, ic = np.unique(np.concatenate(imp_keys), return_counts=True)
    pair_ids, pair_row = np.unique(ik // n_bins, return_inverse=True)
    imp = sparse.csr_matrix((ic.astype(float), (pair_row, ik % n_bins)), shape=(len(pair_ids), n_bins))
    return gen, imp, pair_ids // k, pair_ids % k


def _roc_stats(gen: np.ndarray, imp: np.ndarray, centers: np.ndarray, levels: Sequence[float]):
    """EER, d-prime and TAR at each level from two histograms (thresholds at bin lower edges)."""
    ng, ni = gen.sum(), imp.sum()
    if ng == 0 or ni == 0:
        return float("nan"), float("nan"), [float("nan")] * len(levels)
    # Accept when the bin index >= t: TAR/FAR for t = n_bins-1 .. 0 (FAR increasing).
    tar = np.cumsum(gen[::-1]) / ng
    far = np.cumsum(imp[::-1]) / ni
    frr = 1 - tar
    diff = frr - far
    kk = int(np.argmax(diff <= 0))
    if kk == 0:
        eer = float(far[0])
    else:
        t = diff[kk - 1] / (diff[kk - 1] - diff[kk])
        eer = float(far[kk - 1] + t * (far[kk] - far[kk - 1]))
    mg, mi = (gen @ centers) / ng, (imp @ centers) / ni
    vg, vi = (gen @ centers**2) / ng - mg**2, (imp @ centers**2) / ni - mi**2
    d = abs(mg - mi) / math.sqrt(max((vg + vi) / 2, 1e-300))
    tars = []
    for level in levels:
        ok = np.flatnonzero(far <= level)
        tars.append(float(tar[ok[-1]]) if len(ok) else 0.0)
    return eer, float(d), tars


def bootstrap_verification(
    x: np.ndarray,
    labels: np.ndarray,
    *,
    eer: float,
    d_prime: float,
    roc: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_impostor: int,
    far_levels: Sequence[float],
    n_boot: int = 200,
    confidence: float = 0.95,
    min_impostor_pairs: int = 100,
    max_embeddings: int = 4000,
    n_bins: int = 2000,
    block_rows: int = 1024,
    random_state: int = 0,
    fmr_levels: Sequence[float] = (),
) -> VerificationUncertainty:
    """Bootstrap-over-identities intervals for EER, d-prime and TAR at each FAR level.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_dims)
        L2-normalised embeddings.
    labels : ndarray of shape (n_samples,)
        Integer identity codes ``0 .. k-1``.
    eer, d_prime : float
        Point estimates on all pairs (the centre of the reported intervals).
    roc : (far, tar, thresholds)
        The all-pairs ROC the point estimates of TAR at FAR are read from.
    n_impostor : int
        Impostor pairs of the all-pairs ROC.
    far_levels : sequence of float
    n_boot : int, default=200
        Bootstrap replicates; 0 gives intervals equal to the point estimates' NaN bounds.
    confidence : float, default=0.95
    min_impostor_pairs : int, default=100
        A TAR at a FAR is reported only when at least this many impostor pairs lie above its threshold.
    max_embeddings : int, default=4000
        Above this many embeddings the replicates are drawn from a seeded sample of this many
        embeddings (all identities keep at least their share); the point estimates stay exact.
    n_bins : int, default=2000
        Bins of the replicates' histograms on ``[-1, 1]``.
    block_rows : int, default=1024
    random_state : int, default=0
    fmr_levels : sequence of float, default=()
        More levels read from the same replicates, returned apart (``tar_at_fmr``) so that
        ``tar_at_far`` keeps the levels of ``far_levels``: the operating points of ISO/IEC 19795-1
        (:mod:`analysis.statistics.verification.operating_points`). Adding levels changes no draw.

    Returns
    -------
    VerificationUncertainty
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    x = np.asarray(x, dtype=np.float32)
    labels = np.asarray(labels)
    _, labels = np.unique(labels, return_inverse=True)
    k = int(labels.max()) + 1 if len(labels) else 0
    rng = np.random.default_rng(random_state)
    n = len(x)
    use = np.arange(n)
    if n > max_embeddings:
        use = np.sort(rng.choice(n, max_embeddings, replace=False))
    levels = tuple(float(f) for f in far_levels) + tuple(float(f) for f in fmr_levels)
    tars_point = [tar_estimability(*roc, n_impostor, f, min_impostor_pairs) for f in levels]
    reps = np.full((n_boot, 2 + len(levels)), np.nan)
    if n_boot and k >= 2:
        gen_m, imp_m, pa, pb = _binned_pairs(x[use], labels[use], k, n_bins, block_rows)
        centers = -1.0 + (np.arange(n_bins) + 0.5) * (2.0 / n_bins)
        # Identity multiplicities of every replicate (drawn first, so the draws do not depend on the data).
        w = np.stack([np.bincount(rng.integers(0, k, k), minlength=k) for _ in range(n_boot)]).astype(float)
        gen = (gen_m.T @ w.T).T  # (n_boot, n_bins): sum_a w_a G_a
        if len(pa) <= PAIR_CHUNK:
            imp = (imp_m.T @ (w[:, pa] * w[:, pb]).T).T  # sum_{a<b} w_a w_b I_ab
        else:
            # Tens of thousands of identities: ~8M identity pairs in a 4,000-row sample, and the
            # (replicates x pairs) weights alone would be 13 GB; the same sum over chunks of pairs.
            imp = np.zeros((n_boot, n_bins))
            for c in range(0, len(pa), PAIR_CHUNK):
                sl = slice(c, c + PAIR_CHUNK)
                imp += np.asarray(imp_m[sl].T @ (w[:, pa[sl]] * w[:, pb[sl]]).T).T
        for r in range(n_boot):
            e, d, t = _roc_stats(np.asarray(gen[r]).ravel(), np.asarray(imp[r]).ravel(), centers, levels)
            reps[r] = [e, d, *t]
    alpha = (1 - confidence) / 2

    def interval(col: int, estimate: float) -> Interval:
        v = reps[:, col]
        v = v[np.isfinite(v)]
        if not len(v) or not math.isfinite(estimate):
            return Interval(estimate, float("nan"), float("nan"), confidence)
        lo, hi = np.quantile(v, [alpha, 1 - alpha])
        # A percentile interval of a skewed statistic can miss the all-pairs estimate; widen to include it.
        return Interval(estimate, float(min(lo, estimate)), float(max(hi, estimate)), confidence)

    tar_rows = []
    for i, (level, (t, thr, accepted, reason)) in enumerate(zip(levels, tars_point)):
        tar_rows.append(TarAtFar(far=level, interval=interval(2 + i, t) if not reason else None, threshold=thr,
                                 accepted_impostors=accepted, n_impostor=n_impostor, estimable=not reason, reason=reason))
    n_far = len(far_levels)
    return VerificationUncertainty(
        eer=interval(0, eer), d_prime=interval(1, d_prime), tar_at_far=tuple(tar_rows[:n_far]), n_boot=n_boot,
        confidence=confidence, n_identities=k, n_embeddings_used=len(use), n_embeddings=n,
        min_impostor_pairs=min_impostor_pairs, tar_at_fmr=tuple(tar_rows[n_far:]),
    )


# --------------------------------------------------------------------------- proportions
#: ``scipy.stats.norm.ppf(1 - (1 - c) / 2)`` of the usual confidence levels, to the last bit
#: (tests/test_uncertainty.py): the page model computes Wilson intervals on every build, and
#: scipy.stats costs 1.5 s to import on a rebuild that otherwise never loads it.
_Z = {0.8: 1.2815515655446004, 0.9: 1.6448536269514722, 0.95: 1.959963984540054, 0.98: 2.3263478740408408,
      0.99: 2.5758293035489004, 0.995: 2.807033768343811, 0.999: 3.2905267314919255}


def two_sided_z(confidence: float) -> float:
    """The standard normal quantile of a two-sided ``confidence`` interval (1.96 at 0.95)."""
    if confidence in _Z:
        return _Z[confidence]
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - confidence) / 2))


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval of a proportion ``successes / n`` (NaN bounds when ``n == 0``)."""
    if n <= 0:
        return Interval(float("nan"), float("nan"), float("nan"), confidence)
    p = successes / n
    z = two_sided_z(confidence)
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return Interval(float(p), float(max(0.0, centre - half)), float(min(1.0, centre + half)), confidence)


# --------------------------------------------------------------------------- comparisons
@dataclass(frozen=True)
class Comparison:
    """Which of two values is better, or that their difference is within the intervals."""

    better: str | None  # name of the better one; None when the intervals overlap
    worse: str | None
    within_intervals: bool


def compare_intervals(
    a_name: str, a: Interval, b_name: str, b: Interval, higher_is_better: bool
) -> Comparison:
    """Name a winner only when the two intervals do not overlap."""
    if a.overlaps(b) or not (math.isfinite(a.estimate) and math.isfinite(b.estimate)):
        return Comparison(None, None, True)
    a_better = (a.estimate > b.estimate) == higher_is_better
    return Comparison(a_name if a_better else b_name, b_name if a_better else a_name, False)

