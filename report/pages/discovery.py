"""The identity discovery page of an unlabelled cell: k sweep, chosen k, alternatives, discovered identities.

Reads :class:`analysis.statistics.discovery.DiscoveryResult`. The CSV of every face with its
cluster (with detector score and box) is on the dataset's Data page
(:func:`report.pages.faces.face_sections`), because it joins the detection trace.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.statistics.discovery import DiscoveryResult
from report import plotting
from report.contexts import CellContext
from report.model import Admonition, Bullets, Code, CodeBlock, Figure, P, Page, Section, Strong, Table, spans
from report.pages.clustering import plot_silhouettes

PAPER_TEXT = (
    "The faces of unlabelled datasets have no identities: we discover them by clustering the L2-normalised "
    "embeddings of every detected face. KMeans is swept over k and k is chosen by the highest mean silhouette, "
    "with the elbow of the distortion, Davies-Bouldin and Calinski-Harabasz reported beside it; HDBSCAN and "
    "agglomerative clustering cut at a distance threshold are label-free alternatives, compared by adjusted Rand index."
)

#: The naming file a user writes from the clusters CSV (shown verbatim on the page).
NAMES_EXAMPLE = """cluster,name,merge,drop
0,Alice,,
1,Bob,,
2,,0,
3,,,1
"""


def sweep_frame(r: DiscoveryResult) -> pd.DataFrame:
    """One row per ``k`` of the sweep, with the criteria that pick it."""
    s = r.sweep
    picks = {r.chosen_k: ["chosen"]}
    for k, label in ((r.elbow_k, "elbow"), (r.best_davies_bouldin_k, "DB"), (r.best_calinski_harabasz_k, "CH")):
        picks.setdefault(k, []).append(label)
    return pd.DataFrame({
        "k": s.k.astype(int),
        "distortion": s.distortion,
        "silhouette": s.silhouette,
        "Davies-Bouldin": s.davies_bouldin,
        "Calinski-Harabasz": s.calinski_harabasz,
        "picked by": [", ".join(picks.get(int(k), [])) for k in s.k],
    })


def methods_frame(r: DiscoveryResult) -> pd.DataFrame:
    return pd.DataFrame([{"method": m.method, "setting": m.setting, "clusters": m.n_clusters, "noise": m.noise_fraction}
                         for m in r.methods])


def agreement_frame(r: DiscoveryResult) -> pd.DataFrame:
    names = [m.method for m in r.methods]
    frame = pd.DataFrame(r.agreement, columns=names)
    frame.insert(0, "ARI", names)
    return frame


def identities_frame(r: DiscoveryResult) -> pd.DataFrame:
    """The discovered identities: one row per cluster."""
    return pd.DataFrame([{
        "cluster": c.cluster, "faces": c.size, "silhouette": c.silhouette,
        "nearest cluster": c.nearest, "nearest cosine": c.nearest_cosine,
        "photos": c.photos, "group photos": c.group_photos,
    } for c in r.identities])


_FORMATS = {"distortion": ".4f", "silhouette": ".3f", "Davies-Bouldin": ".3f", "Calinski-Harabasz": ".1f",
            "noise": ".1%", "nearest cosine": ".3f"}


@dataclass(frozen=True, eq=False)
class _SweepData:
    k: np.ndarray
    distortion: np.ndarray
    silhouette: np.ndarray
    davies_bouldin: np.ndarray
    calinski_harabasz: np.ndarray
    chosen: int
    elbow: int


def plot_sweep(d: _SweepData):
    """Distortion (elbow) and the three internal criteria over k, chosen k and elbow marked."""
    fig, axes = plotting.figure(9.0, 5.4, ncols=2, nrows=2)
    panels = (("distortion (elbow)", d.distortion), ("silhouette (higher is better)", d.silhouette),
              ("Davies-Bouldin (lower is better)", d.davies_bouldin),
              ("Calinski-Harabasz (higher is better)", d.calinski_harabasz))
    for ax, (title, values) in zip(axes.ravel(), panels):
        ax.plot(d.k, values, marker="o", ms=3, color=plotting.ACCENT)
        ax.axvline(d.chosen, color=plotting.SECOND, ls="--", lw=1, label=f"chosen k = {d.chosen}")
        ax.set_title(title)
        ax.set_xlabel("k")
    axes[0, 0].axvline(d.elbow, color="black", ls=":", lw=1, label=f"elbow k = {d.elbow}")
    axes[0, 0].legend(frameon=False)
    return fig


@dataclass(frozen=True, eq=False)
class _ClusterSilhouettes:
    clusters: np.ndarray
    silhouette: np.ndarray
    sizes: np.ndarray


def plot_cluster_silhouettes(d: _ClusterSilhouettes):
    """Mean silhouette per discovered cluster, with its size as the bar label."""
    fig, ax = plotting.figure(max(6.0, 0.3 * len(d.clusters) + 2.0), 2.6)
    ax.bar(d.clusters, d.silhouette, color=plotting.ACCENT)
    for c, s, n in zip(d.clusters, d.silhouette, d.sizes):
        ax.annotate(str(int(n)), (c, max(s, 0.0)), ha="center", va="bottom", fontsize=7)
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel("discovered cluster (bar label: faces)")
    ax.set_ylabel("mean silhouette")
    ax.set_xticks(d.clusters)
    return fig


@dataclass(frozen=True, eq=False)
class _Diagrams:
    diagrams: tuple


def page(ctx: CellContext, r: DiscoveryResult) -> Page:
    """The identity discovery page of one unlabelled cell."""
    key = ctx.key
    weak = [c.cluster for c in r.identities if np.isfinite(c.silhouette) and c.silhouette < 0.1]
    intro = [
        P("Cell ", Strong(ctx.label), f": {r.n_faces:,d} faces found in {r.n_photos:,d} photos "
          f"({r.n_group_photos:,d} group photos with two or more faces), without identity labels. "
          "Identities are discovered by clustering the L2-normalised embeddings."),
        Bullets(
            ("Chosen: ", Strong(f"k = {r.chosen_k}"), ". ", r.reason, "."),
            ("HDBSCAN finds ", Strong(str(r.methods[1].n_clusters)), f" clusters ({r.methods[1].noise_fraction:.0%} of the faces "
             "as noise); agglomerative clustering cut at cosine distance ", Strong(f"{r.agglomerative_threshold:.3f}"),
             " finds ", Strong(str(r.methods[2].n_clusters)), f". ARI with KMeans: {r.agreement[0, 1]:.3f} and "
             f"{r.agreement[0, 2]:.3f} (1 = the same partition)."),
            ("Clusters with a mean silhouette below 0.1 (mixed or split people, review them first): ",
             Strong(", ".join(map(str, weak)) if weak else "none"), "."),
        ),
        Admonition("info", "Labelled analyses", spans(
            "Geometry, verification, classifiers and the audit need identity labels: they are skipped on this cell. "
            "Name the clusters (below) and rebuild to run them.")),
    ]
    sweep = Section("Choosing k", (
        P("KMeans for every k of the sweep. The distortion always falls with k; its elbow, the highest silhouette, the "
          "lowest Davies-Bouldin and the highest Calinski-Harabasz are four readings of where clusters stop being real."),
        Figure(key("discovery-sweep-plot"), f"KMeans sweep on {ctx.label}: distortion with its elbow, and three internal "
               "criteria; the dashed line is the chosen k.", plot_sweep,
               _SweepData(r.sweep.k, r.sweep.distortion, r.sweep.silhouette, r.sweep.davies_bouldin,
                          r.sweep.calinski_harabasz, r.chosen_k, r.elbow_k), in_paper=True),
        Table(key("discovery-sweep"), f"KMeans sweep on {ctx.label}; 'picked by': chosen (highest silhouette), elbow of "
              "the distortion, lowest Davies-Bouldin (DB), highest Calinski-Harabasz (CH).", sweep_frame(r),
              formats=_FORMATS, max_rows=None),
    ))
    alternatives = Section("Label-free alternatives", (
        P("Methods that do not need k. HDBSCAN leaves faces it cannot place as noise; agglomerative clustering merges "
          "faces and groups by average cosine distance until the threshold. Their agreement with KMeans says how "
          "clear the identities are."),
        Table(key("discovery-methods"), f"Clusterings of {ctx.label} without labels.", methods_frame(r),
              formats=_FORMATS, max_rows=None, in_paper=True),
        Table(key("discovery-agreement"), f"Adjusted Rand index between the clusterings of {ctx.label}; HDBSCAN's noise "
              "counts as one group.", agreement_frame(r), formats={m.method: ".3f" for m in r.methods}, max_rows=None),
    ))
    ids = identities_frame(r)
    identities = Section("Discovered identities", (
        P("One row per KMeans cluster at the chosen k, numbered by size: its faces, mean silhouette, the nearest other "
          "cluster (centroid cosine: high means two clusters may be one person), the photos it appears in and how many "
          "of those are group photos."),
        Table(key("discovery-identities"), f"Discovered identities of {ctx.label}.", ids, formats=_FORMATS,
              max_rows=40, in_paper=True),
        Figure(key("discovery-cluster-silhouettes"), f"Mean silhouette per discovered cluster of {ctx.label}; low bars "
               "are the clusters to review.", plot_cluster_silhouettes,
               _ClusterSilhouettes(ids["cluster"].to_numpy(), ids["silhouette"].to_numpy(), ids["faces"].to_numpy())),
        Figure(key("discovery-silhouettes"), f"Silhouette diagrams of {ctx.label} for k around the chosen one: each "
               "band is a cluster, faces sorted by silhouette; the dashed line is the mean.", plot_silhouettes,
               _Diagrams(r.diagrams)),
    ))
    naming = Section("Naming the clusters", (
        P("The Data page offers the CSV of every face with its cluster, detector score, box and silhouette. Review the "
          "faces of each cluster (", Code("review_dir"), " in the dataset config writes their aligned crops, one folder "
          "per cluster, on this machine only), then write a naming file: a ", Code("name"), " per cluster; clusters "
          "given the same name, or a ", Code("merge"), " target, are merged; ", Code("drop"), " removes a cluster "
          "(strangers, false detections):"),
        CodeBlock(NAMES_EXAMPLE, "text"),
        P("Point the dataset at it (", Code('names_file = "names.csv"'), ") and rebuild: the named clusters become "
          "identities, every labelled analysis runs, and the recognition model for ", Code("predict"), " is exported. "
          "The ids are those of this page; the build binds the names to the faces of these clusters and records them "
          "beside the names file (", Code("names.csv.lock.json"), "): later builds, with photos added, removed or "
          "renamed, carry every name to the same faces, and say so on this page."),
    ))
    return Page((*ctx.path, "discovery"), "Identity discovery", tuple(intro), (sweep, alternatives, identities, naming),
                synthetic=ctx.synthetic, nav_titles=ctx.nav_titles)


def naming_section(inputs) -> Section | None:
    """Reproducibility section: how each unlabelled dataset's clusters were named (None when none was)."""
    rows = []
    for inp in inputs:
        for rec in inp.naming:
            rows.append({
                "dataset": inp.spec.name, "network": rec.network, "names file": rec.source, "names lock": rec.lock,
                "clusters": rec.n_clusters, "identities": len({name for _, name in rec.named}),
                "merged": "; ".join(f"{a}->{b}" for a, b in rec.merged), "dropped": ", ".join(map(str, rec.dropped)),
                "faces kept": rec.n_faces_kept, "faces dropped": rec.n_faces_dropped,
                "names": "; ".join(f"{c}={name}" for c, name in rec.named),
            })
    if not rows:
        return None
    return Section("Naming of discovered clusters", (
        P("These datasets had no labels: their faces were clustered (identity discovery) and the clusters named by the "
          "user's names file; the identities of every labelled analysis are those names. The names lock beside the "
          "names file records the faces each named cluster held, and names reach later builds' clusters through those "
          "faces (see each dataset's Identity discovery page). The file's hash is in the provenance of the inputs above."),
        Table("repro-naming", "Naming of discovered clusters: cluster -> identity, merges and drops.", pd.DataFrame(rows),
              max_rows=None),
    ))
