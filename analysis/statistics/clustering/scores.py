"""Scores of one clustering: external (against the identity labels) and internal (geometry only).

* :func:`external_scores`: purity, Rand, ARI, NMI, AMI, pairwise and BCubed
  precision/recall/F of predicted clusters against the identity labels (definitions in
  :mod:`analysis.statistics.clustering.metrics`).
* :func:`internal_scores`: silhouette, Davies-Bouldin, Calinski-Harabasz and Dunn; NaN where
  undefined (fewer than 2 clusters). Silhouette and Dunn (``O(n^2)``) read a precomputed
  distance matrix between sampled rows; Davies-Bouldin and Calinski-Harabasz use every row.
* :class:`MethodScores`: both, for one clustering method at its chosen setting, as tabled by
  :func:`analysis.statistics.clustering.clustering.analyze_clustering`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.statistics.clustering import metrics


@dataclass(frozen=True)
class ExternalScores:
    """Agreement of a clustering with the identity labels (see :mod:`analysis.statistics.clustering.metrics`)."""

    purity: float
    rand: float
    ari: float
    nmi: float
    ami: float
    pair_precision: float
    pair_recall: float
    pair_f: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float


@dataclass(frozen=True)
class InternalScores:
    """Geometry-only quality of a clustering; NaN where undefined (fewer than 2 clusters)."""

    silhouette: float
    davies_bouldin: float
    calinski_harabasz: float
    dunn: float


@dataclass(frozen=True)
class MethodScores:
    """One method at its chosen setting.

    ``n_evaluated`` rows were clustered (all rows, or a seeded sample: ``sampled``);
    ``noise_fraction`` is the share labelled noise by density methods (0 otherwise).
    """

    method: str
    setting: str
    n_clusters: int
    noise_fraction: float
    n_evaluated: int
    sampled: bool
    external: ExternalScores
    internal: InternalScores


def external_scores(labels_true: np.ndarray, labels_pred: np.ndarray) -> ExternalScores:
    """Every external metric of one clustering."""
    pp, pr, pf = metrics.pairwise_precision_recall_fscore(labels_true, labels_pred)
    bp, br, bf = metrics.bcubed_precision_recall_fscore(labels_true, labels_pred)
    return ExternalScores(
        purity=metrics.purity_score(labels_true, labels_pred),
        rand=metrics.rand_index(labels_true, labels_pred),
        ari=metrics.adjusted_rand(labels_true, labels_pred),
        nmi=metrics.normalized_mutual_info(labels_true, labels_pred),
        ami=metrics.adjusted_mutual_info(labels_true, labels_pred),
        pair_precision=pp, pair_recall=pr, pair_f=pf,
        bcubed_precision=bp, bcubed_recall=br, bcubed_f=bf,
    )


def _n_clusters_ok(labels: np.ndarray) -> bool:
    return 2 <= len(np.unique(labels)) <= len(labels) - 1


def internal_scores(x: np.ndarray, labels: np.ndarray, dist: np.ndarray, rows: np.ndarray,
                    db_ch: tuple[float, float] | None = None) -> InternalScores:
    """Internal metrics of one clustering; NaN where undefined (fewer than 2 clusters).

    Davies-Bouldin and Calinski-Harabasz use every row of ``x`` (or are given as ``db_ch`` when
    the caller already computed them); silhouette and Dunn (both ``O(n^2)``) use the
    precomputed Euclidean distance matrix ``dist`` between the rows ``rows``.
    """
    if len(labels) < 3 or not _n_clusters_ok(labels):
        return InternalScores(np.nan, np.nan, np.nan, np.nan)
    sub = labels[rows]
    sil = dunn = np.nan
    if _n_clusters_ok(sub):
        sil = float(metrics.silhouette_samples(dist, sub, metric="precomputed").mean())
        dunn = metrics.dunn_index(dist, sub, metric="precomputed")
    db, ch = metrics.davies_bouldin_calinski_harabasz(x, labels) if db_ch is None else db_ch
    return InternalScores(silhouette=sil, davies_bouldin=db, calinski_harabasz=ch, dunn=dunn)
