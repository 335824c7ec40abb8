"""Manifold pages: PCA, t-SNE and UMAP maps coloured by identity and by KMeans cluster."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from analysis.statistics.manifold import ManifoldMap, ManifoldResult
from analysis.types import Cell
from report import plotting
from report.format import fixed
from report.model import Admonition, Bullets, Figure, P, Page, Section, Strong, Table, spans
from report.contexts import CellContext

PAPER_TEXT = (
    "We map the L2-normalised embeddings of each cell to two dimensions with PCA, t-SNE and UMAP and "
    "measure how faithfully each map keeps the neighbourhoods of the full space with the "
    "trustworthiness score; the non-linear maps are also coloured by a KMeans clustering of the "
    "full space to show where the unsupervised partition departs from the identities."
)

_WHAT_TO_SEE = {
    "pca": (
        "PCA keeps the two directions of largest variance: a linear view in which identities overlap "
        "heavily because two axes carry only a small share of the variance; overlap here is not confusion."
    ),
    "tsne": (
        "t-SNE keeps local neighbourhoods: well separated, compact islands mean identities the network "
        "separates well; distances between islands carry little meaning."
    ),
    "umap": (
        "UMAP also keeps local neighbourhoods and somewhat more of the global layout than t-SNE; "
        "look for identities split into several islands or islands shared by two identities."
    ),
}


# --------------------------------------------------------------------------- figures
@dataclass(frozen=True, eq=False)
class _MapFigureData:
    coords: np.ndarray
    labels: np.ndarray
    names: np.ndarray
    clusters: np.ndarray | None  # second panel when given
    title: str
    axis_names: tuple[str, str]


def plot_map(d: _MapFigureData):
    """A 2-D map coloured by identity, and by KMeans cluster in a second panel when present."""
    ncols = 1 if d.clusters is None else 2
    fig, axes = plotting.figure(6.4 * ncols, 4.6, ncols=ncols)
    axes = np.atleast_1d(axes)
    size = 5 if len(d.coords) <= 3000 else 2
    # Ten largest groups in distinct colours, the rest grey, so that no colour means two groups.
    panels = [(axes[0], plotting.top_group_colors(np.asarray(d.names)[d.labels]), "identity", f"{d.title}: by identity")]
    if d.clusters is not None:
        panels.append((axes[1], plotting.top_group_colors([f"cluster {c}" for c in d.clusters]), "KMeans cluster",
                       f"{d.title}: by KMeans cluster"))
    for ax, (c, legend), what, title in panels:
        ax.scatter(d.coords[:, 0], d.coords[:, 1], s=size, c=c, alpha=0.6, linewidths=0)
        plotting.legend_for(ax, legend, f"{what} (largest 10)")
        ax.set_title(title)
        ax.set_xlabel(d.axis_names[0])
        ax.set_ylabel(d.axis_names[1])
        ax.set_aspect("equal", adjustable="datalim")
    return fig


# --------------------------------------------------------------------------- tables
def trust_frame(r: ManifoldResult) -> pd.DataFrame:
    """Trustworthiness of every computed map."""
    return pd.DataFrame(
        {
            "method": [m.title for m in r.maps],
            "trustworthiness": [m.trustworthiness for m in r.maps],
            "points mapped": [len(r.sample_index)] * len(r.maps),
            "points scored": [r.trust_samples] * len(r.maps),
            "neighbours": [r.params.trust_neighbors] * len(r.maps),
        }
    )


def _axis_names(m: ManifoldMap) -> tuple[str, str]:
    if m.method == "pca":
        return (
            f"PC1 ({100 * m.explained_variance[0]:.1f}% of variance)",
            f"PC2 ({100 * m.explained_variance[1]:.1f}% of variance)",
        )
    return (f"{m.title} 1", f"{m.title} 2")


# --------------------------------------------------------------------------- page
def page(ctx: CellContext, r: ManifoldResult) -> Page:
    """The manifold page of one cell."""
    p = r.params
    n_mapped = len(r.sample_index)
    sampled = (
        f"a seeded sample of {n_mapped:,d} of the {r.n_samples:,d} embeddings (max_samples = {p.max_samples:,d})"
        if n_mapped < r.n_samples
        else f"all {r.n_samples:,d} embeddings"
    )
    best = max(r.maps, key=lambda m: m.trustworthiness)
    intro = [
        P(
            "Cell ", Strong(ctx.label), ": two-dimensional maps of ", sampled, " of ", f"{r.n_identities} identities "
            f"in {r.n_dims} dimensions ({ctx.subset_description}), computed on L2-normalised vectors. "
            "Trustworthiness (between 0 and 1) measures how many of each point's 2-D neighbours are also its "
            "neighbours in the full space; below about 0.9 a map invents neighbourhoods.",
        ),
        Bullets(
            *[(f"{m.title} trustworthiness: ", Strong(fixed(m.trustworthiness))) for m in r.maps],
            ("Most faithful map: ", Strong(best.title)),
            (
                f"Agreement of the KMeans clustering (k = {r.n_clusters}, {r.kmeans_init} seeding) with the identities "
                "(adjusted Rand index): ",
                Strong(fixed(r.cluster_ari)),
            ),
        ),
    ]
    if r.skipped:
        intro.append(Admonition("note", "Maps not computed", spans("; ".join(r.skipped) + ".")))
    map_blocks = []
    # PCA is drawn on the Geometry page and in the Explorer; here only the non-linear maps.
    for m in (m for m in r.maps if m.method != "pca"):
        clusters = r.clusters
        extra = (
            " Right: the same map coloured by a KMeans clustering of the full space; an identity whose "
            "island carries several cluster colours is split by the clustering, one colour over several "
            "identities marks identities the clustering merges."
            if clusters is not None
            else ""
        )
        map_blocks.append(
            Figure(
                key=ctx.key(f"manifold-{m.method}"),
                caption=(
                    f"{m.title} map of {sampled} ({ctx.label}), trustworthiness {fixed(m.trustworthiness)}. "
                    f"{_WHAT_TO_SEE[m.method]}{extra}"
                ),
                plot=plot_map,
                data=_MapFigureData(m.coords, r.labels, r.names, clusters, m.title, _axis_names(m)),
                in_paper=ctx.cell.subset == "all" and m.method == "umap",
                width=0.95 if clusters is not None else 0.6,
            )
        )
    sections = (
        Section("Maps", tuple(map_blocks)),
        Section(
            "Trustworthiness",
            (
                Table(
                    key=ctx.key("manifold-trustworthiness"),
                    caption=(
                        f"Trustworthiness of each map with {p.trust_neighbors} neighbours, measured on a seeded sample "
                        f"of {r.trust_samples:,d} mapped points ({ctx.label}); higher is more faithful."
                    ),
                    frame=trust_frame(r),
                    formats={"trustworthiness": ".3f", "points mapped": ",d", "points scored": ",d", "neighbours": "d"},
                    in_paper=ctx.cell.subset == "all",
                    max_rows=None,
                ),
                P(
                    "Settings: t-SNE (openTSNE, perplexity ", f"{p.perplexity:g}", ", PCA initialisation, ",
                    f"{p.tsne_iterations} iterations), UMAP ({p.umap_neighbors} neighbours, min_dist {p.umap_min_dist:g}, "
                    "seeded and therefore single-threaded). Same data and seed give the same coordinates.",
                ),
            ),
        ),
    )
    return Page(
        path=(*ctx.path, "manifold"),
        title="Manifold maps",
        intro=tuple(intro),
        sections=sections,
        synthetic=ctx.synthetic,
        nav_titles=ctx.nav_titles,
    )


def compare(results: Mapping[Cell, ManifoldResult], contexts: Mapping[Cell, CellContext]) -> tuple[Section, ...]:
    """One row per cell: trustworthiness of each map and cluster/identity agreement."""
    rows = []
    for cell in sorted(results, key=lambda c: (c.dataset, c.network, c.subset)):
        r = results[cell]
        row = {
            "dataset": cell.dataset,
            "network": cell.network,
            "subset": cell.subset,
            "dims": r.n_dims,
            "points mapped": len(r.sample_index),
        }
        for method, title in (("pca", "PCA"), ("tsne", "t-SNE"), ("umap", "UMAP")):
            m = r.get(method)
            row[f"{title} trust"] = m.trustworthiness if m is not None else np.nan
        row["KMeans ARI"] = r.cluster_ari
        rows.append(row)
    frame = pd.DataFrame(rows)
    fmt = {c: ".3f" for c in ("PCA trust", "t-SNE trust", "UMAP trust", "KMeans ARI")}
    fmt["points mapped"] = ",d"
    return (
        Section(
            "2-D maps across networks and subsets",
            (
                P("Trustworthiness of the PCA, t-SNE and UMAP maps of every cell, and the adjusted Rand index between a "
                  "KMeans clustering of the full space and the identities: a network whose maps stay trustworthy and "
                  "whose clusters match the identities separates people more cleanly."),
                Table(
                    key="compare-manifold",
                    caption="Map trustworthiness and cluster/identity agreement of every (dataset, network, subset) cell.",
                    frame=frame,
                    formats=fmt,
                    in_paper=True,
                    max_rows=None,
                ),
            ),
        ),
    )
