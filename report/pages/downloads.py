"""The Downloads page: the paper, one zip of all data, then every file grouped by dataset / network / subset."""
from __future__ import annotations

from report.exports import ZIP_NAME, parquet_file
from report.model import Code, Explorer, Links, P, Page, Section, Table
from report.publishing import published_paragraph


def _group(page: Page) -> tuple[str, ...]:
    """Cell pages are grouped by (dataset, network, subset); every other page by its own title."""
    if len(page.path) == 4 and page.nav_titles:
        return tuple(page.nav_titles[:3])
    if len(page.path) == 3 and page.nav_titles:
        return tuple(page.nav_titles[:2])
    return (page.title,)


def downloads_page(pages: list[Page], has_pdf: bool, embedding_files: list[tuple[str, str]],
                   galleries: bool = False, publish_vectors: bool = False,
                   vector_files: list[tuple[str, str]] = ()) -> Page:
    """The Downloads page; ``galleries`` says whether gallery pages show face images, ``vector_files``
    lists the vectors and Projector files published with ``publish_vectors = true``."""
    blocks = [
        P("Every table of the site as CSV (UTF-8, raw unformatted values), the paper, the metadata of every embedding "
          "set, and per cell the mapped points as Parquet (2-D coordinates, identity, item, cluster, audit flags, "
          "embedding norm and detector score)."),
        published_paragraph(publish_vectors, galleries),
        Links(tuple([("Paper (PDF)", "downloads/report.pdf"),
                     ("Paper sources: everything the PDF was compiled from, for latexmk or Overleaf (zip)",
                      "downloads/paper-source.zip")] if has_pdf else [])
              + (("Every CSV table and cell Parquet file in one zip (no vectors)", ZIP_NAME),
                 ("Every reported value with its key, for \\atlasvalue{...} and {{ value(...) }} (CSV; the Values page "
                  "explains the keys)", "tables/values.csv"),
                 ("Labels of the paper's figures and tables, for \\ref{...} (CSV)", "tables/labels.csv"))
              + tuple(embedding_files) + tuple(vector_files)),
        P("Open a cell's Parquet file in Apple's Embedding Atlas with ", Code("pip install embedding-atlas"), " then ",
          Code("embedding-atlas <file>.parquet --x 'PCA x' --y 'PCA y'"),
          "; in the TensorBoard Embedding Projector (projector.tensorflow.org, Load) choose a Projector vectors TSV, then "
          "its metadata TSV (its subsets column selects a subset's rows)." if vector_files else "."),
    ]
    groups: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for page in pages:
        for b in page.blocks():
            entries = groups.setdefault(_group(page), [])
            if isinstance(b, Table):
                entries.append((f"{page.title}: {b.caption} (CSV)", f"tables/{b.key}.csv"))
            elif isinstance(b, Explorer):
                entries.append((f"{page.title}: mapped points, coordinates and labels (Parquet)", parquet_file(b.key)))
    sections = tuple(
        Section(" / ".join(group), (Links(tuple(entries)),), level=2)
        for group, entries in groups.items() if entries
    )
    return Page(("downloads",), "Downloads", tuple(blocks), sections)
