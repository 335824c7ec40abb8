"""Review folders: the aligned crop of every face, one sub-folder per cluster (local only).

The hand workflow reviews clusters as folders of faces before naming them. With ``review_dir``
set on an unlabelled dataset, :func:`write_review_folders` (called by :mod:`report.driver`)
writes ``<review_dir>/<dataset>-<network>/cluster-NN/<photo>__face<k>__<hash>.jpg`` for every
face, cut from the original photo with the trace's box and landmarks
(:mod:`analysis.embedding.thumbnails`). Before naming the folders are the discovered clusters;
after naming they are the clusters the names file refers to (the names lock's ids), so that a
new cluster can be looked at before it is named.

The folder follows the output ownership rules (:mod:`report.ownership`): its manifest
``.atlas-review.json`` lists every crop the build wrote with its SHA-256. Crops of clusters
that no longer exist are removed; a file the build did not write, or a crop the user edited, is
never deleted or overwritten (a warning names it). Crop names hold the photo's whole relative
path and a hash of it, so ``x.jpg``/``x.png`` and ``a/b.jpg``/``a__b.jpg`` never collide.
Where the folder may be is checked at config load (:mod:`analysis.unlabelled_config`).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from analysis.embedding.images import ImageSkip, decode_file, encode_jpeg
from analysis.embedding.store import atomic_write_bytes, atomic_write_text
from analysis.embedding.thumbnails import crop_matrix, cut_thumbnail
from analysis.statistics.discovery import face_index_of, photo_of
from analysis.statistics.naming import cluster_label
from report.escape import slugify

CROP_SIZE = 112
MANIFEST = ".atlas-review.json"
FORMAT = "face-embedding-atlas review folder 1"
#: Characters of the photo path kept in a crop's name (file systems allow 255 bytes per name).
_NAME_CHARS = 100


def crop_name(photo: str, face_index: int) -> str:
    """File name of a face's crop: the photo's relative path made flat, the face, and a hash of the exact path."""
    printable = photo.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    flat = re.sub(r"[\x00-\x1f\x7f/\\\ufffd]", "_", printable.replace("/", "__"))
    # Cut by UTF-8 bytes, not characters: 100 CJK characters are 300 bytes, over the 255-byte limit of a
    # file name on most file systems (each rebuild then stopped with "File name too long").
    flat = flat.encode("utf-8")[:_NAME_CHARS].decode("utf-8", "ignore")
    digest = hashlib.sha256(photo.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{flat.lstrip('.') or '_'}__face{int(face_index)}__{digest}.jpg"


def _inside(review: Path, rel: str) -> bool:
    """Whether the manifest's relative path ``rel`` names a file inside the review folder (no ``..``, not absolute)."""
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha(path: Path) -> str | None:
    try:
        return _sha(path.read_bytes()) if path.is_file() and not path.is_symlink() else None
    except OSError:
        return None


def read_manifest(review: Path, warn) -> dict[str, str]:
    """``relative path -> sha256`` of the crops the build wrote; empty (with a warning) when unreadable."""
    path = review / MANIFEST
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = doc["files"] if doc.get("format") == FORMAT else None
        if isinstance(files, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            return dict(files)
    except (OSError, ValueError, AttributeError, KeyError):
        pass
    warn(f"review folder manifest {str(path)!r} is unreadable: files already in {str(review)!r} are treated as yours "
         "(never deleted or overwritten)")
    return {}


def _assignments(results, discovery_of) -> dict[str, dict[str, tuple]]:
    """dataset -> network -> (items, clusters): discovered clusters, or the names file's after naming."""
    out: dict[str, dict[str, tuple]] = {}
    for inp in results.inputs:
        sets = {net: (found.items, found.clusters) for net, found in discovery_of(inp.spec.name).items()}
        for record in inp.naming:
            if record.carry is not None:
                sets[record.network] = (record.carry.items, record.carry.cluster)
        out[inp.spec.name] = sets
    return out


def _crops(inp, trace, items, clusters, prefix: str) -> dict[str, bytes]:
    """``relative path -> JPEG bytes`` of every face of one (dataset, network)."""
    faces = trace[trace["face_index"] >= 0].set_index(["item", "face_index"])
    by_photo: dict[str, list[tuple[int, int]]] = {}
    for item, cluster in zip(items, clusters):
        by_photo.setdefault(photo_of(item), []).append((face_index_of(item), int(cluster)))
    out = {}
    for photo, members in sorted(by_photo.items()):
        try:
            img = decode_file(Path(inp.image_root) / photo, target_side=None)
        except ImageSkip:
            continue  # unreadable now: the trace and the CSV still list the face
        for k, cluster in members:
            if (photo, k) not in faces.index:
                continue
            row = faces.loc[(photo, k)]
            box = row[["x1", "y1", "x2", "y2"]].to_numpy(dtype=float)
            lmk = row[[f"{a}{i}" for i in range(5) for a in ("lx", "ly")]].to_numpy(dtype=float).reshape(5, 2)
            crop = cut_thumbnail(img.bgr, crop_matrix(box * img.scale, lmk * img.scale, str(row["landmark_scheme"]),
                                                      CROP_SIZE), CROP_SIZE)
            out[f"{prefix}/{cluster_label(cluster)}/{crop_name(photo, k)}"] = encode_jpeg(crop)
    return out


def write_review_folders(results, discovery_of, warn=None) -> list[Path]:
    """Write the review crops of every unlabelled dataset with ``review_dir``; the folders written.

    ``discovery_of(dataset)`` gives ``network -> DiscoveryResult`` (see :func:`report.assemble.discovered_clusters`);
    ``warn`` receives one line per file left alone.
    """
    warn = warn or (lambda _text: None)
    written = []
    assignments = _assignments(results, discovery_of)
    by_folder: dict[Path, list] = {}
    for inp in results.inputs:
        review = getattr(inp.spec.options, "review_dir", None)
        if review is not None and inp.image_root is not None and assignments.get(inp.spec.name):
            by_folder.setdefault(Path(review).resolve(), []).append(inp)
    for review, inputs in sorted(by_folder.items()):
        owned = read_manifest(review, warn)
        desired: dict[str, bytes] = {}
        prefixes = []
        for inp in inputs:
            for net, (items, clusters) in sorted(assignments[inp.spec.name].items()):
                prefix = f"{slugify(inp.spec.name)}-{slugify(net)}"
                prefixes.append(prefix)
                desired.update(_crops(inp, inp.trace[net], items, clusters, prefix))
                written.append(review / prefix)
        owned = _sync(review, desired, owned, prefixes, warn)
        atomic_write_text(review / MANIFEST, json.dumps({"format": FORMAT, "files": dict(sorted(owned.items()))},
                                                        indent=1, ensure_ascii=False) + "\n")
    return written


def _sync(review: Path, desired: dict[str, bytes], owned: dict[str, str], prefixes: list[str], warn) -> dict[str, str]:
    """Write the desired crops, remove the build's stale ones under ``prefixes``; the new manifest."""
    owned = dict(owned)
    for rel, data in sorted(desired.items()):
        target, sha = review / rel, _sha(data)
        if not _inside(review, rel):
            owned.pop(rel, None)
            continue
        current = _file_sha(target)
        if current == sha:
            owned[rel] = sha  # already there (also after a killed build that wrote it but not the manifest)
            continue
        if target.exists() or target.is_symlink():
            if current is None or owned.get(rel) != current:
                warn(f"review crop not written: {str(target)!r} is not a file the build wrote; it is left alone")
                owned.pop(rel, None)
                continue
        try:
            atomic_write_bytes(target, data)
        except OSError as exc:
            warn(f"review crop not written: {str(target)!r} ({type(exc).__name__}: {exc.strerror or exc})")
            continue
        owned[rel] = sha
    parents = set()
    for rel in sorted(set(owned) - set(desired)):
        if not any(rel.startswith(p + "/") for p in prefixes):
            continue  # another dataset's crops (not reviewed in this build): left as they are
        if not _inside(review, rel):  # a hand-edited manifest entry ("ds-net/../../x"): never followed
            owned.pop(rel)
            continue
        target = review / rel
        if _file_sha(target) == owned[rel]:
            target.unlink()
            parents.add(target.parent)
        elif target.exists():
            warn(f"review crop {str(target)!r} of a cluster that no longer exists was changed; it is kept")
        owned.pop(rel)
    for folder in sorted(parents, key=lambda p: -len(p.parts)):
        try:
            folder.rmdir()  # only when empty: a file of the user's keeps its folder
        except OSError:
            pass
    return owned
