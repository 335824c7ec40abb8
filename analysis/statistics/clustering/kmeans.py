"""The KMeans sweep of the clustering analysis: the ``k`` grid, fitting, assignment, its result types.

On L2-normalised vectors squared Euclidean distance is ``2 - 2 cos``, so Lloyd KMeans clusters
by cosine. KMeans is fitted with one initialisation on a seeded sample of rows
(:func:`_fit_kmeans`; k-means++ or random rows by :func:`kmeans_init`), then every row is
assigned to its nearest centre in row blocks (:func:`_assign`). The ``k`` values come from
:func:`k_grid`; the few shown as silhouette diagrams and PCA scatters from :func:`_diagram_ks`.
The sweep itself runs in :func:`analysis.statistics.clustering.clustering.analyze_clustering`, which
also scores every ``k``; :func:`kmeans_init` is also the rule of the pseudo-label KMeans of
:func:`analysis.statistics.classifiers.pseudo_labels.pseudo_labels`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from analysis.statistics.search.centre_search import CentreSearch, nearest_centre, use_index
from analysis.statistics.clustering.scores import ExternalScores
from analysis.statistics.clustering.params import ClusteringParams


@dataclass(frozen=True, eq=False)
class KMeansSweep:
    """Per-``k`` arrays of the KMeans sweep, aligned with ``k``."""

    k: np.ndarray
    inertia: np.ndarray  # on every row
    distortion: np.ndarray  # inertia / n_samples
    silhouette: np.ndarray
    davies_bouldin: np.ndarray
    calinski_harabasz: np.ndarray
    external: tuple[ExternalScores, ...]
    best_silhouette_k: int


@dataclass(frozen=True, eq=False)
class SilhouetteDiagram:
    """Per-sample silhouettes of the sampled rows for one KMeans ``k``."""

    k: int
    values: np.ndarray
    labels: np.ndarray
    score: float


@dataclass(frozen=True, eq=False)
class ClusterMap:
    """2-D PCA of sampled rows with their KMeans cluster for each diagram ``k``."""

    points: np.ndarray  # (m, 2)
    ks: tuple[int, ...]
    labels: tuple[np.ndarray, ...]  # one (m,) array per k
    true_labels: np.ndarray  # (m,)
    variance: tuple[float, float]


def k_grid(n_identities: int, n_samples: int, params: ClusteringParams) -> np.ndarray:
    """The sorted ``k`` values of the sweep, clipped to ``[2, n_samples - 1]``."""
    if params.k_values:
        ks = list(params.k_values)
    else:
        span = np.linspace(params.k_low * n_identities, params.k_high * n_identities, params.n_k)
        ks = [*params.small_k, *np.round(span).astype(int), n_identities]
    ks = np.unique(np.clip(np.asarray(ks, dtype=np.int64), 2, max(2, n_samples - 1)))
    return ks


def kmeans_init(k: int, n_fit: int, params: ClusteringParams) -> str:
    """The KMeans ``init`` used for ``k`` clusters on ``n_fit`` rows (see ``ClusteringParams.kmeans_init``)."""
    if params.kmeans_init != "auto":
        return params.kmeans_init
    return "k-means++" if k * n_fit <= params.kmeans_pp_max_work else "random"


def _fit_kmeans(x_fit: np.ndarray, k: int, params: ClusteringParams, random_state: int):
    from sklearn.cluster import KMeans, MiniBatchKMeans

    init = kmeans_init(k, len(x_fit), params)
    if params.minibatch:
        model = MiniBatchKMeans(
            n_clusters=k, init=init, n_init=params.kmeans_n_init, max_iter=params.kmeans_max_iter, batch_size=4096,
            init_size=max(3 * k, 3 * 4096) if 3 * k < len(x_fit) else None, random_state=random_state,
        )
    else:
        model = KMeans(n_clusters=k, init=init, n_init=params.kmeans_n_init, algorithm="lloyd", max_iter=params.kmeans_max_iter,
                       random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on duplicate points: recorded via n_clusters
        model.fit(x_fit)
    return model


def _assign(x: np.ndarray, centres: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, float]:
    """Nearest centre of every row and the inertia, in row blocks (memory ``chunk * k``)."""
    labels = np.empty(len(x), dtype=np.int64)
    inertia = 0.0
    c_sq = np.einsum("ij,ij->i", centres, centres)
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk]
        d2 = np.einsum("ij,ij->i", block, block)[:, None] - 2.0 * block @ centres.T + c_sq[None, :]
        labels[start : start + chunk] = d2.argmin(axis=1)
        inertia += float(np.maximum(d2.min(axis=1), 0.0).sum())
    return labels, inertia


def assign(x: np.ndarray, centres: np.ndarray, exact_max_rows: int, random_state: int = 0,
           ) -> tuple[np.ndarray, float, CentreSearch | None]:
    """Nearest centre of every row and the inertia: exact (:func:`_assign`) up to ``exact_max_rows``
    rows or with fewer than 1,024 centres, else through a FAISS index of the centres with its
    measured agreement (:func:`analysis.statistics.search.centre_search.nearest_centre`)."""
    if not use_index(len(x), len(centres), exact_max_rows):
        labels, inertia = _assign(x, centres)
        return labels, inertia, None
    labels, d2, search = nearest_centre(x, centres, random_state)
    return labels, float(d2.sum()), search


def _diagram_ks(ks: np.ndarray, n_id: int, n_diagrams: int) -> tuple[int, ...]:
    """Up to ``n_diagrams`` k values: the one closest to the identity count, then the smallest ks and the largest."""
    if n_diagrams == 0:
        return ()
    true_k = int(ks[np.argmin(np.abs(ks - n_id))])
    chosen = [true_k]
    for k in (int(ks[0]), int(ks[-1]), *map(int, ks)):
        if len(chosen) >= n_diagrams:
            break
        if k not in chosen:
            chosen.append(k)
    return tuple(sorted(chosen))
