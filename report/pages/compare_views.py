"""Views of the Comparisons page that fit a screen: overlaid ROC curves, bar charts, metric-per-row tables.

Each analysis' ``compare`` returns one wide table (one row per cell, a column per metric) that
the paper and the CSV keep whole. The site shows, per dataset and subset, a table with one row
per metric and one column per network (networks are what a reader compares), next to one ROC
plot overlaying every network on a log-FAR axis and bar charts of the headline metrics.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from analysis.statistics.verification.similarity import SimilarityResult
from analysis.types import Cell
from report import plotting
from report.escape import slugify
from report.format import cell as cell_text
from report.model import Block, Figure, P, Section, Table

KEY_COLUMNS = ("dataset", "network", "subset")
#: Headline columns of each compare table on the site (the CSV and paper keep every column).
HEADLINES = {
    "compare-similarity": ("d-prime", "EER", "AUC", "TAR"),
    "compare-fnmr-at-fmr": ("FNMR at FMR 1e-2", "FNMR at FMR 1e-3", "FNMR at FMR 1e-4", "ZeroFMR"),
    "compare-identification": ("rank-1", "rank-1 interval", "rank-5", "FNIR at FPIR 1e-1"),
    "compare-clustering": ("KMeans ARI", "best method", "best ARI"),
    "compare-manifold": ("t-SNE trust", "UMAP trust", "KMeans ARI"),
}


def _cell_tables(t: Table) -> bool:
    return all(c in t.frame.columns for c in KEY_COLUMNS)


def metric_tables(t: Table) -> list[Table]:
    """Per (dataset, subset) of a compare table: one row per metric, one column per network."""
    out = []
    frame = t.frame
    metrics = [c for c in frame.columns if c not in KEY_COLUMNS]
    for (dataset, subset), part in frame.groupby(["dataset", "subset"], sort=True):
        part = part.sort_values("network", kind="mergesort")
        rows = {"metric": metrics}
        for _, r in part.iterrows():
            rows[str(r["network"])] = [cell_text(r[m], t.formats.get(m)) for m in metrics]
        out.append(Table(
            key=f"{t.key}-{slugify(dataset)}-{slugify(subset)}",
            caption=f"{t.caption.rstrip('.')}: dataset {dataset}, subset {subset}, one column per network.",
            frame=pd.DataFrame(rows),
            max_rows=None,
        ))
    return out


def headline(t: Table) -> Table:
    """``t`` with its site view limited to the cell keys and the headline metrics."""
    wanted = HEADLINES.get(t.key)
    if wanted is None:
        metrics = [c for c in t.frame.columns if c not in KEY_COLUMNS][:3]
    else:
        metrics = [c for c in t.frame.columns if c in wanted or any(str(c).startswith(w) for w in wanted)][:4]
    return dataclasses.replace(t, site_columns=(*KEY_COLUMNS, *metrics))


def compact(section: Section) -> Section:
    """A compare section with its wide tables limited to headline columns, followed by per-subset metric tables."""
    blocks: list[Block] = []
    for b in section.blocks:
        if isinstance(b, Table) and _cell_tables(b) and len(b.frame.columns) > len(KEY_COLUMNS) + 1:
            blocks.append(headline(b))
            if b.frame["network"].nunique() > 1:
                blocks.extend(metric_tables(b))
        else:
            blocks.append(b)
    return dataclasses.replace(section, blocks=tuple(blocks))


# --------------------------------------------------------------------------- figures
@dataclass(frozen=True, eq=False)
class _RocData:
    networks: tuple[str, ...]
    far: tuple[np.ndarray, ...]
    tar: tuple[np.ndarray, ...]
    eer: tuple[float, ...]
    title: str


def plot_roc_overlay(d: _RocData):
    """Every network's ROC on one log-FAR axis, EER in the legend."""
    fig, ax = plotting.figure(6.4, 4.2)
    for k, (net, far, tar, eer) in enumerate(zip(d.networks, d.far, d.tar, d.eer)):
        keep = far > 0
        ax.plot(far[keep], tar[keep], lw=1.6, color=plotting.TOP_COLORS[k % len(plotting.TOP_COLORS)],
                label=f"{net} (EER {100 * eer:.2f}%)")
    ax.set_xscale("log")
    ax.set_xlabel("false accept rate (log scale)")
    ax.set_ylabel("true accept rate")
    ax.set_ylim(0, 1.01)
    ax.set_title(d.title)
    ax.legend(frameon=False, loc="lower right")
    return fig


@dataclass(frozen=True, eq=False)
class _BarData:
    networks: tuple[str, ...]
    subsets: tuple[str, ...]
    values: np.ndarray  # (metric, subset, network)
    metrics: tuple[str, ...]


def plot_metric_bars(d: _BarData):
    """Small multiples: one panel per metric, bars grouped by subset, one colour per network."""
    n = len(d.metrics)
    fig, axes = plotting.figure(3.2 * n, 3.4, ncols=n, squeeze=False)
    width = 0.8 / max(len(d.networks), 1)
    x = np.arange(len(d.subsets))
    for ax, m, values in zip(axes[0], d.metrics, d.values):
        for k, net in enumerate(d.networks):
            ax.bar(x + (k - (len(d.networks) - 1) / 2) * width, values[:, k], width,
                   color=plotting.TOP_COLORS[k % len(plotting.TOP_COLORS)], label=net)
        ax.set_xticks(x, d.subsets, rotation=30, ha="right")
        ax.set_title(m)
    axes[0][0].legend(frameon=False, loc="upper left", bbox_to_anchor=(0.0, -0.35), ncols=max(1, len(d.networks)))
    return fig


def verification_section(results: Mapping[Cell, SimilarityResult]) -> Section | None:
    """ROC overlays (one per dataset and subset) and bar charts of EER, AUC and d-prime per network."""
    if not results:
        return None
    cells = sorted(results, key=lambda c: (c.dataset, c.subset, c.network))
    blocks: list[Block] = [P("One ROC plot per dataset and subset with every network overlaid (log-FAR axis, as in "
                             "face-verification papers): the curve higher on the left accepts more genuine pairs at a "
                             "strict false accept rate. The bars compare the headline numbers across subsets.")]
    for dataset in sorted({c.dataset for c in cells}):
        subsets = sorted({c.subset for c in cells if c.dataset == dataset})
        networks = tuple(sorted({c.network for c in cells if c.dataset == dataset}))
        for subset in subsets:
            here = [c for c in cells if c.dataset == dataset and c.subset == subset]
            v = [results[c].verification for c in here]
            blocks.append(Figure(
                key=f"compare-roc-{slugify(dataset)}-{slugify(subset)}",
                caption=(f"ROC of every network on dataset {dataset}, subset {subset}, all pairs, cosine similarity; "
                         "log-scaled false accept rate."),
                plot=plot_roc_overlay,
                data=_RocData(tuple(c.network for c in here), tuple(np.asarray(x.far) for x in v),
                              tuple(np.asarray(x.tar) for x in v), tuple(float(x.eer) for x in v), f"{dataset} / {subset}"),
                width=0.7,
            ))
        metrics = ("EER", "AUC", "d-prime")
        values = np.full((len(metrics), len(subsets), len(networks)), np.nan)
        for c in (c for c in cells if c.dataset == dataset):
            v = results[c].verification
            i, k = subsets.index(c.subset), networks.index(c.network)
            values[:, i, k] = (v.eer, v.auc, v.d_prime)
        blocks.append(Figure(
            key=f"compare-bars-{slugify(dataset)}",
            caption=(f"EER (lower is better), AUC and d-prime (higher is better) of every network and subset of "
                     f"dataset {dataset}."),
            plot=plot_metric_bars,
            data=_BarData(networks, tuple(subsets), values, metrics),
            width=0.95,
        ))
    return Section("Verification at a glance", tuple(blocks))
