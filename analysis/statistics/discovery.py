"""Identity discovery: who is in an unlabelled photo collection, found by clustering the faces.

The hand workflow this replaces: sweep KMeans over ``k``, read the elbow of the distortion and
the silhouette, pick ``k``, look at per-cluster silhouettes and silhouette diagrams, compare with
label-free alternatives, then review one folder of faces per cluster. Here, on the
L2-normalised embeddings of every face (items ``<photo>#<face index>``):

* **k sweep**: KMeans (k-means++, ``n_init`` starts, seeded) for every ``k`` of
  :func:`k_range` (default: 2 to ``ceil(2 sqrt(n))``, at most ``max_k`` and ``n - 1``), with the
  distortion (mean squared distance to the centre), silhouette, Davies-Bouldin and
  Calinski-Harabasz of each;
* **chosen k**: the highest mean silhouette (ties: smaller ``k``). The elbow of the distortion
  (the point farthest from the chord between the curve's ends), the lowest Davies-Bouldin and the
  highest Calinski-Harabasz are reported next to it, with which of them agree;
* **alternatives without k**: HDBSCAN (:class:`sklearn.cluster.HDBSCAN`, noise allowed) and
  agglomerative clustering with average linkage on cosine distance cut at a distance threshold
  (default: the largest gap between successive merge heights, the classic "cut the dendrogram
  where it jumps" rule); their cluster counts, noise share and adjusted Rand index (ARI)
  between every pair of methods (HDBSCAN's noise points count as one group);
* **per face** silhouette at the chosen ``k``, **per cluster** size, mean silhouette, nearest
  other cluster (centroid cosine), photos it appears in and how many of them are group photos
  (photos with two or more faces), and silhouette diagrams for several ``k``.

Cluster ids are stable for given embeddings and seed: clusters are numbered by decreasing size,
ties broken by their first face in item order, so the naming CSV keeps meaning across rebuilds.
Pure: arrays in, frozen results out.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from analysis.types import EmbeddingSet, l2_normalize


@dataclass(frozen=True)
class DiscoveryParams:
    """The ``[discovery]`` table: identity discovery on unlabelled datasets.

    Parameters
    ----------
    enabled : bool, default=True
    k_min, k_max : int, default=0
        Range of the KMeans sweep; 0 picks it from the number of faces ``n``: 2 to
        ``ceil(2 sqrt(n))`` (a class archive of 300 faces sweeps 2-35).
    max_k : int, default=60
        Upper cap of the automatic range (each ``k`` costs one KMeans and one silhouette).
    n_init : int, default=4
        KMeans starts per ``k`` (best inertia kept).
    hdbscan_min_cluster_size : int, default=3
        Smallest group HDBSCAN calls a cluster (a person seen in fewer photos is noise).
    agglomerative_threshold : float, default=0.0
        Cosine distance at which the average-linkage tree is cut; 0 cuts at the largest gap
        between merge heights.
    n_diagrams : int, default=3
        Silhouette diagrams drawn: the chosen ``k`` and its neighbours in the sweep.
    max_faces : int, default=20000
        Above this many faces the silhouettes use a seeded sample of that size (``O(n^2)``).
    carry_min_share : float, default=0.75
        After naming: share of a discovered cluster's recorded faces that must carry one identity
        for its new faces to take that name (below: an error, the new faces could be either
        person; :mod:`analysis.statistics.name_matching`).
    carry_min_anchor : float, default=0.2
        After naming: share of a discovered cluster that must be recorded faces (and at least 2)
        for its new faces to join a named cluster; below it they form a new unnamed cluster.
    """

    enabled: bool = True
    k_min: int = 0
    k_max: int = 0
    max_k: int = 60
    n_init: int = 4
    hdbscan_min_cluster_size: int = 3
    agglomerative_threshold: float = 0.0
    n_diagrams: int = 3
    max_faces: int = 20000
    carry_min_share: float = 0.75
    carry_min_anchor: float = 0.2

    def __post_init__(self) -> None:
        if self.k_min < 0 or self.k_max < 0 or (self.k_min and self.k_max and self.k_min > self.k_max):
            raise ValueError("need 0 <= k_min <= k_max (0 = automatic)")
        if self.k_min == 1:
            raise ValueError("k_min must be at least 2 (silhouettes need two clusters)")
        for name in ("max_k", "hdbscan_min_cluster_size", "max_faces"):
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be at least 2")
        if self.n_init < 1:
            raise ValueError("n_init must be at least 1")
        # Above one half: a discovered cluster split evenly between two named ones is a conflict, never a
        # tie broken by cluster id (which named the new face after the smaller id).
        if not 0.5 < self.carry_min_share <= 1.0:
            raise ValueError("carry_min_share is a share in (0.5, 1]: a new face joins a named cluster only when "
                             "more than half of its discovered cluster's recorded faces are that cluster's")
        if not 0.0 < self.carry_min_anchor <= 1.0:
            raise ValueError("carry_min_anchor is a share in (0, 1]")
        if not 0.0 <= self.agglomerative_threshold <= 2.0:
            raise ValueError("agglomerative_threshold is a cosine distance in [0, 2] (0 = automatic)")


@dataclass(frozen=True, eq=False)
class DiscoverySweep:
    """Per-``k`` scores of the KMeans sweep, aligned with ``k``."""

    k: np.ndarray
    distortion: np.ndarray
    silhouette: np.ndarray
    davies_bouldin: np.ndarray
    calinski_harabasz: np.ndarray


@dataclass(frozen=True)
class MethodSummary:
    """One label-free clustering at its setting."""

    method: str
    setting: str
    n_clusters: int
    noise_fraction: float


@dataclass(frozen=True)
class DiscoveredCluster:
    """One discovered identity (a KMeans cluster at the chosen ``k``)."""

    cluster: int
    size: int
    silhouette: float
    nearest: int  # nearest other cluster by centroid cosine (-1 when k = 1)
    nearest_cosine: float
    photos: int
    group_photos: int


@dataclass(frozen=True, eq=False)
class DiagramData:
    """Per-face silhouettes for one ``k`` (a silhouette diagram)."""

    k: int
    values: np.ndarray
    labels: np.ndarray
    score: float


@dataclass(frozen=True, eq=False)
class DiscoveryResult:
    """Everything the identity discovery page shows.

    ``items``, ``clusters`` and ``silhouettes`` are aligned with the embedding rows; a
    silhouette is NaN for faces outside the seeded sample (more than ``max_faces`` faces).
    """

    n_faces: int
    n_photos: int
    n_group_photos: int
    sweep: DiscoverySweep
    chosen_k: int
    elbow_k: int
    best_davies_bouldin_k: int
    best_calinski_harabasz_k: int
    reason: str
    items: np.ndarray
    clusters: np.ndarray
    silhouettes: np.ndarray
    methods: tuple[MethodSummary, ...]
    agreement: np.ndarray  # (m, m) ARI between the methods, in ``methods`` order
    identities: tuple[DiscoveredCluster, ...]
    diagrams: tuple[DiagramData, ...]
    agglomerative_threshold: float
    params: DiscoveryParams


def photo_of(item: str) -> str:
    """Original photo of a face item (``photo.jpg#2`` -> ``photo.jpg``; plain paths unchanged)."""
    head, sep, tail = str(item).rpartition("#")
    return head if sep and tail.isdigit() else str(item)


def face_index_of(item: str) -> int:
    """Face index of a face item (0 for a one-face-per-image item)."""
    head, sep, tail = str(item).rpartition("#")
    return int(tail) if sep and tail.isdigit() else 0


def k_range(n_faces: int, params: DiscoveryParams) -> np.ndarray:
    """The ``k`` values swept: configured, or 2 to ``ceil(2 sqrt(n))`` capped by ``max_k`` and ``n - 1``."""
    top = max(2, n_faces - 1)
    lo = params.k_min or 2
    hi = params.k_max or min(params.max_k, max(lo, math.ceil(2.0 * math.sqrt(n_faces))))
    return np.arange(min(lo, top), min(hi, top) + 1, dtype=np.int64)


def elbow(k: np.ndarray, values: np.ndarray) -> int:
    """The ``k`` farthest from the chord joining the ends of a (decreasing) curve, both axes scaled to [0, 1]."""
    if len(k) < 3:
        return int(k[0])
    x = (k - k[0]) / max(k[-1] - k[0], 1)
    span = values[0] - values[-1]
    y = (values - values[-1]) / span if span > 0 else np.zeros_like(values)
    # chord from (0, 1) to (1, 0): distance is proportional to 1 - x - y, larger below the chord
    return int(k[int(np.argmax(1.0 - x - y))])


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Number clusters by decreasing size, ties by first row; noise (-1) stays -1."""
    ids = [c for c in np.unique(labels) if c >= 0]
    first = {c: int(np.flatnonzero(labels == c)[0]) for c in ids}
    order = sorted(ids, key=lambda c: (-int((labels == c).sum()), first[c]))
    mapping = {c: i for i, c in enumerate(order)}
    return np.array([mapping.get(int(c), -1) for c in labels], dtype=np.int64)


def _kmeans(x: np.ndarray, k: int, params: DiscoveryParams, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, init="k-means++", n_init=params.n_init, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate faces: fewer distinct points than k
        model.fit(x)
    return _relabel(model.labels_), float(model.inertia_)


def _safe(fn, x, labels) -> float:
    return float(fn(x, labels)) if 1 < len(np.unique(labels)) < len(x) else float("nan")


def _largest_gap_threshold(x: np.ndarray) -> float:
    """Cut height of the average-linkage cosine tree at its largest jump between merge heights."""
    from scipy.cluster.hierarchy import linkage

    heights = np.sort(linkage(x, method="average", metric="cosine")[:, 2])
    if len(heights) < 2:
        return float(heights[-1]) + 1e-6 if len(heights) else 1.0
    gaps = np.diff(heights)
    i = int(np.argmax(gaps))
    return float((heights[i] + heights[i + 1]) / 2.0)


def _photos(items: np.ndarray) -> tuple[np.ndarray, set[str]]:
    photos = np.array([photo_of(i) for i in items], dtype=object)
    names, counts = np.unique(photos, return_counts=True)
    return photos, {str(n) for n, c in zip(names, counts) if c >= 2}


def analyze_discovery(emb: EmbeddingSet, params: DiscoveryParams, random_state: int = 0) -> DiscoveryResult:
    """Discover identities among the faces of ``emb`` (labels are ignored).

    Parameters
    ----------
    emb : EmbeddingSet
        Faces of an unlabelled dataset (items ``<photo>#<face>``, or image paths).
    params : DiscoveryParams
    random_state : int

    Returns
    -------
    DiscoveryResult

    Raises
    ------
    ValueError
        Fewer than 4 faces (nothing to cluster).
    """
    from sklearn.cluster import AgglomerativeClustering, HDBSCAN
    from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score, silhouette_samples

    n = emb.n_samples
    if n < 4:
        raise ValueError(f"identity discovery needs at least 4 faces, got {n}")
    x = emb.normalized().astype(np.float64)
    rng = np.random.default_rng(random_state)
    sample = np.sort(rng.choice(n, params.max_faces, replace=False)) if n > params.max_faces else np.arange(n)
    xs = x[sample]

    ks = k_range(n, params)
    labels_by_k, dist, sil, db, ch, sil_rows = {}, [], [], [], [], {}
    for k in ks:
        labels, inertia = _kmeans(x, int(k), params, random_state)
        labels_by_k[int(k)] = labels
        dist.append(inertia / n)
        ls = labels[sample]
        if 1 < len(np.unique(ls)) < len(xs):
            rows = silhouette_samples(xs, ls, metric="euclidean")
            sil_rows[int(k)] = rows
            sil.append(float(rows.mean()))
        else:
            sil.append(float("nan"))
        db.append(_safe(davies_bouldin_score, x, labels))
        ch.append(_safe(calinski_harabasz_score, x, labels))
    sweep = DiscoverySweep(ks, np.array(dist), np.array(sil), np.array(db), np.array(ch))

    finite = np.isfinite(sweep.silhouette)
    chosen = int(ks[np.flatnonzero(finite)[np.argmax(sweep.silhouette[finite])]]) if finite.any() else int(ks[0])
    elbow_k = elbow(ks, sweep.distortion)
    db_k = int(ks[np.nanargmin(sweep.davies_bouldin)]) if np.isfinite(sweep.davies_bouldin).any() else chosen
    ch_k = int(ks[np.nanargmax(sweep.calinski_harabasz)]) if np.isfinite(sweep.calinski_harabasz).any() else chosen
    agree = [name for name, k in (("the elbow of the distortion", elbow_k), ("the lowest Davies-Bouldin", db_k),
                                  ("the highest Calinski-Harabasz", ch_k)) if k == chosen]
    reason = (f"k = {chosen} has the highest mean silhouette ({sweep.silhouette[list(ks).index(chosen)]:.3f}) "
              f"of k = {ks[0]}..{ks[-1]}; " + (f"{_join(agree)} agree" if agree else "the other criteria disagree") +
              f" (elbow k = {elbow_k}, Davies-Bouldin k = {db_k}, Calinski-Harabasz k = {ch_k})")

    clusters = labels_by_k[chosen]
    silhouettes = np.full(n, np.nan)
    if chosen in sil_rows:
        silhouettes[sample] = sil_rows[chosen]

    min_size = min(params.hdbscan_min_cluster_size, n - 1)
    hdb = _relabel(HDBSCAN(min_cluster_size=max(2, min_size), copy=True).fit_predict(x))
    threshold = params.agglomerative_threshold or _largest_gap_threshold(x)
    agg = _relabel(AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, linkage="average",
                                           metric="cosine").fit_predict(x))
    methods = (
        MethodSummary("kmeans", f"k={chosen} (highest silhouette)", chosen, 0.0),
        MethodSummary("hdbscan", f"min_cluster_size={max(2, min_size)}", int(hdb.max() + 1), float((hdb < 0).mean())),
        MethodSummary("agglomerative", f"average linkage, cosine distance < {threshold:.3f}", int(agg.max() + 1), 0.0),
    )
    partitions = (clusters, hdb, agg)
    agreement = np.array([[adjusted_rand_score(a, b) for b in partitions] for a in partitions])

    photos, groups = _photos(emb.items)
    centroids = l2_normalize(np.stack([x[clusters == c].mean(axis=0) for c in range(chosen)]))
    cos = centroids @ centroids.T
    np.fill_diagonal(cos, -np.inf)
    identities = []
    for c in range(chosen):
        mask = clusters == c
        in_photos = set(photos[mask])
        nearest = int(np.argmax(cos[c])) if chosen > 1 else -1
        sampled = silhouettes[mask][np.isfinite(silhouettes[mask])]
        identities.append(DiscoveredCluster(
            cluster=c, size=int(mask.sum()), silhouette=float(sampled.mean()) if len(sampled) else float("nan"),
            nearest=nearest, nearest_cosine=float(cos[c, nearest]) if nearest >= 0 else float("nan"),
            photos=len(in_photos), group_photos=len(in_photos & groups),
        ))

    diagrams = tuple(
        DiagramData(k, sil_rows[k], labels_by_k[k][sample], float(sil_rows[k].mean()))
        for k in _diagram_ks(ks, chosen, params.n_diagrams) if k in sil_rows
    )
    return DiscoveryResult(
        n_faces=n, n_photos=len(set(photos)), n_group_photos=len(groups), sweep=sweep, chosen_k=chosen,
        elbow_k=elbow_k, best_davies_bouldin_k=db_k, best_calinski_harabasz_k=ch_k, reason=reason,
        items=np.asarray(emb.items, dtype=str), clusters=clusters, silhouettes=silhouettes, methods=methods,
        agreement=agreement, identities=tuple(identities), diagrams=diagrams, agglomerative_threshold=float(threshold),
        params=params,
    )


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _diagram_ks(ks: np.ndarray, chosen: int, n_diagrams: int) -> tuple[int, ...]:
    """The chosen ``k`` and its nearest neighbours in the sweep, up to ``n_diagrams`` values."""
    order = sorted((int(k) for k in ks), key=lambda k: (abs(k - chosen), k))
    return tuple(sorted(order[:n_diagrams]))
