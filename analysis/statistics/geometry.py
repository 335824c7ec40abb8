"""Per-identity geometry of an embedding space.

For every identity: centroid, radius (max distance to the centroid), dispersion (standard
deviation of the distances to the centroid), mean distance, count, raw norm, and intrinsic
dimension three ways (PCA components above a variance fraction, components reaching 90% / 95% of
the variance, and the sample-size-robust TwoNN estimator). PCA on ``n`` samples has at most
``n - 1`` non-zero components, so a balanced-6 subset can never show more than 5: results say
when that cap binds. Globally: the main direction of the cloud (first principal axis and its
alignment with the mean vector), a 2-D PCA map of samples and centroids, the radius of each
identity in that map, and the centroid cosine-similarity matrix.

Everything is computed on raw vectors and on L2-normalised vectors (``space = "raw" | "l2"``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from analysis.statistics.search.centroid_pairs import matrix_identities
from analysis.statistics.pca_solver import pca as pca_by_shape
from analysis.types import EmbeddingSet, l2_normalize


@dataclass(frozen=True)
class GeometryParams:
    """The ``[geometry]`` table.

    Parameters
    ----------
    variance_threshold : float, default=0.01
        A principal component counts towards the intrinsic dimension when it explains more
        than this fraction of an identity's variance.
    top_n : int, default=5
        Rows of the top/bottom identity tables.
    twonn_min_samples : int, default=20
        Identities with fewer samples get no per-identity TwoNN estimate (it would be noise).
    map_max_points : int, default=5000
        Samples drawn (seeded) for the 2-D map figure.
    matrix_max_identities : int, default=5000
        Above this many identities the centroid cosine matrix covers a seeded sample of this many
        identities (a full float64 matrix is 12.8 GB at 40,000); the page says so.
    """

    enabled: bool = True
    variance_threshold: float = 0.01
    top_n: int = 5
    twonn_min_samples: int = 20
    map_max_points: int = 5000
    matrix_max_identities: int = 5000

    def __post_init__(self) -> None:
        if self.matrix_max_identities < 2:
            raise ValueError(f"matrix_max_identities must be >= 2, got {self.matrix_max_identities}")
        if not 0 < self.variance_threshold < 1:
            raise ValueError("variance_threshold must be in (0, 1)")
        if self.top_n < 1 or self.twonn_min_samples < 3 or self.map_max_points < 10:
            raise ValueError("top_n >= 1, twonn_min_samples >= 3 and map_max_points >= 10 are required")


@dataclass(frozen=True, eq=False)
class IdentityGeometry:
    """Per-identity statistics, arrays aligned with ``names`` (sorted identity names)."""

    names: np.ndarray
    count: np.ndarray
    radius: np.ndarray
    dispersion: np.ndarray
    mean_distance: np.ndarray
    intrinsic_dim: np.ndarray  # PCA components > variance_threshold
    dim90: np.ndarray
    dim95: np.ndarray
    pca_capped: np.ndarray  # bool: intrinsic_dim reached n - 1
    twonn: np.ndarray  # NaN when too few samples
    radius_2d: np.ndarray
    mean_norm: np.ndarray


@dataclass(frozen=True, eq=False)
class SpaceGeometry:
    """Geometry in one space (raw or L2-normalised vectors)."""

    space: str
    identities: IdentityGeometry
    centroids: np.ndarray  # (n_identities, n_dims)
    centroid_cosine: np.ndarray  # (n_identities, n_identities)
    global_twonn: float
    pc1_variance: float  # fraction of total variance along the first principal axis
    mean_pc1_cosine: float  # |cos| between the global mean vector and the first axis
    mean_norm_ratio: float  # |mean vector| / mean |x|: 0 for a centred cloud, 1 for a single direction
    map_points: np.ndarray  # (m, 2) PCA map of sampled rows
    map_labels: np.ndarray  # (m,) label codes of those rows
    map_centroids: np.ndarray  # (n_identities, 2)
    map_variance: tuple[float, float]
    matrix_identities: np.ndarray | None = None  # identity codes centroid_cosine covers (None: all)

    @property
    def matrix_names(self) -> np.ndarray:
        """Names of the rows / columns of ``centroid_cosine``."""
        names = self.identities.names
        return names if self.matrix_identities is None else names[self.matrix_identities]


@dataclass(frozen=True, eq=False)
class GeometryResult:
    """Result of :func:`analyze_geometry`."""

    n_samples: int
    n_dims: int
    n_identities: int
    norms: np.ndarray  # raw L2 norm of every row
    norm_labels: np.ndarray  # label code of every row
    raw: SpaceGeometry
    l2: SpaceGeometry
    params: GeometryParams

    def space(self, name: str) -> SpaceGeometry:
        return {"raw": self.raw, "l2": self.l2}[name]


def twonn_dimension(x: np.ndarray, discard_fraction: float = 0.1) -> float:
    """Intrinsic dimension by the TwoNN maximum-likelihood estimator.

    For each point, ``mu = r2 / r1`` (distances to its second and first nearest neighbours)
    follows a Pareto law with shape ``d``, the intrinsic dimension, so that
    ``-log(1 - F(mu)) = d log(mu)``. As in [1]_, ``d`` is the slope through the origin of that
    line fitted on the empirical distribution after dropping the largest ``discard_fraction``
    of ratios, which come from points in sparse regions. Duplicate points (``r1 = 0``) are
    ignored.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_dims)
    discard_fraction : float, default=0.1

    Returns
    -------
    float
        The estimate, or NaN with fewer than 3 distinct points.

    References
    ----------
    .. [1] Facco, d'Errico, Rodriguez, Laio. "Estimating the intrinsic dimension of datasets
       by a minimal neighborhood information." Scientific Reports 7, 12140 (2017).
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or inf; drop those rows before estimating the intrinsic dimension")
    if len(x) < 3:
        return float("nan")
    r1, r2 = _two_nearest(x)
    ok = r1 > 0
    mu = np.sort(r2[ok] / r1[ok])
    n = len(mu)
    if n < 3:
        return float("nan")
    cdf = np.arange(1, n + 1) / n
    keep = max(2, int(np.floor(n * (1 - discard_fraction))))
    keep = min(keep, n - 1)  # F = 1 at the last point would give an infinite -log(1 - F)
    xs = np.log(mu[:keep])
    ys = -np.log(1.0 - cdf[:keep])
    denom = float(xs @ xs)
    if denom <= 0:
        return float("nan")
    return float((xs @ ys) / denom)


# Below this many rows the two nearest neighbours come from one dense distance matrix: an
# identity has tens to hundreds of images, and a NearestNeighbors object per identity costs
# ~30 ms of scikit-learn dispatch and thread start-up for a few microseconds of arithmetic
# (1,600 identities made that half of the geometry time at 40k rows).
_DENSE_NEIGHBOURS_MAX = 2048


def _two_nearest(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances of each row to its first and second nearest other rows (duplicates give 0)."""
    from sklearn.neighbors import NearestNeighbors

    if len(x) > _DENSE_NEIGHBOURS_MAX:
        dist, _ = NearestNeighbors(n_neighbors=3).fit(x).kneighbors(x)
        return dist[:, 1], dist[:, 2]
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.fill_diagonal(d2, np.inf)
    two = np.partition(d2, 1, axis=1)[:, :2]
    # Cancellation can leave tiny negative squared distances for (near-)duplicates.
    two = np.sqrt(np.maximum(two, 0.0))
    return two[:, 0], two[:, 1]


def pca_dimensions(x: np.ndarray, threshold: float) -> tuple[int, int, int, bool]:
    """Intrinsic dimension of one identity by PCA.

    Returns ``(components above threshold, components for 90%, components for 95%, capped)``
    where ``capped`` says the first count reached ``n - 1``, the most PCA can show with ``n``
    samples. Single-sample identities give ``(0, 0, 0, True)``. Variances below a relative
    tolerance (``eps * max(n, d)`` times the rows' total energy, as in ``np.linalg.matrix_rank``)
    are rounding noise of the centring and count as zero: identical rows give ``(0, 0, 0, False)``.
    """
    x = np.asarray(x)
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or inf; drop those rows before counting PCA dimensions")
    n = len(x)
    if n < 2:
        return 0, 0, 0, True
    centred = x - x.mean(axis=0)
    # The squared singular values are the eigenvalues of the smaller Gram matrix (n x n when
    # an identity has fewer images than dimensions, as almost all do): an n x n symmetric
    # eigensolve is several times cheaper than an SVD of the n x d matrix.
    gram = centred @ centred.T if n < centred.shape[1] else centred.T @ centred
    var = np.clip(np.linalg.eigvalsh(gram)[::-1], 0.0, None)
    eps = np.finfo(centred.dtype).eps if centred.dtype.kind == "f" else np.finfo(np.float64).eps
    tol = eps * max(centred.shape) * float(np.einsum("ij,ij->", x, x, dtype=np.float64))
    var = np.where(var > tol, var, 0.0)
    total = var.sum()
    if total <= 0:
        return 0, 0, 0, False
    ratio = var / total
    cum = np.cumsum(ratio)
    above = int((ratio > threshold).sum())
    d90 = int(np.searchsorted(cum, 0.90 - 1e-12) + 1)
    d95 = int(np.searchsorted(cum, 0.95 - 1e-12) + 1)
    return above, d90, d95, above >= n - 1


def _per_identity(x, order, bounds, raw_norms, params, centroids, stats, dims, capped) -> None:
    """Fill the per-identity arrays (centroid, distances, PCA and TwoNN dimensions) in place."""
    for i in range(len(centroids)):
        rows = order[bounds[i] : bounds[i + 1]]
        xi = x[rows].astype(np.float64)
        c = xi.mean(axis=0)
        centroids[i] = c
        dist = np.linalg.norm(xi - c, axis=1)
        stats["count"][i] = len(rows)
        stats["radius"][i] = dist.max()
        stats["dispersion"][i] = dist.std()
        stats["mean_distance"][i] = dist.mean()
        stats["mean_norm"][i] = raw_norms[rows].mean()
        stats["twonn"][i] = twonn_dimension(xi) if len(rows) >= params.twonn_min_samples else np.nan
        a, b, c95, cap = pca_dimensions(xi, params.variance_threshold)
        dims["intrinsic_dim"][i], dims["dim90"][i], dims["dim95"][i], capped[i] = a, b, c95, cap


def _space_geometry(x, labels, names, raw_norms, params, rng_seed, space) -> SpaceGeometry:
    k = len(names)
    d = x.shape[1]
    centroids = np.zeros((k, d), dtype=np.float64)
    stats = {f: np.zeros(k) for f in ("count", "radius", "dispersion", "mean_distance", "twonn", "mean_norm")}
    dims = {f: np.zeros(k, dtype=np.int64) for f in ("intrinsic_dim", "dim90", "dim95")}
    capped = np.zeros(k, dtype=bool)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    # Thousands of tiny eigensolves and products: one BLAS thread each is faster than a pool
    # whose start-up dominates, and far faster when other processes compete for the cores
    # (measured 3.5 ms instead of 0.2 ms per identity on a loaded 2-core machine).
    with threadpool_limits(limits=1):
        _per_identity(x, order, bounds, raw_norms, params, centroids, stats, dims, capped)

    cn = l2_normalize(centroids)
    subset = matrix_identities(k, params.matrix_max_identities, rng_seed)
    if subset is not None:  # k x k would not fit: a seeded sample of identities (stated on the page)
        cn = cn[subset]
    centroid_cosine = np.clip(cn @ cn.T, -1.0, 1.0)

    rng = np.random.default_rng(rng_seed)
    sample = np.sort(rng.choice(len(x), size=min(len(x), params.map_max_points), replace=False))
    pca = pca_by_shape(min(2, d), len(sample), d)
    pca.fit(x[sample])
    map_points = pca.transform(x[sample])
    map_centroids = pca.transform(centroids)
    # Radius of each identity in the 2-D map: max distance of its projected rows to its
    # projected centroid (all rows, not only the sampled ones).
    proj_all = pca.transform(x)
    radius_2d = np.array(
        [np.linalg.norm(proj_all[order[bounds[i] : bounds[i + 1]]] - map_centroids[i], axis=1).max() for i in range(k)]
    )

    # Main direction of the whole cloud: first principal axis (uncentred data's mean matters:
    # face embeddings share a common direction that inflates every pairwise cosine).
    full = pca_by_shape(1, len(sample), d).fit(x[sample])
    mean_vec = x.mean(axis=0)
    mean_dir = mean_vec / max(np.linalg.norm(mean_vec), 1e-12)
    gsample = rng.choice(len(x), size=min(len(x), 5000), replace=False)
    return SpaceGeometry(
        space=space,
        identities=IdentityGeometry(
            names=names,
            count=stats["count"].astype(np.int64),
            radius=stats["radius"],
            dispersion=stats["dispersion"],
            mean_distance=stats["mean_distance"],
            intrinsic_dim=dims["intrinsic_dim"],
            dim90=dims["dim90"],
            dim95=dims["dim95"],
            pca_capped=capped,
            twonn=stats["twonn"],
            radius_2d=radius_2d,
            mean_norm=stats["mean_norm"],
        ),
        centroids=centroids.astype(np.float32),
        centroid_cosine=centroid_cosine,
        global_twonn=twonn_dimension(x[np.sort(gsample)]),
        pc1_variance=float(full.explained_variance_ratio_[0]),
        mean_pc1_cosine=float(abs(full.components_[0] @ mean_dir)),
        mean_norm_ratio=float(np.linalg.norm(mean_vec) / np.linalg.norm(x, axis=1).mean()),
        map_points=map_points.astype(np.float32),
        map_labels=labels[sample],
        map_centroids=map_centroids.astype(np.float32),
        map_variance=(float(pca.explained_variance_ratio_[0]), float(pca.explained_variance_ratio_[-1])),
        matrix_identities=subset,
    )


def analyze_geometry(emb: EmbeddingSet, params: GeometryParams, random_state: int = 0) -> GeometryResult:
    """Per-identity and global geometry on raw and L2-normalised vectors.

    Parameters
    ----------
    emb : EmbeddingSet
        At least two identities.
    params : GeometryParams
    random_state : int, default=0
        Seed of the samples drawn for the 2-D map and the global TwoNN estimate.

    Returns
    -------
    GeometryResult
    """
    names = emb.identity_names
    if len(names) < 2:
        raise ValueError(f"geometry needs at least 2 identities, got {len(names)}; choose a larger subset")
    labels = emb.labels
    # No copy when the vectors are float32 already (2 GB at 1M x 512); nothing below writes to them.
    raw = np.asarray(emb.vectors, dtype=np.float32)
    norms = np.linalg.norm(raw, axis=1)
    return GeometryResult(
        n_samples=emb.n_samples,
        n_dims=emb.n_dims,
        n_identities=len(names),
        norms=norms.astype(np.float32),
        norm_labels=labels,
        raw=_space_geometry(raw, labels, names, norms, params, random_state, "raw"),
        l2=_space_geometry(l2_normalize(raw), labels, names, norms, params, random_state, "l2"),
        params=params,
    )
