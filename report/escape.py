"""Escaping of untrusted text for Markdown/HTML and for LaTeX, and safe slugs.

Identity names, file names and config strings are data, not markup. A name such as
``<script>alert(1)</script>``, ``](javascript:alert(1))``, ``\\input{/etc/passwd}`` or
``_&%$#{}~^\\`` must render as those characters and do nothing else, in the site and in the
paper. Renderers call these functions on every piece of text they emit; templates apply
:func:`md` to every expression automatically (see ``report.site``).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

# Every character that means something to Markdown (Python-Markdown + pymdownx extensions),
# to HTML, or to arithmatex ($) becomes a numeric character reference. References are inert in
# Markdown, decoded by the browser, and keep the search index readable. "(", ")" and ":" stay
# as they are: a link needs "](" and an autolink "<", both escaped, so alone they are text.
_MD_SPECIAL = set("\\`*_{}[]<>#+!|~^$&\"")
_MD_TABLE = {ord(c): f"&#{ord(c)};" for c in _MD_SPECIAL}
_HTML_TABLE = {ord(c): f"&#{ord(c)};" for c in "<>&\"'`"}
#: Longest text shown in one table cell (the CSV keeps the full value).
CELL_MAX_LEN = 200


def truncate(text: str, max_len: int = CELL_MAX_LEN) -> str:
    """Cut ``text`` to ``max_len`` characters with an ellipsis (for table cells)."""
    return text if len(text) <= max_len else text[: max_len - 1] + "\u2026"


def md(text: object, max_len: int | None = None) -> str:
    """Escape text for Markdown with inline HTML (pages built by MkDocs).

    Newlines and tabs become spaces (a name must not start a new block); control characters
    are dropped; empty text becomes an em dash so that table cells never collapse; text longer
    than ``max_len`` characters is cut with an ellipsis (``None``: never).
    """
    s = _clean(str(text), max_len)
    if not s:
        return "\u2014"
    return s.translate(_MD_TABLE)


def md_block_start(text: str) -> str:
    """Guard escaped text that begins a Markdown block (paragraph, list item, admonition body).

    Only there can a leading ``-``, ``=``, ``+`` or ``1.`` start a list or a heading underline, so
    only there is the first character written as a character reference; table cells and inline
    text keep their digits readable (``0.613``, not ``&#48;.613``).
    """
    if text and (text[0] in "-=+" or re.match(r"\d+[.)](\s|$)", text)):
        return f"&#{ord(text[0])};" + text[1:]
    return text


def html(text: object) -> str:
    """Escape text for an HTML attribute or element (alt text, titles)."""
    s = _clean(str(text), None)
    return s.translate(_HTML_TABLE)


_LATEX_MAP = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': r"\textquotedbl{}",
    "[": "{[}",
    "]": "{]}",
}
# Characters pdflatex with T1 fonts and utf8 input renders; anything else is written as its
# code point so that an exotic name can neither break compilation nor silently vanish.
_LATEX_SAFE_NONASCII = set(
    "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ"
    "ŁłŒœŠšŸŽžĆćČčĘęŃńŚśŹźŻżŘřŠšŤťŮůĎďĚěŇňĞğİıŞş–—‘’“”…°±×÷"
)


def latex(text: object) -> str:
    """Escape text for LaTeX body text (pdflatex, T1 fonts, utf8 input).

    Every special character is replaced by a command that prints it; unusual Unicode becomes
    ``[U+XXXX]``; long unbroken strings get break points so that they cannot overflow a table.
    """
    s = _clean(str(text), None)
    if not s:
        return "---"
    out = []
    run = 0
    for c in s:
        if c in _LATEX_MAP:
            out.append(_LATEX_MAP[c])
        elif ord(c) < 128:
            out.append(c)
        elif c in _LATEX_SAFE_NONASCII:
            out.append(c)
        else:
            out.append(f"[U+{ord(c):04X}]")
        run = 0 if c.isspace() else run + 1
        if run >= 24:  # allow a line break inside very long tokens
            out.append(r"\allowbreak{}")
            run = 0
    return "".join(out)


def _clean(s: str, max_len: int | None = None) -> str:
    if s.isascii() and s.isprintable():  # the common case: nothing to normalise, replace or drop
        return s if max_len is None or len(s) <= max_len else s[: max_len - 1] + "\u2026"
    s = unicodedata.normalize("NFC", s)
    s = re.sub(r"[\r\n\t\f\v]+", " ", s)
    s = "".join(c for c in s if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn") or c == " ")
    if max_len is not None and len(s) > max_len:
        s = s[: max_len - 1] + "\u2026"
    return s


def slugify(text: object) -> str:
    """A file-name and URL safe slug; distinct inputs always give distinct slugs.

    Text that is already a slug (lower-case letters, digits, single hyphens) is kept as is;
    anything else is reduced to ASCII and gets a short hash suffix, so ``"A B"`` and ``"A_B"``
    can never share a file.
    """
    raw = str(text)
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60]
    if slug and slug == raw:
        return slug
    return (slug + "-" if slug else "x-") + hashlib.sha256(raw.encode()).hexdigest()[:8]


# Bidirectional controls (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI, LRM, RLM, ALM): a name
# holding U+202E shows reversed text in a spreadsheet ("Trojan Source" style spoofing).
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"))
#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """A text cell safe to open in a spreadsheet: bidi controls removed, formulas defused with ``'``."""
    s = str(text).translate(_BIDI)
    return "'" + s if s.startswith(_FORMULA_START) else s


def csv_frame(frame):
    """Copy of a pandas DataFrame whose text cells and column names went through :func:`csv_cell`.

    Numeric columns are left alone (``-0.5`` in a float column is a number, not a formula).
    """
    import pandas as pd

    names = [csv_cell(c) if isinstance(c, str) else c for c in frame.columns]
    if len(set(names)) != len(names):  # duplicate headers: column by column on a copy
        out = frame.copy()
        out.columns = names
        for j in range(out.shape[1]):
            out.iloc[:, j] = _csv_column(out.iloc[:, j])
        return out
    # One pass over the columns into a new frame (a rebuild writes some 200 tables).
    return pd.DataFrame({name: _csv_column(col) for name, (_, col) in zip(names, frame.items())}, index=frame.index)


def _csv_column(col):
    """A text column with every string cell through :func:`csv_cell`; other columns unchanged."""
    if not (col.dtype == object or str(col.dtype) in ("string", "str")):
        return col
    return type(col)([csv_cell(v) if isinstance(v, str) else v for v in col.tolist()], index=col.index, dtype=col.dtype)
