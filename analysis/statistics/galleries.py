"""Which faces a gallery shows: cluster montages, confused identity pairs, suspected mislabels.

Galleries put face images next to the numbers of a cell, so that a reader can see what a
cluster, a confusion or a suspected label error looks like. This module only *chooses* faces
(row positions of the cell's :class:`~analysis.types.EmbeddingSet`); it never reads an image.
:mod:`analysis.embedding.thumbnails` cuts the chosen faces out of the original images and
``report.pages.galleries`` draws them. Galleries exist only when ``[study] galleries = true``
(face images are biometric data) and only for datasets of face images.

Three selections, all deterministic (no randomness: ties are broken by names and row order):

* **Cluster montage** (:func:`cluster_samples`): the clusters of the cell's clustering with the
  most faces outside their majority identity come first (where the clustering mixes people),
  then the largest. Each cluster shows its faces identity by identity (majority first), taking
  in turn the face of each identity closest to the cluster's centroid, so that a mixed cluster
  shows its mix and a pure one its most typical faces.
* **Most confused identity pairs** (:func:`pair_samples`): pairs from the out-of-fold confusion
  of the best classifier (:func:`pairs_from_confusion`) or, when the classifiers did not run or
  made no error, the pairs with the most similar centroids (:func:`pairs_from_centroids`). Each
  identity shows its faces most similar to the *other* identity's centroid: the faces that
  cause the confusion.
* **Suspected mislabels** (:func:`mislabel_samples`): the audit's suspects in the audit table's
  order (:func:`suspect_order`, most negative margin first), each with the most typical faces
  (closest to their centroid) of its labelled identity and of the identity it is nearest to.

All similarities are cosines of L2-normalised vectors, as in the analyses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from analysis.types import EmbeddingSet, l2_normalize


@dataclass(frozen=True)
class GalleryParams:
    """How much a gallery shows (not a config table: the defaults keep a page readable).

    Parameters
    ----------
    clusters : int, default=6
        Clusters in the cluster montage.
    faces_per_cluster : int, default=6
    pairs : int, default=5
        Identity pairs in the confused-pairs montage.
    faces_per_identity : int, default=4
        Faces of each identity of a pair.
    mislabels : int, default=6
        Suspected mislabels shown.
    references : int, default=3
        Reference faces of the labelled and of the nearest identity, per suspect.
    thumbnail_size : int, default=112
        Side of the aligned face thumbnails, in pixels.
    """

    clusters: int = 6
    faces_per_cluster: int = 6
    pairs: int = 5
    faces_per_identity: int = 4
    mislabels: int = 6
    references: int = 3
    thumbnail_size: int = 112

    def __post_init__(self) -> None:
        for name in ("clusters", "faces_per_cluster", "pairs", "faces_per_identity", "mislabels", "references"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.thumbnail_size < 16:
            raise ValueError("thumbnail_size must be at least 16 pixels")


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Face:
    """One face of a gallery: a row of the cell's embedding set."""

    row: int
    item: str
    identity: str


@dataclass(frozen=True)
class ClusterSample:
    """One cluster of the montage.

    Parameters
    ----------
    cluster : int
        Cluster id in the clustering.
    size : int
        Faces in the cluster.
    n_identities : int
        Distinct identities among them.
    majority : str
        Most frequent identity (ties: first name in sorted order).
    purity : float
        Share of the majority identity.
    faces : tuple of Face
    """

    cluster: int
    size: int
    n_identities: int
    majority: str
    purity: float
    faces: tuple[Face, ...]


@dataclass(frozen=True)
class PairSample:
    """Two identities a classifier (or centroid similarity) confuses, with faces of each.

    ``score`` is the number of out-of-fold errors between them, or their centroid cosine,
    depending on :attr:`GallerySelection.pair_source`.
    """

    identity_a: str
    identity_b: str
    score: float
    faces_a: tuple[Face, ...]
    faces_b: tuple[Face, ...]


@dataclass(frozen=True)
class MislabelSample:
    """A suspected mislabel with reference faces of both identities involved.

    Parameters
    ----------
    rank : int
        1-based rank in the audit's suspect list (the audit table's ``rank``).
    face : Face
        The suspect; ``face.identity`` is its label.
    nearest : str
        The other identity whose centroid is most similar to the suspect.
    margin : float
        Cosine to the own (leave-one-out) centroid minus cosine to the nearest other one.
    label_refs, nearest_refs : tuple of Face
        Most typical faces of the labelled identity (suspect excluded) and of ``nearest``.
    """

    rank: int
    face: Face
    nearest: str
    margin: float
    label_refs: tuple[Face, ...]
    nearest_refs: tuple[Face, ...]


@dataclass(frozen=True)
class GallerySelection:
    """Every face a cell's gallery page shows, and where the choice came from.

    ``*_source`` is a short phrase for captions ("KMeans, k = 12"); an empty tuple with a
    ``*_note`` says why a part is missing (its analysis was disabled or skipped).
    """

    clusters: tuple[ClusterSample, ...]
    cluster_source: str
    pairs: tuple[PairSample, ...]
    pair_source: str
    mislabels: tuple[MislabelSample, ...]
    n_suspected: int
    notes: tuple[str, ...] = ()

    def faces(self) -> tuple[Face, ...]:
        """Every face shown, once each, sorted by row (what the thumbnails must cover)."""
        seen: dict[int, Face] = {}
        for c in self.clusters:
            seen.update((f.row, f) for f in c.faces)
        for p in self.pairs:
            seen.update((f.row, f) for f in (*p.faces_a, *p.faces_b))
        for m in self.mislabels:
            seen.update((f.row, f) for f in (m.face, *m.label_refs, *m.nearest_refs))
        return tuple(seen[r] for r in sorted(seen))


# --------------------------------------------------------------------------- helpers
def _faces(rows: Sequence[int], items: np.ndarray, identities: np.ndarray) -> tuple[Face, ...]:
    return tuple(Face(int(r), str(items[r]), str(identities[r])) for r in rows)


def _unit_centroid(x: np.ndarray) -> np.ndarray:
    return l2_normalize(x.mean(axis=0, keepdims=True).astype(np.float64))[0].astype(np.float64)


def closest_rows(x: np.ndarray, rows: np.ndarray, target: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` of ``rows`` whose unit vectors have the highest cosine to ``target``.

    Parameters
    ----------
    x : ndarray of shape (n_samples, d)
        L2-normalised vectors.
    rows : ndarray of int
        Candidate row positions.
    target : ndarray of shape (d,)
    n : int

    Returns
    -------
    ndarray of int
        At most ``n`` rows, most similar first; ties in row order (stable sort).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0 or n <= 0:
        return rows[:0]
    cos = x[rows].astype(np.float64) @ np.asarray(target, np.float64)
    order = np.lexsort((rows, -cos))  # last key first: cosine descending, then row
    return rows[order[:n]]


# --------------------------------------------------------------------------- clusters
def cluster_samples(labels: np.ndarray, identities: np.ndarray, items: np.ndarray, x: np.ndarray,
                    n_clusters: int = 6, per_cluster: int = 6) -> tuple[ClusterSample, ...]:
    """Pick the clusters of a montage and a few faces of each.

    Parameters
    ----------
    labels : ndarray of shape (n_samples,), int
        Cluster id of every row; negative ids (density-clustering noise) are left out.
    identities, items : ndarray of shape (n_samples,), str
    x : ndarray of shape (n_samples, d)
        L2-normalised vectors.
    n_clusters : int, default=6
        Clusters returned: the most faces outside the majority identity first, then the
        largest, then by cluster id.
    per_cluster : int, default=6
        Faces per cluster, taken in turn from each identity of the cluster (majority first),
        each identity's faces in order of cosine to the cluster centroid.

    Returns
    -------
    tuple of ClusterSample
    """
    labels = np.asarray(labels)
    identities = np.asarray(identities).astype(str)
    infos = []
    for c in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == c)
        names, counts = np.unique(identities[members], return_counts=True)
        top = int(np.lexsort((names, -counts))[0])  # most faces, then first name
        infos.append((int(c), members, names, counts, top))
    # Mixed clusters say most about a clustering; pure ones follow, largest first.
    infos.sort(key=lambda t: (-(len(t[1]) - int(t[3][t[4]])), -len(t[1]), t[0]))
    out = []
    for c, members, names, counts, top in infos[:max(n_clusters, 0)]:
        centroid = _unit_centroid(x[members])
        groups = [names[i] for i in np.lexsort((names, -counts))]
        queues = [list(closest_rows(x, members[identities[members] == g], centroid, per_cluster)) for g in groups]
        chosen: list[int] = []
        while len(chosen) < per_cluster and any(queues):
            for q in queues:
                if q and len(chosen) < per_cluster:
                    chosen.append(int(q.pop(0)))
        out.append(ClusterSample(
            cluster=c, size=len(members), n_identities=len(names), majority=str(names[top]),
            purity=float(counts[top] / len(members)), faces=_faces(chosen, items, identities),
        ))
    return tuple(out)


# --------------------------------------------------------------------------- pairs
def pairs_from_confusion(names: np.ndarray, pair_a: np.ndarray, pair_b: np.ndarray, counts: np.ndarray,
                         n_pairs: int) -> tuple[tuple[str, str, float], ...]:
    """The first ``n_pairs`` confused pairs with at least one error, as ``(a, b, errors)``.

    The inputs are those of :class:`analysis.statistics.classifiers.classifiers.ConfusionSummary` (pairs already ranked
    by errors, most first); ``names[pair_a]`` and ``names[pair_b]`` are identity names.
    """
    out = []
    for a, b, n in zip(pair_a, pair_b, counts):
        if n > 0 and len(out) < n_pairs:
            out.append((str(names[a]), str(names[b]), float(n)))
    return tuple(out)


def pairs_from_centroids(x: np.ndarray, identities: np.ndarray, n_pairs: int,
                         ignore: Sequence[str] = ()) -> tuple[tuple[str, str, float], ...]:
    """The ``n_pairs`` identity pairs with the most similar centroids, as ``(a, b, cosine)``.

    Parameters
    ----------
    x : ndarray of shape (n_samples, d)
        L2-normalised vectors.
    identities : ndarray of shape (n_samples,), str
    n_pairs : int
    ignore : sequence of str
        Identities left out (junk groups such as ``unknown``).

    Returns
    -------
    tuple of (str, str, float)
        ``a < b`` by name; highest cosine first, ties by names.
    """
    identities = np.asarray(identities).astype(str)
    names = np.array([n for n in np.unique(identities) if n not in set(ignore)], dtype=str)
    if len(names) < 2 or n_pairs <= 0:
        return ()
    cents = np.stack([_unit_centroid(x[identities == n]) for n in names])
    cos = cents @ cents.T
    ia, ib = np.triu_indices(len(names), 1)
    vals = cos[ia, ib]
    order = np.lexsort((ib, ia, -vals))[:n_pairs]
    return tuple((str(names[ia[i]]), str(names[ib[i]]), float(vals[i])) for i in order)


def pair_samples(pairs: Sequence[tuple[str, str, float]], identities: np.ndarray, items: np.ndarray, x: np.ndarray,
                 per_identity: int = 4) -> tuple[PairSample, ...]:
    """Faces of each identity of each pair: those most similar to the other identity's centroid.

    Parameters
    ----------
    pairs : sequence of (str, str, float)
        Identity names and a score, from :func:`pairs_from_confusion` or
        :func:`pairs_from_centroids`. Pairs naming an identity absent from ``identities`` are
        dropped.
    identities, items : ndarray of shape (n_samples,), str
    x : ndarray of shape (n_samples, d)
        L2-normalised vectors.
    per_identity : int, default=4

    Returns
    -------
    tuple of PairSample
    """
    identities = np.asarray(identities).astype(str)
    out = []
    for a, b, score in pairs:
        rows_a, rows_b = np.flatnonzero(identities == a), np.flatnonzero(identities == b)
        if len(rows_a) == 0 or len(rows_b) == 0:
            continue
        near_b = closest_rows(x, rows_a, _unit_centroid(x[rows_b]), per_identity)
        near_a = closest_rows(x, rows_b, _unit_centroid(x[rows_a]), per_identity)
        out.append(PairSample(a, b, float(score), _faces(near_b, items, identities), _faces(near_a, items, identities)))
    return tuple(out)


# --------------------------------------------------------------------------- mislabels
def suspect_order(rows: np.ndarray, margin: np.ndarray, silhouette: np.ndarray, suspected: np.ndarray) -> np.ndarray:
    """Positions of the suspected images in ranking order (the audit table's order).

    Most negative margin first (NaN margins, from single-image identities, last), then lowest
    silhouette, then row. The arguments are the arrays of :class:`analysis.statistics.audit.audit.ImageScores`.

    Returns
    -------
    ndarray of int
        Positions into those arrays (not rows of the embedding set).
    """
    sel = np.flatnonzero(np.asarray(suspected, bool))
    margin = np.asarray(margin, np.float64)[sel]
    key = np.where(np.isnan(margin), np.inf, margin)
    return sel[np.lexsort((np.asarray(rows)[sel], np.asarray(silhouette)[sel], key))]


def mislabel_samples(rows: np.ndarray, nearest: np.ndarray, margin: np.ndarray, order: np.ndarray,
                     names: np.ndarray, identities: np.ndarray, items: np.ndarray, x: np.ndarray,
                     n_suspects: int = 6, references: int = 3) -> tuple[MislabelSample, ...]:
    """The first suspects of the audit with typical faces of both identities involved.

    Parameters
    ----------
    rows, nearest, margin : ndarray of shape (m,)
        Audited row positions, label code of the nearest other centroid and margins
        (:class:`analysis.statistics.audit.audit.ImageScores`).
    order : ndarray of int
        Positions into those arrays, ranked (:func:`suspect_order`).
    names : ndarray of str
        Identity names indexed by the codes of ``nearest``.
    identities, items : ndarray of shape (n_samples,), str
    x : ndarray of shape (n_samples, d)
        L2-normalised vectors.
    n_suspects : int, default=6
    references : int, default=3
        Faces of each identity closest to its centroid. No suspected image (of the whole audit)
        is a reference, so that references are faces the audit trusts; an identity whose every
        image is suspected falls back on its other images.

    Returns
    -------
    tuple of MislabelSample
    """
    identities = np.asarray(identities).astype(str)
    shown = order[:max(n_suspects, 0)]
    suspect_rows = {int(r) for r in np.asarray(rows)[order]}
    out = []
    for rank, pos in enumerate(shown, start=1):
        row = int(rows[pos])
        label, other = str(identities[row]), str(names[nearest[pos]])
        refs = []
        for name in (label, other):
            members = np.flatnonzero(identities == name)
            trusted = np.array([r for r in members if int(r) not in suspect_rows], dtype=np.int64)
            pool = trusted if len(trusted) else members[members != row]
            centroid = _unit_centroid(x[members]) if len(members) else None
            refs.append(closest_rows(x, pool, centroid, references) if centroid is not None else pool[:0])
        out.append(MislabelSample(
            rank=rank, face=_faces([row], items, identities)[0], nearest=other, margin=float(margin[pos]),
            label_refs=_faces(refs[0], items, identities), nearest_refs=_faces(refs[1], items, identities),
        ))
    return tuple(out)


# --------------------------------------------------------------------------- one cell
def select_gallery(emb: EmbeddingSet, clustering: Any = None, classifiers: Any = None, audit: Any = None,
                   params: GalleryParams = GalleryParams(), ignore: Sequence[str] = ("unknown",)) -> GallerySelection:
    """Every face of one cell's gallery, from the cell's analysis results.

    Parameters
    ----------
    emb : EmbeddingSet
        The cell's rows (the subset the analyses ran on).
    clustering : analysis.statistics.clustering.clustering.ClusteringResult, optional
        Its ``pseudo_labels`` (KMeans with about one cluster per identity) make the montage.
    classifiers : analysis.statistics.classifiers.classifiers.ClassifierResult, optional
        Its ``confusion`` gives the confused pairs; without it (or without any error), the
        pairs of most similar centroids are shown instead.
    audit : analysis.statistics.audit.audit.AuditResult, optional
        Its per-image scores give the suspected mislabels.
    params : GalleryParams
    ignore : sequence of str
        Junk identities left out of the centroid pairs (the audit's ``ignore_identities``).

    Returns
    -------
    GallerySelection
    """
    x = emb.normalized()
    ids, items = emb.identities.astype(str), emb.items.astype(str)
    notes = []
    if clustering is not None and len(clustering.pseudo_labels) == emb.n_samples:
        clusters = cluster_samples(clustering.pseudo_labels, ids, items, x, params.clusters, params.faces_per_cluster)
        cluster_source = f"KMeans, k = {clustering.pseudo_k}"
    else:
        clusters, cluster_source = (), ""
        notes.append("no cluster montage: the clustering analysis did not run on this cell")

    pairs: tuple = ()
    pair_source = ""
    conf = getattr(classifiers, "confusion", None)
    if conf is not None:
        pairs = pairs_from_confusion(conf.names, conf.pair_a, conf.pair_b, conf.pair_count, params.pairs)
        pair_source = f"out-of-fold errors of the {conf.classifier} classifier"
    if not pairs:
        why = "the classifiers did not run" if conf is None else f"the {conf.classifier} classifier made no error"
        pairs = pairs_from_centroids(x, ids, params.pairs, ignore)
        pair_source = f"centroid cosine ({why})"
    pair_list = pair_samples(pairs, ids, items, x, params.faces_per_identity)

    if audit is not None and audit.n_samples == emb.n_samples:
        im = audit.images
        order = suspect_order(im.rows, im.margin, im.silhouette, im.suspected)
        mislabels = mislabel_samples(im.rows, im.nearest_other, im.margin, order, audit.names, ids, items, x,
                                     params.mislabels, params.references)
        n_suspected = len(order)
    else:
        mislabels, n_suspected = (), 0
        notes.append("no suspected mislabels: the audit did not run on this cell")
    return GallerySelection(clusters, cluster_source, pair_list, pair_source, mislabels, n_suspected, tuple(notes))
