"""What ``paper/`` is compiled from, and ``paper/source.zip``: the same files, ready for Overleaf.

:func:`text_files` lists every text file the build writes into ``paper/`` (the main file, the
parts under ``atlas/``, ``values.tex``, the merged ``references.bib`` and the build's copies of the
researcher's section files); :mod:`report.render` writes them with the figures and compiles.
The researcher's own folders are on the compile's search paths (``TEXINPUTS``, ``BIBINPUTS``:
:func:`search_env`), so a main file of theirs finds the files it inputs where they are, and the
build never copies or writes into those folders.

:func:`source_zip` packs what the compile read (latexmk's ``.fls`` record, plus the databases
BibTeX's ``.blg`` names) that lies in ``paper/`` or in a researcher's folder, at the paths the
compile found them under, with fixed timestamps and order: unzipped in an empty folder,
``latexmk -pdf`` rebuilds the same PDF, and an unchanged study gives the same zip bytes.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from report import latex
from report.model import Report
from report.paper_classes import FONT_PACKAGES, PaperClass
from report.references import bibtex
from report.user_latex import PaperInputs, merge_bibliography
from report.values import values_tex

#: Name of the archive inside ``paper/`` (and ``docs/downloads/paper-source.zip`` on the site).
ZIP_NAME = "source.zip"
#: Files a compile writes and reads back: never sources.
_GENERATED_SUFFIXES = {".aux", ".bbl", ".blg", ".log", ".out", ".toc", ".lof", ".lot", ".fls", ".fdb_latexmk",
                       ".synctex.gz", ".nav", ".snm", ".vrb", ".run.xml", ".bcf", ".pdf_tex"}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def text_files(report: Report, cls: PaperClass, user: PaperInputs) -> tuple[dict[str, str], list[str]]:
    """``paper/``-relative path -> text of every file the build writes there (figures aside), and warnings."""
    files = dict(latex.parts(report, cls, user.sections))
    files["report.tex"] = user.main if user.main is not None else latex.render_tex(report, cls, user.sections)
    files["values.tex"] = values_tex(report.values)
    warnings: list[str] = []
    if cls.fonts and shutil.which("kpsewhich") and subprocess.run(
            ["kpsewhich", f"{cls.fonts}.sty"], capture_output=True).returncode != 0:
        warnings.append(f"{cls.name}: its {cls.fonts} fonts are not installed (Debian: "
                        f"{FONT_PACKAGES.get(cls.fonts, 'texlive-fonts-extra')}); the paper is set in Latin Modern")
    bib = bibtex()
    if user.bibliography is not None:
        bib, overridden = merge_bibliography(bib, user.bibliography)
        if overridden:
            warnings.append(f"[paper] bibliography redefines {', '.join(overridden)}: the paper uses your entries")
    files["references.bib"] = bib
    files.update(user.copies)
    return files, warnings


def search_env(user: PaperInputs, env: dict[str, str]) -> dict[str, str]:
    """``env`` with the researcher's folders on TeX's and BibTeX's search paths (after the compile folder)."""
    if not user.search_dirs:
        return env
    extra = os.pathsep.join(str(d) for d in user.search_dirs)
    out = dict(env)
    for var in ("TEXINPUTS", "BIBINPUTS", "BSTINPUTS"):
        # ".:dirs:" then the default path (the trailing separator), or what the caller had set.
        out[var] = f".{os.pathsep}{extra}{os.pathsep}{env.get(var, '')}"
    return out


def _read_paths(paper: Path, record: str) -> list[Path]:
    """Files named by ``INPUT`` lines of a ``.fls`` record (relative ones taken from its ``PWD``)."""
    pwd, out = paper, []
    for line in record.splitlines():
        if line.startswith("PWD "):
            pwd = Path(line[4:].strip())
        elif line.startswith("INPUT "):
            p = Path(line[6:].strip())
            out.append(p if p.is_absolute() else pwd / p)
    return out


def _databases(paper: Path) -> list[str]:
    """BibTeX databases named in the ``.blg`` logs (``Database file #1: references.bib``)."""
    names = []
    for blg in sorted(paper.glob("*.blg")):
        for line in blg.read_text(errors="replace").splitlines():
            if line.startswith("Database file #") and ":" in line:
                names.append(line.split(":", 1)[1].strip())
    return names


def source_files(paper: Path, user: PaperInputs) -> dict[str, Path]:
    """Zip path -> file of everything the compile in ``paper`` read from ``paper`` or a researcher's folder."""
    roots = [paper.resolve(), *(d.resolve() for d in user.search_dirs)]
    found: dict[str, Path] = {}

    def add(path: Path) -> None:
        try:
            resolved = path.resolve()
        except OSError:
            return
        if not resolved.is_file() or any(str(resolved).endswith(s) for s in _GENERATED_SUFFIXES):
            return
        for root in roots:
            if root in resolved.parents:
                name = resolved.relative_to(root).as_posix()
                if name != ZIP_NAME and not name.startswith("."):
                    found.setdefault(name, resolved)
                return

    for fls in sorted(paper.glob("*.fls")):
        for p in _read_paths(paper, fls.read_text(errors="replace")):
            add(p)
    for name in _databases(paper):
        for root in roots:
            if (root / name).is_file():
                add(root / name)
                break
    return found


def user_files_read(paper: Path, user: PaperInputs) -> str:
    """Digest lines (name, SHA-256) of the files of the researcher's folders that the compile in ``paper`` read."""
    if not user.search_dirs or not paper.is_dir():
        return ""
    own = paper.resolve()
    lines = []
    for name, path in sorted(source_files(paper, user).items()):
        if own not in path.parents:
            lines.append(f"{name} {hashlib.sha256(path.read_bytes()).hexdigest()}\n")
    return "".join(lines)


def source_zip(paper: Path, user: PaperInputs) -> bytes:
    """The bytes of ``source.zip`` (sorted names, fixed dates and modes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, path in sorted(source_files(paper, user).items()):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, path.read_bytes())
    return buf.getvalue()
