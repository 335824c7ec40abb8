"""Markdown/MkDocs renderer: page model -> ``docs/*.md`` through Jinja2 templates -> ``site/``.

Templates hold no logic beyond loops and block-type switches; this module hands them a view
model of pre-formatted strings. The Jinja environment escapes every expression with
:func:`report.escape.md` unless the value is :class:`markupsafe.Markup` produced here, so a
template cannot forget to escape an identity name. ``StrictUndefined`` turns a missing value
into an error instead of an empty string.
"""
from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import yaml
from markupsafe import Markup

from report.format import cell as cell_text, plural
from report.escape import csv_frame, html, md, md_block_start, slugify, truncate
from report.model import (
    Admonition, BulletList, Cite, Code, CodeBlock, Emph, Figure, InlineMath, Links, Math, Page, Paragraph, Ref,
    Strong, Table, Text, Explorer, Val,
)
from report.assets import ATLAS_CSS_FILE, EXPLORER_JS, MATHJAX_CONFIG_JS, MATHJAX_JS, PLOTLY_JS
from report.exports import explorer_data_file, neighbour_data_file
from report.bibliography import parse as parse_bibtex
from report.references import bibtex, label
from report.table_view import table_view
from report.resources import templates_dir

SYNTHETIC_BANNER = "Synthetic demo, not faces"


def page_file(page: Page) -> str:
    """Path of a page's Markdown file relative to ``docs/`` (posix)."""
    if page.path == ("index",):
        return "index.md"
    return "/".join(slugify(p) for p in page.path) + ".md"


def figure_file(key: str) -> str:
    return f"figures/{key}.png"


def table_file(key: str) -> str:
    return f"tables/{key}.csv"


def rel(target: str, page_path: str) -> str:
    """Link from the page file ``page_path`` to ``target`` (both relative to docs/)."""
    return posixpath.relpath(target, posixpath.dirname(page_path) or ".")


def format_value(value: Any, spec: str | None) -> str:
    """Format one table cell (see :func:`report.format.cell`)."""
    return cell_text(value, spec)


def formatted_rows(table: Table, limit: int | None) -> tuple[list[str], list[list[str]]]:
    frame = table.frame if limit is None else table.frame.head(limit)
    header = [str(c) for c in frame.columns]
    rows = [
        [truncate(format_value(v, table.formats.get(col))) for col, v in zip(frame.columns, row)]
        for row in frame.itertuples(index=False, name=None)
    ]
    return header, rows


@dataclass
class _Numbering:
    """Figure and table numbers of one page, assigned in reading order."""

    figures: dict[str, int]
    tables: dict[str, int]


def _numbering(page: Page) -> _Numbering:
    figs, tabs = {}, {}
    for b in page.blocks():
        if isinstance(b, Figure):
            figs[b.key] = len(figs) + 1
        elif isinstance(b, Table):
            tabs[b.key] = len(tabs) + 1
    return _Numbering(figs, tabs)


class MarkdownRenderer:
    """Renders pages of the page model to Markdown strings."""

    def __init__(self, templates: Path | None = None, values=None) -> None:
        self.values = values or {}  # key -> report.values.Value, for Val spans
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates or templates_dir())),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            finalize=_finalize,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # ---------------------------------------------------------------- inline
    def inline(self, parts, page_path: str, numbers: _Numbering) -> Markup:
        out = []
        for p in parts:
            if isinstance(p, Text):
                out.append(md(p.text))
            elif isinstance(p, Strong):
                out.append(f"<strong>{md(p.text)}</strong>")
            elif isinstance(p, Emph):
                out.append(f"<em>{md(p.text)}</em>")
            elif isinstance(p, Code):
                out.append(f"<code>{md(p.text)}</code>")
            elif isinstance(p, InlineMath):
                # Raw HTML span: Markdown would otherwise eat the backslash of "\(".
                out.append(f'<span class="arithmatex">\\({html(p.latex)}\\)</span>')
            elif isinstance(p, Ref):
                if p.key in numbers.figures:
                    out.append(f"[Figure {numbers.figures[p.key]}](#{p.key})")
                elif p.key in numbers.tables:
                    out.append(f"[Table {numbers.tables[p.key]}](#{p.key})")
                else:
                    raise KeyError(f"Ref to {p.key!r}, which is not a figure or table of the page {page_path}")
            elif isinstance(p, Cite):
                target = rel("methods.md", page_path)
                out.append(f"[{md(label(p.key))}]({target}#ref-{slugify(p.key)})")
            elif isinstance(p, Val):
                v = self.values.get(p.key)
                if v is None:
                    raise KeyError(f"value key {p.key!r} of the page {page_path} is not in the registry")
                out.append(md(v.interval_text if p.interval else v.text))
            else:
                raise TypeError(f"unknown inline span {type(p).__name__}")
        return Markup("".join(out))

    def block_text(self, parts, page_path: str, numbers: _Numbering) -> Markup:
        """Inline text that begins a Markdown block: a leading "1." or "-" must not start a list."""
        return Markup(md_block_start(str(self.inline(parts, page_path, numbers))))

    # ---------------------------------------------------------------- blocks
    def block_view(self, block, page_path: str, numbers: _Numbering) -> dict:
        if isinstance(block, Paragraph):
            return {"type": "paragraph", "text": self.block_text(block.parts, page_path, numbers)}
        if isinstance(block, BulletList):
            return {"type": "bullets", "entries": [self.block_text(i, page_path, numbers) for i in block.items]}
        if isinstance(block, Math):
            return {"type": "math", "html": Markup(_math_html(block.latex, display=True))}
        if isinstance(block, Admonition):
            return {"type": "admonition", "kind": block.kind, "title": block.title,
                    "text": self.block_text(block.parts, page_path, numbers)}
        if isinstance(block, CodeBlock):
            return {"type": "code", "text": Markup(_pre(block.text))}
        if isinstance(block, Links):
            return {"type": "links", "entries": [{"label": lbl, "href": Markup(rel(href, page_path))} for lbl, href in block.items]}
        if isinstance(block, Table):
            view = table_view(block)
            header, rows = list(view.header), [list(r) for r in view.rows]
            if block.links and not view.transposed:
                rows = _linked_rows(block, header, rows, page_path)
            return {
                "type": "table",
                "anchor": Markup(block.key),
                "number": numbers.tables[block.key],
                "caption": block.caption,
                "header": header,
                "rows": rows,
                "shown": len(rows),
                "total": len(block.frame),
                "csv": Markup(rel(table_file(block.key), page_path)),
                "hidden": plural(view.hidden_columns, "more column") if view.hidden_columns else "",
            }
        if isinstance(block, Explorer):
            return {
                "type": "explorer",
                "anchor": Markup(block.key),
                "caption": block.caption,
                "points": Markup(str(len(block.points))),
                "points_text": f"{len(block.points):,d}",
                "plotly": Markup(rel(PLOTLY_JS, page_path)),
                "data": Markup(rel(explorer_data_file(block.key), page_path)),
                "neighbours": Markup(rel(neighbour_data_file(block.key), page_path) if block.neighbours is not None else ""),
                "script": Markup(rel(EXPLORER_JS, page_path)),
            }
        if isinstance(block, Figure):
            return {
                "type": "figure",
                "anchor": Markup(block.key),
                "number": numbers.figures[block.key],
                "caption": block.caption,
                # md, not html: the alt text sits inside Markdown's ![...](...), where a caption naming
                # an identity "](javascript:...)" would otherwise close the alt and set the src.
                "alt": Markup(md(f"Figure {numbers.figures[block.key]}: {block.caption}")),
                "src": Markup(rel(figure_file(block.key), page_path)),
            }
        raise TypeError(f"unknown block {type(block).__name__}")

    def page(self, page: Page, extra: dict | None = None) -> str:
        """Markdown of one page."""
        path = page_file(page)
        numbers = _numbering(page)
        view = {
            "title": page.title,
            "synthetic": page.synthetic,
            "banner": SYNTHETIC_BANNER,
            "intro": [self.block_view(b, path, numbers) for b in page.intro],
            "sections": [
                {"title": s.title, "level": Markup("#" * s.level), "blocks": [self.block_view(b, path, numbers) for b in s.blocks]}
                for s in page.sections
            ],
            "references": [],
            "scripts": [Markup(rel(src, path)) for src in page_scripts(page)],
        }
        if page.path == ("methods",):
            view["references"] = [
                {"anchor": Markup(f"ref-{slugify(r.key)}"), "label": label(r.key), "text": r.text}
                for r in parse_bibtex(bibtex())
            ]
        return self.env.get_template("page.md.j2").render(page=view, **(extra or {}))


def link_href(target: str, page_path: str) -> str:
    """``rel`` for a docs-relative target that may carry a ``#fragment`` (kept as it is)."""
    path, sep, fragment = target.partition("#")
    return rel(path, page_path) + sep + fragment


def _linked_rows(table: Table, header: list[str], rows: list[list[str]], page_path: str) -> list[list]:
    """``rows`` with the cells of ``table.links`` columns wrapped in Markdown links (text escaped here)."""
    for col, targets in table.links.items():
        if str(col) not in header:
            continue
        j = header.index(str(col))
        for i, row in enumerate(rows):
            if i < len(targets) and targets[i]:
                row[j] = Markup(f"[{md(row[j])}]({link_href(targets[i], page_path)})")
    return rows


def has_math(page: Page) -> bool:
    """Whether any block of ``page`` holds a formula (display or inline)."""
    for b in page.blocks():
        if isinstance(b, Math):
            return True
        groups = (b.parts,) if isinstance(b, (Paragraph, Admonition)) else b.items if isinstance(b, BulletList) else ()
        if any(isinstance(span, InlineMath) for g in groups for span in g):
            return True
    return False


def page_scripts(page: Page) -> list[str]:
    """Site-relative scripts a page loads itself: MathJax (config first) only where it has formulas."""
    return [MATHJAX_CONFIG_JS, MATHJAX_JS] if has_math(page) else []


def _pre(text: str) -> str:
    """HTML <pre> content: escaped so that nothing inside can become markup."""
    return "\n".join(html(line) for line in str(text).split("\n"))


def _math_html(latex_text: str, display: bool) -> str:
    """Formula for MathJax in a raw HTML block.

    Markdown leaves the content of a block-level ``<div>`` alone, so only HTML needs escaping
    and the generated Markdown keeps the TeX readable (``\\frac{a}{b}``, not ``&#92;frac``).
    """
    tag, left, right = ("div", "\\[", "\\]") if display else ("span", "\\(", "\\)")
    return f'<{tag} class="arithmatex">{html(left + latex_text + right)}</{tag}>'


def _finalize(value):
    """Escape every template expression for Markdown unless it is Markup built by the renderer."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(value)
    return md(value)


# --------------------------------------------------------------------------- navigation + mkdocs.yml
def navigation(pages) -> list:
    """MkDocs ``nav`` from page paths, in page order, grouping by path prefix.

    Titles are escaped for HTML because MkDocs puts navigation titles into the page as they are.
    """
    nav: list = []

    def insert(tree: list, titles: list[str], leaf_title: str, file: str) -> None:
        if not titles:
            tree.append({html(leaf_title): file})
            return
        head = html(titles[0])
        for entry in tree:
            if isinstance(entry, dict) and head in entry and isinstance(entry[head], list):
                insert(entry[head], titles[1:], leaf_title, file)
                return
        child: list = []
        tree.append({head: child})
        insert(child, titles[1:], leaf_title, file)

    for page in pages:
        titles = list(page.nav_titles) if page.nav_titles else list(page.path[:-1])
        insert(nav, titles, page.title, page_file(page))
    return nav


#: Folder of the output tree holding the theme override (copied from ``templates/theme``).
THEME_DIR = "overrides"


def mkdocs_config(title: str, site_url: str, pages, after_overview=()) -> str:
    """The generated ``mkdocs.yml`` (YAML text, deterministic).

    MathJax is not in ``extra_javascript``: only pages with formulas load it (see
    :func:`page_scripts`), always from the copy inside the site. ``after_overview`` holds
    ``(title, docs-relative file)`` of the researcher's pages, placed right after the first page.
    """
    nav = navigation(pages)
    nav[1:1] = [{html(t): f} for t, f in after_overview]
    cfg = {
        "site_name": html(title) or "Face Embedding Atlas",
        "docs_dir": "docs",
        "site_dir": "site",
        "use_directory_urls": False,  # the built site also works opened from disk
        "strict": True,
        "theme": {
            "name": "material",
            "custom_dir": THEME_DIR,  # escapes page titles in <title> (see templates/theme/main.html)
            "font": False,  # no Google Fonts: the site must work offline
            "palette": [
                {"media": "(prefers-color-scheme: light)", "scheme": "default", "primary": "indigo", "accent": "indigo",
                 "toggle": {"icon": "material/brightness-7", "name": "Switch to dark mode"}},
                {"media": "(prefers-color-scheme: dark)", "scheme": "slate", "primary": "indigo", "accent": "indigo",
                 "toggle": {"icon": "material/brightness-4", "name": "Switch to light mode"}},
            ],
            "features": ["navigation.sections", "navigation.prune", "navigation.top", "navigation.footer", "search.highlight",
                         "toc.follow"],
        },
        # glightbox: click a figure to see it full size (its JS/CSS are copied into the site). Not
        # Material's "offline" plugin: from file:// it loads a shim from unpkg.com.
        "plugins": ["search", {"glightbox": {"zoomable": True, "draggable": False, "skip_classes": ["atlas-no-zoom"]}}],
        "markdown_extensions": [
            "tables", "attr_list", "md_in_html", "admonition", "pymdownx.details",
            {"pymdownx.arithmatex": {"generic": True}},
            {"toc": {"permalink": True}},
        ],
        "extra_css": [ATLAS_CSS_FILE],
        "nav": nav,
    }
    if site_url:
        cfg["site_url"] = site_url
    return yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=1000)


def table_csv(table: Table) -> str:
    """CSV of a table's raw values (UTF-8, ``\\n`` line ends, deterministic float repr).

    Text cells go through :func:`report.escape.csv_frame`: a name such as ``=HYPERLINK(...)``
    must reach a spreadsheet as text, not as a live formula.
    """
    return csv_frame(table.frame).to_csv(index=False, lineterminator="\n")

