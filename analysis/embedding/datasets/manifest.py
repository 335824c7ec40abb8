"""Results of the dataset adapters and the manifest machinery shared by the image adapters.

Holds the :class:`Manifest` and :class:`LoadedEmbeddings` result types, the stable skip-reason
strings recorded while listing or loading (reports count them; those of the folder walk come from
:mod:`~analysis.embedding.datasets.walk`), :data:`MANIFEST_COLUMNS`, file classification, the
threaded hashing of listed files into a manifest frame, skip frames and :func:`manifest_hash`.
"""
from __future__ import annotations

import hashlib
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
import numpy as np
import pandas as pd

from analysis.embedding.datasets.walk import (  # noqa: F401 - reasons re-exported with the others
    BROKEN_LINK,
    EMPTY_FOLDER,
    FOLDER_NAMED_LIKE_IMAGE,
    LINK_LISTED,
    LINK_OUTSIDE_ROOT,
    LINKED_FOLDER,
    MISSING_FILE,
    NOT_UTF8,
    UNREADABLE_FILE,
    UNREADABLE_FOLDER,
)
from analysis.embedding.images import NOT_REGULAR, NotRegularFileError, open_regular
from analysis.types import EmbeddingSet

SKIP_COLUMNS = ["item", "reason"]
MANIFEST_COLUMNS = ["path", "identity", "sha256", "bytes"]

# Reasons recorded while listing (stable strings: reports count them).
NOT_IMAGE_FILE = "not an image file (extension)"
HIDDEN_FILE = "hidden file"
NO_IDENTITY_FOLDER = "not inside an identity folder"
NO_IDENTITY_MATCH = "file name does not match identity_regex"
EMPTY_FILE = "empty file"
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
            with open_regular(root / rel) as fh:  # never blocks on a FIFO, never reads /dev/zero
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
                    size += len(chunk)
            return h.hexdigest(), size, None
        except NotRegularFileError as exc:  # became a FIFO or a device after the listing
            return None, 0, f"{NOT_REGULAR} ({exc.kind})"
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

