"""From study results to the page model: every page of the site and the paper's structure.

The Reproducibility and Downloads pages are added by the driver (:mod:`report.driver`), which
knows the timings, the tables and the files that exist.
"""
from __future__ import annotations

from report.model import Admonition, Explorer, Page, Report, spans
from report.pages import detections, methods
from report.pages.comparisons import comparisons_page
from report.pages.data import data_page
from report.pages.explorer import cell_page as explorer_page, link_audit_page
from report.pages.naming import naming_pages
from report.pages.overview import gallery_pages, overview_page
from report.pages.paper import abstract, paper_sections
from report.steps import cell_steps, dataset_steps
from report.study import StudyResults, dataset_context
from report.values import build_values


def discovered_clusters(results: StudyResults, dataset: str) -> dict:
    """network -> identity discovery result of the dataset's first analysed subset (its clusters CSV)."""
    found = {}
    for cell, res in sorted(results.cell_results.get("discovery", {}).items(), key=lambda kv: kv[0].subset != "all"):
        if cell.dataset == dataset:
            found.setdefault(cell.network, res)
    return found


def build_report(results: StudyResults) -> Report:
    """The page model of the whole study (site pages and paper)."""
    cfg = results.config
    seed = cfg.study.seed
    pages: list[Page] = []
    for inp in results.inputs:
        pages.append(data_page(inp, seed, discovered_clusters(results, inp.spec.name),
                               publish_vectors=cfg.study.publish_vectors, galleries=cfg.study.galleries))
        if inp.spec.name in results.detections:  # [study] galleries = true, image datasets only
            pages.append(detections.page(results.detections[inp.spec.name]))
    gallery = gallery_pages(results)
    named = naming_pages(results)  # a named dataset's discovery page: how the names reached this build's faces
    for cell in results.cells:
        audit_at = None
        if cell in named:
            pages.append(named[cell])
        for step in cell_steps():
            res = results.cell_results.get(step.name, {}).get(cell)
            if res is not None:
                audit_at = len(pages) if step.name == "audit" else audit_at
                pages.append(step.page(results.contexts[cell], res))
            elif cell in results.cell_skips.get(step.name, {}):
                ctx = results.contexts[cell]
                pages.append(Page((*ctx.path, step.name), step.title, (Admonition(
                    "warning", "Skipped", spans(f"This analysis could not run on this cell: {results.cell_skips[step.name][cell]}")),),
                    synthetic=ctx.synthetic, nav_titles=ctx.nav_titles))
        explorer = explorer_page(results, cell)
        if explorer is not None:
            pages.append(explorer)
            if audit_at is not None:  # suspect tables link to their points on the explorer
                mapped = next(b for b in explorer.blocks() if isinstance(b, Explorer)).points["item"]
                pages[audit_at] = link_audit_page(pages[audit_at], results.contexts[cell], mapped)
        if cell in gallery:
            pages.append(gallery[cell])
    for step in dataset_steps():
        for inp in results.inputs:
            res = results.dataset_results.get(step.name, {}).get(inp.spec.name)
            if res is not None:
                pages.append(step.page(dataset_context(inp, seed), res))
    pages.append(comparisons_page(results))
    # Reproducibility and Downloads are added by the renderer, which knows the timings, the
    # tables and the files that exist.
    all_pages = [overview_page(results, True), *pages, methods.page()]
    synthetic = any(e.synthetic for i in results.inputs for e in i.embeddings.values())
    return Report(
        title=cfg.study.title,
        pages=tuple(all_pages),
        abstract=abstract(results),
        paper=paper_sections(results, all_pages),
        synthetic=synthetic,
        authors=cfg.study.authors,
        affiliation=cfg.study.affiliation,
        keywords=cfg.study.keywords,
        values=build_values(results),
        subject=("Embedding-space study of " + ", ".join(sorted({n for i in results.inputs for n in i.embeddings}))
                 + " on " + ", ".join(i.spec.name for i in results.inputs)),
    )
