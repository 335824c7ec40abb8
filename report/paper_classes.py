"""The venue classes of the paper: article (default), IEEEtran, llncs and acmart.

Each :class:`PaperClass` says what :mod:`report.latex` needs to typeset the same content in that
class: its options, the packages it already loads (loading them again with options would clash),
its front matter (title, authors, abstract, keywords in the order the class expects), its
bibliography style, and its measures (text and column width, the body's small sizes, the text
height), from which :mod:`report.latex_tables` sizes tables and :mod:`report.render` draws the
figures' PDFs at the class's text width so that their fonts keep their size.

Measures were read from each class (``\\the\\textwidth`` ...) with TeX Live 2022/2023; IEEEtran,
llncs and acmart come with the Debian package ``texlive-publishers``.
"""
from __future__ import annotations

from dataclasses import dataclass

from report.escape import latex as tex

_PT_PER_IN = 72.27


@dataclass(frozen=True)
class PaperClass:
    """How one document class sets the paper.

    Parameters
    ----------
    name : str
        The ``\\documentclass``.
    options : tuple of str
    twocolumn : bool
        Floats wider than a column span both columns (``figure*``, ``table*``).
    text_width_pt, column_width_pt, text_height_pt : float
    small_pt, footnote_pt : float
        Sizes of ``\\small`` and ``\\footnotesize`` in the class (tables are set in one of them).
    bib_style : str
    geometry : str
        Margins for the geometry package (article only: the venue classes fix their own).
    lmodern : bool
        Latin Modern fonts (the venue classes bring their own: Times, Libertine).
    loads : tuple of str
        Packages the class loads itself (not loaded again, so that no option clashes).
    fonts : str
        The class's font package; when TeX Live lacks it the paper is set in Latin Modern (scalable,
        so that microtype works) and the build says which Debian package brings it.
    """

    name: str
    options: tuple[str, ...]
    twocolumn: bool
    text_width_pt: float
    column_width_pt: float
    text_height_pt: float
    small_pt: float
    footnote_pt: float
    bib_style: str
    geometry: str = ""
    lmodern: bool = True
    loads: tuple[str, ...] = ()
    fonts: str = ""

    @property
    def text_width_in(self) -> float:
        return self.text_width_pt / _PT_PER_IN

    def em_pt(self, size: str) -> float:
        """Width of one table character at ``size`` (``small`` / ``footnotesize``), in pt.

        About 0.56 em per character of tabular figures and words (0.55 em at ``\\footnotesize``), which
        with the 12 pt between columns gives the 84 / 95 characters measured for the article's 16.6 cm.
        """
        return 0.562 * self.small_pt if size == "small" else 0.552 * self.footnote_pt

    def fits(self, chars: int, columns: int, width_pt: float, size: str) -> bool:
        """Whether a table of ``chars`` characters of cells in ``columns`` columns fits ``width_pt`` at ``size``."""
        return chars * self.em_pt(size) + 12.0 * columns <= width_pt

    def chars(self, width_pt: float, size: str) -> int:
        """Characters of cells (with two for each column gap) that fit ``width_pt`` at ``size``."""
        return round(width_pt / self.em_pt(size))

    @property
    def landscape_chars(self) -> int:
        """Characters of a landscape page (the text height) at ``\\footnotesize``, with room for bold headers."""
        return round(0.911 * self.text_height_pt / (0.552 * self.footnote_pt))


ARTICLE = PaperClass("article", ("11pt", "a4paper"), False, 472.0, 472.0, 720.0, 10.0, 9.0, "plainnat",
                     geometry="2.2cm")
IEEETRAN = PaperClass("IEEEtran", ("conference",), True, 516.0, 252.0, 672.0, 9.0, 8.0, "IEEEtran", lmodern=False)
LLNCS = PaperClass("llncs", (), False, 347.1, 347.1, 549.1, 9.0, 8.0, "splncs04")
ACMART = PaperClass("acmart", ("sigconf", "nonacm"), True, 506.3, 241.1, 626.0, 8.0, 7.0, "ACM-Reference-Format",
                    lmodern=False,
                    # lastpage: acmart's totpages refuses it (PyLaTeX's page numbers load it).
                    loads=("amsmath", "booktabs", "graphicx", "natbib", "xcolor", "hyperref", "lastpage"),
                    fonts="libertine")
#: Debian package of each class's fonts.
FONT_PACKAGES = {"libertine": "texlive-fonts-extra"}

CLASSES = {c.name: c for c in (ARTICLE, IEEETRAN, LLNCS, ACMART)}


def paper_class(name: str) -> PaperClass:
    """The class called ``name``; ValueError lists the valid ones."""
    try:
        return CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown paper class {name!r}; valid: {', '.join(CLASSES)}") from None


def front_matter(cls: PaperClass, title: str, authors: tuple[str, ...], affiliation: str,
                 keywords: tuple[str, ...], abstract: str) -> tuple[list[str], list[str]]:
    """``(preamble lines, body lines)`` of the title block, in the order the class expects.

    ``abstract`` is LaTeX (``\\input{atlas/abstract}``); every other string is escaped here.
    """
    t, aff = tex(title), tex(affiliation) if affiliation else ""
    names = [tex(a) for a in authors]
    kw = [tex(k) for k in keywords]
    if cls.name == "IEEEtran":
        block = r"\IEEEauthorblockN{" + (", ".join(names) or "~") + "}" + (rf"\IEEEauthorblockA{{{aff}}}" if aff else "")
        body = [r"\maketitle", r"\begin{abstract}", abstract, r"\end{abstract}"]
        if kw:
            body += [r"\begin{IEEEkeywords}", ", ".join(kw), r"\end{IEEEkeywords}"]
        return [rf"\title{{{t}}}", rf"\author{{{block}}}"], body
    if cls.name == "llncs":
        pre = [rf"\title{{{t}}}", r"\author{" + (r" \and ".join(names) or "~") + "}", rf"\institute{{{aff or '~'}}}"]
        body = [r"\maketitle", r"\begin{abstract}", abstract]
        if kw:
            body.append(r"\keywords{" + r" \and ".join(kw) + "}")
        return pre, body + [r"\end{abstract}"]
    if cls.name == "acmart":
        pre = [rf"\title{{{t}}}"]
        for n in names or ["~"]:
            pre += [rf"\author{{{n}}}", rf"\affiliation{{\institution{{{aff or '~'}}}\country{{}}}}"]
        body = [r"\begin{abstract}", abstract, r"\end{abstract}"]
        if kw:
            body.append(r"\keywords{" + ", ".join(kw) + "}")
        return pre, body + [r"\maketitle"]
    author = ", ".join(names)
    if aff:
        author += r"\\[2pt] \normalsize\itshape " + aff
    body = [r"\maketitle", r"\begin{abstract}", abstract, r"\end{abstract}"]
    if kw:
        body.append(r"\noindent\textbf{Keywords:} " + "; ".join(kw))
    return [rf"\title{{{t}}}", rf"\author{{{author}}}", r"\date{}"], body
