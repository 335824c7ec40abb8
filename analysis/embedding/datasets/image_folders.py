"""Image adapters that list files on disk: folder-per-identity, FRGC file names, CSV manifests.

Holds the options dataclasses of ``kind = "folder"``, ``"filename"`` and ``"csv"`` and the
functions listing their (path, identity) rows, with :func:`identity_from_filename`. Hashing the
listed files into a :class:`~analysis.embedding.datasets.manifest.Manifest` is shared and lives
in :mod:`analysis.embedding.datasets.manifest`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

from analysis.embedding.datasets.manifest import (
    DUPLICATE_PATH,
    MISSING_VALUE,
    NO_IDENTITY_FOLDER,
    NO_IDENTITY_MATCH,
    OUTSIDE_ROOT,
    _classify,
    _norm_identity,
)
from analysis.embedding.datasets.text_files import read_csv_table
from analysis.embedding.datasets.walk import check_listed_file, list_tree
from analysis.embedding.images import IMAGE_EXTENSIONS


# --------------------------------------------------------------------------------------------
# Options: image datasets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderDatasetOptions:
    """``kind = "folder"``: one sub-folder per identity (``<root>/<Identity>/<file>``).

    Parameters
    ----------
    root : Path
        Dataset folder; relative paths are taken from the config file's folder.
    extensions : tuple of str
        File name extensions treated as images (case-insensitive).
    follow_symlinks : bool, default=False
        Enter symbolic links to folders, and use links to files outside ``root``, while listing.
        Off: such links are skips whose reason names this option; links to files inside
        ``root`` are used either way, and every file counts once
        (:mod:`analysis.embedding.datasets.walk`).
    hash_threads : int, default=4
        Threads hashing files (disk-bound, so a few threads help even on one core).
    """

    FAMILY: ClassVar[str] = "images"

    root: Path
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS
    follow_symlinks: bool = False
    hash_threads: int = 4


@dataclass(frozen=True)
class FilenameDatasetOptions:
    """``kind = "filename"``: identity read from each file name (FRGC style).

    Parameters
    ----------
    root : Path
        Dataset folder, listed recursively.
    identity_prefix : int, default=5
        Identity = the first ``identity_prefix`` characters of the file name (FRGC subject
        ids are 5 digits: ``02463d452.jpg`` -> ``02463``). Ignored when ``identity_regex``
        is set.
    identity_regex : str, default=""
        Regular expression searched in the file name; the identity is its named group
        ``identity``, else its first group, else the whole match. Files that do not match
        are skipped with a recorded reason.
    extensions, follow_symlinks, hash_threads
        As for :class:`FolderDatasetOptions`.
    """

    FAMILY: ClassVar[str] = "images"

    root: Path
    identity_prefix: int = 5
    identity_regex: str = ""
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS
    follow_symlinks: bool = False
    hash_threads: int = 4

    def __post_init__(self) -> None:
        if self.identity_prefix < 1:
            raise ValueError("identity_prefix must be at least 1")
        if self.identity_regex:
            try:
                re.compile(self.identity_regex)
            except re.error as exc:
                raise ValueError(f"identity_regex {self.identity_regex!r} is not a valid regular expression: {exc}") from None


@dataclass(frozen=True)
class CsvManifestOptions:
    """``kind = "csv"``: a CSV manifest listing images and identities.

    Parameters
    ----------
    manifest_file : Path
        CSV file with at least a path column and an identity column.
    root : Path, optional
        Folder the paths are relative to; default: the CSV file's folder.
    path_column, identity_column : str, default="path", "identity"
    follow_symlinks : bool, default=False
        Use listed files that are symbolic links pointing outside ``root`` (off: a skip naming this
        option), as for :class:`FolderDatasetOptions`. A path written outside ``root``
        (``../x.jpg``) is always a skip.
    hash_threads : int, default=4
    """

    FAMILY: ClassVar[str] = "images"

    manifest_file: Path
    root: Path | None = None
    path_column: str = "path"
    identity_column: str = "identity"
    follow_symlinks: bool = False
    hash_threads: int = 4


# --------------------------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------------------------


def _list_folder(root: Path, extensions, follow_symlinks) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    listing = list_tree(root, follow_symlinks, extensions)
    rows, skipped = [], list(listing.skips + listing.folders)
    for rel, hidden in listing.files:
        reason = _classify(rel, hidden, extensions)
        if reason is None and "/" not in rel:
            reason = NO_IDENTITY_FOLDER
        if reason:
            skipped.append((rel, reason))
            continue
        rows.append((rel, _norm_identity(rel.split("/", 1)[0])))
    return rows, skipped


def _list_by_filename(root: Path, options: FilenameDatasetOptions):
    pattern = re.compile(options.identity_regex) if options.identity_regex else None
    listing = list_tree(root, options.follow_symlinks, options.extensions)
    rows, skipped = [], list(listing.skips + listing.folders)
    for rel, hidden in listing.files:
        reason = _classify(rel, hidden, options.extensions)
        if reason:
            skipped.append((rel, reason))
            continue
        fname = rel.rsplit("/", 1)[-1]
        identity = identity_from_filename(fname, options.identity_prefix, pattern)
        if not identity:
            skipped.append((rel, NO_IDENTITY_MATCH))
            continue
        rows.append((rel, identity))
    return rows, skipped


def identity_from_filename(fname: str, prefix: int = 5, pattern: re.Pattern | None = None) -> str | None:
    """Identity of a file name: a regex group when ``pattern`` is given, else a prefix."""
    if pattern is None:
        stem = fname.rsplit(".", 1)[0] if "." in fname else fname
        return _norm_identity(stem[:prefix]) or None
    m = pattern.search(fname)
    if not m:
        return None
    if "identity" in m.groupdict():
        value = m.group("identity")
    elif m.re.groups:
        value = m.group(1)
    else:
        value = m.group(0)
    return _norm_identity(value) if value else None


def _list_csv(options: CsvManifestOptions, name: str):
    path = Path(options.manifest_file)
    if not path.is_file():
        raise FileNotFoundError(f"dataset {name!r}: manifest_file {str(path)!r} not found")
    root = Path(options.root).resolve() if options.root is not None else path.resolve().parent
    table = read_csv_table(path, f"dataset {name!r}: manifest_file",
                           f"{options.path_column!r} and {options.identity_column!r}", dtype=str, keep_default_na=False)
    for col in (options.path_column, options.identity_column):
        if col not in table.columns:
            raise ValueError(
                f"dataset {name!r}: {str(path)!r} has no column {col!r} (columns: {', '.join(table.columns)}); "
                f"set path_column / identity_column"
            )
    rows, skipped, seen = [], [], set()
    for i, (p, ident) in enumerate(zip(table[options.path_column], table[options.identity_column])):
        p, ident = str(p).strip(), _norm_identity(ident)
        if not p or not ident:
            skipped.append((p or f"row-{i:06d}", MISSING_VALUE))
            continue
        # The path as written decides whether it lies inside root ("../x.jpg" does not); where a
        # symbolic link points is the walk's rule, shared with the folder adapters.
        rel = Path(os.path.relpath(os.path.normpath(os.path.join(root, p)), root)).as_posix()
        if rel.startswith("../") and os.path.isabs(p):  # an absolute path through another name of root
            real = Path(os.path.relpath(os.path.realpath(os.path.dirname(p)), root)).as_posix()
            rel = rel if real.startswith("..") else Path(real, os.path.basename(p)).as_posix().removeprefix("./")
        if rel == "." or rel == ".." or rel.startswith("../"):
            skipped.append((p, OUTSIDE_ROOT))
            continue
        if rel in seen:
            skipped.append((rel, DUPLICATE_PATH))
            continue
        seen.add(rel)
        reason = check_listed_file(root, rel, options.follow_symlinks)
        if reason:
            skipped.append((rel, reason))
            continue
        rows.append((rel, ident))
    return rows, skipped, root


def csv_manifest_columns(options: CsvManifestOptions) -> pd.DataFrame:
    """The manifest's other columns (not path or identity), indexed by the path as the manifest lists it.

    Candidate group columns (sex, age band, session...) for :mod:`analysis.embedding.datasets.groups`;
    a path listed twice keeps its first row, as :func:`_list_csv` does.
    """
    path = Path(options.manifest_file)
    root = Path(options.root).resolve() if options.root is not None else path.resolve().parent
    table = read_csv_table(path, "manifest_file", f"{options.path_column!r} and {options.identity_column!r}",
                           dtype=str, keep_default_na=False)
    extra = [c for c in table.columns if c not in (options.path_column, options.identity_column)]
    rel = []
    for p in table[options.path_column].astype(str).str.strip():
        full = Path(p) if Path(p).is_absolute() else root / p
        try:
            rel.append(full.resolve().relative_to(root).as_posix() if p else "")
        except ValueError:
            rel.append("")
    frame = table[extra].set_axis(pd.Index(rel, name="item"), axis=0)
    frame = frame[(frame.index != "") & (table[options.identity_column].str.strip() != "").to_numpy()]
    return frame[~frame.index.duplicated()]
