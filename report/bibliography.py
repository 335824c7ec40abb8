"""References as a reader sees them on the site: "J. Deng, J. Guo ... (2019). Title. Venue, pages."

The data are the project's BibTeX (:func:`report.references.bibtex`, owned there); this module
only parses that text and formats each entry as one line of plain text, so the site shows a
reference list instead of raw BibTeX blocks.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# The few LaTeX accent commands BibTeX entries use, as Unicode combining marks.
_ACCENTS = {'"': "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303", "c": "\u0327", "v": "\u030c"}


@dataclass(frozen=True)
class Reference:
    """One formatted reference: its BibTeX key and the text to show."""

    key: str
    text: str


def _fields(body: str) -> dict[str, str]:
    """``name={value}`` / ``name="value"`` / ``name=123`` pairs of one entry body (brace-aware)."""
    out: dict[str, str] = {}
    i, n = 0, len(body)
    while i < n:
        m = re.compile(r"\s*,?\s*([A-Za-z]+)\s*=\s*").match(body, i)
        if not m:
            break
        name, i = m.group(1).lower(), m.end()
        if i < n and body[i] == "{":
            depth, j = 0, i
            while j < n:
                depth += {"{": 1, "}": -1}.get(body[j], 0)
                if depth == 0:
                    break
                j += 1
            out[name], i = body[i + 1:j], j + 1
        elif i < n and body[i] == '"':
            j = body.index('"', i + 1)
            out[name], i = body[i + 1:j], j + 1
        else:
            m2 = re.compile(r"[^,}\s]+").match(body, i)
            if not m2:
                break
            out[name], i = m2.group(0), m2.end()
    return out


def _plain(tex: str) -> str:
    """LaTeX text to plain Unicode: accents resolved, braces dropped, ``--`` as an en dash."""
    s = re.sub(r"\{?\\([\"'`^~cv])\{?([A-Za-z])\}?\}?", lambda m: m.group(2) + _ACCENTS[m.group(1)], tex)
    s = unicodedata.normalize("NFC", s.replace("{", "").replace("}", ""))
    return " ".join(s.replace("--", "\u2013").split())


def _authors(field: str) -> str:
    names = []
    for person in re.split(r"\s+and\s+", _plain(field)):
        if "," in person:
            last, first = (p.strip() for p in person.split(",", 1))
        else:
            parts = person.split()
            last, first = parts[-1], " ".join(parts[:-1])
        initials = " ".join(f"{p[0]}." for p in re.split(r"[\s]+", first) if p and p[0].isalpha())
        names.append(f"{initials} {last}".strip())
    if len(names) > 1:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return names[0] if names else ""


def parse(bib: str) -> list[Reference]:
    """Every entry of a BibTeX text, formatted, sorted by key."""
    refs = []
    for m in re.finditer(r"@(\w+)\s*\{\s*([^,\s]+)\s*,", bib):
        start, depth, j = m.end(), 1, m.end()
        while j < len(bib) and depth:
            depth += {"{": 1, "}": -1}.get(bib[j], 0)
            j += 1
        f = _fields(bib[start:j - 1])
        venue = _plain(f.get("booktitle") or f.get("journal") or f.get("publisher") or f.get("howpublished", ""))
        details = [venue] if venue else []
        if f.get("volume"):
            details.append(f"vol. {_plain(f['volume'])}")
        if f.get("pages"):
            details.append(f"pp. {_plain(f['pages'])}")
        head = f"{_authors(f.get('author', ''))} ({_plain(f.get('year', 'n.d.'))}). {_plain(f.get('title', ''))}."
        text = head + (" " + ", ".join(details) + "." if details else "")
        if f.get("url"):
            text += f" {_plain(f['url'])}"
        refs.append(Reference(m.group(2), text.strip()))
    return sorted(refs, key=lambda r: r.key)
