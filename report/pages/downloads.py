"""The Downloads page: the paper, one zip of all data, then every file grouped by dataset / network / subset."""
from __future__ import annotations

from report.exports import ZIP_NAME, parquet_file, projector_files
from report.model import Code, Explorer, Links, P, Page, Section, Table


def _group(page: Page) -> tuple[str, ...]:
    """Cell pages are grouped by (dataset, network, subset); every other page by its own title."""
    if len(page.path) == 4 and page.nav_titles:
        return tuple(page.nav_titles[:3])
    if len(page.path) == 3 and page.nav_titles:
        return tuple(page.nav_titles[:2])
    return (page.title,)


def downloads_page(pages: list[Page], has_pdf: bool, embedding_files: list[tuple[str, str]],
                   galleries: bool = False) -> Page:
    """The Downloads page; ``galleries`` says whether gallery pages show face images."""
    published = ("Face images appear only in the figures of the gallery pages (galleries = true), never as files to "
                 "download." if galleries else "Face images are not published.")
    blocks = [
        P("Every table of the site as CSV (UTF-8, raw unformatted values), the paper, the metadata of every embedding "
          "set, and per cell the mapped embeddings as Parquet (vectors, 2-D coordinates, identity, item, cluster, audit "
          "flags) and as TensorBoard Projector files. " + published),
        Links(tuple([("Paper (PDF)", "downloads/report.pdf"),
                     ("Paper sources: everything the PDF was compiled from, for latexmk or Overleaf (zip)",
                      "downloads/paper-source.zip")] if has_pdf else [])
              + (("Every CSV table and Parquet file in one zip", ZIP_NAME),
                 ("Every reported value with its key, for \\atlasvalue{...} and {{ value(...) }} (CSV; the Values page "
                  "explains the keys)", "tables/values.csv"),
                 ("Labels of the paper's figures and tables, for \\ref{...} (CSV)", "tables/labels.csv"))
              + tuple(embedding_files)),
        P("Open a cell's Parquet file in Apple's Embedding Atlas with ", Code("pip install embedding-atlas"), " then ",
          Code("embedding-atlas <file>.parquet"), "; in the TensorBoard Embedding Projector (projector.tensorflow.org, "
          "Load) choose the cell's vectors TSV, then its metadata TSV."),
    ]
    groups: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for page in pages:
        for b in page.blocks():
            entries = groups.setdefault(_group(page), [])
            if isinstance(b, Table):
                entries.append((f"{page.title}: {b.caption} (CSV)", f"tables/{b.key}.csv"))
            elif isinstance(b, Explorer):
                vec, meta = projector_files(b.key)
                entries += [(f"{page.title}: points with vectors (Parquet)", parquet_file(b.key)),
                            (f"{page.title}: vectors for TensorBoard Projector (TSV)", vec),
                            (f"{page.title}: metadata for TensorBoard Projector (TSV)", meta)]
    sections = tuple(
        Section(" / ".join(group), (Links(tuple(entries)),), level=2)
        for group, entries in groups.items() if entries
    )
    return Page(("downloads",), "Downloads", tuple(blocks), sections)
