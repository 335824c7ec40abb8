"""Results of the dataset adapters and the manifest machinery shared by the image adapters.

Holds the :class:`Manifest` and :class:`LoadedEmbeddings` result types, the stable skip-reason
strings recorded while listing or loading (reports count them), :data:`MANIFEST_COLUMNS`, the
sorted folder walk and file classification, the threaded hashing of listed files into a
manifest frame, skip frames and :func:`manifest_hash`.
"""
from __future__ import annotations

import hashlib
import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from analysis.types import EmbeddingSet

SKIP_COLUMNS = ["item", "reason"]
MANIFEST_COLUMNS = ["path", "identity", "sha256", "bytes"]

# Reasons recorded while listing (stable strings: reports count them).
NOT_IMAGE_FILE = "not an image file (extension)"
HIDDEN_FILE = "hidden file"
NO_IDENTITY_FOLDER = "not inside an identity folder"
NO_IDENTITY_MATCH = "file name does not match identity_regex"
EMPTY_FILE = "empty file"
UNREADABLE_FILE = "unreadable file"
MISSING_FILE = "missing file"
UNREADABLE_FOLDER = "unreadable folder"
EMPTY_FOLDER = "empty folder"
FOLDER_NAMED_LIKE_IMAGE = "a folder named like an image file"
DUPLICATE_PATH = "duplicate path"
OUTSIDE_ROOT = "path outside root"
MISSING_VALUE = "missing path or identity"
NON_FINITE = "non-finite values (NaN or inf)"
UNPARSABLE = "unparsable embedding"
MISSING_IDENTITY = "missing identity"
DUPLICATE_ITEM = "duplicate item"


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Manifest:
    """Sorted list of the images of an image dataset.

    Parameters
    ----------
    frame : DataFrame
        Columns ``path`` (relative to ``root``, POSIX separators), ``identity``, ``sha256``
        (hex digest of the file) and ``bytes``; sorted by ``path``; paths unique.
    root : Path
        Folder the paths are relative to.
    skipped : DataFrame
        Columns ``item`` and ``reason``: files left out while listing.
    content_hash : str
        Hash of (path, identity, sha256) of every row: the images' identity for caching.
    pairs : DataFrame or None
        Verification pairs (LFW protocol): columns ``path_a``, ``path_b``, ``same`` (bool),
        ``fold`` (int); None for datasets without a pairs protocol.
    """

    frame: pd.DataFrame
    root: Path
    skipped: pd.DataFrame
    content_hash: str
    pairs: pd.DataFrame | None = None

    @property
    def n_images(self) -> int:
        return int(len(self.frame))


@dataclass(frozen=True, eq=False)
class LoadedEmbeddings:
    """Precomputed embeddings read from a file.

    Parameters
    ----------
    embeddings : EmbeddingSet
        Valid rows only (finite, right dimension, with an identity), in file order.
    skipped : DataFrame
        Columns ``item`` and ``reason`` for every dropped row.
    content_hash : str
        Hash of the source file(s) and of the adapter options.
    columns : DataFrame or None
        The file's other columns (not identity, item or vector) for the kept rows, indexed by item:
        candidate group columns (:mod:`analysis.embedding.datasets.groups`).
    """

    embeddings: EmbeddingSet
    skipped: pd.DataFrame
    content_hash: str
    columns: pd.DataFrame | None = None


# --------------------------------------------------------------------------------------------
# Manifest rows: walking, classifying, hashing
# --------------------------------------------------------------------------------------------


def manifest_hash(frame: pd.DataFrame) -> str:
    """Hash of the (path, identity, sha256) rows of a manifest frame."""
    h = hashlib.sha256()
    for path, identity, digest in zip(frame["path"], frame["identity"], frame["sha256"]):
        h.update(f"{path}\x1f{identity}\x1f{digest}\x1e".encode("utf-8"))
    return h.hexdigest()[:24]


def _existing_dir(root: Path, name: str) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset {name!r}: root {str(root)!r} is not a folder; fix 'root' in the config")
    return root.resolve()


def _norm_identity(text: str) -> str:
    # File systems differ in Unicode normalisation (macOS writes NFD): one person, one name.
    return unicodedata.normalize("NFC", str(text)).strip()


def _walk(root: Path, follow_symlinks: bool) -> Iterable[tuple[str, bool]]:
    """Yield (relative posix path, hidden) for every file under root, sorted."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow_symlinks):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(root)
        hidden_dir = any(part.startswith(".") for part in rel_dir.parts)
        for fname in sorted(filenames):
            yield (rel_dir / fname).as_posix(), hidden_dir or fname.startswith(".")


def folder_skips(root: Path, follow_symlinks: bool, extensions: tuple[str, ...]) -> list[tuple[str, str]]:
    """Folders that yield no embedding, as ``(relative path + "/", reason)``, sorted.

    :func:`_walk` lists files only, so an unreadable identity folder, an empty one or a folder
    named ``31_dir.jpg`` used to vanish without a trace; the Data page's skip table lists them.
    """
    out: list[tuple[str, str]] = []
    exts = {e.lower() for e in extensions}

    def unreadable(err: OSError) -> None:
        rel = Path(err.filename).relative_to(root).as_posix() if err.filename else "?"
        out.append((rel + "/", f"{UNREADABLE_FOLDER} ({type(err).__name__})"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow_symlinks, onerror=unreadable):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root)
        if rel == Path("."):
            continue
        if not dirnames and not filenames:
            out.append((rel.as_posix() + "/", EMPTY_FOLDER))
        elif rel.suffix.lower() in exts:
            out.append((rel.as_posix() + "/", FOLDER_NAMED_LIKE_IMAGE))
    # os.walk reports an unreadable folder only if it can list its parent; a folder that lists
    # but whose entries cannot be opened is caught when hashing the files (UNREADABLE_FILE).
    return sorted(set(out))


def _classify(rel: str, hidden: bool, extensions: tuple[str, ...]) -> str | None:
    if hidden:
        return HIDDEN_FILE
    if Path(rel).suffix.lower() not in {e.lower() for e in extensions}:
        return NOT_IMAGE_FILE
    return None


def _hash_rows(root: Path, rows: list[tuple[str, str]], threads: int):
    """sha256 and size of every listed file (threads: hashing is disk-bound)."""

    def digest(rel: str):
        try:
            h = hashlib.sha256()
            size = 0
            with open(root / rel, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
                    size += len(chunk)
            return h.hexdigest(), size, None
        except OSError as exc:
            return None, 0, f"{UNREADABLE_FILE} ({type(exc).__name__})"

    with ThreadPoolExecutor(max(1, threads)) as pool:
        digests = list(pool.map(digest, [r for r, _ in rows]))
    good, skipped = [], []
    for (rel, ident), (sha, size, err) in zip(rows, digests):
        if err:
            skipped.append((rel, err))
        elif size == 0:
            skipped.append((rel, EMPTY_FILE))
        else:
            good.append((rel, ident, sha, size))
    frame = pd.DataFrame(good, columns=MANIFEST_COLUMNS).astype({"bytes": np.int64})
    frame = frame.sort_values("path", kind="stable").reset_index(drop=True)
    return frame, skipped


def _skip_frame(rows: list[tuple[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=SKIP_COLUMNS).astype(str)
    return frame.sort_values(["item", "reason"], kind="stable").reset_index(drop=True)

