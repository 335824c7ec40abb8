"""Names that stay with their faces: a later build's clusters matched to the clusters a names file named.

Cluster ids are only stable for identical photos: add, remove or rename photos and KMeans numbers
its clusters differently, so a names file keyed on ids alone would give one person's faces
another's name. The naming stage therefore records, when a names file is applied, which faces
each cluster held (the *names lock*, :mod:`report.names_lock`), and every later build

1. finds the recorded faces among its own (:func:`match_faces`: the photo's content hash and a
   box overlapping the recorded one, so renamed photos and re-detected faces still match);
2. keeps every recorded face in its recorded cluster: **a name stays with the faces it was given to**;
3. gives the *new* faces of each discovered cluster the cluster its recorded faces agree on
   (:func:`carry_clusters`). They join it only when recorded faces make up at least
   ``min_anchor`` of the discovered cluster and ``min_share`` of those recorded faces carry one
   identity. A discovered cluster with too few recorded faces becomes a new, unnamed cluster
   (``cluster-NN``, a warning says so); one whose recorded faces are split between identities
   is an error: the new faces could be either person.

Named clusters are watched on the faces the names were given to (origin ``bound``): a named
cluster whose faces now fall in two discovered clusters (*split*), two named identities in one
discovered cluster (*merged*), and a named cluster that lost most of its faces (photos removed
or changed) are warnings naming the clusters and the counts. Pure: arrays in, frozen results out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from analysis.statistics.naming import cluster_label, is_neutral

#: Origins of a face in the record: the names were applied to it, it joined a named cluster
#: through matching, or it belongs to a cluster first seen after naming.
BOUND, MATCHED, NEW = "bound", "matched", "new"
#: A part of a named cluster at least this share of its faces (and 2 faces) counts for a split or merge.
SPLIT_SHARE = 0.2
#: A named cluster keeping fewer than this share of its faces has "lost most of its faces".
LOST_SHARE = 0.5


@dataclass(frozen=True)
class CarryParams:
    """How new faces may join a recorded cluster (``[discovery] carry_min_share``, ``carry_min_anchor``).

    Parameters
    ----------
    min_share : float, default=0.75
        Share of a discovered cluster's recorded faces that must carry one identity for its new
        faces to take it; below it the build stops with an error.
    min_anchor : float, default=0.2
        Share of a discovered cluster that must be recorded faces (and at least 2) for its new
        faces to join a recorded cluster at all; below it they form a new unnamed cluster.
    min_iou : float, default=0.5
        Box overlap (intersection over union) at which a face of a photo with the recorded
        content hash is the recorded face.
    """

    min_share: float = 0.75
    min_anchor: float = 0.2
    min_iou: float = 0.5

    def __post_init__(self) -> None:
        for name in ("min_share", "min_anchor", "min_iou"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")


@dataclass(frozen=True)
class ClusterMatch:
    """One discovered cluster of this build and the recorded clusters its faces belong to.

    Counted after the matching, by origin, so that a rebuild with nothing changed says the same.
    """

    discovered: int
    faces: int
    bound: int  # faces the names were given to
    matched: int  # faces that joined a recorded cluster through matching
    new: int  # faces of clusters first seen after naming
    cluster: int  # the recorded cluster most of its faces belong to (ties: smaller id)
    identity: str  # that cluster's identity ("" when dropped)
    share: float  # share of its faces carrying that identity


@dataclass(frozen=True)
class NameWarning:
    """A change a user should look at: ``kind`` is split, merged, lost or unanchored."""

    kind: str
    text: str


@dataclass(frozen=True, eq=False)
class CarryOver:
    """Recorded cluster of every face of this build, and what the matching found.

    ``items``, ``cluster`` and ``origin`` are aligned with the embedding rows.
    """

    items: np.ndarray
    cluster: np.ndarray  # (n,) int: the cluster id the names file refers to
    origin: np.ndarray  # (n,) str: BOUND, MATCHED or NEW
    discovered: np.ndarray  # (n,) int: this build's KMeans cluster
    matches: tuple[ClusterMatch, ...]
    warnings: tuple[NameWarning, ...]
    new_clusters: tuple[int, ...]
    n_missing: int  # recorded faces not found in this build (photos removed or changed)
    first: bool  # True: the names were bound to faces in this build (nothing recorded before)
    fresh: np.ndarray | None = None  # (n,) bool: faces not in the record before this build (for the build log)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``a`` (m, 4) and ``b`` (k, 4), as ``x1, y1, x2, y2``."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda z: np.clip(z[:, 2] - z[:, 0], 0, None) * np.clip(z[:, 3] - z[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def match_faces(photo: np.ndarray, boxes: np.ndarray, rec_photo: np.ndarray, rec_boxes: np.ndarray,
                min_iou: float = 0.5, files: np.ndarray | None = None) -> np.ndarray:
    """Index of each face's recorded face (same photo content hash, best box overlap), -1 when none.

    Parameters
    ----------
    photo : ndarray of shape (n,), str
        Content hash of each face's original photo.
    boxes : ndarray of shape (n, 4)
        Each face's box in original-image pixels.
    rec_photo, rec_boxes : ndarray
        The same for the recorded faces.
    min_iou : float
        Least box overlap of a match.
    files : ndarray of shape (n,), str, optional
        Each face's photo file: faces are matched one-to-one within each file, so two files with
        the same content both find its recorded faces (default: one file per content hash).

    Returns
    -------
    ndarray of shape (n,), int
        One-to-one within each copy of a photo (the best overlaps first); two files with the same
        content both match the recorded faces of that content.
    """
    photo, rec_photo = np.asarray(photo, dtype=str), np.asarray(rec_photo, dtype=str)
    out = np.full(len(photo), -1, dtype=np.int64)
    if not len(photo) or not len(rec_photo):
        return out
    recorded: dict[str, list[int]] = {}
    for j, h in enumerate(rec_photo):
        recorded.setdefault(str(h), []).append(j)
    faces_of: dict[tuple[str, str], list[int]] = {}
    for i, h in enumerate(photo):
        faces_of.setdefault((str(h), "" if files is None else str(files[i])), []).append(i)
    boxes, rec_boxes = np.asarray(boxes, np.float64), np.asarray(rec_boxes, np.float64)
    for (h, _), rows in faces_of.items():
        cand = recorded.get(h)
        if not cand:
            continue
        iou = box_iou(boxes[rows], rec_boxes[cand])
        # greedy on the overlaps, best first: faces of one photo hardly overlap each other
        order = np.argsort(-iou, axis=None, kind="stable")
        used_face, used_rec = set(), set()
        for flat in order:
            i, j = divmod(int(flat), len(cand))
            if iou[i, j] < min_iou:
                break
            if i in used_face or j in used_rec:
                continue
            used_face.add(i)
            used_rec.add(j)
            out[rows[i]] = cand[j]
    return out


def _label(label_of: Mapping[int, str | None], c: int) -> str | None:
    return label_of.get(int(c), cluster_label(c))


def _who(c: int, label: str | None) -> str:
    return f"cluster {c} ({'dropped' if label is None else repr(label)})"


def carry_clusters(items: np.ndarray, discovered: np.ndarray, recorded: np.ndarray, recorded_origin: np.ndarray,
                   label_of: Mapping[int, str | None], bound_total: Mapping[int, int], next_id: int,
                   params: CarryParams = CarryParams(), first: bool = False, n_missing: int = 0) -> CarryOver:
    """Recorded cluster of every face: recorded faces keep theirs, new faces join through their discovered cluster.

    Parameters
    ----------
    items : ndarray of shape (n,), str
        Face items, for messages.
    discovered : ndarray of shape (n,), int
        This build's cluster of every face.
    recorded : ndarray of shape (n,), int
        Recorded cluster of every face found in the record (:func:`match_faces`), -1 for new faces.
    recorded_origin : ndarray of shape (n,), str
        Origin of the recorded faces (BOUND, MATCHED, NEW); ignored for new faces.
    label_of : mapping
        Identity of every recorded cluster (None: dropped), from the names file
        (:func:`analysis.statistics.naming.resolve_names`).
    bound_total : mapping
        Cluster -> number of recorded faces the names were given to (present or not).
    next_id : int
        First free cluster id, for clusters first seen in this build.
    params : CarryParams
    first : bool
        The names are bound in this build (recorded faces are this build's, all BOUND).
    n_missing : int
        Recorded faces not found in this build (reported, not used).

    Returns
    -------
    CarryOver

    Raises
    ------
    ValueError
        No recorded face is in this build while the record holds some (the names file was
        written for other photos), or a discovered cluster with new faces whose recorded faces
        carry no clear identity: naming them either way could rename a person.
    """
    items = np.asarray(items, dtype=str)
    discovered = np.asarray(discovered, dtype=np.int64)
    recorded = np.asarray(recorded, dtype=np.int64)
    n = len(discovered)
    cluster = recorded.copy()
    origin = np.where(recorded >= 0, np.asarray(recorded_origin, dtype=object), NEW).astype(object)
    if n and not (recorded >= 0).any() and sum(bound_total.values()) > 0:
        raise ValueError(f"none of the {sum(bound_total.values())} faces recorded for the names is in this build: the "
                         "names file was written for other photos. Review the photos, or delete the names lock to name "
                         "the clusters of a new discovery (build once without names_file, then write the names again)")
    new_ids, conflicts = [], []
    nxt = int(next_id)
    for d in np.unique(discovered):
        rows = np.flatnonzero(discovered == d)
        known = rows[recorded[rows] >= 0]
        fresh = rows[recorded[rows] < 0]
        if not len(fresh):
            continue
        top_cluster, top_label, share = _majority(recorded[known], label_of)
        if len(known) < 2 or len(known) < params.min_anchor * len(rows):
            cluster[fresh] = nxt  # too few recorded faces to carry a name: a new cluster, unnamed
            new_ids.append(nxt)
            nxt += 1
        elif share < params.min_share:
            counts = _by_label(recorded[known], label_of)
            parts = ", ".join(f"{_who(min(v), lab)}: {sum(v.values())}" for lab, v in counts[:3])
            conflicts.append(f"{len(fresh)} new face(s) (e.g. {items[fresh[0]]}) fall in a discovered cluster whose "
                             f"{len(known)} recorded faces carry different identities ({parts}; the largest share "
                             f"{share:.0%} is below carry_min_share {params.min_share:.0%})")
        else:
            cluster[fresh] = top_cluster
            origin[fresh] = MATCHED
    if conflicts:
        raise ValueError("cannot tell who new faces are: " + "; ".join(conflicts) + ". Review those photos (review_dir "
                         "shows the faces of each cluster), then remove them, raise [discovery] k_min so that the "
                         "people are told apart, or lower carry_min_share")
    origin = origin.astype(str)
    matches = tuple(_cluster_match(int(d), cluster[discovered == d], origin[discovered == d], label_of)
                    for d in np.unique(discovered))
    warnings = _named_changes(discovered, cluster, origin, label_of, bound_total) + _unanchored(
        discovered, cluster, origin, label_of, params)
    return CarryOver(items, cluster, origin, discovered, matches, tuple(warnings), tuple(new_ids), int(n_missing), first,
                     fresh=recorded < 0)


def _by_label(clusters: np.ndarray, label_of: Mapping[int, str | None]) -> list[tuple[str | None, dict[int, int]]]:
    """Faces per identity and cluster, the identity with most faces first (ties: smaller cluster id)."""
    counts: dict[str | None, dict[int, int]] = {}
    for c in clusters:
        per = counts.setdefault(_label(label_of, int(c)), {})
        per[int(c)] = per.get(int(c), 0) + 1
    return sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), min(kv[1])))


def _majority(clusters: np.ndarray, label_of: Mapping[int, str | None]) -> tuple[int, str | None, float]:
    """(largest cluster of the most frequent identity, that identity, its share); (-1, None, nan) for no face."""
    counts = _by_label(clusters, label_of)
    if not counts:
        return -1, None, float("nan")
    label, per = counts[0]
    top = max(per.items(), key=lambda kv: (kv[1], -kv[0]))[0]
    return top, label, sum(per.values()) / len(clusters)


def _cluster_match(d: int, cluster: np.ndarray, origin: np.ndarray, label_of) -> ClusterMatch:
    top, label, share = _majority(cluster, label_of)
    return ClusterMatch(d, len(cluster), int((origin == BOUND).sum()), int((origin == MATCHED).sum()),
                        int((origin == NEW).sum()), top, label or "", share)


def _unanchored(discovered, cluster, origin, label_of, params) -> list[NameWarning]:
    """New clusters whose faces were clustered with named faces, too few of them to carry the name."""
    out = []
    for d in np.unique(discovered):
        here = discovered == d
        new_here = here & (origin == NEW)
        named_here = here & (origin != NEW)
        if not new_here.any() or not named_here.any():
            continue
        top, label, _ = _majority(cluster[named_here], label_of)
        if is_neutral(label):
            continue
        for c in np.unique(cluster[new_here]):
            out.append(NameWarning("unanchored", (
                f"the {int((cluster[new_here] == c).sum())} face(s) of new cluster {int(c)} were clustered with "
                f"{int(named_here.sum())} face(s) of {_who(top, label)} (discovered cluster {int(d)}), too few (less than "
                f"{params.min_anchor:.0%} of its {int(here.sum())} faces, or fewer than 2) to give them that name")))
    return out


def _named_changes(discovered: np.ndarray, recorded: np.ndarray, origin: np.ndarray,
                   label_of: Mapping[int, str | None], bound_total: Mapping[int, int]) -> list[NameWarning]:
    """Splits, merges and losses of named clusters, on the faces the names were given to."""
    out: list[NameWarning] = []
    bound = (recorded >= 0) & (origin == BOUND)
    named = sorted(c for c in bound_total if not is_neutral(_label(label_of, c)))
    for c in named:
        label = _label(label_of, c)
        mine = bound & (recorded == c)
        present, total = int(mine.sum()), int(bound_total[c])
        if total and present < LOST_SHARE * total:
            out.append(NameWarning("lost", (
                f"named {_who(c, label)} lost most of its faces: {present} of its {total} named faces are in this build "
                f"({total - present} in photos removed or changed)")))
        parts = sorted(((int(k), int(v)) for k, v in zip(*np.unique(discovered[mine], return_counts=True))),
                       key=lambda kv: (-kv[1], kv[0]))
        big = [(k, v) for k, v in parts if v >= max(2, SPLIT_SHARE * present)]
        if len(big) >= 2:
            out.append(NameWarning("split", (
                f"named {_who(c, label)} is split: its {present} named faces fall in discovered clusters "
                + ", ".join(f"{k} ({v} faces)" for k, v in big) + "; every one keeps its name")))
    for d in np.unique(discovered):
        here = bound & (discovered == d)
        by_label: dict[str, list[tuple[int, int]]] = {}
        for c, v in zip(*np.unique(recorded[here], return_counts=True)):
            label = _label(label_of, int(c))
            if not is_neutral(label) and v >= max(2, SPLIT_SHARE * int(here.sum())):
                by_label.setdefault(str(label), []).append((int(c), int(v)))
        if len(by_label) >= 2:
            out.append(NameWarning("merged", (
                f"discovered cluster {int(d)} holds the named faces of "
                + ", ".join(f"{_who(c, lab)}: {v}" for lab, parts in sorted(by_label.items()) for c, v in parts)
                + "; the recorded faces keep their names, but the network no longer separates these identities here")))
    return out
