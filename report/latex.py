"""LaTeX renderer: the paper's structure in the page model -> ``paper/report.tex`` with PyLaTeX.

Every piece of text goes through :func:`report.escape.latex`; only formulas authored by the
project (``Math``/``InlineMath``) and the commands built here are emitted raw (``NoEscape``).
Figures are the same figures as the site's, saved as vector PDF; tables use booktabs.
"""
from __future__ import annotations

from pylatex import Command, Document, NoEscape, Package
from pylatex.section import Section as LSection, Subsection, Subsubsection

from report.escape import latex as tex
from report.model import (
    Admonition, BulletList, Cite, Code, CodeBlock, Emph, Figure, InlineMath, Links, Math, PaperSection, Paragraph, Ref,
    Report, Strong, Table, Text,
)
from report.site import formatted_rows

MAX_PAPER_ROWS = 20


def _label(prefix: str, key: str) -> str:
    # Keys are slugs (letters, digits, hyphens), safe inside \label{}.
    return f"{prefix}:{key}"


def inline(parts) -> str:
    out = []
    for p in parts:
        if isinstance(p, Text):
            out.append(tex(p.text))
        elif isinstance(p, Strong):
            out.append(rf"\textbf{{{tex(p.text)}}}")
        elif isinstance(p, Emph):
            out.append(rf"\emph{{{tex(p.text)}}}")
        elif isinstance(p, Code):
            out.append(rf"\texttt{{{tex(p.text)}}}")
        elif isinstance(p, InlineMath):
            out.append(f"${p.latex}$")
        elif isinstance(p, Ref):
            out.append(rf"\ref{{{p.key}}}")
        elif isinstance(p, Cite):
            out.append(rf"~\citep{{{p.key}}}")
        else:
            raise TypeError(f"unknown inline span {type(p).__name__}")
    return "".join(out)


def table_tex(t: Table) -> str:
    header, rows = formatted_rows(t, MAX_PAPER_ROWS)
    ncols = len(header)
    spec = "l" * ncols
    lines = [
        r"\begin{table}[htbp]",
        r"\centering\small",
        rf"\caption{{{tex(t.caption)}}}",
        rf"\label{{{_label('tab', t.key)}}}",
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%" if ncols > 5 else "{%",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(rf"\textbf{{{tex(h)}}}" for h in header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(tex(c) for c in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}}"]
    if len(t.frame) > len(rows):
        lines.append(rf"\\[2pt]{{\footnotesize First {len(rows)} of {len(t.frame)} rows; the full table is on the site as CSV.}}")
    lines.append(r"\end{table}")
    return "\n".join(lines)


def figure_tex(f: Figure) -> str:
    return "\n".join([
        r"\begin{figure}[htbp]",
        r"\centering",
        rf"\includegraphics[width={f.width:.2f}\linewidth]{{figures/{f.key}.pdf}}",
        rf"\caption{{{tex(f.caption)}}}",
        rf"\label{{{_label('fig', f.key)}}}",
        r"\end{figure}",
    ])


def block_tex(b) -> str:
    if isinstance(b, Paragraph):
        return inline(b.parts) + "\n"
    if isinstance(b, BulletList):
        return "\\begin{itemize}\n" + "\n".join(rf"\item {inline(i)}" for i in b.items) + "\n\\end{itemize}\n"
    if isinstance(b, Math):
        return f"\\[\n{b.latex}\n\\]\n"
    if isinstance(b, Admonition):
        return ("\n\\par\\medskip\\noindent\\fbox{\\parbox{\\dimexpr\\linewidth-2\\fboxsep-2\\fboxrule}"
                f"{{\\textbf{{{tex(b.title)}.}} {inline(b.parts)}}}}}\\par\\medskip\n")
    if isinstance(b, CodeBlock):
        return "\\begin{verbatim}\n" + b.text.replace("\\end{verbatim}", "\\end {verbatim}") + "\n\\end{verbatim}\n"
    if isinstance(b, Links):
        return ""
    if isinstance(b, Table):
        return table_tex(b)
    if isinstance(b, Figure):
        return figure_tex(b)
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


def document(report: Report) -> Document:
    """The PyLaTeX document of the paper."""
    doc = Document(
        documentclass="article",
        document_options=["11pt", "a4paper"],
        fontenc="T1",
        inputenc="utf8",
        lmodern=True,
        textcomp=True,
        page_numbers=True,
        geometry_options={"margin": "2.2cm"},
    )
    for pkg, opts in (("amsmath", None), ("booktabs", None), ("graphicx", None), ("natbib", "numbers"),
                      ("xcolor", None), ("hyperref", "hidelinks,hypertexnames=false"), ("float", None), ("microtype", None)):
        doc.packages.append(Package(pkg, options=opts))
    # Reproducible PDF: no wall-clock date, empty trailer id (with SOURCE_DATE_EPOCH set by the driver).
    doc.preamble.append(NoEscape(r"\pdftrailerid{}"))
    doc.preamble.append(Command("title", NoEscape(tex(report.title))))
    doc.preamble.append(Command("author", NoEscape(tex(report.authors))))
    doc.preamble.append(Command("date", NoEscape("")))
    doc.append(NoEscape(r"\maketitle"))
    doc.append(NoEscape("\\begin{abstract}\n" + inline(report.abstract) + "\n\\end{abstract}\n"))

    figures = {f.key for f in paper_figures(report)}
    tables: set[str] = set()

    def collect(sections):
        for s in sections:
            for b in s.blocks:
                if isinstance(b, Table):
                    tables.add(b.key)
            collect(s.subsections)

    collect(report.paper)
    levels = (LSection, Subsection, Subsubsection)

    def emit(container, section: PaperSection, depth: int):
        sec = levels[min(depth, 2)](NoEscape(tex(section.title)))
        for b in section.blocks:
            sec.append(NoEscape(_fix_refs(block_tex(b), figures, tables)))
        for sub in section.subsections:
            emit(sec, sub, depth + 1)
        container.append(sec)

    for section in report.paper:
        emit(doc, section, 0)
    doc.append(NoEscape(r"\clearpage"))
    doc.append(NoEscape(r"\bibliographystyle{plainnat}"))
    doc.append(NoEscape(r"\bibliography{references}"))
    return doc


def render_tex(report: Report) -> str:
    """The paper as LaTeX source text."""
    return document(report).dumps() + "\n"
