"""What the site shows of a table so that it fits the content column (the CSV keeps everything).

Rules, in order:

1. a table that names its headline columns (``Table.site_columns``) shows those;
2. a one-row table with more than :data:`TRANSPOSE_ABOVE` columns is shown transposed
   (one quantity per row), which reads better and fits at any width;
3. a table with more than :data:`MAX_COLUMNS` columns shows its first ones.

In cases 1 and 3 the page says how many columns only the CSV has. The paper keeps the
complete table (``report.latex`` reads :func:`report.site.formatted_rows`).
"""
from __future__ import annotations

from dataclasses import dataclass

from report.escape import truncate
from report.format import cell
from report.model import Table

#: Most columns a table shows on the site (about what fits the 1280 px content column).
MAX_COLUMNS = 7
#: One-row tables wider than this are transposed.
TRANSPOSE_ABOVE = 3


@dataclass(frozen=True)
class TableView:
    """Header, formatted rows and how many columns the page leaves to the CSV."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    hidden_columns: int
    transposed: bool = False


def table_view(t: Table) -> TableView:
    """The site's view of ``t`` (see the module docstring)."""
    frame = t.frame
    columns = [str(c) for c in frame.columns]
    if t.site_columns is None and len(frame) == 1 and len(columns) > TRANSPOSE_ABOVE:
        row = frame.iloc[0]
        rows = tuple((c, truncate(cell(row[c], t.formats.get(c)))) for c in frame.columns)
        return TableView(("quantity", "value"), tuple((str(a), b) for a, b in rows), 0, True)
    if t.site_columns is not None:
        shown = [c for c in frame.columns if c in t.site_columns]
        shown.sort(key=lambda c: t.site_columns.index(c))
    else:
        shown = list(frame.columns[:MAX_COLUMNS])
    view = frame if t.max_rows is None else frame.head(t.max_rows)
    rows = tuple(
        tuple(truncate(cell(v, t.formats.get(c))) for c, v in zip(shown, values))
        for values in view[shown].itertuples(index=False, name=None)
    )
    return TableView(tuple(str(c) for c in shown), rows, len(columns) - len(shown))
