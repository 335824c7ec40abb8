"""The ``[clustering]`` table: settings of the clustering analysis and of its KMeans sweep.

Kept apart from :mod:`analysis.statistics.clustering.clustering`, which runs the analysis, so that
:mod:`analysis.statistics.clustering.kmeans` can read the KMeans settings without importing the analysis
that drives it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LINKAGES = ("ward", "average", "complete", "single")


@dataclass(frozen=True)
class ClusteringParams:
    """The ``[clustering]`` table.

    Parameters
    ----------
    enabled : bool, default=True
    k_values : tuple of int, default=()
        KMeans ``k`` values; empty means automatic: ``small_k`` plus ``n_k`` values spanning
        ``[k_low * n_identities, k_high * n_identities]`` and ``n_identities`` itself.
    small_k : tuple of int, default=(2, 5, 10)
    k_low, k_high : float, default=0.5, 1.5
    n_k : int, default=3
    kmeans_max_iter : int, default=50
    kmeans_max_samples : int, default=10000
        KMeans is fitted on at most this many seeded rows, then every row is assigned.
    minibatch : bool, default=False
        Use :class:`~sklearn.cluster.MiniBatchKMeans` instead of Lloyd KMeans (measured slower
        and less accurate than Lloyd on a 10k sample with k ~ 1000; kept for very large fits).
    kmeans_init : {"auto", "k-means++", "random"}, default="auto"
        ``auto`` uses k-means++ while ``k * fit rows <= kmeans_pp_max_work`` and random rows
        beyond (k-means++ costs ``O(n k d log k)``: minutes for k ~ 1000 on 10k rows).
    kmeans_pp_max_work : int, default=1000000
    kmeans_n_init : int, default=4
        KMeans initialisations per ``k``; the fit with the lowest inertia is kept. One seeded
        initialisation leaves the clustering to the luck of the seeding (ARI 0.930 with one,
        0.94-0.96 with ten on a 9-identity dlib study).
    silhouette_sample_size : int, default=4000
        Silhouette (score, diagrams) and Dunn on this many seeded rows when there are more
        (memory: a float64 square matrix, 128 MB at 4000).
    max_samples : int, default=4000
        Agglomerative, DBSCAN and HDBSCAN run on whole identities drawn in seeded order up to
        this many rows when there are more (same memory note).
    dbscan_min_samples : int, default=4
        DBSCAN ``min_samples``; also the ``k`` of the k-distance curve.
    dbscan_eps : tuple of float, default=()
        ``eps`` values of the sweep (Euclidean on unit vectors); empty means quantiles 5%..95%
        of the k-distance curve.
    hdbscan_min_cluster_size : int, default=4
    linkages : tuple of str, default=("ward", "average", "complete", "single")
    n_diagrams : int, default=3
        ``k`` values shown as silhouette diagrams and PCA scatters.
    dbscan, agglomerative, hdbscan : bool, default=True
        Switch each method off.
    assign_exact_max_rows : int, default=200000
        Above this many rows, assigning every row to its nearest of 1,024 or more KMeans centres
        goes through a FAISS IVF index of the centres, with its agreement with the exact
        assignment measured on seeded rows and stated on the page
        (:mod:`analysis.statistics.search.centre_search`); the Davies-Bouldin and Calinski-Harabasz
        passes then run by row blocks (:mod:`analysis.statistics.search.large_sets`). 0 keeps every
        assignment exact.
    dendrogram_max_identities : int, default=5000
        The Ward dendrogram of identity centroids uses a seeded sample of this many identities
        when there are more (its distance matrix is ``k^2 / 2`` floats: 6.4 GB at 40,000).
    """

    enabled: bool = True
    k_values: tuple[int, ...] = ()
    small_k: tuple[int, ...] = (2, 5, 10)
    k_low: float = 0.5
    k_high: float = 1.5
    n_k: int = 3
    kmeans_max_iter: int = 50
    kmeans_max_samples: int = 10000
    minibatch: bool = False
    kmeans_init: Literal["auto", "k-means++", "random"] = "auto"
    kmeans_pp_max_work: int = 1_000_000
    kmeans_n_init: int = 4
    silhouette_sample_size: int = 4000
    max_samples: int = 4000
    dbscan_min_samples: int = 4
    dbscan_eps: tuple[float, ...] = ()
    hdbscan_min_cluster_size: int = 4
    linkages: tuple[str, ...] = LINKAGES
    n_diagrams: int = 3
    dbscan: bool = True
    agglomerative: bool = True
    hdbscan: bool = True
    assign_exact_max_rows: int = 200_000
    dendrogram_max_identities: int = 5000

    def __post_init__(self) -> None:
        if any(k < 2 for k in (*self.k_values, *self.small_k)):
            raise ValueError("k_values and small_k must be integers >= 2 (KMeans with one cluster says nothing)")
        if not 0 < self.k_low <= 1 <= self.k_high:
            raise ValueError(f"need 0 < k_low <= 1 <= k_high, got k_low={self.k_low}, k_high={self.k_high}")
        if self.kmeans_n_init < 1:
            raise ValueError(f"kmeans_n_init must be >= 1, got {self.kmeans_n_init}")
        if self.n_k < 1 or self.kmeans_max_iter < 1 or self.n_diagrams < 0:
            raise ValueError("n_k >= 1, kmeans_max_iter >= 1 and n_diagrams >= 0 are required")
        for name in ("kmeans_max_samples", "silhouette_sample_size", "max_samples"):
            if getattr(self, name) < 100:
                raise ValueError(f"{name} must be at least 100, got {getattr(self, name)}")
        if self.dbscan_min_samples < 2 or self.hdbscan_min_cluster_size < 2:
            raise ValueError("dbscan_min_samples and hdbscan_min_cluster_size must be at least 2")
        if any(e <= 0 or e > 2 for e in self.dbscan_eps):
            raise ValueError("dbscan_eps values must be in (0, 2] (Euclidean distances between unit vectors)")
        if self.assign_exact_max_rows < 0 or self.dendrogram_max_identities < 3:
            raise ValueError("assign_exact_max_rows must be >= 0 (0: always exact) and dendrogram_max_identities >= 3")
        bad = [m for m in self.linkages if m not in LINKAGES]
        if bad:
            raise ValueError(f"unknown linkage(s) {bad}; valid: {', '.join(LINKAGES)}")
