"""LaTeX renderer: the paper's structure in the page model -> ``paper/report.tex`` and ``paper/atlas/`` with PyLaTeX.

Every piece of text goes through :func:`report.escape.latex`; only formulas authored by the
project (``Math``/``InlineMath``) and the commands built here are emitted raw (``NoEscape``).
Figures are the same figures as the site's, saved as vector PDF; tables use booktabs. Numbers of
the prose are ``\\atlasvalue{key}`` / ``\\atlasinterval{key}`` (:class:`report.model.Val`), defined
in ``values.tex`` (:func:`report.values.values_tex`).

The paper is written as parts (:func:`parts`), so that a researcher's own main file can take
what it wants: ``atlas/<section>.tex`` for each section (``introduction``, ``data``, ``methods``,
``results``, ``discussion``, ``conclusion``), ``atlas/abstract.tex``, ``atlas/appendix.tex`` (the
wide tables), ``atlas/figures/<key>.tex`` and ``atlas/tables/<key>.tex`` for each float and
``atlas/packages.tex`` (what the parts need). The generated ``report.tex`` inputs them in the
class of ``[paper] class`` (:mod:`report.paper_classes`); a researcher's section file replaces a
generated section (:class:`UserSection`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from pylatex import Command, Document, NoEscape, Package
from pylatex.section import Section as LSection, Subsection, Subsubsection

from report.escape import latex as tex, slugify
from report.model import (
    Admonition, BulletList, Cite, Code, CodeBlock, Emph, Figure, InlineMath, Links, Math, PaperSection, Paragraph, Ref,
    Report, Strong, Table, Text, Val,
)
from report import latex_tables
from report.paper_classes import ARTICLE, PaperClass, front_matter

#: Packages of the generated paper, in loading order: (name, options).
PACKAGES = (("amsmath", None), ("booktabs", None), ("graphicx", None), ("natbib", "numbers"), ("xcolor", None),
            ("longtable", None), ("pdflscape", None), ("makecell", None), ("float", None), ("microtype", None),
            ("hyperref", "hidelinks,hypertexnames=false"))
#: What ``atlas/packages.tex`` loads for a researcher's main file (their class decides the rest).
PARTS_PACKAGES = ("amsmath", "booktabs", "graphicx", "longtable", "pdflscape", "makecell")


@dataclass(frozen=True)
class UserSection:
    """A researcher's file replacing a generated section.

    Parameters
    ----------
    name : str
        ``abstract``, ``introduction``, ``discussion`` or ``conclusion``.
    input_path : str
        Where the paper ``\\input``'s the build's copy of it, relative to ``paper/`` (``user/discussion``).
    has_heading : bool
        The file starts with its own ``\\section``: the generated heading is left out.
    """

    name: str
    input_path: str
    has_heading: bool = False


def _label(prefix: str, key: str) -> str:
    # Keys are slugs (letters, digits, hyphens), safe inside \label{}.
    return f"{prefix}:{key}"


def inline(parts) -> str:
    out = []
    for p in parts:
        if isinstance(p, Text):
            out.append(tex(p.text) if p.text else "")  # tex("") is an em dash (a missing value)
        elif isinstance(p, Strong):
            out.append(rf"\textbf{{{tex(p.text)}}}")
        elif isinstance(p, Emph):
            out.append(rf"\emph{{{tex(p.text)}}}")
        elif isinstance(p, Code):
            out.append(rf"\texttt{{{code_tex(p.text)}}}")
        elif isinstance(p, InlineMath):
            out.append(f"${p.latex}$")
        elif isinstance(p, Ref):
            out.append(rf"\ref{{{p.key}}}")
        elif isinstance(p, Cite):
            out.append(rf"~\citep{{{p.key}}}")
        elif isinstance(p, Val):
            # Keys are slugs joined by "/" (report.values.KEY_PATTERN): safe inside the braces.
            out.append(rf"\atlasinterval{{{p.key}}}" if p.interval else rf"\atlasvalue{{{p.key}}}")
        else:
            raise TypeError(f"unknown inline span {type(p).__name__}")
    return "".join(out)


def code_tex(text: str) -> str:
    """Monospaced text with a break point after each ``/ : . _ -`` (file names, model ids): typewriter text has no
    hyphenation, and ``insightface:scrfd_2.5g.onnx`` in a 252 pt column otherwise sticks out of it."""
    pieces = [p for p in re.split(r"(?<=[/:._-])", text) if p]
    return r"\allowbreak{}".join(tex(p) for p in pieces) if pieces else tex(text)


def table_tex(t: Table, cls: PaperClass = ARTICLE) -> str:
    return latex_tables.table_tex(t, _label("tab", t.key), cls)


def figure_tex(f: Figure, cls: PaperClass = ARTICLE) -> str:
    env = "figure*" if cls.twocolumn else "figure"  # a figure is drawn for the text width: both columns
    return "\n".join([
        rf"\begin{{{env}}}[{'tp' if cls.twocolumn else 'htbp'}]",
        r"\centering",
        # The PDF is drawn at the class's text width (report.render), so fonts keep their size.
        rf"\includegraphics[width={1.0 if f.width >= 0.9 else max(f.width, 0.75):.2f}\linewidth]{{figures/{f.key}.pdf}}",
        rf"\caption{{{tex(f.caption)}}}",
        rf"\label{{{_label('fig', f.key)}}}",
        rf"\end{{{env}}}",
    ])


def math_tex(formula: str, cls: PaperClass = ARTICLE) -> str:
    """A display formula; in a column narrower than 400 pt (two-column classes, llncs) the formulas a ``\\quad`` /
    ``\\qquad`` separates go on lines of their own (``gather*``), since such a column holds one of them, not four."""
    parts = [p.strip() for p in re.split(r"\\q?quad(?![a-zA-Z])", formula)]
    if cls.column_width_pt >= 400 or len(parts) < 2:
        return f"\\[\n{formula}\n\\]\n"
    return "\\begin{gather*}\n" + " \\\\\n".join(p for p in parts if p) + "\n\\end{gather*}\n"


def figure_part(key: str) -> str:
    return f"atlas/figures/{key}"


def table_part(key: str) -> str:
    return f"atlas/tables/{key}"


def block_tex(b, cls: PaperClass = ARTICLE, as_parts: bool = False) -> str:
    """LaTeX of one block; with ``as_parts`` a float is ``\\input`` from its own file under ``atlas/``."""
    if isinstance(b, Paragraph):
        return inline(b.parts) + "\n\n"  # a blank line: consecutive paragraphs must not run together
    if isinstance(b, BulletList):
        return "\\begin{itemize}\n" + "\n".join(rf"\item {inline(i)}" for i in b.items) + "\n\\end{itemize}\n"
    if isinstance(b, Math):
        return math_tex(b.latex, cls)
    if isinstance(b, Admonition):
        return ("\n\\par\\medskip\\noindent\\fbox{\\parbox{\\dimexpr\\linewidth-2\\fboxsep-2\\fboxrule}"
                f"{{\\textbf{{{tex(b.title)}.}} {inline(b.parts)}}}}}\\par\\medskip\n")
    if isinstance(b, CodeBlock):
        return "\\begin{verbatim}\n" + b.text.replace("\\end{verbatim}", "\\end {verbatim}") + "\n\\end{verbatim}\n"
    if isinstance(b, Links):
        return ""
    if isinstance(b, Table):
        # Tables too wide for the body are set in the appendix; the text refers to them by number.
        if latex_tables.layout(b, cls).place != "body":
            return ""
        return f"\\input{{{table_part(b.key)}}}\n" if as_parts else table_tex(b, cls)
    if isinstance(b, Figure):
        return f"\\input{{{figure_part(b.key)}}}\n" if as_parts else figure_tex(b, cls)
    raise TypeError(f"unknown block {type(b).__name__}")


def _fix_refs(text: str, figures: set[str], tables: set[str]) -> str:
    """Turn ``\\ref{key}`` of a figure/table key into its prefixed label."""
    for k in figures:
        text = text.replace(rf"\ref{{{k}}}", rf"Figure~\ref{{{_label('fig', k)}}}")
    for k in tables:
        text = text.replace(rf"\ref{{{k}}}", rf"Table~\ref{{{_label('tab', k)}}}")
    return text


def paper_figures(report: Report) -> list[Figure]:
    """Every figure the paper includes, in order (each once)."""
    seen, out = set(), []

    def walk(sections):
        for s in sections:
            for b in s.blocks:
                if isinstance(b, Figure) and b.key not in seen:
                    seen.add(b.key)
                    out.append(b)
            walk(s.subsections)

    walk(report.paper)
    return out


def _pdf_string(text: str) -> str:
    """Text for a hyperref PDF info field: escaped, and without commands that have no PDF string."""
    return tex(text).replace("~", " ")


def _preamble(doc: Document, report: Report, cls: PaperClass) -> None:
    if cls.fonts:  # without the class's own fonts, scalable Latin Modern rather than bitmap Computer Modern
        doc.preamble.append(NoEscape(rf"\IfFileExists{{{cls.fonts}.sty}}{{}}{{\usepackage{{lmodern}}}}"))
    for pkg, opts in PACKAGES:
        if pkg not in cls.loads:
            doc.packages.append(Package(pkg, options=opts))
    doc.preamble.append(NoEscape(r"\input{values}"))  # \atlasvalue and \atlasinterval (report.values)
    # Reproducible PDF: no wall-clock date, empty trailer id (with SOURCE_DATE_EPOCH set by the driver).
    doc.preamble.append(NoEscape(r"\pdftrailerid{}"))
    # Let floats share pages with text instead of leaving half-empty pages of one float each.
    doc.preamble.append(NoEscape("\n".join((
        r"\renewcommand{\topfraction}{0.85}", r"\renewcommand{\bottomfraction}{0.6}",
        r"\renewcommand{\textfraction}{0.1}", r"\renewcommand{\floatpagefraction}{0.75}",
        r"\renewcommand{\dbltopfraction}{0.85}", r"\renewcommand{\dblfloatpagefraction}{0.75}",
        r"\setcounter{topnumber}{3}", r"\setcounter{bottomnumber}{2}", r"\setcounter{totalnumber}{4}",
        r"\setcounter{dbltopnumber}{3}", r"\setlength{\LTcapwidth}{\linewidth}",
        # More stretch in narrow columns, where long words and numbers with intervals leave few break points.
        rf"\emergencystretch={'3em' if cls.column_width_pt < 400 else '1.5em'}"))))
    authors = report.author_list
    doc.preamble.append(NoEscape(
        "\\hypersetup{" + ",".join((
            f"pdftitle={{{_pdf_string(report.title)}}}",
            f"pdfauthor={{{_pdf_string(', '.join(authors))}}}",
            f"pdfsubject={{{_pdf_string(report.subject)}}}",
            f"pdfkeywords={{{_pdf_string(', '.join(report.keywords))}}}",
        )) + "}"))


def _walk_tables(sections) -> list[Table]:
    out = []
    for s in sections:
        out += [b for b in s.blocks if isinstance(b, Table)]
        out += _walk_tables(s.subsections)
    return out


def _walk_spans(report: Report):
    yield from report.abstract

    def walk(sections):
        for s in sections:
            for b in s.blocks:
                if isinstance(b, (Paragraph, Admonition)):
                    yield from b.parts
                elif isinstance(b, BulletList):
                    for item in b.items:
                        yield from item
            yield from walk(s.subsections)

    yield from walk(report.paper)


def check_values(report: Report) -> None:
    """Every key the generated prose prints is in the registry (a missing one is a bug of a page builder)."""
    known = {v.key for v in report.values}
    missing = sorted({p.key for p in _walk_spans(report) if isinstance(p, Val) and p.key not in known})
    if missing:
        raise ValueError(f"the paper refers to value keys the registry does not have: {', '.join(missing[:5])}")


def section_file(section: PaperSection) -> str:
    """``atlas/results``: the part of a top-level section, named after its title."""
    return f"atlas/{slugify(section.title.lower())}"


def parts(report: Report, cls: PaperClass = ARTICLE,
          user: Mapping[str, UserSection] | None = None) -> dict[str, str]:
    """Every generated part of the paper: ``atlas/...`` path (with ``.tex``) -> LaTeX text."""
    check_values(report)
    user = dict(user or {})
    figures = {f.key for f in paper_figures(report)}
    all_tables = _walk_tables(report.paper)
    tables = {t.key for t in all_tables}
    levels = (LSection, Subsection, Subsubsection)
    out: dict[str, str] = {}

    def emit(section: PaperSection, depth: int):
        sec = levels[min(depth, 2)](NoEscape(tex(section.title)))
        for b in section.blocks:
            sec.append(NoEscape(_fix_refs(block_tex(b, cls, as_parts=True), figures, tables)))
        for sub in section.subsections:
            sec.append(emit(sub, depth + 1))
        return sec

    for section in report.paper:
        mine = user.get(section.title.lower())
        if mine is not None:
            text = f"\\input{{{mine.input_path}}}\n"
            if not mine.has_heading:
                heading = LSection(NoEscape(tex(section.title)))
                text = heading.dumps() + "\n" + text
        else:
            text = emit(section, 0).dumps() + "\n"
        out[section_file(section) + ".tex"] = text
    mine = user.get("abstract")
    out["atlas/abstract.tex"] = (f"\\input{{{mine.input_path}}}\n" if mine is not None
                                 else _fix_refs(inline(report.abstract), figures, tables) + "\n")
    for f in paper_figures(report):
        out[figure_part(f.key) + ".tex"] = figure_tex(f, cls) + "\n"
    for t in all_tables:
        out[table_part(t.key) + ".tex"] = _fix_refs(table_tex(t, cls), figures, tables) + "\n"
    wide = [t for t in all_tables if latex_tables.layout(t, cls).place == "appendix"]
    appendix = "% The tables too wide for the text width (none in this study).\n"
    if wide:
        # One landscape block for all of them, heading included, so that short tables share pages.
        appendix = "\n".join([r"\clearpage", *([r"\onecolumn"] if cls.twocolumn else []), r"\appendix",
                              r"\begin{landscape}", r"\section{Wide tables}",
                              "The tables below are too wide for the text width at a readable size; the text refers to "
                              "them by number.", *(f"\\input{{{table_part(t.key)}}}" for t in wide),
                              r"\end{landscape}"]) + "\n"
    out["atlas/appendix.tex"] = appendix
    out["atlas/packages.tex"] = "\n".join([
        "% What the parts under atlas/ need, for a main file of your own: \\input{atlas/packages} in its preamble.",
        *(rf"\usepackage{{{p}}}" for p in PARTS_PACKAGES),
        r"\setlength{\LTcapwidth}{\linewidth}",
        r"\AtBeginDocument{\providecommand{\citep}[1]{\cite{#1}}}",
        r"\input{values}", ""])
    return out


def document(report: Report, cls: PaperClass = ARTICLE, user: Mapping[str, UserSection] | None = None) -> Document:
    """The PyLaTeX document of the generated paper (``report.tex``): it inputs the parts of :func:`parts`."""
    doc = Document(
        documentclass=cls.name,
        document_options=list(cls.options),
        fontenc="T1",
        inputenc="utf8",
        lmodern=cls.lmodern,
        textcomp=True,
        page_numbers="lastpage" not in cls.loads,
        geometry_options={"margin": cls.geometry} if cls.geometry else None,
    )
    _preamble(doc, report, cls)
    pre, body = front_matter(cls, report.title, report.author_list, report.affiliation, report.keywords,
                             r"\input{atlas/abstract}")
    for line in pre:
        doc.preamble.append(NoEscape(line))
    doc.append(NoEscape("\n".join(body) + "\n"))
    for section in report.paper:
        doc.append(NoEscape(f"\\input{{{section_file(section)}}}\n"))
    doc.append(NoEscape(rf"\bibliographystyle{{{cls.bib_style}}}"))
    doc.append(NoEscape(r"\bibliography{references}"))
    doc.append(NoEscape(r"\input{atlas/appendix}"))
    return doc


def render_tex(report: Report, cls: PaperClass = ARTICLE, user: Mapping[str, UserSection] | None = None) -> str:
    """The paper's main file as LaTeX source text."""
    return document(report, cls, user).dumps() + "\n"
