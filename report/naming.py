"""The naming stage of the pipeline: an unlabelled dataset's faces labelled by the user's names file.

:func:`name_clusters` runs between extraction and the analyses (:func:`report.study.load_inputs`).
For every network it

1. re-derives the discovered clusters as the identity discovery page does (same embeddings,
   ``[discovery]`` params and seed; cached);
2. finds which cluster of the names file every face belongs to, from the names lock beside the
   names file (:mod:`report.names_lock`): recorded faces keep their cluster, new faces join one
   through their discovered cluster (:func:`analysis.statistics.name_matching.carry_clusters`).
   Without a lock the names are bound to faces now: to the clusters of the clusters CSV the last
   discovery build published in this output folder (what the user named), else to this build's;
3. applies the names (:func:`analysis.statistics.naming.apply_names`), writes the lock and
   returns labelled embedding sets, with a :class:`~analysis.statistics.naming.NamingRecord`
   per network for the pages and the build log.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from analysis.config import ConfigError
from analysis.embedding.datasets import UNLABELLED, read_names_file
from analysis.embedding.store import stable_hash
from analysis.statistics.discovery import analyze_discovery, face_index_of, photo_of
from analysis.statistics.name_matching import BOUND, CarryParams, carry_clusters, match_faces
from analysis.statistics.naming import NamingRecord, apply_names, is_neutral, resolve_names
from analysis.types import EmbeddingSet
from report.escape import slugify
from report.names_lock import LockedFaces, lock_path, read_lock, write_lock


def clusters_csv(output_dir: Path, dataset: str, network: str) -> Path:
    """The clusters CSV a discovery build publishes (:func:`report.pages.faces.face_sections`)."""
    return Path(output_dir) / "docs" / "tables" / f"data-{slugify(dataset)}-{slugify(network)}-clusters.csv"


def _uncell(value: str) -> str:
    """Undo :func:`report.escape.csv_cell`'s formula guard on a published path."""
    return value[1:] if value.startswith("'") and value[1:2] in ("=", "+", "-", "@", "\t", "\r") else value


def previous_clusters(path: Path) -> dict[tuple[str, int], tuple[int, tuple[float, ...]]] | None:
    """``(original_file, face_index) -> (cluster, box)`` of a published clusters CSV (box NaN where the CSV has
    none); None when absent or unreadable."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        columns = ("x1", "y1", "x2", "y2")
        boxes = (frame[list(columns)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
                 if all(c in frame.columns for c in columns) else np.full((len(frame), 4), np.nan))
        return {(_uncell(f), int(k)): (int(c), tuple(b)) for f, k, c, b in
                zip(frame["original_file"], frame["face_index"], frame["cluster"], boxes)}
    except (OSError, ValueError, KeyError):
        return None


def csv_binding(previous: dict, files: np.ndarray, items: np.ndarray, boxes: np.ndarray, min_iou: float) -> np.ndarray:
    """The cluster each face had in the last discovery build's CSV, or -1: absent, or its box there does not
    overlap this face's box by ``min_iou`` (the photo was replaced under its name, or another detector
    ordered the faces of a group photo differently: the name written for that face is not this one's)."""
    from analysis.statistics.name_matching import box_iou

    out = np.full(len(files), -1, dtype=np.int64)
    for row, (f, item) in enumerate(zip(files, items)):
        hit = previous.get((f, face_index_of(item)))
        if hit is None:
            continue
        cluster, box = hit
        if np.isfinite(box).all() and not box_iou(np.asarray(box), boxes[row])[0, 0] >= min_iou:
            continue
        out[row] = cluster
    return out


def face_keys(emb: EmbeddingSet, trace: pd.DataFrame, manifest: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Content hash of each face's photo, its box and its photo's path, aligned with ``emb``'s rows."""
    sha = dict(zip(manifest["path"].astype(str), manifest["sha256"].astype(str)))
    faces = trace[trace["face_index"] >= 0]
    box_of = {(str(i), int(k)): (x1, y1, x2, y2) for i, k, x1, y1, x2, y2 in
              zip(faces["item"], faces["face_index"], faces["x1"], faces["y1"], faces["x2"], faces["y2"])}
    kept_of = {str(i): int(k) for i, k, kept in zip(faces["item"], faces["face_index"], faces["kept"]) if kept}
    files = np.array([photo_of(i) for i in emb.items], dtype=object)
    index = [face_index_of(i) if "#" in str(i) else kept_of.get(f, 0) for i, f in zip(emb.items, files)]
    boxes = np.array([box_of.get((f, k), (np.nan,) * 4) for f, k in zip(files, index)], dtype=np.float64)
    photos = np.array([sha.get(f, "") for f in files], dtype=object)
    return photos.astype(str), boxes.reshape(-1, 4), files.astype(str)


def name_clusters(embeddings: dict[str, EmbeddingSet], names_file: Path, discovery_params, seed: int, cache_dir: Path,
                  *, dataset: str, manifest: pd.DataFrame, traces: dict[str, pd.DataFrame], output_dir: Path | None = None,
                  networks=None, junk_labels=()) -> tuple[dict[str, EmbeddingSet], tuple[NamingRecord, ...]]:
    """Label the faces of every network's embeddings with the names of their clusters (see module docstring).

    Raises
    ------
    ConfigError
        A malformed names file or lock, one naming clusters that do not exist, a match that
        cannot be made, or names leaving a single identity (the CLI prints one ``error:`` line).
    """
    names_file = Path(names_file)
    try:
        table = read_names_file(names_file, networks=networks, junk_labels=junk_labels)
    except ValueError as exc:  # a user-edited file: one clear line, not a traceback
        raise ConfigError(str(exc)) from None
    unnamed = sorted(net for net, emb in embeddings.items() if emb.n_samples and (emb.identities == UNLABELLED).all())
    general = sorted({r.cluster for r in table.rows if not r.network})
    if len(unnamed) > 1 and general:
        # Each network's discovery is its own clustering: cluster 0 of one network is not cluster 0 of the
        # other, so a row for "every network" named other people's faces in the second one.
        raise ConfigError(
            f"names_file {str(names_file)!r}: {len(general)} row(s) without a network (cluster "
            f"{', '.join(map(str, general[:5]))}{', ...' if len(general) > 5 else ''}) would apply to every network, but "
            f"the clusters of {', '.join(map(repr, unnamed))} are numbered by each network's own discovery; add a "
            "network column and name the clusters of each network from its own clusters table")
    lock_file = lock_path(names_file)
    locked_sets = read_lock(lock_file) or {}
    from report.code_digest import analysis_code_digest

    # Keyed on the statistics half's code too (joblib checks only analyze_discovery's own source): a fix in
    # the KMeans or threshold code it calls must not read back the clusters of the old code.
    discover = joblib.Memory(Path(cache_dir) / "naming" / analysis_code_digest()[:16], verbose=0).cache(analyze_discovery)
    carry_params = CarryParams(discovery_params.carry_min_share, discovery_params.carry_min_anchor)
    named, records, new_sets = {}, [], dict(locked_sets)
    for net, emb in sorted(embeddings.items()):
        if emb.n_samples == 0 or not (emb.identities == UNLABELLED).all():
            named[net] = emb
            continue
        found = discover(emb, discovery_params, seed)
        photos, boxes, files = face_keys(emb, traces[net], manifest)
        locked = locked_sets.get((dataset, net))
        if locked is not None:
            at = match_faces(photos, boxes, locked.photo, locked.boxes, carry_params.min_iou, files=files)
            recorded = np.where(at >= 0, locked.cluster[np.maximum(at, 0)], -1)
            origin = np.where(at >= 0, locked.origin[np.maximum(at, 0)], "")
            is_bound = locked.origin == BOUND
            bound_total = {int(c): int(v) for c, v in zip(*np.unique(locked.cluster[is_bound], return_counts=True))}
            known_ids = {int(c) for c in locked.cluster}
            missing = int(is_bound.sum() - len(set(at[at >= 0].tolist()) & set(np.flatnonzero(is_bound).tolist())))
            bound = f"the faces recorded in {lock_file.name}"
            first = False
        else:
            at = np.full(emb.n_samples, -1)
            recorded, bound = found.clusters.astype(np.int64), "the clusters of this build's discovery"
            previous = previous_clusters(clusters_csv(output_dir, dataset, net)) if output_dir is not None else None
            if previous:
                from_csv = csv_binding(previous, files, emb.items, boxes, carry_params.min_iou)
                if (from_csv >= 0).any():
                    recorded = from_csv
                    bound = (f"the clusters of the last discovery build's {clusters_csv(output_dir, dataset, net).name}, "
                             "which the names were written for")
            origin = np.where(recorded >= 0, BOUND, "")
            bound_total = {int(c): int(v) for c, v in zip(*np.unique(recorded[recorded >= 0], return_counts=True))}
            known_ids = set(bound_total)
            missing, first = 0, True
        try:
            label_of, _, _ = resolve_names(known_ids, table, net)
            carry = carry_clusters(emb.items, found.clusters, recorded, origin, label_of, bound_total,
                                   max(known_ids, default=-1) + 1, carry_params, first=first, n_missing=missing)
            identities, keep, record = apply_names(carry.cluster, table, net, known=known_ids | set(carry.new_clusters))
        except ValueError as exc:
            raise ConfigError(f"names_file {str(names_file)!r}, network {net!r}: {exc}") from None
        if len(set(identities[keep])) < 2:
            raise ConfigError(f"names_file {str(names_file)!r} leaves {len(set(identities[keep]))} identity for network "
                              f"{net!r}; name at least two clusters differently")
        new_sets[(dataset, net)] = _updated(locked, at, photos, boxes, files, carry)
        meta = {**dict(emb.meta), "naming": f"{table.source} sha256/24={stable_hash(table.content)[:24]}"}
        named[net] = dataclasses.replace(emb, vectors=emb.vectors[keep], identities=identities[keep],
                                         items=emb.items[keep], meta=meta)
        records.append(dataclasses.replace(record, carry=carry, lock=lock_file.name, bound=bound,
                                           chosen_k=found.chosen_k, reason=found.reason))
    if records:
        write_lock(lock_file, new_sets, table.source)
    return named, tuple(records)


def _updated(locked: LockedFaces | None, at: np.ndarray, photos, boxes, files, carry) -> LockedFaces:
    """The lock's faces after this build: recorded ones (paths refreshed), then this build's new faces."""
    fresh = (at < 0) & (photos != "") & np.isfinite(boxes).all(axis=1)
    if locked is None:
        old = LockedFaces(np.array([], dtype=str), np.zeros((0, 4)), np.array([], dtype=np.int64),
                          np.array([], dtype=str), np.array([], dtype=str))
    else:
        seen = np.asarray(locked.file, dtype=object).copy()
        for j, f in zip(at[at >= 0], files[at >= 0]):
            seen[j] = f
        old = dataclasses.replace(locked, file=seen.astype(str))
    # two files with one content are one recorded face
    new_rows = {}
    for i in np.flatnonzero(fresh):
        new_rows.setdefault((photos[i], *np.round(boxes[i], 1)), i)
    idx = np.array(sorted(new_rows.values()), dtype=np.int64)
    return LockedFaces(
        np.concatenate([old.photo, photos[idx]]).astype(str),
        np.concatenate([old.boxes, boxes[idx]]).reshape(-1, 4),
        np.concatenate([old.cluster, carry.cluster[idx]]).astype(np.int64),
        np.concatenate([old.origin, carry.origin[idx]]).astype(str),
        np.concatenate([old.file, files[idx]]).astype(str),
    )


def naming_notes(dataset: str, records) -> list[str]:
    """Build-log lines: what the names were bound to, or how they were carried to this build's clusters."""
    lines = []
    for r in records:
        c = r.carry
        where = f"names of {dataset}/{r.network} ({r.source})"
        identities = len({name for _, name in r.named if not is_neutral(name)})
        if c.first:
            lines.append(f"{where}: bound to {c.cluster.size} faces of {r.n_clusters} clusters, {r.bound}; "
                         f"recorded in {r.lock}, keep it with {r.source}")
        fresh = c.fresh if c.fresh is not None else np.zeros(len(c.cluster), bool)
        joined = int((fresh & (c.origin == "matched")).sum())
        new = int((fresh & (c.origin == "new")).sum())
        if not c.first or joined or new:
            head = f"{where}: {identities} names carried to this build's {len(c.matches)} discovered clusters by the faces " \
                   f"recorded in {r.lock}"
            parts = ([f"{joined} new face(s) joined a cluster through matching"] if joined else []) + (
                [f"{new} formed new unnamed cluster(s) {', '.join(map(str, c.new_clusters))} (name them by adding rows "
                 f"to {r.source})"] if new else []) + (
                [f"{c.n_missing} recorded face(s) not in this build"] if c.n_missing else [])
            lines.append(head + "; " + ("; ".join(parts) if parts else "no new face"))
    return lines
