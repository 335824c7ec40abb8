"""Tables of the paper: sized by their content, never shrunk below ``\\footnotesize``.

A table is set in the body when its estimated width fits the text width at ``\\small`` (or at
``\\footnotesize``, the body size of an 11 pt paper minus two steps); otherwise it goes to the
appendix as a landscape ``longtable`` (which may also break across pages), and the body text
still refers to it by number. Nothing is scaled with ``\\resizebox``: a table that would need
scaling is a table that needs more room.

Widths are estimated in characters (one character of ``\\small`` is about 5 pt); headers are
broken into lines of words so that a long header does not widen its column, and column
identifiers such as ``images_per_identity_min`` become words. The widths are the paper class's
(:mod:`report.paper_classes`): in a two-column class a table that fits a column is a ``table``,
one that fits the page width a ``table*`` spanning both columns, and the appendix is set in one
column.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from report.escape import latex as tex
from report.model import Table
from report.paper_classes import ARTICLE, PaperClass
from report.site import formatted_rows

MAX_PAPER_ROWS = 20
#: Characters that fit the text width (16.6 cm of an A4 page with 2.2 cm margins), per size.
PORTRAIT_CHARS = {"small": 84, "footnotesize": 95}
#: Characters of a landscape text height (25 cm) at ``\footnotesize`` (with room for bold headers).
LANDSCAPE_CHARS = 132
_NUMBER = re.compile(r"^[-+]?(\d[\d,]*\.?\d*(e[-+]?\d+)?%?|nan|inf|-inf)$", re.IGNORECASE)


@dataclass(frozen=True)
class Layout:
    """Where and how a table is set: ``body`` or ``appendix``, its font size, and (two-column classes)
    whether it spans both columns."""

    place: str
    size: str
    wide: bool = False


def header_words(name: str) -> str:
    """A column header in words: ``images_per_identity_min`` -> ``images per identity min``."""
    return re.sub(r"\s+", " ", name.replace("_", " ")).strip()


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap to ``width`` characters (a longer word keeps its own line)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _widths(header: list[str], rows: list[list[str]]) -> list[int]:
    out = []
    for i, h in enumerate(header):
        cells = max((len(r[i]) for r in rows), default=0)
        # Bold header letters are about 15% wider than the body's.
        longest_word = int(round(1.15 * max((len(w) for w in h.split()), default=0)))
        out.append(max(cells, longest_word, 3))
    return out


def layout(t: Table, cls: PaperClass = ARTICLE) -> Layout:
    """Body at ``\\small`` or ``\\footnotesize`` when it fits (a column, else the text width), else the landscape appendix."""
    header, rows = formatted_rows(t, MAX_PAPER_ROWS)
    total = sum(_widths([header_words(h) for h in header], rows))
    widths = ((cls.column_width_pt, False), (cls.text_width_pt, True)) if cls.twocolumn else ((cls.text_width_pt, False),)
    for width, wide in widths:
        for size in ("small", "footnotesize"):
            if cls.fits(total, len(header), width, size):
                return Layout("body", size, wide)
    return Layout("appendix", "footnotesize")


def _header_cell(h: str, width: int) -> str:
    lines = _wrap(header_words(h), max(width, 6))
    if len(lines) == 1:
        return rf"\textbf{{{tex(lines[0])}}}"
    return r"\makecell[lb]{" + r"\\".join(rf"\textbf{{{tex(x)}}}" for x in lines) + "}"


def _spec(rows: list[list[str]], ncols: int) -> str:
    """Right-align columns whose every cell is a number, left-align the others."""
    spec = []
    for i in range(ncols):
        cells = [r[i] for r in rows if r[i] not in ("", "-")]
        spec.append("r" if cells and all(_NUMBER.match(c.replace(" ", "")) for c in cells) else "l")
    return "".join(spec)


def _column_parts(header: list[str], widths: list[int], spec: str, limit: int = LANDSCAPE_CHARS) -> list[list[int]]:
    """Column indices of each part of a table too wide for a landscape page.

    The leading text columns (which say what a row is) repeat in every part; the others are
    dealt out greedily so that each part fits :data:`LANDSCAPE_CHARS`.
    """
    lead = []
    for i, align in enumerate(spec):
        if align != "l" or len(lead) == 3:
            break
        lead.append(i)
    base = sum(widths[i] + 2 for i in lead)
    parts, current, used = [], [], base
    for i in range(len(header)):
        if i in lead:
            continue
        if current and used + widths[i] + 2 > limit:
            parts.append(lead + current)
            current, used = [], base
        current.append(i)
        used += widths[i] + 2
    parts.append(lead + current)
    return parts


def table_tex(t: Table, label: str, cls: PaperClass = ARTICLE) -> str:
    """LaTeX of one table at its :func:`layout`; appendix tables are ``longtable`` bodies for a landscape block."""
    header, rows = formatted_rows(t, MAX_PAPER_ROWS)
    lay = layout(t, cls)
    widths = _widths([header_words(h) for h in header], rows)
    spec = _spec(rows, len(header))
    note = ""
    if len(t.frame) > len(rows):
        note = f"First {len(rows)} of {len(t.frame)} rows; the full table is on the site as CSV."

    def head(cols):
        return " & ".join(_header_cell(header[i], widths[i]) for i in cols) + r" \\"

    def body(cols):
        return [" & ".join(tex(row[i]) for i in cols) + r" \\" for row in rows]

    every = list(range(len(header)))
    if lay.place == "body":
        env = "table*" if lay.wide else "table"
        lines = [rf"\begin{{{env}}}[{'tp' if lay.wide else 'htbp'}]", r"\centering", rf"\{lay.size}", rf"\caption{{{tex(t.caption)}}}",
                 rf"\label{{{label}}}", rf"\begin{{tabular}}{{{spec}}}", r"\toprule", head(every), r"\midrule",
                 *body(every), r"\bottomrule", r"\end{tabular}"]
        if note:
            lines.append(rf"\par\smallskip{{\footnotesize {tex(note)}}}")
        lines.append(rf"\end{{{env}}}")
        return "\n".join(lines)
    lines = [rf"\{lay.size}", r"\setlength{\tabcolsep}{4pt}"]
    for n, cols in enumerate(_column_parts(header, widths, spec, cls.landscape_chars)):
        sub_spec = "".join(spec[i] for i in cols)
        if n == 0:
            caption = rf"\caption{{{tex(t.caption)}}}\label{{{label}}}\\"
        else:
            caption = (rf"\multicolumn{{{len(cols)}}}{{l}}{{Table~\ref{{{label}}} (continued): further columns.}}\\"
                       + "\n" + r"\noalign{\smallskip}")
        lines += [rf"\begin{{longtable}}{{{sub_spec}}}", caption, r"\toprule", head(cols), r"\midrule", r"\endfirsthead",
                  r"\toprule", head(cols), r"\midrule", r"\endhead", r"\bottomrule", r"\endfoot", *body(cols),
                  r"\end{longtable}"]
        if n:
            lines.append(r"\addtocounter{table}{-1}")  # a longtable steps the counter even without a caption
    if note:
        lines.append(rf"{{\footnotesize {tex(note)}}}\par")
    lines.append(r"\normalsize")
    return "\n".join(lines)
