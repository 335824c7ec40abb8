"""The Downloads page: the paper, every table as CSV, the embedding sets' metadata."""
from __future__ import annotations

from report.model import Links, P, Page, Section, Table


def downloads_page(tables: list[Table], has_pdf: bool, embedding_files: list[tuple[str, str]],
                   galleries: bool = False) -> Page:
    """The Downloads page; ``galleries`` says whether gallery pages show face images."""
    published = ("Embedding vectors are not published; face images appear only in the figures of the gallery pages "
                 "(galleries = true), never as files to download." if galleries
                 else "Face images and embedding vectors are not published.")
    blocks = [
        P("Every table of the site as CSV (UTF-8, raw unformatted values), the paper, and the metadata of every embedding "
          "set. " + published),
        Links(tuple([("Paper (PDF)", "downloads/report.pdf")] if has_pdf else []) + tuple(embedding_files)),
    ]
    sections = [
        Section("Tables", (Links(tuple((f"{t.key}.csv: {t.caption}", f"tables/{t.key}.csv") for t in tables)),)),
    ]
    return Page(("downloads",), "Downloads", tuple(blocks), tuple(sections))
