"""Geometry pages: per-identity statistics, intrinsic dimension, norms, 2-D map, centroid similarity."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from analysis.statistics.geometry import GeometryResult, SpaceGeometry
from analysis.types import Cell
from report import plotting
from report.format import fixed, num
from report.model import Bullets, Code, Figure, InlineMath, P, Page, Section, Strong, Table
from report.contexts import CellContext
from report.pages.approximations import geometry_note
from report.pages.junk import junk_note, without_junk

PAPER_TEXT = (
    "For every identity we compute the centroid, the radius (largest distance of one of its "
    "embeddings to the centroid), the dispersion (standard deviation of those distances) and the "
    "intrinsic dimension, on raw and on L2-normalised vectors."
)

_SPACE_TITLE = {"raw": "raw vectors", "l2": "L2-normalised vectors"}


# --------------------------------------------------------------------------- tables
def identity_frame(space: SpaceGeometry) -> pd.DataFrame:
    """Per-identity statistics of one space as a table (one row per identity)."""
    g = space.identities
    return pd.DataFrame(
        {
            "identity": g.names.astype(str),
            "images": g.count,
            "radius": g.radius,
            "dispersion": g.dispersion,
            "mean distance": g.mean_distance,
            "intrinsic dim (PCA>1%)": g.intrinsic_dim,
            "dim 90%": g.dim90,
            "dim 95%": g.dim95,
            "PCA capped at n-1": np.where(g.pca_capped, "yes", "no"),
            "TwoNN dim": g.twonn,
            "radius 2-D": g.radius_2d,
            "mean raw norm": g.mean_norm,
        }
    )


def summary_frame(result: GeometryResult) -> pd.DataFrame:
    """Distribution of each per-identity statistic (mean, std, min, median, max) in both spaces."""
    rows = []
    for space in (result.raw, result.l2):
        g = space.identities
        for stat, values in (
            ("radius", g.radius),
            ("dispersion", g.dispersion),
            ("mean distance", g.mean_distance),
            ("intrinsic dim (PCA>1%)", g.intrinsic_dim.astype(float)),
            ("dim 95%", g.dim95.astype(float)),
            ("TwoNN dim", g.twonn),
            ("radius 2-D", g.radius_2d),
        ):
            v = values[np.isfinite(values)]
            rows.append(
                {
                    "space": _SPACE_TITLE[space.space],
                    "statistic": stat,
                    "mean": v.mean() if len(v) else np.nan,
                    "std": v.std() if len(v) else np.nan,
                    "min": v.min() if len(v) else np.nan,
                    "median": np.median(v) if len(v) else np.nan,
                    "max": v.max() if len(v) else np.nan,
                }
            )
    return pd.DataFrame(rows)


def global_frame(result: GeometryResult) -> pd.DataFrame:
    rows = []
    for space in (result.raw, result.l2):
        g = space.identities
        rows.append(
            {
                "space": _SPACE_TITLE[space.space],
                "TwoNN dim (global)": space.global_twonn,
                "PC1 variance": space.pc1_variance,
                "|cos(mean, PC1)|": space.mean_pc1_cosine,
                "|mean| / mean |x|": space.mean_norm_ratio,
                "identities capped by n-1": float(g.pca_capped.mean()),
                "median centroid cosine": float(np.median(space.centroid_cosine[np.triu_indices(len(space.centroid_cosine), 1)])),
            }
        )
    return pd.DataFrame(rows)


def extremes_frame(space: SpaceGeometry, by: str, n: int, junk_labels: tuple[str, ...] = ()) -> pd.DataFrame:
    """Top and bottom ``n`` identities by ``radius`` or ``dispersion`` (junk labels left out)."""
    frame = without_junk(identity_frame(space)[["identity", "images", "radius", "dispersion", "intrinsic dim (PCA>1%)"]],
                         junk_labels)
    ordered = frame.sort_values([by, "identity"], ascending=[False, True], kind="mergesort")
    top = ordered.head(n).assign(rank=[f"top {i + 1}" for i in range(min(n, len(ordered)))])
    bottom = ordered.tail(n).iloc[::-1].assign(rank=[f"bottom {i + 1}" for i in range(min(n, len(ordered)))])
    out = pd.concat([top, bottom], ignore_index=True)
    return out[["rank", *frame.columns]]


# --------------------------------------------------------------------------- figures
@dataclass(frozen=True, eq=False)
class _ScatterData:
    names: np.ndarray
    count: np.ndarray
    radius: np.ndarray
    dispersion: np.ndarray
    intrinsic_dim: np.ndarray
    space: str


def plot_scatters(d: _ScatterData):
    """Three panels: intrinsic dim vs dispersion, radius vs dispersion, radius vs count."""
    fig, axes = plotting.figure(10.5, 3.4, ncols=3)
    # One colour: each dot is an identity, and a palette cycled over dozens of identities would
    # repeat colours silently. The extreme identities are named in the top/bottom tables.
    size = 12 + 60 * np.sqrt(d.count / d.count.max())
    for ax, (x, y, xl, yl) in zip(
        axes,
        (
            (d.dispersion, d.intrinsic_dim, "dispersion", "intrinsic dimension (PCA > 1%)"),
            (d.dispersion, d.radius, "dispersion", "radius"),
            (d.count, d.radius, "images per identity", "radius"),
        ),
    ):
        ax.scatter(x, y, s=size, c=plotting.ACCENT, alpha=0.55, edgecolors="white", linewidths=0.5)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        if len(x) > 2 and np.std(x) > 0 and np.std(y) > 0:
            r = np.corrcoef(x, y)[0, 1]
            ax.set_title(f"Pearson r = {r:.2f}")
    axes[2].set_xscale("log")
    return fig


@dataclass(frozen=True, eq=False)
class _MapData:
    points: np.ndarray
    labels: np.ndarray
    centroids: np.ndarray
    names: np.ndarray
    variance: tuple[float, float]


def plot_map(d: _MapData):
    """PCA 2-D map: samples coloured by identity, centroids as black-edged diamonds."""
    fig, ax = plotting.figure(7.2, 5.0)
    # The ten largest identities in distinct colours, the others grey: no colour stands for two people.
    colors, legend = plotting.top_group_colors(np.asarray(d.names)[d.labels])
    ax.scatter(d.points[:, 0], d.points[:, 1], s=4, c=colors, alpha=0.45, linewidths=0)
    centroid_colors = np.array([colors[np.argmax(d.labels == i)] if np.any(d.labels == i) else plotting.to_rgba(plotting.OTHER_COLOR)
                                for i in range(len(d.names))])
    ax.scatter(d.centroids[:, 0], d.centroids[:, 1], s=36, c=centroid_colors, marker="D", edgecolors="black", linewidths=0.6)
    plotting.legend_for(ax, legend, "identity (largest 10)")
    ax.set_xlabel(f"PC1 ({100 * d.variance[0]:.1f}% of variance)")
    ax.set_ylabel(f"PC2 ({100 * d.variance[1]:.1f}% of variance)")
    ax.set_aspect("equal", adjustable="datalim")
    return fig


@dataclass(frozen=True, eq=False)
class _MatrixData:
    matrix: np.ndarray
    names: np.ndarray


def plot_centroid_cosine(d: _MatrixData):
    """Heatmap of centroid cosine similarities, identities ordered by hierarchical clustering."""
    order = plotting.linkage_order(np.clip(1.0 - d.matrix, 0.0, 2.0))
    m = d.matrix[np.ix_(order, order)]
    off = m[~np.eye(len(m), dtype=bool)]
    vmax = max(0.2, float(np.percentile(np.abs(off), 99))) if off.size else 1.0
    return plotting.identity_heatmap(m, "RdBu_r", -vmax, vmax, "cosine similarity of centroids (diagonal = 1, clipped)")


@dataclass(frozen=True, eq=False)
class _NormData:
    norms: np.ndarray
    labels: np.ndarray
    names: np.ndarray


def plot_norms(d: _NormData):
    """Histogram of raw norms and per-identity mean norm against identity size."""
    fig, (a, b) = plotting.figure(9.0, 3.2, ncols=2)
    a.hist(d.norms, bins=60, color=plotting.ACCENT, alpha=0.85)
    a.set_xlabel("L2 norm of raw embedding")
    a.set_ylabel("images")
    counts = np.bincount(d.labels, minlength=len(d.names))
    means = np.bincount(d.labels, weights=d.norms, minlength=len(d.names)) / np.maximum(counts, 1)
    b.scatter(counts, means, s=18, c=plotting.ACCENT, alpha=0.6, edgecolors="white", linewidths=0.4)
    b.set_xscale("log")
    b.set_xlabel("images per identity")
    b.set_ylabel("mean raw norm")
    return fig


# --------------------------------------------------------------------------- page
def page(ctx: CellContext, r: GeometryResult) -> Page:
    """The geometry page of one cell."""
    l2 = r.l2
    g = l2.identities
    top_n = r.params.top_n
    formats = {c: ".3f" for c in ("radius", "dispersion", "mean distance", "radius 2-D", "mean", "std", "min", "median", "max")}
    formats.update({"TwoNN dim": ".1f", "mean raw norm": ".2f"})
    capped = int(g.pca_capped.sum())
    intro = (
        P(
            "Cell ", Strong(ctx.label), ": ", f"{r.n_samples:,d} embeddings of {r.n_identities} identities in "
            f"{r.n_dims} dimensions ({ctx.subset_description}). Radius is the largest distance of an "
            "identity's embedding to its centroid, dispersion the standard deviation of those distances.",
        ),
        Bullets(
            ("Median radius (L2-normalised): ", Strong(fixed(float(np.median(g.radius))))),
            ("Median intrinsic dimension (PCA components above 1% of variance): ", Strong(num(float(np.median(g.intrinsic_dim))))),
            ("Identities whose PCA estimate is capped at ", InlineMath("n-1"), ": ", Strong(f"{capped} of {len(g.names)}"),
             " (PCA on n samples cannot show more than n-1 dimensions; see the TwoNN column)"),
            ("Global TwoNN intrinsic dimension: ", Strong(num(l2.global_twonn))),
            ("Median raw norm: ", Strong(fixed(float(np.median(r.norms)), 2))),
        ),
    ) + tuple(n for n in (geometry_note(r),) if n is not None)
    per_identity = Table(
        key=ctx.key("geometry-identities"),
        caption=f"Per-identity geometry on L2-normalised vectors ({ctx.label}); full table in the CSV.",
        frame=identity_frame(l2).sort_values(["images", "identity"], ascending=[False, True], kind="mergesort"),
        formats=formats,
        max_rows=25,
    )
    sections = [
        Section(
            "Summary statistics",
            (
                Table(
                    key=ctx.key("geometry-summary"),
                    caption=f"Distribution over identities of each per-identity statistic ({ctx.label}).",
                    frame=summary_frame(r),
                    formats=formats,
                    in_paper=ctx.cell.subset == "all",
                    max_rows=None,
                ),
                Table(
                    key=ctx.key("geometry-global"),
                    caption=(
                        "Global shape of the cloud: TwoNN intrinsic dimension, share of variance on the first "
                        "principal axis, alignment of the mean vector with that axis, and how far the cloud is "
                        f"from being centred ({ctx.label})."
                    ),
                    frame=global_frame(r),
                    formats={c: ".3f" for c in global_frame(r).columns if c != "space"},
                    max_rows=None,
                ),
            ),
        ),
        Section(
            "Radius, dispersion and intrinsic dimension",
            (
                Figure(
                    key=ctx.key("geometry-scatter-l2"),
                    caption=(
                        "Per-identity intrinsic dimension vs dispersion, radius vs dispersion and radius vs number "
                        f"of images, L2-normalised vectors ({ctx.label}); marker size grows with the number of "
                        "images. Radius grows with the number of images (the maximum of more draws) while "
                        "dispersion does not: compare identities by dispersion."
                    ),
                    plot=plot_scatters,
                    data=_ScatterData(g.names, g.count, g.radius, g.dispersion, g.intrinsic_dim, "l2"),
                    in_paper=ctx.cell.subset == "all",
                    width=1.0,
                ),
                Figure(
                    key=ctx.key("geometry-scatter-raw"),
                    caption=f"The same three relations on raw (un-normalised) vectors ({ctx.label}).",
                    plot=plot_scatters,
                    data=_ScatterData(
                        r.raw.identities.names, r.raw.identities.count, r.raw.identities.radius,
                        r.raw.identities.dispersion, r.raw.identities.intrinsic_dim, "raw",
                    ),
                    width=1.0,
                ),
            ),
        ),
        Section(
            f"Top and bottom {top_n} identities",
            tuple(b for b in (junk_note(l2.identities.names, l2.identities.count, ctx.junk_labels),) if b is not None) + (
                Table(
                    key=ctx.key("geometry-extremes-radius"),
                    caption=f"Identities with the largest and smallest radius, L2-normalised ({ctx.label}).",
                    frame=extremes_frame(l2, "radius", top_n, ctx.junk_labels),
                    formats=formats,
                    max_rows=None,
                ),
                Table(
                    key=ctx.key("geometry-extremes-dispersion"),
                    caption=f"Identities with the largest and smallest dispersion, L2-normalised ({ctx.label}).",
                    frame=extremes_frame(l2, "dispersion", top_n, ctx.junk_labels),
                    formats=formats,
                    max_rows=None,
                ),
            ),
        ),
        Section("All identities", (per_identity,)),
        Section(
            "Norms of the raw embeddings",
            (
                P("Networks trained with margin losses encode image quality in the norm of the raw embedding; "
                  "the figure shows whether some identities are systematically embedded with smaller norms."),
                Figure(
                    key=ctx.key("geometry-norms"),
                    caption=f"Distribution of raw embedding norms and mean norm per identity ({ctx.label}).",
                    plot=plot_norms,
                    data=_NormData(r.norms, r.norm_labels, g.names),
                    width=0.9,
                ),
            ),
        ),
        Section(
            "2-D map and centroid similarity",
            (
                Figure(
                    key=ctx.key("geometry-pca-map"),
                    caption=(
                        f"PCA projection of L2-normalised embeddings (up to {r.params.map_max_points:,d} sampled) with "
                        f"identity centroids as diamonds ({ctx.label}). Two components keep only a small share of the "
                        "variance: overlapping clouds here do not mean overlapping identities."
                    ),
                    plot=plot_map,
                    data=_MapData(l2.map_points, l2.map_labels, l2.map_centroids, g.names, l2.map_variance),
                    width=0.7,
                ),
                Figure(
                    key=ctx.key("geometry-centroid-cosine"),
                    caption=(
                        f"Cosine similarity between identity centroids ({ctx.label}). Blocks off the diagonal are "
                        "groups of identities the network places close together; see the audit for candidates."
                    ),
                    plot=plot_centroid_cosine,
                    data=_MatrixData(l2.centroid_cosine, l2.matrix_names),
                    in_paper=ctx.cell.subset == "all",
                    width=0.7,
                ),
            ),
        ),
    ]
    return Page(
        path=(*ctx.path, "geometry"),
        title="Geometry",
        intro=intro,
        sections=tuple(sections),
        synthetic=ctx.synthetic,
        nav_titles=ctx.nav_titles,
    )


def compare(results: Mapping[Cell, GeometryResult], contexts: Mapping[Cell, CellContext]) -> tuple[Section, ...]:
    """Comparison rows: one per cell, the headline geometry numbers side by side."""
    rows = []
    for cell in sorted(results, key=lambda c: (c.dataset, c.network, c.subset)):
        r = results[cell]
        g = r.l2.identities
        rows.append(
            {
                "dataset": cell.dataset,
                "network": cell.network,
                "subset": cell.subset,
                "dims": r.n_dims,
                "identities": r.n_identities,
                "images": r.n_samples,
                "median radius": float(np.median(g.radius)),
                "median dispersion": float(np.median(g.dispersion)),
                "median PCA dim": float(np.median(g.intrinsic_dim)),
                "capped by n-1": float(g.pca_capped.mean()),
                "median TwoNN dim": float(np.nanmedian(g.twonn)) if np.isfinite(g.twonn).any() else np.nan,
                "global TwoNN dim": r.l2.global_twonn,
                "median raw norm": float(np.median(r.norms)),
            }
        )
    frame = pd.DataFrame(rows)
    fmt = {c: ".3f" for c in ("median radius", "median dispersion")}
    fmt.update({"median PCA dim": ".1f", "median TwoNN dim": ".1f", "global TwoNN dim": ".1f", "median raw norm": ".2f", "capped by n-1": ".0%"})
    return (
        Section(
            "Geometry across networks and subsets",
            (
                P("Headline geometry of every cell on L2-normalised vectors. Subsets with few images per identity cap the "
                  "PCA estimate of intrinsic dimension (column ", Code("capped by n-1"), "); the TwoNN estimate is not capped."),
                Table(
                    key="compare-geometry",
                    caption="Geometry of every (dataset, network, subset) cell, L2-normalised vectors.",
                    frame=frame,
                    formats=fmt,
                    in_paper=True,
                    max_rows=None,
                ),
            ),
        ),
    )

