"""The names lock: which faces each cluster of a names file held, kept beside the names file.

``names.csv`` names cluster ids; ids only mean something together with the faces they held when
the names were applied. The build writes ``names.csv.lock.json`` beside the names file (it never
writes into the names file itself): one row per face, ``[photo sha256, x1, y1, x2, y2, cluster,
origin, file]``, per dataset and network. Later builds find those faces again by content and box
(:mod:`analysis.statistics.name_matching`) and add their new faces to it.

Why beside the names file and not in the output folder: the lock gives the names file its
meaning, so it has the names file's lifetime. Deleting or moving the output folder, building
into another one, or copying the names file to another machine keeps the names on their faces
(like a package manager's lock file, keep it with ``names.csv``). A file of that name that the
build did not write is never overwritten; a damaged one stops the build with its name.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.config import ConfigError
from analysis.embedding.store import atomic_write_text
from analysis.statistics.name_matching import BOUND, MATCHED, NEW
from report.json_files import JsonReadError, read_json

FORMAT = "face-embedding-atlas names lock 1"
SUFFIX = ".lock.json"
#: A lock is a few hundred bytes per face; anything larger than this is not one.
MAX_BYTES = 1 << 30
_ABOUT = ("Written by face-embedding-atlas: the faces each cluster of the names file held when the names were applied "
          "(photo content hash and box). Keep it with the names file; delete it only to name a new discovery.")
_SHA = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, eq=False)
class LockedFaces:
    """The recorded faces of one (dataset, network), aligned arrays."""

    photo: np.ndarray  # (m,) str: sha256 of the original photo
    boxes: np.ndarray  # (m, 4) float: x1, y1, x2, y2 in original-image pixels
    cluster: np.ndarray  # (m,) int
    origin: np.ndarray  # (m,) str: bound, matched, new
    file: np.ndarray  # (m,) str: where the photo was when last seen (for people reading the lock)

    @property
    def n_faces(self) -> int:
        return int(len(self.cluster))


def lock_path(names_file: Path) -> Path:
    """``names.csv`` -> ``names.csv.lock.json`` (same folder)."""
    names_file = Path(names_file)
    return names_file.with_name(names_file.name + SUFFIX)


def _bad(path: Path, what: str) -> ConfigError:
    return ConfigError(f"names lock {str(path)!r}: {what}; it is written by the build beside the names file: restore "
                       "it, or delete it to bind the names to the clusters of this build again (only if the names file "
                       "was written for them)")


def read_lock(path: Path) -> dict[tuple[str, str], LockedFaces] | None:
    """The recorded faces per (dataset, network); None when there is no lock yet.

    Raises
    ------
    ConfigError
        A file that is not a names lock (never overwritten), or a damaged one.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return None
    if not path.is_file():
        raise _bad(path, "is not a regular file")
    try:
        doc = read_json(path, MAX_BYTES, ", more than a names lock can be")
    except JsonReadError as exc:
        raise _bad(path, str(exc)) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ConfigError(f"{str(path)!r} exists but is not a names lock written by this build (format "
                          f"{doc.get('format') if isinstance(doc, dict) else None!r}); it is never overwritten: move it "
                          "away, the build keeps the faces of each name there")
    sets = doc.get("sets")
    if not isinstance(sets, list):
        raise _bad(path, "has no list 'sets'")
    out: dict[tuple[str, str], LockedFaces] = {}
    for s in sets:
        if not isinstance(s, dict) or not isinstance(s.get("dataset"), str) or not isinstance(s.get("network"), str) \
                or not isinstance(s.get("faces"), list):
            raise _bad(path, "has a set without dataset, network and faces")
        out[(s["dataset"], s["network"])] = _faces(path, s["faces"])
    return out


def _faces(path: Path, rows: list) -> LockedFaces:
    photo, boxes, cluster, origin, file = [], [], [], [], []
    for i, row in enumerate(rows):
        ok = (isinstance(row, list) and len(row) == 8 and isinstance(row[0], str) and _SHA.fullmatch(row[0])
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in row[1:5])
              and isinstance(row[5], int) and not isinstance(row[5], bool) and 0 <= row[5] < 2**31
              and row[6] in (BOUND, MATCHED, NEW) and isinstance(row[7], str))
        if not ok:
            raise _bad(path, f"face row {i + 1} is not [sha256, x1, y1, x2, y2, cluster, origin, file]")
        photo.append(row[0])
        boxes.append(row[1:5])
        cluster.append(row[5])
        origin.append(row[6])
        file.append(row[7])
    return LockedFaces(np.array(photo, dtype=str), np.array(boxes, dtype=np.float64).reshape(-1, 4),
                       np.array(cluster, dtype=np.int64), np.array(origin, dtype=str), np.array(file, dtype=str))


def lock_text(sets: dict[tuple[str, str], LockedFaces], names_source: str) -> str:
    """The lock file's text: JSON with one face per line, sets and faces sorted (deterministic, diff-friendly)."""
    dump = lambda v: json.dumps(v, ensure_ascii=False, allow_nan=False)  # noqa: E731
    parts = []
    for (dataset, network), f in sorted(sets.items()):
        rows = sorted(
            [str(p), *(round(float(v), 1) for v in b), int(c), str(o), _printable(str(fl))]
            for p, b, c, o, fl in zip(f.photo, f.boxes, f.cluster, f.origin, f.file))
        faces = ",\n".join(f"   {dump(r)}" for r in rows)
        parts.append(f' {{"dataset": {dump(dataset)}, "network": {dump(network)}, "faces": [\n{faces}\n ]}}')
    head = ", ".join(f"{dump(k)}: {dump(v)}" for k, v in (("format", FORMAT), ("about", _ABOUT), ("names_file", names_source)))
    return "{" + head + ', "sets": [\n' + ",\n".join(parts) + "\n]}\n"


def _printable(name: str) -> str:
    """A file name as UTF-8 text (undecodable bytes of a non-UTF-8 name become U+FFFD; the name is informative only)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def write_lock(path: Path, sets: dict[tuple[str, str], LockedFaces], names_source: str) -> bool:
    """Write the lock atomically when its content changed; True when written.

    Raises
    ------
    ConfigError
        When it cannot be written (read-only folder, full disk), naming the file.
    """
    path = Path(path)
    text = lock_text(sets, names_source)
    try:
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return False
        atomic_write_text(path, text)
    except OSError as exc:
        raise ConfigError(f"cannot write the names lock {str(path)!r} ({type(exc).__name__}: {exc.strerror or exc}); "
                          "the build keeps there which faces each name was given to: make the names file's folder "
                          "writable or free space") from None
    return True
