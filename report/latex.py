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
from report import latex_tables



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
    return latex_tables.table_tex(t, _label("tab", t.key))


def figure_tex(f: Figure) -> str:
    return "\n".join([
        r"\begin{figure}[htbp]",
        r"\centering",
        # The PDF is drawn at the paper's text width (report.render), so fonts keep their size.
        rf"\includegraphics[width={1.0 if f.width >= 0.9 else max(f.width, 0.75):.2f}\linewidth]{{figures/{f.key}.pdf}}",
        rf"\caption{{{tex(f.caption)}}}",
        rf"\label{{{_label('fig', f.key)}}}",
        r"\end{figure}",
    ])


def block_tex(b) -> str:
    if isinstance(b, Paragraph):
        return inline(b.parts) + "\n\n"  # a blank line: consecutive paragraphs must not run together
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
        # Tables too wide for the body are set in the appendix; the text refers to them by number.
        return table_tex(b) if latex_tables.layout(b).place == "body" else ""
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


def _pdf_string(text: str) -> str:
    """Text for a hyperref PDF info field: escaped, and without commands that have no PDF string."""
    return tex(text).replace("~", " ")


def _preamble(doc: Document, report: Report) -> None:
    for pkg, opts in (("amsmath", None), ("booktabs", None), ("graphicx", None), ("natbib", "numbers"),
                      ("xcolor", None), ("longtable", None), ("pdflscape", None), ("makecell", None),
                      ("float", None), ("microtype", None), ("hyperref", "hidelinks,hypertexnames=false")):
        doc.packages.append(Package(pkg, options=opts))
    # Reproducible PDF: no wall-clock date, empty trailer id (with SOURCE_DATE_EPOCH set by the driver).
    doc.preamble.append(NoEscape(r"\pdftrailerid{}"))
    # Let floats share pages with text instead of leaving half-empty pages of one float each.
    doc.preamble.append(NoEscape("\n".join((
        r"\renewcommand{\topfraction}{0.85}", r"\renewcommand{\bottomfraction}{0.6}",
        r"\renewcommand{\textfraction}{0.1}", r"\renewcommand{\floatpagefraction}{0.75}",
        r"\setcounter{topnumber}{3}", r"\setcounter{bottomnumber}{2}", r"\setcounter{totalnumber}{4}",
        r"\setlength{\LTcapwidth}{\linewidth}", r"\emergencystretch=1.5em"))))
    authors = report.author_list
    doc.preamble.append(NoEscape(
        "\\hypersetup{" + ",".join((
            f"pdftitle={{{_pdf_string(report.title)}}}",
            f"pdfauthor={{{_pdf_string(', '.join(authors))}}}",
            f"pdfsubject={{{_pdf_string(report.subject)}}}",
            f"pdfkeywords={{{_pdf_string(', '.join(report.keywords))}}}",
        )) + "}"))
    doc.preamble.append(Command("title", NoEscape(tex(report.title))))
    author_tex = tex(", ".join(authors)) if authors else ""
    if report.affiliation:
        author_tex += r"\\[2pt] \normalsize\itshape " + tex(report.affiliation)
    doc.preamble.append(Command("author", NoEscape(author_tex)))
    doc.preamble.append(Command("date", NoEscape("")))


def _walk_tables(sections) -> list[Table]:
    out = []
    for s in sections:
        out += [b for b in s.blocks if isinstance(b, Table)]
        out += _walk_tables(s.subsections)
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
    _preamble(doc, report)
    doc.append(NoEscape(r"\maketitle"))
    doc.append(NoEscape("\\begin{abstract}\n" + inline(report.abstract) + "\n\\end{abstract}\n"))
    if report.keywords:
        doc.append(NoEscape(r"\noindent\textbf{Keywords:} " + tex("; ".join(report.keywords)) + "\n"))

    figures = {f.key for f in paper_figures(report)}
    all_tables = _walk_tables(report.paper)
    tables = {t.key for t in all_tables}
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
    doc.append(NoEscape(r"\bibliographystyle{plainnat}"))
    doc.append(NoEscape(r"\bibliography{references}"))
    wide = [t for t in all_tables if latex_tables.layout(t).place == "appendix"]
    if wide:
        # One landscape block for all of them, heading included, so that short tables share pages.
        doc.append(NoEscape(r"\clearpage" + "\n" + r"\appendix" + "\n" + r"\begin{landscape}" + "\n"
                            + r"\section{Wide tables}" + "\n" + "The tables below are too wide for the text width at a "
                            "readable size; the text refers to them by number.\n"))
        for t in wide:
            doc.append(NoEscape(_fix_refs(table_tex(t), figures, tables)))
        doc.append(NoEscape(r"\end{landscape}"))
    return doc


def render_tex(report: Report) -> str:
    """The paper as LaTeX source text."""
    return document(report).dumps() + "\n"
