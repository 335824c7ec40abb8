"""The Comparisons page: every cell's headline numbers side by side (sections from each step's ``compare``)."""
from __future__ import annotations

from report.model import P, Page, Section
from report.pages.compare_views import compact, verification_section
from report.steps import cell_steps
from report.study import StudyResults


def comparisons_page(results: StudyResults) -> Page:
    sections = []
    roc = verification_section(results.cell_results.get("similarity", {}))
    if roc is not None and len(results.cells) > 1:
        sections.append(roc)
    for step in cell_steps():
        if step.compare is None or step.name not in results.cell_results:
            continue
        # Wide tables keep every column in the CSV and the paper; the site shows headline columns
        # and one metric-per-row table per dataset and subset.
        sections.extend(compact(s) for s in step.compare(results.cell_results[step.name], results.contexts))
    if not sections:
        sections.append(Section("Nothing to compare", (P("The study has a single cell."),)))
    synthetic = any(e.synthetic for i in results.inputs for e in i.embeddings.values())
    return Page(("comparisons",), "Comparisons", (P(
        "Every cell's headline numbers side by side. Cells differ by dataset, network (embedding dimension and training) "
        "and subset (which identities and how many images each)."),), tuple(sections), synthetic=synthetic)
