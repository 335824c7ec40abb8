"""``kind = "unlabelled"``: a folder of photos without identities, and the naming file that labels them.

A researcher's photo archive (class photos, group shots) has no identity structure: ``root`` is
listed recursively and every image becomes a manifest row whose identity is the placeholder
:data:`UNLABELLED`. With ``[extraction] face_selection = "all"`` every detected face becomes one
embedding (item ``<path>#<face index>``); the identity discovery analysis
(:mod:`analysis.statistics.discovery`) clusters them.

Naming closes the loop: the user copies the discovered clusters CSV, writes a name per cluster
and points ``names_file`` at it; on rebuild the named clusters become identity labels
(:mod:`analysis.statistics.naming`) and every labelled analysis runs. :func:`read_names_file`
reads that CSV here, next to the adapter, because reading files is the embedding half's job.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

from analysis.embedding.datasets.manifest import _classify
from analysis.embedding.datasets.walk import list_tree
from analysis.embedding.images import IMAGE_EXTENSIONS
from analysis.statistics.naming import NamingTable, naming_table

#: Identity of every face of an unlabelled dataset before naming. Parentheses keep it apart
#: from any real folder or person name.
UNLABELLED = "(unlabelled)"


@dataclass(frozen=True)
class UnlabelledDatasetOptions:
    """``kind = "unlabelled"``: photos searched recursively under ``root``, no identities.

    Parameters
    ----------
    root : Path
        Photo folder; sub-folders are searched too and carry no meaning.
    names_file : Path, optional
        The user's naming CSV (columns ``cluster``, ``name``, optional ``merge`` and ``drop``,
        optional ``network``), written from the discovered clusters CSV of a first build. When
        set, the named clusters become identities and the labelled analyses run; the build keeps
        the faces of each named cluster in ``<names_file>.lock.json`` beside it (:mod:`report.names_lock`).
    review_dir : Path, optional
        Folder receiving the aligned crops of every face, one sub-folder per cluster, for a local
        review (:mod:`report.review`; never published: ``/``, the home folder, a folder inside a
        dataset root or inside ``docs/``, ``site/``, ``paper/`` is refused at load). Unset: no crops.
    extensions, follow_symlinks, hash_threads
        As for :class:`~analysis.embedding.datasets.image_folders.FolderDatasetOptions`.
    """

    FAMILY: ClassVar[str] = "images"

    root: Path
    names_file: Path | None = None
    review_dir: Path | None = None
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS
    follow_symlinks: bool = False
    hash_threads: int = 4


def _list_unlabelled(root: Path, options: UnlabelledDatasetOptions):
    listing = list_tree(root, options.follow_symlinks, options.extensions)
    rows, skipped = [], list(listing.skips)  # empty folders mean nothing here: folders carry no meaning
    for rel, hidden in listing.files:
        reason = _classify(rel, hidden, options.extensions)
        if reason:
            skipped.append((rel, reason))
            continue
        rows.append((rel, UNLABELLED))
    return rows, skipped


#: A names file has one row per cluster; anything this large is not one.
NAMES_FILE_MAX_BYTES = 16 << 20


def read_names_file(path: Path, networks=None, junk_labels=()) -> NamingTable:
    """Read the user's naming CSV into a validated :class:`~analysis.statistics.naming.NamingTable`.

    The file is UTF-8 (a byte-order mark, as spreadsheets write it, is accepted); every cell is
    read as text. ``networks`` and ``junk_labels`` are passed to
    :func:`~analysis.statistics.naming.naming_table` (valid ``network`` cells, refused names).

    Raises
    ------
    ValueError
        Naming the file: unreadable, empty, not UTF-8, not a CSV, a required column missing or
        a value malformed (with the row and the fix).
    """
    path = Path(path)
    where = f"names_file {str(path)!r}"
    try:
        if not path.is_file():
            raise ValueError(f"{where} is not a file; point names_file at the CSV of names")
        size = path.stat().st_size
        if size > NAMES_FILE_MAX_BYTES:
            raise ValueError(f"{where} is {size:,d} bytes; a names file has one short row per cluster")
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{where} cannot be read ({type(exc).__name__}: {exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")  # a UTF-8 BOM (Excel's "CSV UTF-8") is not part of the first column name
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as "
                         "UTF-8 (in a spreadsheet: 'CSV UTF-8'), e.g. iconv -f latin1 -t utf-8") from None
    if not text.strip():
        raise ValueError(f"{where} is empty; write a header 'cluster,name' and one row per cluster to name")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{where} is not a readable CSV ({' '.join(str(exc).split())})") from None
    try:
        return naming_table(frame, source=path.name, networks=networks, junk_labels=junk_labels)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
