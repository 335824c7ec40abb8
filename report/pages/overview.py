"""The Overview page: key findings, the study grid, where to go next, the galleries' summary."""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd

from report.format import count, plural
from report.escape import slugify
from report.model import Bullets, Code, Links, P, Page, Section, Strong, Table, Text, spans
from report.pages import galleries
from report.publishing import published_paragraph
from report.steps import cell_steps
from report.study import StudyResults


def study_grid(results: StudyResults) -> pd.DataFrame:
    rows = []
    for cell in results.cells:
        inp = next(i for i in results.inputs if i.spec.name == cell.dataset)
        emb = inp.embeddings[cell.network]
        geom = results.cell_results.get("geometry", {}).get(cell)
        rows.append({
            "dataset": cell.dataset,
            "network": cell.network,
            "subset": cell.subset,
            "dims": emb.n_dims,
            "identities": geom.n_identities if geom is not None else np.nan,
            "images": geom.n_samples if geom is not None else np.nan,
            "synthetic": "yes" if emb.synthetic else "no",
        })
    return pd.DataFrame(rows)


def skipped_cells(results: StudyResults) -> pd.DataFrame:
    """Cells of the grid that were not analysed at all (a subset leaving fewer than 2 identities), with the reason.

    Every step records the same reason for such a cell; an analysed cell whose single analysis was
    skipped (unlabelled faces, a failed fit) says so on its own page instead.
    """
    reasons: dict = {}
    for step, skips in sorted(results.cell_skips.items()):
        for cell, reason in skips.items():
            if cell not in results.contexts:
                reasons.setdefault(cell, reason)
    rows = [{"dataset": c.dataset, "network": c.network, "subset": c.subset, "reason": r}
            for c, r in sorted(reasons.items(), key=lambda kv: (kv[0].dataset, kv[0].network, kv[0].subset))]
    return pd.DataFrame(rows, columns=["dataset", "network", "subset", "reason"])


def key_findings(results: StudyResults) -> list:
    """Headline numbers of every (dataset, network) on the ``all`` subset (or the first subset)."""
    items = []
    geo = results.cell_results.get("geometry", {})
    subset = results.config.subsets[0]
    for cell in results.cells:
        if cell.subset != subset or cell not in geo:
            continue
        g = geo[cell]
        items.append((
            Strong(f"{cell.dataset} / {cell.network}"),
            f": {count(g.n_samples)} embeddings, {g.n_identities} identities, {g.n_dims}-D; median identity radius "
            f"{np.median(g.l2.identities.radius):.3f}, median intrinsic dimension {np.median(g.l2.identities.intrinsic_dim):g} "
            f"(TwoNN {g.l2.global_twonn:.1f} globally), median raw norm {np.median(g.norms):.2f}.",
        ))
        for step in cell_steps():
            headline = getattr(sys.modules[step.page.__module__], "headline", None)
            res = results.cell_results.get(step.name, {}).get(cell)
            if headline is not None and res is not None:
                text = headline(res)
                if text:
                    items.append((Text(f"{cell.dataset} / {cell.network}, {step.title.lower()}: "), *spans(text)))
    return items


def gallery_pages(results: StudyResults) -> dict:
    """Gallery page of every cell that has one (``[study] galleries = true``), by cell."""
    return {cell: galleries.page(results.contexts[cell], g) for cell, g in results.galleries.items()}


def overview_page(results: StudyResults, has_pdf: bool) -> Page:
    cfg = results.config
    synthetic = any(e.synthetic for i in results.inputs for e in i.embeddings.values())
    intro = [
        P(
            "This report studies the geometry of face-recognition embedding spaces: how tightly each identity clusters, how "
            "many dimensions it really uses, how separable identities are, how well clustering recovers them, and which "
            "labels look wrong. Every number, figure and table is computed by ", Code("build_report.py"),
            " from the config ", Code(cfg.source.name), "; the paper (PDF) is built from the same results.",
        ),
        published_paragraph(cfg.study.publish_vectors, cfg.study.galleries),
    ]
    findings = key_findings(results)
    sections = [Section("Key findings", (Bullets(*findings),) if findings else (P("No cell could be analysed."),))]
    grid_blocks = [
        P("Each (dataset, network, subset) cell is analysed separately; every cell has its own pages in the navigation."),
        Table("overview-grid", "The study grid: datasets x networks x subsets with their sizes.", study_grid(results),
              max_rows=None, in_paper=True),
    ]
    skipped = skipped_cells(results)
    if len(skipped):
        grid_blocks += [
            P(f"{plural(len(skipped), 'cell')} of the grid {'was' if len(skipped) == 1 else 'were'} not analysed; "
              "the build went on without them:"),
            Table("overview-skipped-cells", "Cells not analysed, with the reason.", skipped, max_rows=None,
                  in_paper=True),
        ]
    sections.append(Section("Study grid", tuple(grid_blocks)))
    sections.append(Section("Where to go next", (
        Links(tuple(
            ([(f"Explorer of {results.contexts[results.cells[0]].label}: the interactive 2-D map of one cell",
               "/".join(slugify(x) for x in (*results.contexts[results.cells[0]].path, "explorer")) + ".md")]
             if results.cells and results.cells[0] in results.cell_results.get("manifold", {}) else [])
            + [
                ("Comparisons: ROC curves and headline metrics across networks, datasets and subsets", "comparisons.md"),
                ("Methods: the definition of every statistic and metric, with references", "methods.md"),
                ("Reproducibility: config, package versions, model ids and hashes, input hashes, timings, how to rebuild",
                 "reproducibility.md"),
                ("Downloads: every table as CSV, Parquet per cell, one zip, the paper as PDF", "downloads.md"),
            ])),
    )))
    gallery = galleries.overview_section(cfg.study.galleries, list(gallery_pages(results).values()), results.gallery_notes)
    if gallery is not None:
        if results.detections:  # the detection-overlay pages show face images too
            gallery = dataclasses.replace(gallery, blocks=(*gallery.blocks, P(
                "Detection overlays (every detected box, score and landmark on a sample of photos) are on the Data pages: ",
                ", ".join(f"{name}: face detections" for name in sorted(results.detections)), ".")))
        sections.append(gallery)
    return Page(path=("index",), title="Overview", intro=tuple(intro), sections=tuple(sections), synthetic=synthetic)
