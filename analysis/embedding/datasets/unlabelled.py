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
        set, the named clusters become identities and the labelled analyses run.
    review_dir : Path, optional
        Folder receiving the aligned crops of every face, one sub-folder per discovered cluster,
        for a local review (never published: it may not lie inside ``docs/``, ``site/`` or
        ``paper/`` unless galleries are on). Unset: no crops written.
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


def read_names_file(path: Path) -> NamingTable:
    """Read the user's naming CSV into a validated :class:`~analysis.statistics.naming.NamingTable`.

    Raises
    ------
    ValueError
        When a required column is missing or a value is malformed, naming the row and the fix.
    """
    path = Path(path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    try:
        return naming_table(frame, source=path.name)
    except ValueError as exc:
        raise ValueError(f"names_file {str(path)!r}: {exc}") from None
