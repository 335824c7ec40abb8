"""The researcher's LaTeX: their section files, main file and bibliography, checked before compiling.

Nothing here writes a file: :mod:`report.render` copies what :func:`paper_inputs` returns into
``paper/`` (the build's own copies; the researcher's files are only read). Before anything is
compiled, every ``\\atlasvalue{key}`` / ``\\atlasinterval{key}`` of those files (and of the files
of their own folder they ``\\input``) must name a key of the registry: an unknown key is one
error naming the file, the line and the three closest keys (:class:`UnknownValueKey`, exit 2),
never a silent ``??`` in a PDF nobody rereads.

Bibliography: the researcher's ``.bib`` is merged with the project's references. On a key both
define, the researcher's entry wins (their paper, their formatting of the reference) and the
build lists the key in a warning; the site's reference list keeps the project's entries.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from analysis.config import ConfigError
from analysis.publishing import MAX_BIB_BYTES, MAX_TEX_BYTES, PaperSettings
from report.latex import UserSection
from report.values import closest

#: ``\atlasvalue{key}`` or ``\atlasinterval{key}`` in LaTeX source.
KEY_USE = re.compile(r"\\atlas(?:value|interval)\s*\{([^{}]*)\}")
_INPUT = re.compile(r"\\(?:input|include|subfile)\s*\{([^{}]+)\}")
_BIB_ENTRY = re.compile(r"@\s*([A-Za-z]+)\s*[{(]\s*([^,\s{}()]+)\s*,")
#: How deep \input chains of the researcher's own files are followed when scanning.
MAX_INPUT_DEPTH = 8


class UnknownValueKey(ConfigError):
    """A researcher's file names a value key the study does not have (``file:line``, the key, the closest keys)."""


def unknown_key(where: str, line: int, key: str, known: Iterable[str], more: int = 0) -> UnknownValueKey:
    """The error for ``key`` at ``where:line``, with the three closest valid keys."""
    near = closest(key, known)
    extra = f" ({more} more unknown key{'s' if more > 1 else ''} in this file)" if more else ""
    return UnknownValueKey(f"{where}:{line}: unknown value key {key!r}{extra}; closest: {', '.join(near) or 'none'} "
                           "(every key: docs/tables/values.csv)")


def strip_comment(line: str) -> str:
    """A LaTeX line without its ``%`` comment (an escaped ``\\%`` stays)."""
    m = re.search(r"(?<!\\)(?:\\\\)*%", line)
    return line if m is None else line[:m.start() + (m.group(0).count("\\"))]


def read_text(path: Path, what: str, limit: int = MAX_TEX_BYTES) -> str:
    """A researcher's text file as UTF-8; a binary or oversized file is a ConfigError naming it."""
    size = path.stat().st_size
    if size > limit:
        raise ConfigError(f"{what} {path} is {size:,d} bytes, more than the {limit:,d} a study accepts")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None


def check_latex_keys(path: Path, text: str, known: set[str]) -> None:
    """Raise :class:`UnknownValueKey` for the first unknown key of ``text`` (comments ignored)."""
    bad: list[tuple[int, str]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        for m in KEY_USE.finditer(strip_comment(line)):
            # TeX keeps spaces inside \csname: "{ key }" is another key there, printed as ??, so it is one here.
            if m.group(1) not in known:
                bad.append((n, m.group(1)))
    if bad:
        line, key = bad[0]
        raise unknown_key(str(path), line, key, known, len(bad) - 1)


def own_inputs(path: Path, text: str, root: Path) -> list[Path]:
    """Files of the researcher's folder ``root`` that ``text`` inputs (``\\input{sections/intro}``)."""
    out = []
    for line in text.splitlines():
        for m in _INPUT.finditer(strip_comment(line)):
            name = m.group(1).strip()
            for candidate in (path.parent / name, path.parent / f"{name}.tex", root / name, root / f"{name}.tex"):
                try:
                    resolved = candidate.resolve()
                except OSError:
                    continue
                if resolved.is_file() and (resolved == root or root in resolved.parents):
                    out.append(resolved)
                    break
    return out


def scan_tree(path: Path, known: set[str]) -> None:
    """Check ``path`` and the files of its own folder it inputs, recursively (at most :data:`MAX_INPUT_DEPTH` deep)."""
    root = path.resolve().parent
    seen: set[Path] = set()
    todo = [(path.resolve(), 0)]
    while todo:
        current, depth = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        text = read_text(current, "LaTeX file")
        check_latex_keys(current, text, known)
        if depth < MAX_INPUT_DEPTH:
            todo += [(p, depth + 1) for p in own_inputs(current, text, root)]


def has_heading(text: str) -> bool:
    """Whether a section file begins (after blank lines and comments) with its own ``\\section``."""
    for line in text.splitlines():
        body = strip_comment(line).strip()
        if body:
            return body.startswith(("\\section", "\\section*"))
    return False


# --------------------------------------------------------------------------- bibliography
def bib_keys(text: str) -> list[str]:
    """Entry keys of a BibTeX text, in order (``@string``, ``@preamble`` and ``@comment`` are not entries)."""
    return [m.group(2) for m in _BIB_ENTRY.finditer(text) if m.group(1).lower() not in ("string", "preamble", "comment")]


def _entries(text: str) -> list[tuple[str, str]]:
    """``(key, entry text)`` of every entry (brace-matched)."""
    out = []
    for m in _BIB_ENTRY.finditer(text):
        if m.group(1).lower() in ("string", "preamble", "comment"):
            continue
        opener = m.group(0).lstrip("@ \t" + m.group(1))[0]  # "{" or "("
        closer = "}" if opener == "{" else ")"
        j, depth = m.start() + m.group(0).index(opener), 0
        while j < len(text):
            depth += 1 if text[j] == opener else -1 if text[j] == closer else 0
            j += 1
            if depth == 0:
                break
        out.append((m.group(2), text[m.start():j]))
    return out


def merge_bibliography(ours: str, theirs: str) -> tuple[str, list[str]]:
    """The project's entries whose keys the researcher's file does not define, then the researcher's file as written.

    Returns
    -------
    (merged BibTeX text, keys both define, sorted)
    """
    mine = set(bib_keys(theirs))
    kept = [entry for key, entry in _entries(ours) if key not in mine]
    overridden = sorted({key for key, _ in _entries(ours)} & mine)
    return "\n\n".join(kept) + "\n\n% ---- the researcher's bibliography, as written ----\n" + theirs.rstrip("\n") + "\n", overridden


# --------------------------------------------------------------------------- what the paper reads
@dataclass(frozen=True)
class PaperInputs:
    """The researcher's files as the build uses them.

    Parameters
    ----------
    sections : mapping of name to UserSection
        Where the renderer inputs each replaced section.
    copies : mapping of str to str
        ``paper/``-relative path -> text of the build's copy of each file (``user/discussion.tex``).
    main : str or None
        The researcher's main file's text (compiled as ``report.tex``), or None.
    bibliography : str or None
        The researcher's ``.bib`` text, or None.
    search_dirs : tuple of Path
        Folders of the researcher's files: where the compile finds what they input or include.
    """

    sections: Mapping[str, UserSection]
    copies: Mapping[str, str]
    main: str | None
    bibliography: str | None
    search_dirs: tuple[Path, ...]


def paper_inputs(settings: PaperSettings, known: set[str]) -> PaperInputs:
    """Read and check the researcher's paper files (every key known, UTF-8, sizes) before anything is written."""
    sections, copies, dirs = {}, {}, []
    for name, path in settings.sections().items():
        text = read_text(path, f"[paper] {name}")
        scan_tree(path, known)
        sections[name] = UserSection(name, f"user/{name}", has_heading(text) and name != "abstract")
        copies[f"user/{name}.tex"] = text
        dirs.append(path.resolve().parent)
    main = None
    if settings.main is not None:
        main = read_text(settings.main, "[paper] main")
        scan_tree(settings.main, known)
        dirs.insert(0, settings.main.resolve().parent)
    bib = None
    if settings.bibliography is not None:
        bib = read_text(settings.bibliography, "[paper] bibliography", MAX_BIB_BYTES)
        dirs.append(settings.bibliography.resolve().parent)
    return PaperInputs(sections, copies, main, bib, tuple(dict.fromkeys(dirs)))
