"""The researcher's own publishing settings: the ``[paper]`` and ``[site]`` tables of a study config.

Their files live outside the output folder and are only ever read: the build copies what it
needs into ``paper/`` and ``docs/`` (its own copies) and never writes into them. Paths are
relative to the config file. Checked at load (:mod:`analysis.config`): each named file exists and
is a file (the pages folder a folder), no larger than the limits below, and none lies under a
folder the build replaces on every run (``docs/``, ``site/``, ``paper/``, ``overrides/`` of the
output folder).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

#: LaTeX document classes the generated paper is typeset in (Debian: texlive-publishers for the last three).
PAPER_CLASSES = ("article", "IEEEtran", "llncs", "acmart")
#: Sections of the generated paper a researcher's file may replace.
SECTION_KEYS = ("abstract", "introduction", "discussion", "conclusion")
#: Largest user LaTeX file (a section or a main file) and bibliography read, in bytes.
MAX_TEX_BYTES = 4 * 2**20
MAX_BIB_BYTES = 16 * 2**20
#: Folders of an output folder that every build replaces (report.ownership.MANAGED's folders).
GENERATED_FOLDERS = ("docs", "site", "paper", "overrides")


def _check_file(key: str, path: Path | None, limit: int) -> None:
    if path is None:
        return
    if not path.exists():
        raise ValueError(f"{key} = {str(path)!r} does not exist; paths are taken from the config file's folder")
    if not path.is_file():
        raise ValueError(f"{key} = {str(path)!r} is not a file")
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"{key} = {str(path)!r} is {size:,d} bytes, more than the {limit:,d} a study accepts; "
                         "split it into files it \\input's")


@dataclass(frozen=True)
class PaperSettings:
    """The ``[paper]`` table: the researcher's sections, bibliography, main file and venue class.

    Parameters
    ----------
    abstract, introduction, discussion, conclusion : Path or None
        A LaTeX file replacing the generated section (its body: the heading stays the generated
        one unless the file starts with its own ``\\section``; for the abstract, the text inside
        the abstract environment). It may use ``\\atlasvalue{key}``, ``\\atlasinterval{key}``,
        ``\\ref{fig:...}`` / ``\\ref{tab:...}`` of generated floats and ``\\cite`` of the merged
        bibliography.
    bibliography : Path or None
        A ``.bib`` file merged with the project's references; on a key both define, the
        researcher's entry is used (and the build says so).
    main : Path or None
        A whole LaTeX document compiled instead of the generated report. It ``\\input``'s the
        generated parts it wants from ``atlas/`` (``atlas/packages``, ``atlas/results``,
        ``atlas/figures/<key>``, ...) and ``values``; files it reads from its own folder are
        found there (TEXINPUTS) and packed into ``paper/source.zip``.
    document_class : {"article", "IEEEtran", "llncs", "acmart"}
        The class of the generated paper (TOML key ``class``).
    """

    abstract: Path | None = None
    introduction: Path | None = None
    discussion: Path | None = None
    conclusion: Path | None = None
    bibliography: Path | None = None
    main: Path | None = None
    document_class: Literal["article", "IEEEtran", "llncs", "acmart"] = "article"

    def __post_init__(self) -> None:
        for key in (*SECTION_KEYS, "main"):
            _check_file(key, getattr(self, key), MAX_TEX_BYTES)
        _check_file("bibliography", self.bibliography, MAX_BIB_BYTES)

    def sections(self) -> dict[str, Path]:
        """Section name -> the researcher's file, for the sections they replace."""
        return {k: getattr(self, k) for k in SECTION_KEYS if getattr(self, k) is not None}

    def files(self) -> dict[str, Path]:
        """Every file named in the table, by key."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "document_class" and getattr(self, f.name) is not None}


@dataclass(frozen=True)
class SiteSettings:
    """The ``[site]`` table: pages of the researcher's own on the site.

    Parameters
    ----------
    pages : Path or None
        A folder of Markdown files, each added to the navigation after the Overview in file-name
        order (or in the order of the folder's ``.pages`` file: ``nav: [a.md, b.md]``), copied into
        ``docs/notes/`` at build time. ``{{ value("key") }}`` and ``{{ interval("key") }}`` become
        the formatted value; the rest of the page is published as written (formulas, admonitions,
        images from the same folder). See :mod:`report.user_pages`.
    """

    pages: Path | None = None

    def __post_init__(self) -> None:
        if self.pages is None:
            return
        if not self.pages.exists():
            raise ValueError(f"pages = {str(self.pages)!r} does not exist; paths are taken from the config file's folder")
        if not self.pages.is_dir():
            raise ValueError(f"pages = {str(self.pages)!r} is not a folder (a folder of Markdown files)")


def check_outside_outputs(output_dir: Path, paper: PaperSettings, site: SiteSettings) -> None:
    """Refuse researcher files under a folder the build replaces (they would be overwritten or stop the build).

    Raises
    ------
    ValueError
        Naming the table, the key and the folder.
    """
    out = Path(output_dir).expanduser().resolve()
    named = [(f"[paper] {'class' if k == 'document_class' else k}", p) for k, p in paper.files().items()]
    named += [("[site] pages", site.pages)] if site.pages is not None else []
    for where, path in named:
        resolved = Path(path).resolve()
        for folder in GENERATED_FOLDERS:
            root = out / folder
            if resolved == root or root in resolved.parents:
                raise ValueError(f"{where} = {str(path)!r} lies inside {root}, which every build replaces; keep your "
                                 "files outside the output folder's docs/, site/, paper/ and overrides/")
        if where == "[site] pages" and (resolved == out or resolved in out.parents):
            raise ValueError(f"{where} = {str(path)!r} contains the output folder {out}; use a folder of its own")
