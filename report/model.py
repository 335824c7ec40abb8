"""Format-neutral page model: what a report says, independent of how it is rendered.

Analyses return typed results; page builders (``report.pages.*``) turn them into the objects
below; one renderer per format (Markdown for MkDocs, LaTeX, CSV/JSON) reads the same objects.
No value in this model is pre-escaped: renderers escape every piece of text for their format,
so an identity called ``<script>`` or ``\\input{x}`` is just text here.

Inline text is a tuple of spans (:class:`Text`, :class:`Strong`, :class:`Code`,
:class:`InlineMath`, :class:`Ref`, :class:`Val`); :func:`P` builds a paragraph from strings and spans.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Union

import pandas as pd


# --------------------------------------------------------------------------- inline spans
@dataclass(frozen=True)
class Text:
    """Plain text; escaped by every renderer."""

    text: str


@dataclass(frozen=True)
class Strong:
    """Bold text."""

    text: str


@dataclass(frozen=True)
class Emph:
    """Italic text."""

    text: str


@dataclass(frozen=True)
class Code:
    """Monospaced text (file names, config keys)."""

    text: str


@dataclass(frozen=True)
class InlineMath:
    """Inline formula in LaTeX syntax, authored by the project (never user data)."""

    latex: str


@dataclass(frozen=True)
class Ref:
    """Reference to a figure or table by key, rendered as "Figure 3" / "Table 2"."""

    key: str


@dataclass(frozen=True)
class Cite:
    """Citation of a bibliography key (see ``report.references``)."""

    key: str


@dataclass(frozen=True)
class Val:
    """A reported number by its key (:mod:`report.values`): its formatted text, or its interval.

    The site writes the text the registry holds; the paper writes ``\\atlasvalue{key}`` (or
    ``\\atlasinterval{key}``), defined in ``paper/values.tex`` from the same registry, so the two
    cannot disagree.
    """

    key: str
    interval: bool = False


Span = Union[Text, Strong, Emph, Code, InlineMath, Ref, Cite, Val]


def spans(*parts: str | Span) -> tuple[Span, ...]:
    """Normalise strings to :class:`Text` spans."""
    return tuple(Text(p) if isinstance(p, str) else p for p in parts)


# --------------------------------------------------------------------------- blocks
@dataclass(frozen=True)
class Paragraph:
    parts: tuple[Span, ...]


def P(*parts: str | Span) -> Paragraph:
    """Paragraph from strings and spans: ``P("Median radius ", Strong("0.61"), ".")``."""
    return Paragraph(spans(*parts))


@dataclass(frozen=True)
class BulletList:
    items: tuple[tuple[Span, ...], ...]


def Bullets(*items: tuple | str | Span) -> BulletList:
    """Bullet list; each item a string, a span or a tuple of strings/spans."""
    return BulletList(tuple(spans(*(i if isinstance(i, tuple) else (i,))) for i in items))


@dataclass(frozen=True)
class Math:
    """Display formula in LaTeX syntax, authored by the project."""

    latex: str


@dataclass(frozen=True)
class Admonition:
    """A call-out box: ``note``, ``warning``, ``info`` or ``tip``."""

    kind: Literal["note", "warning", "info", "tip"]
    title: str
    parts: tuple[Span, ...]


@dataclass(frozen=True, eq=False)
class Table:
    """A table with raw values; renderers format them.

    Parameters
    ----------
    key : str
        Unique id across the report (``demo-arcface-all-geometry-summary``); names the CSV file
        and the LaTeX label.
    caption : str
        One sentence saying what the table shows and what to look at.
    frame : DataFrame
        Raw values; the column names are the headers. Identity names go in as they are.
    formats : mapping of column to format spec
        Python format spec per column (``".3f"``, ``"d"``, ``".1%"``); default: ``.3g`` for
        floats, ``d`` for ints, ``str`` otherwise.
    in_paper : bool
        Whether the paper includes this table (the site shows every table).
    max_rows : int or None
        Rows shown in the page (the CSV always has all rows).
    site_columns : tuple of str or None
        The headline columns the site shows (the CSV and the paper keep every column); None:
        the site renderer decides (every column of a narrow table, see ``report.table_view``).
    links : mapping of column to tuple of (str or None)
        Site only: the cell of row ``i`` in that column links to ``links[column][i]``, a
        docs-relative target with an optional fragment (``demo/net/all/explorer.md#item=a%2F1.jpg``);
        None leaves the cell unlinked. The CSV and the paper keep the plain values.
    """

    key: str
    caption: str
    frame: pd.DataFrame
    formats: Mapping[str, str] = field(default_factory=dict)
    in_paper: bool = False
    max_rows: int | None = 30
    site_columns: tuple[str, ...] | None = None
    links: Mapping[str, tuple[str | None, ...]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Figure:
    """A matplotlib figure drawn from data by a module-level function.

    The figure is identified by ``plot`` (its qualified name and source) and ``data`` (hashed
    by content), so an unchanged figure is copied from the cache instead of being redrawn.

    Parameters
    ----------
    key : str
        Unique id across the report; names the PNG/PDF files and the LaTeX label.
    caption : str
        What the figure shows and what to look at.
    plot : callable
        ``plot(data) -> matplotlib.figure.Figure``; must be deterministic and module-level.
    data : Any
        Everything ``plot`` needs (arrays, frozen dataclasses).
    in_paper : bool
        Whether the paper includes it.
    width : float
        Width in the paper as a fraction of the text width.
    """

    key: str
    caption: str
    plot: Callable[[Any], Any]
    data: Any
    in_paper: bool = False
    width: float = 0.8


@dataclass(frozen=True)
class CodeBlock:
    """Verbatim text (a config file); rendered so that its content can never become markup."""

    text: str
    language: str = ""


@dataclass(frozen=True)
class Links:
    """A list of links to files of the site: ``(label, site-relative path)`` pairs."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True, eq=False)
class Explorer:
    """An interactive 2-D map of one cell (site only; the paper skips it).

    Parameters
    ----------
    key : str
        Unique id across the report; names the explorer data and the cell's Parquet export.
    caption : str
    points : DataFrame
        One row per mapped embedding: ``row`` (its position in the (dataset, network) embedding
        set, i.e. in the published vectors file), ``identity``, ``item``, ``cluster`` (int),
        ``flags`` (str, ``""`` when none), ``<map> x`` / ``<map> y`` for every 2-D map
        (``PCA x`` ...) and any further per-row column (``embedding norm``, ``detection score``).
    colour_by : tuple of (label, column) pairs
        The columns a reader can colour the map by, in menu order; a numeric column gets a
        colour scale, any other one a colour per category.
    neighbours : object or None
        :class:`analysis.statistics.neighbours.NeighbourLists` over the rows of ``points``
        (nearest neighbours in the full space), or None.
    source : tuple of str
        ``(dataset, network, subset)`` of the cell.
    links : mapping of str to str
        Pages the explorer links back to, relative to the explorer page (``{"audit":
        "audit.html"}``), and the anchors of their tables (``"audit#suspected mislabel"`` ...).
    """

    key: str
    caption: str
    points: pd.DataFrame
    colour_by: tuple[tuple[str, str], ...] = (("identity", "identity"), ("KMeans cluster", "cluster"),
                                              ("audit status", "flags"))
    neighbours: Any = None
    source: tuple[str, ...] = ()
    links: Mapping[str, str] = field(default_factory=dict)


Block = Union[Paragraph, BulletList, Math, Admonition, Table, Figure, CodeBlock, Links, Explorer]


@dataclass(frozen=True)
class Section:
    """A titled group of blocks; ``level`` 2 is a page section, 3 a subsection."""

    title: str
    blocks: tuple[Block, ...]
    level: int = 2


@dataclass(frozen=True)
class Page:
    """One page of the site; its sections may also go into the paper.

    Parameters
    ----------
    path : tuple of str
        Location in the site, e.g. ``("demo", "arcface-512", "all", "geometry")``; also the
        navigation hierarchy. Parts are slugified by the renderer.
    title : str
        Page title (navigation label).
    intro : tuple of Block
        Blocks before the first section.
    sections : tuple of Section
    synthetic : bool
        Show the "synthetic demo, not faces" banner.
    nav_titles : tuple of str
        Labels of the navigation levels above the page, parallel to ``path[:-1]``.
    """

    path: tuple[str, ...]
    title: str
    intro: tuple[Block, ...] = ()
    sections: tuple[Section, ...] = ()
    synthetic: bool = False
    nav_titles: tuple[str, ...] = ()

    def blocks(self):
        """Every block of the page, in order."""
        yield from self.intro
        for s in self.sections:
            yield from s.blocks


@dataclass(frozen=True)
class PaperSection:
    """A section of the paper: prose and a selection of figures/tables (by key)."""

    title: str
    blocks: tuple[Block, ...]
    subsections: tuple["PaperSection", ...] = ()


@dataclass(frozen=True)
class Report:
    """The whole report: site pages plus the paper's structure.

    Parameters
    ----------
    title : str
    pages : tuple of Page
        In navigation order.
    abstract : tuple of Span
    paper : tuple of PaperSection
        Paper body; figures/tables inside it are the same objects as on the site.
    synthetic : bool
        Whether any data in the report is synthetic.
    authors : tuple of str
        Authors of the paper, in order (``[study] authors``).
    affiliation, subject : str
        Affiliation line and PDF subject of the paper.
    keywords : tuple of str
        Keywords of the paper (and of the PDF metadata).
    values : tuple of report.values.Value
        Every reported number with its key, formatted text and interval (the registry).
    """

    title: str
    pages: tuple[Page, ...]
    abstract: tuple[Span, ...] = ()
    paper: tuple[PaperSection, ...] = ()
    synthetic: bool = False
    authors: tuple[str, ...] | str = ()
    affiliation: str = ""
    keywords: tuple[str, ...] = ()
    subject: str = ""
    values: tuple = ()

    @property
    def author_list(self) -> tuple[str, ...]:
        """Authors as a tuple (a single string is one author line)."""
        return (self.authors,) if isinstance(self.authors, str) else tuple(self.authors)
