"""The Explorer page of one cell: an interactive 2-D map (PCA / t-SNE / UMAP) with hover and search.

The points are the rows the manifold analysis mapped (a seeded sample of at most
``[manifold] max_samples``); each carries its identity, item name, KMeans cluster (full space)
and the audit's flags (suspected mislabel, near-duplicate). No face pixel is ever part of it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.statistics.audit.audit import AuditResult
from analysis.statistics.manifold import ManifoldResult
from report.contexts import CellContext
from report.model import Code, Explorer, P, Page, Section, Strong

#: Flag names as they appear in the explorer's hover and colour legend and in the exports.
MISLABEL = "suspected mislabel"
DUPLICATE = "near-duplicate"


def audit_flags(n_rows: int, audit: AuditResult | None) -> np.ndarray:
    """Per input row, the audit flags joined by ``"; "`` (``""`` when none)."""
    mislabel = np.zeros(n_rows, dtype=bool)
    duplicate = np.zeros(n_rows, dtype=bool)
    if audit is not None:
        mislabel[audit.images.rows[audit.images.suspected]] = True
        duplicate[audit.duplicates.first] = True
        duplicate[audit.duplicates.second] = True
    out = np.full(n_rows, "", dtype=object)
    for i in np.nonzero(mislabel | duplicate)[0]:
        out[i] = "; ".join(name for name, on in ((MISLABEL, mislabel[i]), (DUPLICATE, duplicate[i])) if on)
    return out


def explorer_points(m: ManifoldResult, items: np.ndarray, audit: AuditResult | None) -> pd.DataFrame:
    """One row per mapped embedding: identity, item, cluster, flags and the coordinates of every map.

    Parameters
    ----------
    m : ManifoldResult
    items : ndarray of shape (n_samples,)
        Item names of the cell's rows (``m.sample_index`` indexes them).
    audit : AuditResult or None
        The same cell's audit (flags are empty without it).
    """
    rows = m.sample_index
    frame = pd.DataFrame({
        "identity": m.names[m.labels].astype(str),
        "item": np.asarray(items)[rows].astype(str),
        "cluster": m.clusters.astype(np.int64),
        "flags": audit_flags(m.n_samples, audit)[rows].astype(str),
    })
    for mp in m.maps:
        frame[f"{mp.title} x"] = np.round(mp.coords[:, 0].astype(np.float64), 4)
        frame[f"{mp.title} y"] = np.round(mp.coords[:, 1].astype(np.float64), 4)
    return frame


def page(ctx: CellContext, m: ManifoldResult, vectors: np.ndarray, items: np.ndarray,
         audit: AuditResult | None) -> Page:
    """The explorer page of one cell.

    ``vectors`` and ``items`` are the cell's rows (the manifold analysis' input), raw.
    """
    points = explorer_points(m, items, audit)
    n_flagged = int((points["flags"] != "").sum())
    key = ctx.key("explorer")
    explorer = Explorer(
        key=key,
        caption=(f"{len(points):,d} embeddings of {ctx.label}. Switch the map (PCA, t-SNE, UMAP) and the colouring "
                 "(identity, KMeans cluster, audit status); type an identity to highlight it; drag to pan, scroll to "
                 "zoom, double-click to reset. Hover a point for its identity, item, cluster and audit flags."),
        points=points,
        vectors=np.asarray(vectors)[m.sample_index].astype(np.float32),
    )
    intro = (
        P("Cell ", Strong(ctx.label), f" ({ctx.subset_description}): every mapped embedding as a point. Colouring by "
          "identity shows the ten largest identities in their own colours and every other identity in grey, so that no "
          "colour stands for two people; the search box picks out any identity. ",
          f"{n_flagged:,d} of the points carry an audit flag."),
        explorer,
        P("The same points with their vectors are in ", Code(f"downloads/{key}.parquet"), " (open it with ",
          Code(f"embedding-atlas {key}.parquet"), ") and as TensorBoard Projector files on the Downloads page."),
    )
    return Page(path=(*ctx.path, "explorer"), title="Explorer", intro=intro, sections=(Section("About the maps", (
        P("Coordinates are those of the Manifold page of this cell (same sample, same seed): PCA is linear, t-SNE and "
          "UMAP keep local neighbourhoods; distances between far-apart islands carry little meaning."),
    )),), synthetic=ctx.synthetic, nav_titles=ctx.nav_titles)


def cell_page(results, cell) -> Page | None:
    """The explorer page of ``cell`` from the study results; None when its manifold analysis did not run."""
    from analysis.statistics.subsets import parse_subset, select_subset

    m = results.cell_results.get("manifold", {}).get(cell)
    if m is None:
        return None
    inp = next(i for i in results.inputs if i.spec.name == cell.dataset)
    part = select_subset(inp.embeddings[cell.network], parse_subset(cell.subset), random_state=results.config.study.seed)
    audit = results.cell_results.get("audit", {}).get(cell)
    return page(results.contexts[cell], m, part.vectors, part.items, audit)
