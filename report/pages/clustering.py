"""Clustering pages: KMeans sweep, method comparison, silhouette diagrams, DBSCAN, dendrogram."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping

import numpy as np
import pandas as pd

from analysis.statistics.clustering.scores import ExternalScores
from analysis.statistics.clustering.clustering import ClusteringResult, Dendrogram, DBSCANSweep
from analysis.statistics.clustering.kmeans import KMeansSweep, SilhouetteDiagram
from analysis.types import Cell
from report import plotting
from report.format import count, fixed
from report.model import Admonition, Bullets, Code, Figure, InlineMath, P, Page, Section, Strong, Table, spans
from report.contexts import CellContext
from report.pages.approximations import clustering_note

PAPER_TEXT = (
    "We cluster the L2-normalised embeddings without labels (KMeans over a range of k, DBSCAN, "
    "agglomerative clustering with four linkages, HDBSCAN) and score each clustering against the "
    "identities with external metrics (purity, adjusted Rand index, normalised and adjusted mutual "
    "information, pairwise and BCubed precision/recall/F) and internal ones (silhouette, "
    "Davies-Bouldin, Calinski-Harabasz, Dunn)."
)

_EXTERNAL_COLUMNS = {
    "purity": "purity",
    "rand": "Rand",
    "ari": "ARI",
    "nmi": "NMI",
    "ami": "AMI",
    "pair_precision": "pair P",
    "pair_recall": "pair R",
    "pair_f": "pair F",
    "bcubed_precision": "BCubed P",
    "bcubed_recall": "BCubed R",
    "bcubed_f": "BCubed F",
}
_INTERNAL_COLUMNS = {"silhouette": "silhouette", "davies_bouldin": "Davies-Bouldin", "calinski_harabasz": "Calinski-Harabasz", "dunn": "Dunn"}


def _external_row(e: ExternalScores) -> dict:
    return {label: getattr(e, f) for f, label in _EXTERNAL_COLUMNS.items()}


# --------------------------------------------------------------------------- tables
def sweep_frame(s: KMeansSweep) -> pd.DataFrame:
    """One row per KMeans ``k``: distortion, inertia, internal and external metrics."""
    rows = []
    for i, k in enumerate(s.k):
        rows.append(
            {
                "k": int(k),
                "distortion": s.distortion[i],
                "inertia": s.inertia[i],
                "silhouette": s.silhouette[i],
                "Davies-Bouldin": s.davies_bouldin[i],
                "Calinski-Harabasz": s.calinski_harabasz[i],
                **{c: v for c, v in _external_row(s.external[i]).items() if c in ("purity", "ARI", "NMI", "AMI", "pair F", "BCubed F")},
            }
        )
    return pd.DataFrame(rows)


def methods_frame(r: ClusteringResult) -> pd.DataFrame:
    """Every method at its chosen setting x every metric."""
    rows = []
    for m in r.methods:
        rows.append(
            {
                "method": m.method,
                "setting": m.setting,
                "clusters": m.n_clusters,
                "noise": m.noise_fraction,
                "rows": m.n_evaluated,
                **_external_row(m.external),
                **{label: getattr(m.internal, f) for f, label in _INTERNAL_COLUMNS.items()},
            }
        )
    return pd.DataFrame(rows)


def dbscan_frame(d: DBSCANSweep) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "eps": d.eps,
            "cosine similarity": 1.0 - d.eps**2 / 2.0,
            "chosen": np.where(np.isclose(d.eps, d.chosen_eps), "yes", ""),
            "clusters": d.n_clusters,
            "noise": d.noise_fraction,
            "ARI": d.ari,
            "NMI": d.nmi,
            "BCubed F": d.bcubed_f,
        }
    )


_METRIC_FORMATS = {c: ".3f" for c in (*_EXTERNAL_COLUMNS.values(), "silhouette", "Davies-Bouldin", "Dunn", "distortion")}
_METRIC_FORMATS.update({"Calinski-Harabasz": ".1f", "inertia": ".1f", "noise": ".1%", "eps": ".3f", "cosine similarity": ".3f"})


# --------------------------------------------------------------------------- figures
@dataclass(frozen=True, eq=False)
class _SweepData:
    sweep: KMeansSweep
    n_identities: int


def plot_sweep(d: _SweepData):
    """Elbow (distortion) and score curves over k, with the number of identities marked."""
    s = d.sweep
    fig, axes = plotting.figure(10.5, 6.0, ncols=3, nrows=2)
    ext = {name: np.array([getattr(e, f) for e in s.external]) for f, name in (("ari", "ARI"), ("nmi", "NMI"), ("bcubed_f", "BCubed F"), ("purity", "purity"))}
    panels = (
        ("distortion (mean sq. distance)", {"distortion": s.distortion}),
        ("silhouette (higher is better)", {"silhouette": s.silhouette}),
        ("Davies-Bouldin (lower is better)", {"Davies-Bouldin": s.davies_bouldin}),
        ("Calinski-Harabasz (higher is better)", {"Calinski-Harabasz": s.calinski_harabasz}),
        ("agreement with identities", ext),
    )  # no inertia panel: inertia is n times the distortion, the same curve
    for ax, (title, series) in zip(axes.ravel(), panels):
        for label, values in series.items():
            ax.plot(s.k, values, marker="o", ms=3, label=label)
        ax.axvline(d.n_identities, color=plotting.SECOND, ls="--", lw=1)
        ax.set_title(title)
        ax.set_xlabel("k")
        if len(series) > 1:
            ax.legend(frameon=False)
    axes.ravel()[-1].remove()
    return fig


@dataclass(frozen=True, eq=False)
class _DiagramData:
    diagrams: tuple[SilhouetteDiagram, ...]


def plot_silhouettes(d: _DiagramData):
    """Classic silhouette diagrams: per-cluster sorted silhouettes stacked, one panel per k."""
    n = max(1, len(d.diagrams))
    fig, axes = plotting.figure(3.6 * n, 4.2, ncols=n, squeeze=False)
    for ax, diag in zip(axes[0], d.diagrams):
        k = int(diag.labels.max()) + 1
        cmap = plotting.plt.get_cmap("tab20")
        y = 0
        for c in range(k):
            v = np.sort(diag.values[diag.labels == c])
            if not len(v):
                continue
            ax.fill_betweenx(np.arange(y, y + len(v)), 0, v, color=cmap(c % 20), lw=0)
            y += len(v) + max(1, len(diag.values) // 400)
        ax.axvline(diag.score, color="black", ls="--", lw=1)
        ax.set_title(f"k = {diag.k}: mean silhouette {diag.score:.3f}")
        ax.set_xlabel("silhouette")
        ax.set_yticks([])
        ax.set_xlim(-0.4, 1.0)
        ax.grid(False)
    return fig


def plot_dbscan(d: DBSCANSweep):
    """k-distance curve with the chosen eps, and DBSCAN agreement / noise over eps."""
    fig, (a, b) = plotting.figure(9.5, 3.4, ncols=2)
    a.plot(np.arange(len(d.k_distance)), d.k_distance, color=plotting.ACCENT)
    a.axhline(d.chosen_eps, color=plotting.SECOND, ls="--", lw=1, label=f"chosen eps = {d.chosen_eps:.3f}")
    a.set_xlabel("rows sorted by distance")
    a.set_ylabel(f"distance to {d.min_samples}-th neighbour")
    a.legend(frameon=False)
    for values, label in ((d.ari, "ARI"), (d.nmi, "NMI"), (d.bcubed_f, "BCubed F"), (d.noise_fraction, "noise fraction")):
        b.plot(d.eps, values, marker="o", ms=3, label=label)
    b.axvline(d.chosen_eps, color=plotting.SECOND, ls="--", lw=1)
    b.set_xlabel("eps (Euclidean distance between unit vectors)")
    b.legend(frameon=False)
    return fig


def plot_dendrogram(d: Dendrogram):
    """Ward dendrogram of identity centroids, truncated to the last 40 merges."""
    from scipy.cluster.hierarchy import dendrogram

    fig, ax = plotting.figure(9.0, 3.8)
    n_leaves = len(d.names)
    truncate = n_leaves > 40
    dendrogram(
        d.linkage, ax=ax, truncate_mode="lastp" if truncate else None, p=40, no_labels=truncate,
        labels=None if truncate else [str(x) for x in d.names], leaf_rotation=90, leaf_font_size=6,
        color_threshold=0, above_threshold_color=plotting.ACCENT, show_leaf_counts=True,
    )
    ax.set_ylabel("Ward merge distance")
    shown = d.linkage[-39:, 2] if truncate else d.linkage[:, 2]
    ax.set_ylim(bottom=0.95 * float(shown.min()))  # merges are all far from 0: zoom on their range
    ax.grid(False)
    if truncate:
        ax.set_xlabel(f"{n_leaves} identities; the 40 top branches (leaf sizes hidden)")
    return fig


# --------------------------------------------------------------------------- page
def _sampling_note(r: ClusteringResult) -> Admonition | None:
    s = r.sampling
    parts = []
    if s.kmeans_fit_rows < s.n_samples:
        parts.append(f"KMeans fitted on {s.kmeans_fit_rows:,d} seeded rows, then every row assigned")
    if s.silhouette_rows < s.n_samples:
        parts.append(f"silhouettes and Dunn indices of KMeans on {s.silhouette_rows:,d} seeded rows")
    if s.density_rows < s.n_samples:
        parts.append(f"agglomerative, DBSCAN and HDBSCAN on the {s.density_rows:,d} rows of seeded whole identities")
    if not parts:
        return None
    return Admonition("info", "Sampled computations", spans(f"Of {s.n_samples:,d} rows: " + "; ".join(parts) + ". "
                                                             f"{s.kmeans_algorithm}."))


def page(ctx: CellContext, r: ClusteringResult) -> Page:
    """The clustering page of one cell."""
    km = r.method("kmeans")
    best = max(r.methods, key=lambda m: (m.external.ari, m.method))
    methods = methods_frame(r)
    intro = [
        P(
            "Cell ", Strong(ctx.label), f": {r.n_samples:,d} L2-normalised embeddings of {r.n_identities} identities "
            f"({ctx.subset_description}), clustered without labels and scored against the identities. ",
            "ARI and AMI are 0 for chance and 1 for the identity partition; BCubed F is the harmonic mean of how pure "
            "each item's cluster is and how much of its identity the cluster holds.",
        ),
        Bullets(
            ("KMeans at k = ", Strong(str(r.pseudo_k)),
             " (number of identities): ARI " if r.pseudo_k == r.n_identities else
             f" (the closest to the {r.n_identities:,d} identities that a fit on {r.sampling.kmeans_fit_rows:,d} rows "
             "allows): ARI ", Strong(fixed(km.external.ari)),
             ", NMI ", Strong(fixed(km.external.nmi)), ", BCubed F ", Strong(fixed(km.external.bcubed_f)),
             "; its clusters are the pseudo-labels of the classifiers page"),
            ("Best method by ARI: ", Strong(best.method), f" ({best.setting}): ARI ", Strong(fixed(best.external.ari)),
             ", BCubed F ", Strong(fixed(best.external.bcubed_f))),
            ("KMeans k with the highest silhouette: ", Strong(str(r.sweep.best_silhouette_k)),
             f" (identities: {r.n_identities})"),
        ),
    ]
    note = _sampling_note(r)
    if note is not None:
        intro.append(note)
    if (approx := clustering_note(r)) is not None:
        intro.append(approx)
    if r.skipped:
        intro.append(Admonition("note", "Skipped", spans("; ".join(r.skipped) + ".")))

    sections = [
        Section(
            "KMeans over k",
            (
                P("Distortion always falls as k grows; an elbow near the number of identities (dashed line) and a "
                  "silhouette peak there mean the identities are the natural clusters of the space."),
                Figure(
                    key=ctx.key("clustering-kmeans-sweep"),
                    caption=(f"KMeans sweep over k ({ctx.label}): elbow, internal scores and agreement with identities. "
                             "The dashed line marks the number of identities; look for where ARI and BCubed F peak "
                             "relative to it."),
                    plot=plot_sweep,
                    data=_SweepData(r.sweep, r.n_identities),
                    in_paper=ctx.cell.subset == "all",
                    width=1.0,
                ),
                Table(
                    key=ctx.key("clustering-kmeans-sweep-table"),
                    caption=f"KMeans sweep ({ctx.label}): one row per k; distortion is the mean squared distance to the nearest centre.",
                    frame=sweep_frame(r.sweep),
                    formats=_METRIC_FORMATS,
                    max_rows=None,
                    site_columns=("k", "distortion", "silhouette", "Davies-Bouldin", "ARI", "NMI", "BCubed F"),
                ),
            ),
        ),
        Section(
            "Methods compared",
            (
                P("Each method at its chosen setting. Density methods (DBSCAN, HDBSCAN) leave some rows as noise: "
                  "those count as singleton clusters in the external metrics and are left out of the internal ones. "
                  "Single linkage typically chains identities together (high Dunn, low ARI)."),
                Table(
                    key=ctx.key("clustering-methods"),
                    caption=(f"Every clustering method x every metric ({ctx.label}). External metrics against identities "
                             "(higher is better), then silhouette, Davies-Bouldin (lower is better), Calinski-Harabasz and Dunn."),
                    frame=methods,
                    formats=_METRIC_FORMATS,
                    in_paper=ctx.cell.subset == "all",
                    max_rows=None,
                    site_columns=("method", "clusters", "noise", "ARI", "NMI", "BCubed F", "silhouette"),
                ),
            ),
        ),
    ]
    if r.diagrams:
        sections.append(
            Section(
                "Silhouette diagrams and clusters in 2-D",
                (
                    Figure(
                        key=ctx.key("clustering-silhouettes"),
                        caption=(f"Silhouette diagrams of KMeans for several k ({ctx.label}): each band is a cluster, rows "
                                 "sorted by silhouette; the dashed line is the mean. Negative values are rows closer to "
                                 "another cluster than to their own."),
                        plot=plot_silhouettes,
                        data=_DiagramData(r.diagrams),
                        width=1.0,
                    ),
                    # The 2-D view coloured by cluster is the cell's Explorer (one PCA map per cell, not three).
                    P("To see the clusters on a 2-D map, open this cell's Explorer page (next to this one in the "
                      "navigation) and colour by cluster."),
                ),
            )
        )
    if r.dbscan is not None:
        sections.append(
            Section(
                "DBSCAN",
                (
                    P("Distances between unit vectors relate to cosine similarity by ", InlineMath(r"d^2 = 2 - 2\cos\theta"),
                      ". The eps values are quantiles of the k-distance curve; the chosen one gives the most clusters, a rule "
                      "that does not look at the labels. The sweep shows what the other values would have given."),
                    Figure(
                        key=ctx.key("clustering-dbscan"),
                        caption=(f"k-distance curve with the chosen eps, and DBSCAN agreement and noise over eps ({ctx.label})."),
                        plot=plot_dbscan,
                        data=r.dbscan,
                        width=0.95,
                    ),
                    Table(
                        key=ctx.key("clustering-dbscan-sweep"),
                        caption=f"DBSCAN eps sweep (min_samples = {r.dbscan.min_samples}, {ctx.label}).",
                        frame=dbscan_frame(r.dbscan),
                        formats=_METRIC_FORMATS,
                        max_rows=None,
                    ),
                ),
            )
        )
    if r.dendrogram is not None:
        sections.append(
            Section(
                "Hierarchy of identities",
                (
                    Figure(
                        key=ctx.key("clustering-dendrogram"),
                        caption=(f"Ward dendrogram of identity centroids ({ctx.label}). Early (low) merges are identities "
                                 "the network places close together; compare with the audit's merged-identity candidates."),
                        plot=plot_dendrogram,
                        data=r.dendrogram,
                        width=1.0,
                    ),
                ),
            )
        )
    return Page(
        path=(*ctx.path, "clustering"),
        title="Clustering",
        intro=tuple(intro),
        sections=tuple(sections),
        synthetic=ctx.synthetic,
        nav_titles=ctx.nav_titles,
    )


def compare(results: Mapping[Cell, ClusteringResult], contexts: Mapping[Cell, CellContext]) -> tuple[Section, ...]:
    """One row per cell: KMeans at the identity count and the best method by ARI."""
    rows = []
    for cell in sorted(results, key=lambda c: (c.dataset, c.network, c.subset)):
        r = results[cell]
        km = r.method("kmeans")
        best = max(r.methods, key=lambda m: (m.external.ari, m.method))
        rows.append(
            {
                "dataset": cell.dataset,
                "network": cell.network,
                "subset": cell.subset,
                "identities": r.n_identities,
                "images": r.n_samples,
                "KMeans ARI": km.external.ari,
                "KMeans NMI": km.external.nmi,
                "KMeans BCubed F": km.external.bcubed_f,
                "best method": best.method,
                "best ARI": best.external.ari,
                "best NMI": best.external.nmi,
                "best BCubed F": best.external.bcubed_f,
                "best noise": best.noise_fraction,
            }
        )
    frame = pd.DataFrame(rows)
    fmt = {c: ".3f" for c in frame.columns if "ARI" in c or "NMI" in c or "BCubed" in c}
    fmt["best noise"] = ".1%"
    return (
        Section(
            "Clustering across networks and subsets",
            (
                P("How well unsupervised clustering recovers the identities in every cell: KMeans with k equal to the "
                  "number of identities, and the best of all methods by adjusted Rand index (see each cell's page for "
                  "its setting). A network whose identities are recovered by clustering needs fewer labels."),
                Table(
                    key="compare-clustering",
                    caption="Agreement of clustering with identities for every (dataset, network, subset) cell.",
                    frame=frame,
                    formats=fmt,
                    in_paper=True,
                    max_rows=None,
                ),
            ),
        ),
    )


def headline(r) -> str:
    """One sentence of key numbers for the Overview page."""
    if not r.methods:
        return ""
    best = max(r.methods, key=lambda m: (m.external.ari, m.method))
    return (f"best clustering {best.method} ({best.setting}) with ARI {best.external.ari:.3f}, "
            f"NMI {best.external.nmi:.3f}, {best.n_clusters} clusters for {r.n_identities} identities.")
