"""The "Across networks" page of a dataset: hard identities, neighbourhood agreement, 128-D vs 512-D."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.statistics.crossnet import CrossNetworkResult
from report import plotting
from report.format import fixed, plural
from report.model import Admonition, Bullets, Figure, P, Page, Section, Strong, Table, spans
from report.contexts import DatasetContext

PAPER_TEXT = (
    "Embedding the same images with several networks separates what belongs to the data from what "
    "belongs to a network: identities hard for every network point to the images (few, poor or "
    "mislabelled), identities hard for one network only to that network. We also measure how far "
    "the networks agree on each image's nearest neighbours and on the ranking of pair similarities, "
    "whatever their embedding dimension."
)


# --------------------------------------------------------------------------- tables
def network_frame(r: CrossNetworkResult) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "network": [s.network for s in r.per_network],
            "dims": [s.n_dims for s in r.per_network],
            "items embedded": list(r.n_items_per_network),
            f"kNN accuracy (k={r.params.knn_k})": [s.mean_knn_accuracy for s in r.per_network],
            "median identity silhouette": [float(np.median(s.silhouette)) for s in r.per_network],
            "median dispersion": [float(np.median(s.dispersion[r.counts >= 2])) if (r.counts >= 2).any() else np.nan
                                  for s in r.per_network],
            "hard identities": [int(s.hard.sum()) for s in r.per_network],
        }
    )


def pair_frame(r: CrossNetworkResult) -> pd.DataFrame:
    dims = {s.network: s.n_dims for s in r.per_network}
    return pd.DataFrame(
        {
            "network A": [p.first for p in r.pairs],
            "network B": [p.second for p in r.pairs],
            "dims": [f"{dims[p.first]} vs {dims[p.second]}" for p in r.pairs],
            f"neighbour Jaccard (k={r.params.knn_k})": [p.neighbour_jaccard for p in r.pairs],
            "pair similarity Spearman": [p.similarity_spearman for p in r.pairs],
            "dispersion Spearman": [p.dispersion_spearman for p in r.pairs],
        }
    )


def identity_frame(r: CrossNetworkResult, mask: np.ndarray) -> pd.DataFrame:
    """Identities selected by ``mask`` with their kNN accuracy and silhouette under each network."""
    idx = np.flatnonzero(mask)
    data = {"identity": r.names[idx].astype(str), "images": r.counts[idx]}
    for s in r.per_network:
        data[f"kNN acc. {s.network}"] = s.knn_accuracy[idx]
        data[f"silhouette {s.network}"] = s.silhouette[idx]
    if len(r.per_network) > 1:
        hard = np.array([s.hard[idx] for s in r.per_network])
        data["hard for"] = [", ".join(n for n, h in zip(r.networks, col) if h) for col in hard.T]
    frame = pd.DataFrame(data)
    mean_acc = np.nanmean(np.array([s.knn_accuracy[idx] for s in r.per_network]), axis=0) if len(idx) else np.zeros(0)
    return frame.iloc[np.lexsort((frame["identity"].to_numpy(), mean_acc))].reset_index(drop=True)


def _formats(r: CrossNetworkResult) -> dict[str, str]:
    fmt = {f"kNN accuracy (k={r.params.knn_k})": ".3f", "median identity silhouette": ".3f", "median dispersion": ".3f",
           f"neighbour Jaccard (k={r.params.knn_k})": ".3f", "pair similarity Spearman": ".3f",
           "dispersion Spearman": ".3f"}
    for s in r.per_network:
        fmt[f"kNN acc. {s.network}"] = ".2f"
        fmt[f"silhouette {s.network}"] = ".3f"
    return fmt


# --------------------------------------------------------------------------- figures
@dataclass(frozen=True, eq=False)
class _ScatterData:
    networks: tuple[str, ...]
    silhouettes: np.ndarray  # (n_networks, n_identities)
    hard: np.ndarray  # (n_networks, n_identities) bool
    pairs: tuple[tuple[int, int], ...]


def plot_silhouette_pairs(d: _ScatterData):
    """Per-identity silhouette under network A vs network B, one panel per pair (at most 3)."""
    n = len(d.pairs)
    fig, axes = plotting.figure(3.6 * n, 3.4, ncols=n)
    axes = np.atleast_1d(axes)
    for ax, (a, b) in zip(axes, d.pairs):
        both = d.hard[a] & d.hard[b]
        one = d.hard[a] ^ d.hard[b]
        rest = ~(both | one)
        ax.scatter(d.silhouettes[a][rest], d.silhouettes[b][rest], s=10, c=plotting.ACCENT, alpha=0.6, label="neither")
        ax.scatter(d.silhouettes[a][one], d.silhouettes[b][one], s=14, c=plotting.SECOND, label="hard for one")
        ax.scatter(d.silhouettes[a][both], d.silhouettes[b][both], s=18, c="black", marker="x", label="hard for both")
        lo = float(min(d.silhouettes[a].min(), d.silhouettes[b].min()))
        hi = float(max(d.silhouettes[a].max(), d.silhouettes[b].max()))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls=":")
        ax.set_xlabel(f"identity silhouette, {d.networks[a]}")
        ax.set_ylabel(f"identity silhouette, {d.networks[b]}")
    axes[0].legend(loc="upper left")
    return fig


# --------------------------------------------------------------------------- page
def page(ctx: DatasetContext, r: CrossNetworkResult) -> Page:
    """The "Across networks" page of one dataset."""
    p = r.params
    fmt = _formats(r)
    sampled = f" (a seeded sample of {r.n_items:,d} of them)" if r.n_items < r.n_intersection else ""
    intro = [
        P(
            "Dataset ", Strong(ctx.dataset), f": {plural(len(r.networks), 'network')} compared on the {r.n_intersection:,d} "
            f"images they all embed{sampled}, {len(r.names)} identities. An identity is hard for a network when it "
            f"is in the bottom {p.hard_fraction:.0%} of that network's identities by leave-one-out kNN accuracy "
            f"(k = {p.knn_k}, cosine), ties broken by silhouette.",
        ),
    ]
    network_table = Table(
        key=ctx.key("crossnet-networks"),
        caption=f"Each network on the common images of {ctx.dataset}: dimension, kNN accuracy, silhouette, dispersion.",
        frame=network_frame(r),
        formats=fmt,
        in_paper=r.comparable,
        max_rows=None,
    )
    if not r.comparable:
        intro.append(Admonition("note", "Nothing to compare", spans("; ".join(r.skipped) + ". Add networks to the study "
                                                                     "to compare them; the identities hardest for this "
                                                                     "network are listed below.")))
        sections = (
            Section("Network", (network_table,)),
            Section(
                "Hardest identities",
                (Table(
                    key=ctx.key("crossnet-hard"),
                    caption=f"Identities hardest for {r.networks[0]}, lowest kNN accuracy first.",
                    frame=identity_frame(r, r.per_network[0].hard),
                    formats=fmt,
                    max_rows=30,
                ),),
            ),
        )
        return Page(path=(ctx.dataset, "networks"), title="Across networks", intro=tuple(intro), sections=sections,
                    synthetic=ctx.synthetic, nav_titles=(ctx.dataset,))

    best = max(r.pairs, key=lambda q: q.neighbour_jaccard)
    worst = min(r.pairs, key=lambda q: q.neighbour_jaccard)
    intro.append(
        Bullets(
            ("Identities hard for every network: ", Strong(f"{int(r.hard_for_all.sum())}")),
            ("Identities hard for exactly one network: ", Strong(f"{int(r.hard_for_one.sum())}")),
            ("Most similar neighbourhoods: ", Strong(f"{best.first} and {best.second}"),
             f" (mean Jaccard {fixed(best.neighbour_jaccard)})"),
            ("Least similar neighbourhoods: ", Strong(f"{worst.first} and {worst.second}"),
             f" (mean Jaccard {fixed(worst.neighbour_jaccard)})"),
        )
    )
    index = {n: i for i, n in enumerate(r.networks)}
    shown = tuple((index[q.first], index[q.second]) for q in r.pairs[:3])
    sections = (
        Section("Networks", (network_table,)),
        Section(
            "Agreement between networks",
            (
                P("For each pair of networks: the mean Jaccard index of every image's ", f"{p.knn_k}",
                  " nearest neighbours (1 = identical neighbourhoods), the Spearman rank correlation of the cosine "
                  f"similarities of {p.n_pairs:,d} random image pairs, and the Spearman correlation of per-identity "
                  "dispersions. Rank correlations compare networks of different dimensions (128-D against 512-D) "
                  "without any alignment of their coordinates."),
                Table(
                    key=ctx.key("crossnet-pairs"),
                    caption=f"Agreement of every pair of networks on the common images of {ctx.dataset}.",
                    frame=pair_frame(r),
                    formats=fmt,
                    in_paper=True,
                    max_rows=None,
                ),
                Figure(
                    key=ctx.key("crossnet-silhouettes"),
                    caption=(
                        f"Per-identity silhouette under two networks ({ctx.dataset}); one point per identity. Points "
                        "near the diagonal are identities both networks find equally easy or hard; crosses are hard for "
                        "both networks, orange points for one only."
                    ),
                    plot=plot_silhouette_pairs,
                    data=_ScatterData(
                        r.networks,
                        np.array([s.silhouette for s in r.per_network]),
                        np.array([s.hard for s in r.per_network]),
                        shown,
                    ),
                    width=1.0 if len(shown) > 1 else 0.5,
                ),
            ),
        ),
        Section(
            "Hard identities",
            (
                Table(
                    key=ctx.key("crossnet-hard-all"),
                    caption=f"Identities hard for every network ({ctx.dataset}): look at their images and labels first.",
                    frame=identity_frame(r, r.hard_for_all),
                    formats=fmt,
                    in_paper=True,
                    max_rows=30,
                ),
                Table(
                    key=ctx.key("crossnet-hard-one"),
                    caption=f"Identities hard for exactly one network ({ctx.dataset}), with the network that finds them hard.",
                    frame=identity_frame(r, r.hard_for_one),
                    formats=fmt,
                    max_rows=30,
                ),
            ),
        ),
    )
    return Page(path=(ctx.dataset, "networks"), title="Across networks", intro=tuple(intro), sections=sections,
                synthetic=ctx.synthetic, nav_titles=(ctx.dataset,))
