"""The researcher's own site pages (``[site] pages = "notes"``): read, checked and filled in, never evaluated.

Each Markdown file of the folder becomes a page of the site, after the Overview in file-name order
(or in the order of the folder's ``.pages`` file, ``nav: [a.md, b.md]``), published as
``docs/notes/<name>.md``: a copy the build owns; the folder is only read. Exactly two
placeholders are replaced, ``{{ value("<key>") }}`` and ``{{ interval("<key>") }}``, by the text
the registry holds (:mod:`report.values`), escaped for Markdown; everything else is the user's
Markdown as written. In particular nothing is a template: ``{{ config }}`` or ``{% include %}``
stays text, and placeholders inside code (fenced blocks, backtick spans) are left as written so that
a page can document the syntax.

Refused, each with one ``error:`` line naming the file (and line) and the fix:

- an unknown key (with the three closest keys), or a malformed ``{{ value(...) }}``;
- a link or image that leaves the folder (``../../etc/passwd``, an absolute path, a symbolic link
  out of it) or names a missing file: images and files are copied from the folder, nothing else;
- a page over :data:`MAX_PAGE_BYTES`, a file over :data:`MAX_ASSET_BYTES`, more than
  :data:`MAX_PAGES` pages or :data:`MAX_TOTAL_BYTES` in all;
- a page whose published name is a generated page's, or two pages with one published name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping
from urllib.parse import unquote

import yaml

from analysis.config import ConfigError
from report.assets import MATHJAX_CONFIG_JS, MATHJAX_JS
from report.escape import md, slugify
from report.user_latex import read_text, unknown_key

#: Folder of ``docs/`` that receives the researcher's pages and their files.
NOTES_DIR = "notes"
MAX_PAGE_BYTES = 2**20
MAX_ASSET_BYTES = 20 * 2**20
MAX_TOTAL_BYTES = 200 * 2**20
MAX_PAGES = 200
NAV_FILE = ".pages"

_PLACEHOLDER = re.compile(r"\{\{\s*(value|interval)\s*\(\s*(?:\"([^\"{}]*)\"|'([^'{}]*)')\s*\)\s*\}\}")
_LOOKS_LIKE = re.compile(r"\{\{\s*(?:value|interval)\b.*?\}\}")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)|(?:src|href)\s*=\s*[\"']([^\"']+)[\"']",
                   re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_MATH = re.compile(r"\$\$|\\\(|\\\[|(?<![\\$])\$[^$\n]+\$")


@dataclass(frozen=True)
class UserPage:
    """One page of the researcher's, ready to publish.

    Parameters
    ----------
    source : Path
        The researcher's file (only read).
    file : str
        Its published Markdown file, relative to ``docs/`` (``notes/results.md``).
    title : str
        Navigation title: the page's first ``# heading``, else the file name.
    text : str
        The Markdown with the placeholders filled in (and MathJax loaded where it has formulas).
    assets : tuple of (str, Path)
        Files of the folder the page shows or links: (``docs/``-relative target, source).
    """

    source: Path
    file: str
    title: str
    text: str
    assets: tuple[tuple[str, Path], ...] = ()


def _outside_code(lines: list[str]):
    """``(index, line)`` of the lines outside fenced code blocks."""
    fence = None
    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)[0] * 3
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            continue
        yield i, line


def _split_code_spans(line: str) -> list[tuple[bool, str]]:
    """``(is_code, text)`` pieces of a line: backtick spans are code."""
    out, pos = [], 0
    for m in _CODE_SPAN.finditer(line):
        out += [(False, line[pos:m.start()]), (True, m.group(0))]
        pos = m.end()
    return out + [(False, line[pos:])]


def fill_placeholders(text: str, values: Mapping, where: str) -> str:
    """``text`` with ``{{ value("k") }}`` / ``{{ interval("k") }}`` replaced by the registry's text (Markdown-escaped).

    Raises
    ------
    UnknownValueKey, ConfigError
        For an unknown key (first one, with its line and the closest keys) or a malformed placeholder.
    """
    lines = text.split("\n")
    bad: list[tuple[int, str]] = []
    for i, line in _outside_code(lines):
        pieces = []
        for is_code, piece in _split_code_spans(line):
            if is_code:
                pieces.append(piece)
                continue

            def replace(m: re.Match) -> str:
                key = (m.group(2) if m.group(2) is not None else m.group(3)).strip()
                v = values.get(key)
                if v is None:
                    bad.append((i + 1, key))
                    return m.group(0)
                shown = v.interval_text if m.group(1) == "interval" else v.text
                return md(shown) if shown else ""

            piece = _PLACEHOLDER.sub(replace, piece)
            leftover = _LOOKS_LIKE.search(piece)
            if leftover and not bad:
                raise ConfigError(f"{where}:{i + 1}: malformed placeholder {leftover.group(0)!r}; write "
                                  "{{ value(\"<key>\") }} or {{ interval(\"<key>\") }} with the key in quotes")
            pieces.append(piece)
        lines[i] = "".join(pieces)
    if bad:
        line, key = bad[0]
        raise unknown_key(where, line, key, values, len(bad) - 1)
    return "\n".join(lines)


def page_title(text: str, fallback: str) -> str:
    """The first ATX level-1 heading outside code, else ``fallback``."""
    for _, line in _outside_code(text.split("\n")):
        m = re.match(r"^#\s+(.+?)\s*#*\s*$", line)
        if m:
            return m.group(1)
    return fallback


def link_targets(text: str) -> list[tuple[int, str]]:
    """``(line, target)`` of every Markdown link/image and HTML ``src``/``href`` outside code."""
    out = []
    for i, line in _outside_code(text.split("\n")):
        for is_code, piece in _split_code_spans(line):
            if not is_code:
                out += [(i + 1, m.group(1) or m.group(2)) for m in _LINK.finditer(piece)]
    return out


def _asset(folder: Path, page: Path, line: int, target: str) -> tuple[str, Path] | None:
    """The folder file a link names (docs-relative target, source), None for a URL, an anchor or a page link."""
    if _SCHEME.match(target) or target.startswith("#"):
        return None
    path = unquote(target.split("#", 1)[0].split("?", 1)[0])
    where = f"{page}:{line}"
    if not path:
        return None
    if path.startswith(("/", "\\")) or "\\" in path:
        raise ConfigError(f"{where}: link {target!r} is an absolute or Windows path; link files of the pages folder "
                          "by a relative path (images/plot.png)")
    if path.endswith(".md"):
        return None  # a link to a page: checked against the published pages by the build (mkdocs --strict)
    source = (page.parent / path)
    resolved = source.resolve()
    root = folder.resolve()
    if root not in resolved.parents:
        raise ConfigError(f"{where}: link {target!r} leaves the pages folder {folder}; only files inside it are "
                          "published (copy the file into the folder)")
    if not resolved.is_file():
        raise ConfigError(f"{where}: link {target!r} names no file of the pages folder {folder}")
    size = resolved.stat().st_size
    if size > MAX_ASSET_BYTES:
        raise ConfigError(f"{where}: {target!r} is {size:,d} bytes, more than the {MAX_ASSET_BYTES:,d} a page file "
                          "may have; make it smaller")
    rel = PurePosixPath(resolved.relative_to(root).as_posix())
    return f"{NOTES_DIR}/{rel}", resolved


def page_order(folder: Path) -> tuple[list[Path], list[str]]:
    """The pages in navigation order, and warnings (pages left out by ``.pages``)."""
    pages = sorted((p for p in folder.iterdir() if p.suffix == ".md" and not p.name.startswith(".") and p.is_file()),
                   key=lambda p: p.name)
    nav_file = folder / NAV_FILE
    if not nav_file.is_file():
        return pages, []
    try:
        data = yaml.safe_load(read_text(nav_file, "[site] pages navigation file", 64 * 1024))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{nav_file}: not valid YAML ({exc}); write nav: [first.md, second.md]") from None
    nav = data.get("nav") if isinstance(data, dict) else None
    if not isinstance(nav, list) or not all(isinstance(n, str) for n in nav):
        raise ConfigError(f"{nav_file}: needs a list of file names under nav:, e.g. nav: [first.md, second.md]")
    by_name = {p.name: p for p in pages}
    ordered = []
    for name in nav:
        if name not in by_name:
            raise ConfigError(f"{nav_file}: {name!r} is not a Markdown file of {folder} (names: "
                              f"{', '.join(sorted(by_name)) or 'none'})")
        if by_name[name] not in ordered:
            ordered.append(by_name[name])
    left = [p.name for p in pages if p not in ordered]
    return ordered, ([f"{nav_file} leaves out {', '.join(left)}: not published"] if left else [])


def _with_math(text: str, file: str) -> str:
    if not _MATH.search(text):
        return text
    up = "../" * file.count("/")
    return (text.rstrip("\n") + "\n\n" + "".join(f'<script src="{up}{src}"></script>\n'
                                                 for src in (MATHJAX_CONFIG_JS, MATHJAX_JS)))


def user_pages(folder: Path, values: Mapping, generated_files: Iterable[str]) -> tuple[tuple[UserPage, ...], list[str]]:
    """Every page of ``folder``, filled in and checked; and warnings.

    Parameters
    ----------
    folder : Path
        ``[site] pages``.
    values : mapping of key to report.values.Value
    generated_files : iterable of str
        ``docs/``-relative Markdown files of the generated pages (a user page may not take one's name).
    """
    ordered, warnings = page_order(folder)
    if len(ordered) > MAX_PAGES:
        raise ConfigError(f"[site] pages {folder} has {len(ordered)} pages, more than the {MAX_PAGES} a site accepts")
    generated = set(generated_files)
    seen: dict[str, Path] = {}
    total, out = 0, []
    for path in ordered:
        if path.is_symlink() and folder.resolve() not in path.resolve().parents:
            raise ConfigError(f"{path}: a symbolic link out of the pages folder; copy the file into {folder}")
        text = read_text(path, "[site] page", MAX_PAGE_BYTES)
        file = f"{NOTES_DIR}/{slugify(path.stem)}.md"
        if file in generated:
            raise ConfigError(f"{path}: its published name {file} is a generated page's; rename the file")
        if file in seen:
            raise ConfigError(f"{path} and {seen[file]} would both be published as {file}; rename one of them")
        seen[file] = path
        filled = fill_placeholders(text, values, str(path))
        assets = tuple(dict.fromkeys(a for line, target in link_targets(filled)
                                     if (a := _asset(folder, path, line, target)) is not None))
        total += len(text.encode()) + sum(src.stat().st_size for _, src in assets)
        if total > MAX_TOTAL_BYTES:
            raise ConfigError(f"[site] pages {folder}: more than {MAX_TOTAL_BYTES:,d} bytes of pages and files")
        out.append(UserPage(path, file, page_title(filled, path.stem), _with_math(filled, file), assets))
    return tuple(out), warnings
