"""Audit thresholds calibrated to the network: derived from the cell's own cosine distributions.

A fixed centroid cosine cannot tell "same person" from "different people" across networks:
ArcFace-like spaces put different people's centroids near cosine 0, dlib's ResNet between 0.77
and 0.92. So the merged- and split-identity audits of :mod:`analysis.statistics.audit.audit` compare
centroid cosines with two distributions measured in the cell itself:

* **genuine pairs**: cosines between two images of one identity (at most
  ``max_images`` seeded images per identity, so that one huge identity does not dominate and
  the cost stays bounded). Two names of one person have centroids at least as similar as a
  typical pair of that person's images: averaging removes per-image noise, so
  ``cos(centroid A, centroid B)`` tends to 1 when A and B are one person. **Merge threshold**:
  the ``merge_quantile`` quantile (default 0.5, the median) of the genuine-pair cosines.
* **impostor centroids**: cosines between the centroids of two different identities. Two
  people filed under one name give 2-means parts about as dissimilar as two identities.
  **Split threshold**: the ``split_quantile`` quantile (default 0.9) of the impostor-centroid
  cosines, capped at the merge threshold (an identity cannot be "split" by parts more alike
  than two names suspected to be one person).

Both rules scale with the space: on an ArcFace-like space (genuine cosines about 0.5, impostor
centroids about 0) and on a dlib-like one (genuine about 0.93, impostor centroids about 0.85)
they fall between the two populations. Absolute values given in the config (``merge_threshold``,
``split_max_cosine``) override the derived ones; the result records which was used.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AuditThresholds:
    """The thresholds used by one audit and how they were obtained.

    Attributes
    ----------
    merge : float
        Centroid cosine at or above which a pair of identities is suspected to be one person.
    merge_source : str
        ``"derived"`` (genuine-pair quantile) or ``"override"`` (``merge_threshold`` of the config).
    split : float
        2-means parts with a centroid cosine below this are suspected to be two people.
    split_source : str
        ``"derived"`` (impostor-centroid quantile, capped at ``merge``) or ``"override"``.
    merge_quantile, split_quantile : float
        Quantiles used for the derived values.
    genuine_quantile_value : float
        The ``merge_quantile`` quantile of the genuine-pair cosines (NaN without genuine pairs).
    genuine_median : float
    n_genuine_pairs : int
    impostor_quantile_value : float
        The ``split_quantile`` quantile of the impostor-centroid cosines.
    impostor_median : float
    n_impostor_pairs : int
    """

    merge: float
    merge_source: str
    split: float
    split_source: str
    merge_quantile: float
    split_quantile: float
    genuine_quantile_value: float
    genuine_median: float
    n_genuine_pairs: int
    impostor_quantile_value: float
    impostor_median: float
    n_impostor_pairs: int


def genuine_pair_cosines(x: np.ndarray, labels: np.ndarray, codes: np.ndarray, max_images: int = 100,
                         random_state: int = 0) -> np.ndarray:
    """Cosines of every pair of images of one identity (upper triangles), identity by identity.

    Parameters
    ----------
    x : ndarray of shape (n, d)
        L2-normalised rows.
    labels : ndarray of shape (n,)
        Label codes.
    codes : ndarray
        The label codes to use (sorted).
    max_images : int, default=100
        Identities with more images contribute a seeded sample of this many (bounds the cost at
        ``max_images**2 / 2`` pairs per identity and keeps one identity from dominating).
    random_state : int, default=0

    Returns
    -------
    ndarray of shape (n_pairs,), float64
    """
    rng = np.random.default_rng(random_state)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    out = []
    for code in codes:
        lo, hi = np.searchsorted(sorted_labels, code, "left"), np.searchsorted(sorted_labels, code, "right")
        members = order[lo:hi]
        if len(members) < 2:
            continue
        if len(members) > max_images:
            members = np.sort(rng.choice(members, size=max_images, replace=False))
        xi = np.asarray(x[members], dtype=np.float64)
        sim = xi @ xi.T
        iu = np.triu_indices(len(members), k=1)
        out.append(np.clip(sim[iu], -1.0, 1.0))
    return np.concatenate(out) if out else np.zeros(0)


def derive_thresholds(genuine: np.ndarray, impostor_centroids: np.ndarray, *, merge_quantile: float,
                      split_quantile: float, merge_override: float | None = None,
                      split_override: float | None = None) -> AuditThresholds:
    """Merge and split thresholds from the genuine-pair and impostor-centroid cosines.

    Parameters
    ----------
    genuine : ndarray
        Genuine-pair cosines (:func:`genuine_pair_cosines`).
    impostor_centroids : ndarray
        Cosines between centroids of different identities.
    merge_quantile, split_quantile : float in (0, 1)
    merge_override, split_override : float, optional
        Absolute values replacing the derived ones.

    Returns
    -------
    AuditThresholds

    Notes
    -----
    Without genuine pairs (every identity has one image) the derived merge threshold is NaN and
    no pair is flagged; the audit records why.
    """
    genuine = np.asarray(genuine, dtype=np.float64)
    impostor = np.asarray(impostor_centroids, dtype=np.float64)
    g_q = float(np.quantile(genuine, merge_quantile)) if genuine.size else float("nan")
    g_med = float(np.median(genuine)) if genuine.size else float("nan")
    i_q = float(np.quantile(impostor, split_quantile)) if impostor.size else float("nan")
    i_med = float(np.median(impostor)) if impostor.size else float("nan")
    merge = float(merge_override) if merge_override is not None else g_q
    merge_source = "override" if merge_override is not None else "derived"
    if split_override is not None:
        split, split_source = float(split_override), "override"
    else:
        split = i_q if not np.isfinite(merge) else float(min(i_q, merge))
        split_source = "derived"
    return AuditThresholds(
        merge=merge, merge_source=merge_source, split=split, split_source=split_source,
        merge_quantile=float(merge_quantile), split_quantile=float(split_quantile),
        genuine_quantile_value=g_q, genuine_median=g_med, n_genuine_pairs=int(genuine.size),
        impostor_quantile_value=i_q, impostor_median=i_med, n_impostor_pairs=int(impostor.size),
    )
