"""Clustering analyses: KMeans sweep, DBSCAN, agglomerative, HDBSCAN, scored against identities.

Everything runs on L2-normalised vectors, where squared Euclidean distance is ``2 - 2 cos``: the
Euclidean methods (KMeans, Ward) and the cosine geometry the networks were trained for agree.

* **KMeans sweep** over ``k`` (by default small ``k`` values plus a grid spanning half to one and
  a half times the number of identities): distortion (mean squared distance to the nearest
  centre), inertia, silhouette, Davies-Bouldin, Calinski-Harabasz and the external metrics
  against the identity labels. The KMeans at ``k = n_identities`` gives the pseudo-labels that
  the classifiers analysis trains on (:attr:`ClusteringResult.pseudo_labels`).
* **DBSCAN** with an ``eps`` sweep and the k-distance curve (``eps`` chosen without labels:
  the sweep value giving the most clusters),
  **agglomerative** clustering (ward, average, complete, single) cut at the number of
  identities, with a dendrogram, and **HDBSCAN** (:class:`sklearn.cluster.HDBSCAN`).
* For each method at its chosen setting: external metrics (purity, ARI, NMI, AMI, pairwise and
  BCubed precision/recall/F) and internal metrics (silhouette, Davies-Bouldin,
  Calinski-Harabasz, Dunn); the noise fraction for density methods. Noise points count as
  singleton clusters in the external metrics and are left out of the internal ones.

Cost control, recorded in :class:`Sampling` and stated on the page: KMeans is fitted with
``n_init = kmeans_n_init`` (default 4, lowest inertia kept; Lloyd, float32) on at most ``kmeans_max_samples`` seeded rows and then assigns
every row; silhouettes and Dunn indices use one distance matrix between
``silhouette_sample_size`` seeded rows; agglomerative, DBSCAN and HDBSCAN share one distance
matrix between the rows of seeded whole identities totalling at most ``max_samples`` rows
(density methods need an identity's images together). Davies-Bouldin and Calinski-Harabasz
(``O(n d)``) always use every row.

The KMeans machinery (``k`` grid, fitting, assignment) is in :mod:`analysis.statistics.clustering.kmeans`,
the external and internal scores in :mod:`analysis.statistics.clustering.scores` and the
``[clustering]`` table in :mod:`analysis.statistics.clustering.params`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.statistics.pca_solver import pca as pca_by_shape
from analysis.statistics.clustering import metrics
from analysis.statistics.clustering.scores import InternalScores, MethodScores, _n_clusters_ok, external_scores, internal_scores
from analysis.statistics.clustering.params import ClusteringParams
from analysis.statistics.search.centre_search import CentreSearch
from analysis.statistics.clustering.kmeans import ClusterMap, KMeansSweep, SilhouetteDiagram, _diagram_ks, _fit_kmeans, assign, k_grid, kmeans_init
from analysis.statistics.search.large_sets import davies_bouldin_calinski_harabasz_blocks, group_sums_blocks
from analysis.types import EmbeddingSet


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class DBSCANSweep:
    """DBSCAN over ``eps`` on the density sample, with the k-distance curve."""

    min_samples: int
    k_distance: np.ndarray  # sorted distance of every sampled row to its min_samples-th neighbour
    eps: np.ndarray
    n_clusters: np.ndarray
    noise_fraction: np.ndarray
    ari: np.ndarray
    nmi: np.ndarray
    bcubed_f: np.ndarray
    chosen_eps: float


@dataclass(frozen=True, eq=False)
class Dendrogram:
    """Ward linkage of the identity centroids (scipy format), for a truncated dendrogram."""

    linkage: np.ndarray
    names: np.ndarray


@dataclass(frozen=True)
class Sampling:
    """How many rows each computation used (all rows when equal to ``n_samples``)."""

    n_samples: int
    kmeans_fit_rows: int
    silhouette_rows: int
    density_rows: int
    kmeans_algorithm: str
    # Above [clustering] assign_exact_max_rows: (k, search) of each k assigned through the centre index.
    assignment: tuple[tuple[int, CentreSearch], ...] = ()
    dendrogram_identities: int = 0  # identities in the dendrogram when sampled (0: all)
    max_k: int = 0  # large sets: the sweep's k capped at fitted rows / LARGE_FIT_ROWS_PER_CLUSTER (0: no cap)


@dataclass(frozen=True, eq=False)
class ClusteringResult:
    """Result of :func:`analyze_clustering`.

    ``pseudo_labels`` are the KMeans clusters at ``pseudo_k`` (the number of identities, or the
    closest ``k`` the data allow), an int64 array aligned with the rows of the input set.
    ``skipped`` lists methods not run, with the reason.
    """

    n_samples: int
    n_dims: int
    n_identities: int
    sweep: KMeansSweep
    methods: tuple[MethodScores, ...]
    pseudo_labels: np.ndarray
    pseudo_k: int
    diagrams: tuple[SilhouetteDiagram, ...]
    cluster_map: ClusterMap
    dbscan: DBSCANSweep | None
    dendrogram: Dendrogram | None
    sampling: Sampling
    skipped: tuple[str, ...]
    params: ClusteringParams

    def method(self, name: str) -> MethodScores:
        for m in self.methods:
            if m.method == name:
                return m
        raise KeyError(f"no method {name!r}; available: {', '.join(m.method for m in self.methods)}")


#: Large sets (above ``assign_exact_max_rows``): fitted rows per cluster at the largest ``k`` of the sweep.
LARGE_FIT_ROWS_PER_CLUSTER = 10


# --------------------------------------------------------------------------- helpers
def _distances(x: np.ndarray) -> np.ndarray:
    """Square Euclidean distance matrix (float64, zero diagonal) of a sample of rows."""
    from sklearn.metrics import pairwise_distances

    d = pairwise_distances(x.astype(np.float64))
    np.fill_diagonal(d, 0.0)
    return d


def identity_sample(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted rows of whole identities, taken in seeded random order until ``size`` rows.

    Density and hierarchical methods need the images of an identity together: a row sample
    of 10% leaves three images per identity, below any sensible ``min_samples``. At least two
    identities are kept whatever their size.
    """
    if len(labels) <= size:
        return np.arange(len(labels))
    counts = np.bincount(labels)
    order = rng.permutation(np.flatnonzero(counts))
    total = np.cumsum(counts[order])
    keep = order[: max(2, int(np.searchsorted(total, size, side="right")))]
    return np.flatnonzero(np.isin(labels, keep))


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted seeded sample of ``min(n, size)`` row positions (all rows when ``n <= size``)."""
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def _noise_as_singletons(labels: np.ndarray) -> np.ndarray:
    out = labels.astype(np.int64).copy()
    noise = out < 0
    out[noise] = out.max(initial=-1) + 1 + np.arange(noise.sum())
    return out


def _density_scores(method, setting, xs, ys, labels, dist, sampled) -> MethodScores:
    noise = labels < 0
    keep = np.flatnonzero(~noise)
    n_clusters = len(np.unique(labels[keep]))
    internal = (
        internal_scores(xs[keep], labels[keep], dist[np.ix_(keep, keep)], np.arange(len(keep)))
        if len(keep) >= 3 and n_clusters >= 2
        else InternalScores(np.nan, np.nan, np.nan, np.nan)
    )
    return MethodScores(
        method=method, setting=setting, n_clusters=n_clusters, noise_fraction=float(noise.mean()),
        n_evaluated=len(labels), sampled=sampled,
        external=external_scores(ys, _noise_as_singletons(labels)), internal=internal,
    )


def _centroids(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    return (metrics.group_sums(x, y, k) / np.bincount(y, minlength=k)[:, None]).astype(np.float32)


# --------------------------------------------------------------------------- main
def analyze_clustering(emb: EmbeddingSet, params: ClusteringParams, random_state: int = 0) -> ClusteringResult:
    """Cluster the L2-normalised embeddings and score every clustering against the identities.

    Parameters
    ----------
    emb : EmbeddingSet
        At least 2 identities and 4 rows.
    params : ClusteringParams
    random_state : int, default=0
        Seed of every sample and of KMeans.

    Returns
    -------
    ClusteringResult

    Raises
    ------
    ValueError
        With fewer than 2 identities or 4 rows.
    """
    from sklearn.cluster import HDBSCAN

    names = emb.identity_names
    n = emb.n_samples
    if len(names) < 2:
        raise ValueError(f"clustering needs at least 2 identities, got {len(names)}; choose a larger subset")
    if n < 4:
        raise ValueError(f"clustering needs at least 4 embeddings, got {n}; choose a larger subset")
    x = emb.normalized()
    # Above the size threshold a float64 copy (4 GB at 1M x 512) would not fit beside the data:
    # Davies-Bouldin and Calinski-Harabasz then run by row blocks (same definitions).
    large = bool(params.assign_exact_max_rows) and n > params.assign_exact_max_rows
    # Davies-Bouldin and Calinski-Harabasz sum in float64: convert once, not once per clustering.
    x64 = None if large else x.astype(np.float64)

    def db_ch(labels: np.ndarray) -> tuple[float, float]:
        if large:
            return davies_bouldin_calinski_harabasz_blocks(x, labels)
        return metrics.davies_bouldin_calinski_harabasz(x64, labels)
    y = emb.labels
    n_id = len(names)
    rng = np.random.default_rng(random_state)
    skipped: list[str] = []

    # ---- KMeans sweep: fit on a sample, assign every row
    fit_rows = _sample(n, params.kmeans_max_samples, rng)
    sil_rows = _sample(n, params.silhouette_sample_size, rng)
    sil_dist = _distances(x[sil_rows])
    # Above the size threshold, at least LARGE_FIT_ROWS_PER_CLUSTER fitted rows per cluster: k near the
    # fit sample's size is a degenerate clustering (one row per centre) whose assignment of a million
    # rows is a nearest-neighbour search in disguise (measured at 1M: 400 s for k = 9,999).
    ks = k_grid(n_id, len(fit_rows) // LARGE_FIT_ROWS_PER_CLUSTER if large else len(fit_rows), params)
    pseudo_k = int(ks[np.argmin(np.abs(ks - n_id))])
    diagram_ks = _diagram_ks(ks, n_id, params.n_diagrams)
    inertia, sil, db, ch, ext = [], [], [], [], []
    assignments: dict[int, np.ndarray] = {}
    searches: list[tuple[int, CentreSearch]] = []
    diagrams = []
    for k in ks:
        model = _fit_kmeans(x[fit_rows], int(k), params, random_state)
        labels, inert, search = assign(x, model.cluster_centers_.astype(np.float32), params.assign_exact_max_rows,
                                       random_state)
        if search is not None:
            searches.append((int(k), search))
        inertia.append(inert)
        ext.append(external_scores(y, labels))
        ok = _n_clusters_ok(labels)
        db_k, ch_k = db_ch(labels) if ok else (np.nan, np.nan)
        db.append(db_k)
        ch.append(ch_k)
        if _n_clusters_ok(labels[sil_rows]):
            values = metrics.silhouette_samples(sil_dist, labels[sil_rows], metric="precomputed")
            sil.append(float(values.mean()))
            if int(k) in diagram_ks:
                diagrams.append(SilhouetteDiagram(int(k), values.astype(np.float32), labels[sil_rows], float(values.mean())))
        else:
            sil.append(np.nan)
        if int(k) in diagram_ks or int(k) == pseudo_k:
            assignments[int(k)] = labels
    sil_arr = np.asarray(sil)
    best_k = int(ks[np.nanargmax(sil_arr)]) if np.isfinite(sil_arr).any() else pseudo_k
    sweep = KMeansSweep(
        k=ks, inertia=np.asarray(inertia), distortion=np.asarray(inertia) / n, silhouette=sil_arr,
        davies_bouldin=np.asarray(db), calinski_harabasz=np.asarray(ch), external=tuple(ext), best_silhouette_k=best_k,
    )
    pseudo_labels = assignments[pseudo_k]
    inits = sorted({kmeans_init(int(k), len(fit_rows), params) for k in ks})
    algo = (f"{'MiniBatchKMeans' if params.minibatch else 'KMeans (Lloyd)'}, {params.kmeans_n_init} initialisation(s) "
            f"(n_init, lowest inertia kept), init {' / '.join(inits)}")
    methods = [
        MethodScores(
            method="kmeans", setting=f"k={pseudo_k}", n_clusters=len(np.unique(pseudo_labels)), noise_fraction=0.0,
            n_evaluated=n, sampled=len(fit_rows) < n, external=ext[int(np.flatnonzero(ks == pseudo_k)[0])],
            internal=internal_scores(x64, pseudo_labels, sil_dist, sil_rows,
                                     db_ch=(db[int(np.flatnonzero(ks == pseudo_k)[0])],
                                            ch[int(np.flatnonzero(ks == pseudo_k)[0])]) if large else None),
        )
    ]

    # ---- 2-D map coloured by cluster
    pca = pca_by_shape(2, len(sil_rows), x.shape[1]).fit(x[sil_rows])
    cmap = ClusterMap(
        points=pca.transform(x[sil_rows]).astype(np.float32),
        ks=tuple(d.k for d in diagrams),
        labels=tuple(assignments[d.k][sil_rows] for d in diagrams),
        true_labels=y[sil_rows],
        variance=(float(pca.explained_variance_ratio_[0]), float(pca.explained_variance_ratio_[1])),
    )

    # ---- density and hierarchical methods on a seeded sample of whole identities, one distance matrix
    dens_rows = identity_sample(y, params.max_samples, rng)
    xs, ys = x[dens_rows], y[dens_rows]
    sampled = len(dens_rows) < n
    dist = _distances(xs) if params.dbscan or params.agglomerative or params.hdbscan else None
    k_s = max(2, min(len(np.unique(ys)), len(xs) - 1))
    dbscan_sweep = None
    if params.dbscan:
        if len(xs) <= params.dbscan_min_samples + 1:
            skipped.append(f"DBSCAN: {len(xs)} rows, need more than min_samples + 1 = {params.dbscan_min_samples + 1}")
        else:
            dbscan_sweep, best = _dbscan(dist, ys, params)
            methods.append(_density_scores("dbscan", f"eps={dbscan_sweep.chosen_eps:.3f}, min_samples={params.dbscan_min_samples}",
                                           xs, ys, best, dist, sampled))
    else:
        skipped.append("DBSCAN: switched off (dbscan = false)")
    if params.agglomerative:
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import squareform

        condensed = squareform(dist, checks=False)
        all_rows = np.arange(len(xs))
        for method in params.linkages:
            # Ward from Euclidean distances equals Ward on the vectors (Lance-Williams update).
            z = linkage(condensed, method=method)
            labels = fcluster(z, t=k_s, criterion="maxclust").astype(np.int64) - 1
            methods.append(MethodScores(
                method=f"agglomerative-{method}", setting=f"{method} linkage, cut at {k_s} clusters",
                n_clusters=len(np.unique(labels)), noise_fraction=0.0, n_evaluated=len(xs), sampled=sampled,
                external=external_scores(ys, labels), internal=internal_scores(xs, labels, dist, all_rows),
            ))
    else:
        skipped.append("agglomerative: switched off (agglomerative = false)")
    if params.hdbscan:
        if len(xs) < 2 * params.hdbscan_min_cluster_size:
            skipped.append(f"HDBSCAN: {len(xs)} rows, need at least 2 * min_cluster_size")
        else:
            labels = HDBSCAN(min_cluster_size=params.hdbscan_min_cluster_size, min_samples=params.dbscan_min_samples,
                             metric="precomputed", copy=True).fit_predict(dist)
            methods.append(_density_scores("hdbscan", f"min_cluster_size={params.hdbscan_min_cluster_size}",
                                           xs, ys, labels, dist, sampled))
    else:
        skipped.append("HDBSCAN: switched off (hdbscan = false)")

    # ---- dendrogram of identity centroids (one leaf per identity, truncated when drawn)
    dendrogram = None
    dendro_ids = 0
    if n_id >= 3:
        from scipy.cluster.hierarchy import linkage

        if n_id > params.dendrogram_max_identities:
            # Ward's distance matrix grows as k^2: a seeded sample of identities (stated on the page).
            chosen = np.sort(np.random.default_rng(random_state + 7).choice(n_id, params.dendrogram_max_identities,
                                                                            replace=False))
            sums = group_sums_blocks(x, y, n_id)[chosen]
            cent = (sums / np.bincount(y, minlength=n_id)[chosen][:, None]).astype(np.float32)
            dendrogram = Dendrogram(linkage(cent.astype(np.float64), method="ward"), names[chosen])
            dendro_ids = len(chosen)
        else:
            dendrogram = Dendrogram(linkage(_centroids(x, y, n_id).astype(np.float64), method="ward"), names)

    return ClusteringResult(
        n_samples=n, n_dims=emb.n_dims, n_identities=n_id, sweep=sweep, methods=tuple(methods),
        pseudo_labels=pseudo_labels, pseudo_k=pseudo_k, diagrams=tuple(diagrams), cluster_map=cmap,
        dbscan=dbscan_sweep, dendrogram=dendrogram,
        sampling=Sampling(n_samples=n, kmeans_fit_rows=len(fit_rows), silhouette_rows=len(sil_rows),
                          density_rows=len(dens_rows), kmeans_algorithm=algo, assignment=tuple(searches),
                          dendrogram_identities=dendro_ids,
                          max_k=len(fit_rows) // LARGE_FIT_ROWS_PER_CLUSTER - 1 if large else 0),
        skipped=tuple(skipped), params=params,
    )


def _dbscan(dist: np.ndarray, ys: np.ndarray, params: ClusteringParams) -> tuple[DBSCANSweep, np.ndarray]:
    """DBSCAN over eps on a precomputed distance matrix; eps chosen without labels.

    The chosen eps is the one of the sweep giving the most clusters (ties: the smallest eps), a
    label-free rule that also works when the knee of the k-distance curve sits among impostor
    distances (identities with fewer than ``min_samples`` images).
    """
    from sklearn.cluster import DBSCAN

    ms = params.dbscan_min_samples
    # k-distance: distance to the ms-th nearest row counting the row itself, as DBSCAN counts it
    # in min_samples: the radius at which the row becomes a core point.
    kd = np.sort(np.partition(dist, ms - 1, axis=1)[:, ms - 1])
    eps_values = (
        np.asarray(params.dbscan_eps, dtype=np.float64)
        if params.dbscan_eps
        else np.unique(np.round(np.quantile(kd, np.linspace(0.05, 0.95, 10)), 4))
    )
    eps_values = np.unique(eps_values[eps_values > 0])
    if not len(eps_values):
        eps_values = np.array([0.5])
    rows, all_labels = [], []
    for eps in eps_values:
        labels = DBSCAN(eps=float(eps), min_samples=ms, metric="precomputed").fit_predict(dist)
        e = external_scores(ys, _noise_as_singletons(labels))
        rows.append((len(np.unique(labels[labels >= 0])), float((labels < 0).mean()), e.ari, e.nmi, e.bcubed_f))
        all_labels.append(labels)
    arr = np.asarray(rows, dtype=np.float64)
    best = int(np.argmax(arr[:, 0]))  # first maximum: smallest eps
    sweep = DBSCANSweep(
        min_samples=ms, k_distance=kd.astype(np.float32), eps=eps_values, n_clusters=arr[:, 0].astype(np.int64),
        noise_fraction=arr[:, 1], ari=arr[:, 2], nmi=arr[:, 3], bcubed_f=arr[:, 4], chosen_eps=float(eps_values[best]),
    )
    return sweep, all_labels[best]
