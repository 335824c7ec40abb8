"""The Values page: every reported number with its key, and the labels of the paper's floats.

Its two tables are ``docs/tables/values.csv`` (:func:`report.values.values_frame`) and
``docs/tables/labels.csv`` (the ``\\ref`` labels of the paper's figures and tables). The page says
how keys are made and how to use them in a LaTeX file or a site page of one's own.
"""
from __future__ import annotations

import pandas as pd

from report.escape import slugify
from report.model import Bullets, Code, Figure, P, Page, Report, Section, Table
from report.values import values_frame

VALUES_TABLE = "values"
LABELS_TABLE = "labels"


def _paper_floats(report: Report) -> list:
    seen, out = set(), []

    def walk(sections):
        for s in sections:
            for b in s.blocks:
                if isinstance(b, (Figure, Table)) and b.key not in seen and (isinstance(b, Figure) or len(b.frame)):
                    seen.add(b.key)
                    out.append(b)
            walk(s.subsections)

    walk(report.paper)
    return out


def labels_frame(report: Report, pages: list[Page]) -> pd.DataFrame:
    """One row per figure and table of the paper: its ``\\ref`` label, kind, caption and the site page showing it."""
    where = {}
    for page in pages:
        for b in page.blocks():
            if isinstance(b, (Figure, Table)):
                where.setdefault(b.key, "/".join(slugify(p) for p in page.path) + ".md" if page.path != ("index",)
                                 else "index.md")
    rows = [{"label": f"{'fig' if isinstance(b, Figure) else 'tab'}:{b.key}",
             "kind": "figure" if isinstance(b, Figure) else "table", "caption": b.caption, "page": where.get(b.key, "")}
            for b in _paper_floats(report)]
    return pd.DataFrame(rows, columns=["label", "kind", "caption", "page"])


def values_page(report: Report, pages: list[Page]) -> Page:
    """The Values page of the site."""
    values = report.values
    example = next((v.key for v in values if v.key.endswith("/similarity/eer")), values[0].key if values else "")
    intro = (
        P(f"Every number the site and the paper report has a stable key: {len(values):,d} in this study. The paper "
          "prints them through the same keys, so a number on a page and the same number in the PDF are the same "
          "characters; your own LaTeX files and site pages use them too, and follow the data on every rebuild."),
        Bullets(
            ("Per cell: ", Code("<dataset>/<network>/<subset>/<analysis>/<name>"), ", e.g. ", Code(example or "-"), "."),
            ("Per embedding set: ", Code("<dataset>/<network>/data/<name>"), " (inputs, embedded, skipped, identities, "
             "dims)."),
            ("Per dataset: ", Code("<dataset>/data/<name>"), " or ", Code("<dataset>/<analysis>/<name>"), "."),
            ("Each part is the slug of the site's page path: lower-case letters, digits and hyphens; a name that is not "
             "a slug already gets a short hash (", Code("My Data"), " becomes ", Code(slugify("My Data")), ")."),
            ("LaTeX: ", Code(r"\atlasvalue{<key>}"), " prints the value as shown here, ", Code(r"\atlasinterval{<key>}"),
             " its interval (defined in ", Code("paper/values.tex"), "). A site page of yours: ",
             Code('{{ value("<key>") }}'), " and ", Code('{{ interval("<key>") }}'), "."),
            ("A value that is not estimable says so (", Code("not estimable"), ") everywhere; an unknown key stops the "
             "build with the three closest keys."),
        ),
    )
    table = Table(VALUES_TABLE, "Every reported value: its key, the text the site and the paper show, its interval and "
                  "the page that shows it.", values_frame(values), max_rows=None,
                  site_columns=("key", "shown as", "interval", "description"))
    labels = Table(LABELS_TABLE, "Labels of the paper's figures and tables, for \\ref{...} in your own sections.",
                   labels_frame(report, pages), max_rows=None, site_columns=("label", "kind", "page"))
    return Page(("values",), "Values", intro, (Section("Values", (table,)), Section("Figure and table labels", (labels,))),
                synthetic=report.synthetic)
