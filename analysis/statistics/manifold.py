"""2-D maps of the embedding space: PCA, t-SNE, UMAP, with trustworthiness.

Every map is computed on L2-normalised vectors (the space face-recognition scores live in) of a
seeded sample of at most ``max_samples`` rows, so that t-SNE and UMAP stay tractable on large
datasets: the default cap of 5,000 rows keeps the whole analysis of a 40,000-image cell within
about a minute on two cores. Each map carries its trustworthiness [1]_ (are the 2-D neighbours of
a point also neighbours in the full space?), measured on a further seeded sample because the
measure is quadratic in the number of points.

Besides the identity labels, the t-SNE and UMAP maps are coloured by a KMeans clustering of the
same sample in the full space (``k`` = number of identities in the sample, seeded, ``n_init=1``;
k-means++ seeding up to 150 clusters, random seeding above, see ``kmeans_init``),
so that a reader can see where the unsupervised partition and the identities disagree.

Determinism: PCA (covariance eigendecomposition) and t-SNE (openTSNE [2]_ with exact neighbours below 10,000 sampled
rows and a fixed seed) give byte-identical coordinates for the same input and seed. UMAP [3]_ with
a ``random_state`` runs single-threaded so that its stochastic gradient descent is reproducible;
its coordinates are additionally rounded to ``round_decimals`` decimals so that floating-point
noise in the last bits cannot change the stored result.

References
----------
.. [1] Venna, Kaski. "Neighborhood preservation in nonlinear projection methods: an
   experimental study." ICANN 2001. (``sklearn.manifold.trustworthiness``)
.. [2] Policar, Strazar, Zupan. "openTSNE: a modular Python library for t-SNE dimensionality
   reduction and embedding." Journal of Statistical Software 109 (2024).
.. [3] McInnes, Healy, Melville. "UMAP: Uniform Manifold Approximation and Projection for
   Dimension Reduction." arXiv:1802.03426 (2018).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from analysis.statistics.pca_solver import pca as pca_by_shape
from analysis.types import EmbeddingSet

METHODS = ("pca", "tsne", "umap")
METHOD_TITLES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


@dataclass(frozen=True)
class ManifoldParams:
    """The ``[manifold]`` table.

    Parameters
    ----------
    enabled : bool, default=True
    tsne, umap : bool, default=True
        Compute the t-SNE / UMAP maps (PCA is always computed: it is cheap).
    max_samples : int, default=5000
        Rows (seeded sample) mapped. t-SNE and UMAP cost grows with it; 5,000 maps a
        40,000-image cell in about a minute on two cores.
    perplexity : float, default=30
        t-SNE perplexity (capped at (n - 1) / 3 for small samples).
    tsne_iterations : int, default=500
        t-SNE optimisation iterations after the 250 early-exaggeration ones.
    umap_neighbors : int, default=15
    umap_min_dist : float, default=0.1
    trust_neighbors : int, default=10
        Neighbourhood size of the trustworthiness measure.
    trust_samples : int, default=2000
        Points (seeded sample of the mapped rows) on which trustworthiness is measured; it is
        O(n^2) in time and memory.
    n_jobs : int, default=1
        Threads of t-SNE (UMAP is single-threaded when seeded).
    round_decimals : int, default=6
        Decimals kept in the UMAP coordinates (see module docstring).
    kmeans_init : {"auto", "k-means++", "random"}, default="auto"
        Seeding of the KMeans clustering that colours the maps. k-means++ gives better
        clusters but its seeding dominates the cost when ``k`` is large (68 s for k = 1,085 on
        5,000 rows against 2 s for random seeding); ``auto`` uses k-means++ up to
        ``kmeans_plusplus_max_k`` clusters and random seeding above.
    kmeans_plusplus_max_k : int, default=150
    """

    enabled: bool = True
    tsne: bool = True
    umap: bool = True
    max_samples: int = 5000
    perplexity: float = 30.0
    tsne_iterations: int = 500
    umap_neighbors: int = 15
    umap_min_dist: float = 0.1
    trust_neighbors: int = 10
    trust_samples: int = 2000
    n_jobs: int = 1
    round_decimals: int = 6
    kmeans_init: Literal["auto", "k-means++", "random"] = "auto"
    kmeans_plusplus_max_k: int = 150

    def __post_init__(self) -> None:
        if self.max_samples < 10:
            raise ValueError(f"max_samples must be at least 10, got {self.max_samples}")
        if self.perplexity <= 0 or self.tsne_iterations < 1:
            raise ValueError("perplexity must be positive and tsne_iterations at least 1")
        if self.umap_neighbors < 2 or not 0 <= self.umap_min_dist <= 1:
            raise ValueError("umap_neighbors must be >= 2 and umap_min_dist in [0, 1]")
        if self.trust_neighbors < 1 or self.trust_samples < 10:
            raise ValueError("trust_neighbors must be >= 1 and trust_samples >= 10")
        if self.n_jobs < 1 or self.round_decimals < 0:
            raise ValueError("n_jobs must be >= 1 and round_decimals >= 0")
        if self.kmeans_init not in ("auto", "k-means++", "random"):
            raise ValueError(f"kmeans_init must be 'auto', 'k-means++' or 'random', got {self.kmeans_init!r}")


@dataclass(frozen=True, eq=False)
class ManifoldMap:
    """One 2-D map.

    Attributes
    ----------
    method : str
        ``"pca"``, ``"tsne"`` or ``"umap"``.
    coords : ndarray of shape (n_mapped, 2), float32
        Rows aligned with :attr:`ManifoldResult.sample_index`.
    trustworthiness : float
        In [0, 1]; 1 means every 2-D neighbour is a true neighbour.
    explained_variance : tuple of float
        PCA only: variance ratio of the two axes; empty otherwise.
    """

    method: str
    coords: np.ndarray
    trustworthiness: float
    explained_variance: tuple[float, ...] = ()

    @property
    def title(self) -> str:
        return METHOD_TITLES[self.method]


@dataclass(frozen=True, eq=False)
class ManifoldResult:
    """Result of :func:`analyze_manifold`.

    Attributes
    ----------
    n_samples, n_dims, n_identities : int
        Of the whole input.
    sample_index : ndarray of shape (n_mapped,)
        Rows of the input that were mapped (sorted).
    labels : ndarray of shape (n_mapped,)
        Identity label codes of the mapped rows (indices into ``names``).
    names : ndarray of shape (n_identities,)
        Sorted identity names of the input.
    clusters : ndarray of shape (n_mapped,)
        KMeans cluster of each mapped row (full space).
    n_clusters : int
    kmeans_init : str
        Seeding actually used (``"k-means++"`` or ``"random"``).
    cluster_ari : float
        Adjusted Rand index between the KMeans clusters and the identities of the sample.
    maps : tuple of ManifoldMap
        PCA first, then t-SNE and UMAP when enabled and not skipped.
    trust_samples : int
        Points the trustworthiness was measured on.
    skipped : tuple of str
        One sentence per map that was not computed and why.
    params : ManifoldParams
    """

    n_samples: int
    n_dims: int
    n_identities: int
    sample_index: np.ndarray
    labels: np.ndarray
    names: np.ndarray
    clusters: np.ndarray
    n_clusters: int
    kmeans_init: str
    cluster_ari: float
    maps: tuple[ManifoldMap, ...]
    trust_samples: int
    skipped: tuple[str, ...]
    params: ManifoldParams

    def get(self, method: str) -> ManifoldMap | None:
        """The map of ``method``, or None when it was not computed."""
        return next((m for m in self.maps if m.method == method), None)


def seeded_sample(n: int, size: int, random_state: int) -> np.ndarray:
    """Sorted positions of a seeded sample of ``min(n, size)`` rows out of ``n``."""
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=size, replace=False))


def pca_map(x: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """2-D PCA (deterministic) and the variance ratio of both axes.

    The eigendecomposition of the d x d covariance rather than an SVD of the n x d rows: same
    axes, and on 5,000 x 512 rows 0.1 s instead of several seconds (and 18 s on a loaded
    machine, where the LAPACK SVD suffered most from competing threads).
    """
    pca = pca_by_shape(2, x.shape[0], x.shape[1])  # covariance route for tall data, SVD for wide
    coords = pca.fit_transform(x.astype(np.float64))
    # Axis signs are fixed by scikit-learn's svd_flip, so the map does not flip between runs.
    return coords.astype(np.float32), (float(pca.explained_variance_ratio_[0]), float(pca.explained_variance_ratio_[1]))


def tsne_map(x: np.ndarray, params: ManifoldParams, random_state: int) -> np.ndarray:
    """2-D t-SNE with openTSNE, PCA initialisation and a fixed seed.

    Raises
    ------
    ImportError
        When openTSNE is missing (``pip install openTSNE``).
    """
    try:
        from openTSNE import TSNE
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise ImportError("t-SNE maps need openTSNE: pip install openTSNE, or set tsne = false in [manifold]") from exc
    n = len(x)
    perplexity = float(min(params.perplexity, max(1.0, (n - 1) / 3.0)))
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        n_iter=params.tsne_iterations,
        initialization="pca",
        metric="euclidean",  # on unit vectors, Euclidean neighbours are cosine neighbours
        neighbors="exact" if n <= 10_000 else "annoy",
        n_jobs=params.n_jobs,
        random_state=random_state,
        verbose=False,
    )
    return np.asarray(tsne.fit(x.astype(np.float64)), dtype=np.float32)


def _cache_umap_kernels() -> int:
    """Let numba keep umap-learn's compiled kernels on disk; returns how many were switched.

    umap-learn compiles its numba kernels without ``cache=True``, so every process paid about
    6 s of compilation before its first map (measured: a 2,073-row map took 9.0 s in a fresh
    process, 3.2 s once the kernels came from numba's cache), and each analysis worker is a fresh
    process. ``Dispatcher.enable_caching`` is what ``cache=True`` does; numba keys the cache by
    the kernel's source file and the CPU, so it never serves stale code. The machine code is the
    same either way, so the maps are too. Best effort: if numba's API changes, UMAP compiles as
    before.
    """
    try:
        import umap.layouts
        import umap.umap_
        from numba.core.caching import NullCache
        from numba.core.registry import CPUDispatcher
    except ImportError:  # pragma: no cover - optional speed-up only
        return 0
    switched = 0
    for module in (umap.layouts, umap.umap_):
        for obj in list(vars(module).values()):
            if isinstance(obj, CPUDispatcher) and isinstance(getattr(obj, "_cache", None), NullCache):
                try:
                    obj.enable_caching()
                    switched += 1
                except Exception:  # pragma: no cover - e.g. no writable cache location: compile in memory
                    pass
    return switched


def umap_map(x: np.ndarray, params: ManifoldParams, random_state: int) -> np.ndarray:
    """2-D UMAP with a fixed seed (single-threaded, reproducible), rounded coordinates.

    Raises
    ------
    ImportError
        When umap-learn is missing (``pip install umap-learn``).
    """
    try:
        import umap
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise ImportError("UMAP maps need umap-learn: pip install umap-learn, or set umap = false in [manifold]") from exc
    _cache_umap_kernels()
    n_neighbors = int(min(params.umap_neighbors, len(x) - 1))
    # Exact neighbours from scikit-learn (self included first, as UMAP expects): deterministic,
    # and it spares the numba compilation of pynndescent, which UMAP would otherwise use above
    # 4,096 rows (about two minutes on a loaded 2-core machine, more than the map itself).
    from sklearn.neighbors import NearestNeighbors

    dist, idx = NearestNeighbors(n_neighbors=n_neighbors, algorithm="brute").fit(x).kneighbors(x)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        min_dist=params.umap_min_dist,
        metric="euclidean",
        random_state=random_state,
        n_jobs=1,
        init="spectral",
        precomputed_knn=(idx, dist.astype(np.float32), None),
    )
    with warnings.catch_warnings():
        # "n_jobs value 1 overridden to 1 by setting random_state": expected, we want that.
        warnings.simplefilter("ignore", UserWarning)
        coords = reducer.fit_transform(x.astype(np.float32))
    return np.round(np.asarray(coords, dtype=np.float64), params.round_decimals).astype(np.float32)


def analyze_manifold(emb: EmbeddingSet, params: ManifoldParams, random_state: int = 0) -> ManifoldResult:
    """PCA, t-SNE and UMAP maps of L2-normalised embeddings, with trustworthiness.

    Parameters
    ----------
    emb : EmbeddingSet
        At least 2 identities and 10 rows.
    params : ManifoldParams
    random_state : int, default=0
        Seed of the samples, the KMeans clustering, t-SNE and UMAP.

    Returns
    -------
    ManifoldResult
        Same input and seed give byte-identical coordinates.
    """
    from sklearn.cluster import KMeans
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import adjusted_rand_score

    names = emb.identity_names
    if len(names) < 2:
        raise ValueError(f"manifold maps need at least 2 identities, got {len(names)}; choose a larger subset")
    if emb.n_samples < 10:
        raise ValueError(f"manifold maps need at least 10 rows, got {emb.n_samples}; choose a larger subset")
    sample = seeded_sample(emb.n_samples, params.max_samples, random_state)
    x = emb.normalized()[sample]
    labels = emb.labels[sample]
    n = len(sample)

    # Trustworthiness needs n_neighbors < n / 2.
    trust_rows = seeded_sample(n, params.trust_samples, random_state + 1)
    trust_k = int(min(params.trust_neighbors, max(1, len(trust_rows) // 2 - 1)))

    def trust(coords: np.ndarray) -> float:
        return float(trustworthiness(x[trust_rows], coords[trust_rows], n_neighbors=trust_k))

    coords, variance = pca_map(x)
    maps = [ManifoldMap("pca", coords, trust(coords), variance)]
    skipped = []
    if params.tsne:
        if n < 4:
            skipped.append(f"t-SNE skipped: {n} rows are too few")
        else:
            coords = tsne_map(x, params, random_state)
            maps.append(ManifoldMap("tsne", coords, trust(coords)))
    else:
        skipped.append("t-SNE switched off (tsne = false in [manifold])")
    if params.umap:
        if n <= 3:
            skipped.append(f"UMAP skipped: {n} rows are too few")
        else:
            coords = umap_map(x, params, random_state)
            maps.append(ManifoldMap("umap", coords, trust(coords)))
    else:
        skipped.append("UMAP switched off (umap = false in [manifold])")

    n_clusters = int(min(len(np.unique(labels)), n))
    init = params.kmeans_init
    if init == "auto":
        init = "k-means++" if n_clusters <= params.kmeans_plusplus_max_k else "random"
    km = KMeans(n_clusters=n_clusters, init=init, n_init=1, random_state=random_state).fit(x)
    clusters = km.labels_.astype(np.int64)
    return ManifoldResult(
        n_samples=emb.n_samples,
        n_dims=emb.n_dims,
        n_identities=len(names),
        sample_index=sample,
        labels=labels,
        names=names,
        clusters=clusters,
        n_clusters=n_clusters,
        kmeans_init=init,
        cluster_ari=float(adjusted_rand_score(labels, clusters)),
        maps=tuple(maps),
        trust_samples=len(trust_rows),
        skipped=tuple(skipped),
        params=params,
    )
