"""Verification metrics: ROC, EER, AUC, TAR at a FAR and d-prime, and the pairs protocol.

* :func:`verification_metrics` reads everything that needs a threshold (ROC, EER, TAR at a
  FAR, overlap, angle quantiles) from the exact all-pairs histograms of
  :func:`analysis.statistics.verification.pair_histograms.pair_histograms`, so its resolution is one bin
  (``2 / n_bins`` in cosine); d-prime uses their exact means and variances.
* :func:`pairs_protocol`: where a dataset provides verification pairs (LFW's ``pairs.txt``),
  the standard 10-fold accuracy with the threshold chosen on the nine training folds
  (:func:`best_threshold`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from analysis.statistics.verification.pair_histograms import PairHistograms
from analysis.types import EmbeddingSet


@dataclass(frozen=True, eq=False)
class Verification:
    """Verification metrics read from :class:`PairHistograms` (accept when cosine >= threshold)."""

    d_prime: float
    overlap: float  # shared area of the two normalised histograms, in [0, 1]
    eer: float
    eer_threshold: float
    auc: float
    far: np.ndarray  # ROC, one point per bin edge, increasing
    tar: np.ndarray
    thresholds: np.ndarray
    far_levels: tuple[float, ...]
    tar_at_far: np.ndarray  # NaN where the level is below 1 / n_impostor
    threshold_at_far: np.ndarray
    genuine_angle_median: float  # degrees, from the histogram
    impostor_angle_median: float
    d_prime_note: str = ""  # why d_prime is NaN, when it is


@dataclass(frozen=True, eq=False)
class PairsProtocolResult:
    """Result of :func:`pairs_protocol`."""

    n_pairs: int
    n_missing: int  # pairs skipped because an item has no embedding
    fold_accuracy: np.ndarray
    fold_threshold: np.ndarray
    scores: np.ndarray
    same: np.ndarray

    @property
    def accuracy_mean(self) -> float:
        return float(self.fold_accuracy.mean())

    @property
    def accuracy_std(self) -> float:
        return float(self.fold_accuracy.std())


# --------------------------------------------------------------------------- verification metrics
def _hist_median_angle(counts: np.ndarray, edges: np.ndarray) -> float:
    """Median angle in degrees from a cosine histogram (angle is decreasing in cosine)."""
    if counts.sum() == 0:
        return float("nan")
    cum = np.cumsum(counts) / counts.sum()
    b = int(np.searchsorted(cum, 0.5))
    frac = (0.5 - (cum[b - 1] if b else 0.0)) / max(counts[b] / counts.sum(), 1e-300)
    cos = edges[b] + frac * (edges[b + 1] - edges[b])
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def verification_metrics(h: PairHistograms, far_levels: Sequence[float] = (1e-2, 1e-3, 1e-4)) -> Verification:
    """ROC, EER, AUC, d-prime, overlap and TAR at given FARs from exact pair histograms.

    The ROC is :func:`sklearn.metrics.roc_curve` on the bin indices weighted by the counts, so
    thresholds are bin edges (resolution ``2 / n_bins`` in cosine). The EER is interpolated
    linearly between the two ROC points where FRR - FAR changes sign. TAR at a FAR level is the
    largest TAR whose FAR does not exceed it (NaN when the level is below ``1 / n_impostor``).
    d-prime uses the exact means and variances [1]_.

    References
    ----------
    .. [1] Daugman, "Biometric decision landscapes", University of Cambridge TR-482 (2000).
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    levels = tuple(float(f) for f in far_levels)
    n_bins = len(h.genuine)
    nan = float("nan")
    if h.n_genuine == 0 or h.n_impostor == 0:
        empty = np.array([])
        return Verification(nan, nan, nan, nan, nan, empty, empty, empty, levels,
                            np.full(len(levels), nan), np.full(len(levels), nan), nan, nan)
    bins = np.arange(n_bins)
    used = (h.genuine + h.impostor) > 0
    y = np.concatenate([np.ones(used.sum()), np.zeros(used.sum())])
    score = np.concatenate([bins[used], bins[used]]).astype(float)
    weight = np.concatenate([h.genuine[used], h.impostor[used]]).astype(float)
    far, tar, thr = roc_curve(y, score, sample_weight=weight, drop_intermediate=False)
    auc = float(roc_auc_score(y, score, sample_weight=weight))
    thr_cos = np.where(np.isfinite(thr), h.edges[np.clip(thr, 0, n_bins - 1).astype(int)], np.inf)
    frr = 1 - tar
    diff = frr - far  # decreasing along the ROC
    k = int(np.argmax(diff <= 0))
    if k == 0:
        eer, eer_thr = float(far[0]), float(thr_cos[0])
    else:
        t = diff[k - 1] / (diff[k - 1] - diff[k])
        eer = float(far[k - 1] + t * (far[k] - far[k - 1]))
        eer_thr = float(thr_cos[k])
    tar_at = np.full(len(levels), nan)
    thr_at = np.full(len(levels), nan)
    for i, level in enumerate(levels):
        if level * h.n_impostor < 1:
            continue
        ok = np.flatnonzero(far <= level)
        j = ok[-1]
        tar_at[i], thr_at[i] = tar[j], thr_cos[j]
    pg = h.genuine / h.n_genuine
    pi = h.impostor / h.n_impostor
    pooled = (h.genuine_var + h.impostor_var) / 2
    # Zero pooled variance (e.g. identical embeddings) makes d' 0/0 or x/0: undefined, not infinite.
    d_prime = abs(h.genuine_mean - h.impostor_mean) / np.sqrt(pooled) if pooled > 0 else nan
    return Verification(
        d_prime=float(d_prime),
        d_prime_note="" if pooled > 0 else "undefined: genuine and impostor scores both have zero variance",
        overlap=float(np.minimum(pg, pi).sum()),
        eer=eer,
        eer_threshold=eer_thr,
        auc=auc,
        far=far,
        tar=tar,
        thresholds=thr_cos,
        far_levels=levels,
        tar_at_far=tar_at,
        threshold_at_far=thr_at,
        genuine_angle_median=_hist_median_angle(h.genuine, h.edges),
        impostor_angle_median=_hist_median_angle(h.impostor, h.edges),
    )


# --------------------------------------------------------------------------- pairs protocol
def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """Threshold maximising accuracy of ``score >= threshold`` (midpoints between sorted scores).

    Ties in accuracy go to the smallest threshold, so the choice is deterministic.
    """
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    u = np.unique(scores)
    candidates = np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])
    order = np.argsort(scores, kind="stable")
    s_sorted, y_sorted = scores[order], same[order]
    # For threshold t: correct = positives with score >= t + negatives with score < t.
    below = np.searchsorted(s_sorted, candidates, side="left")
    neg_below = np.concatenate([[0], np.cumsum(~y_sorted)])[below]
    pos_above = y_sorted.sum() - np.concatenate([[0], np.cumsum(y_sorted)])[below]
    return float(candidates[int(np.argmax(neg_below + pos_above))])


def pairs_protocol(
    emb: EmbeddingSet, pairs: Sequence[tuple[str, str, bool]], folds: int = 10
) -> PairsProtocolResult:
    """Verification accuracy on given pairs by the standard LFW 10-fold protocol.

    The pairs are split in order into ``folds`` consecutive folds (LFW's ``pairs.txt`` lists
    its ten folds one after the other); for each fold the cosine threshold that maximises
    accuracy on the other folds is applied to it [1]_.

    Parameters
    ----------
    emb : EmbeddingSet
    pairs : sequence of (item_a, item_b, same)
        Items as in ``emb.items``. Pairs whose item has no embedding (failed detection) are
        skipped and counted in ``n_missing``.
    folds : int, default=10

    Returns
    -------
    PairsProtocolResult

    References
    ----------
    .. [1] Huang, Ramesh, Berg, Learned-Miller. "Labeled Faces in the Wild: A Database for
       Studying Face Recognition in Unconstrained Environments." UMass TR 07-49 (2007).
    """
    index = {str(item): i for i, item in enumerate(emb.items)}
    a_idx, b_idx, same, missing = [], [], [], 0
    for a, b, s in pairs:
        if str(a) in index and str(b) in index:
            a_idx.append(index[str(a)])
            b_idx.append(index[str(b)])
            same.append(bool(s))
        else:
            missing += 1
    same_arr = np.array(same, dtype=bool)
    if len(same_arr) < folds or same_arr.all() or not same_arr.any():
        raise ValueError(
            f"pairs protocol needs at least {folds} usable pairs with both same and different ones; "
            f"got {len(same_arr)} usable ({missing} had an item without embedding). Check that pair items "
            "match EmbeddingSet.items"
        )
    x = emb.normalized()
    scores = np.einsum("ij,ij->i", x[a_idx].astype(np.float64), x[b_idx].astype(np.float64))
    parts = np.array_split(np.arange(len(scores)), folds)
    acc, thr = np.zeros(folds), np.zeros(folds)
    for f, test in enumerate(parts):
        train = np.setdiff1d(np.arange(len(scores)), test)
        thr[f] = best_threshold(scores[train], same_arr[train])
        acc[f] = np.mean((scores[test] >= thr[f]) == same_arr[test])
    return PairsProtocolResult(
        n_pairs=len(scores), n_missing=missing, fold_accuracy=acc, fold_threshold=thr, scores=scores, same=same_arr
    )

