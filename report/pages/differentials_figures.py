"""Figures of the differentials pages: error rates per group at the global thresholds, cross-group FMR.

Both read plain arrays (frozen dataclasses below) so that the figure cache keys on the data only.
Group names are data: they are truncated for the axes (full names in the tables) and never parsed
as mathtext (the report style turns it off).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.statistics import levels
from report import plotting

#: One colour per FMR level, the same in every figure of the page.
LEVEL_COLORS = ("#4e79a7", "#e15759", "#59a14f", "#b07aa1", "#f28e2b", "#76b7b2")
#: Characters of a group name shown on an axis.
LABEL_CHARS = 16


def short(name: str, chars: int = LABEL_CHARS) -> str:
    """A group name cut for an axis label (the tables keep it whole)."""
    name = str(name)
    return name if len(name) <= chars else name[: chars - 1] + "\u2026"


def level_text(level: float) -> str:
    """``1e-3`` for 0.001."""
    return levels.level_text(level)


@dataclass(frozen=True, eq=False)
class RatesData:
    """Rates of every group (rows) at every level (columns) with interval bounds (NaN: none)."""

    names: tuple[str, ...]
    levels: tuple[float, ...]
    fnmr: np.ndarray  # (3, groups, levels): estimate, low, high
    fmr: np.ndarray
    flagged: tuple[bool, ...]  # too few identities: hollow markers
    title: str = ""


def _rate_panel(ax, names, levels, values, flagged, ylabel, targets: bool):
    est, lo, hi = values
    finite = est[np.isfinite(est) & (est > 0)]
    bounds = np.concatenate([finite, lo[np.isfinite(lo) & (lo > 0)], hi[np.isfinite(hi) & (hi > 0)]])
    if targets:
        bounds = np.concatenate([bounds, np.asarray(levels, dtype=float)])
    floor = 10 ** math.floor(math.log10(bounds.min())) / 2 if len(bounds) else 1e-5
    top = 10 ** math.ceil(math.log10(max(bounds.max(), floor * 10))) if len(bounds) else 1.0
    x = np.arange(len(names))
    width = 0.6 / max(len(levels), 1)
    for li, level in enumerate(levels):
        color = LEVEL_COLORS[li % len(LEVEL_COLORS)]
        off = x + (li - (len(levels) - 1) / 2) * width
        for g in range(len(names)):
            v = est[g, li]
            if not math.isfinite(v):
                continue
            shown = v if v > 0 else floor
            face = "white" if flagged[g] else color
            marker = "o" if v > 0 else "v"
            if math.isfinite(lo[g, li]) and math.isfinite(hi[g, li]):
                ax.plot([off[g], off[g]], [max(lo[g, li], floor), max(hi[g, li], floor)], color=color, lw=1.4)
            ax.plot([off[g]], [shown], marker, color=color, mfc=face, ms=6, mew=1.3)
        if targets:
            ax.axhline(level, color=color, lw=0.9, ls="--")
    ax.set_yscale("log")
    ax.set_ylim(floor, top)
    ax.set_xticks(x, [short(n) + (" *" if f else "") for n, f in zip(names, flagged)],
                  rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel(ylabel)


def plot_group_rates(d: RatesData):
    """FNMR (left) and FMR (right) of each group at each global threshold, bootstrap intervals as bars."""
    from matplotlib.lines import Line2D

    fig, (a, b) = plotting.figure(10.0, 3.9, ncols=2)
    _rate_panel(a, d.names, d.levels, d.fnmr, d.flagged, "FNMR (mated pairs inside the group)", False)
    _rate_panel(b, d.names, d.levels, d.fmr, d.flagged, "FMR (non-mated pairs inside the group)", True)
    handles = [Line2D([], [], color=LEVEL_COLORS[i % len(LEVEL_COLORS)], marker="o", lw=1.4,
                      label=f"threshold at FMR {level_text(level)}") for i, level in enumerate(d.levels)]
    a.legend(handles=handles, loc="best", frameon=False)
    if any(d.flagged):
        a.set_title("* hollow: few identities, no interval", fontsize=9)
    plotting.plain_tick_labels(fig)
    plotting.readable_text(fig)
    return fig


@dataclass(frozen=True, eq=False)
class CrossData:
    """FMR of every pair of groups (``fmr[l, g, h]``) at the estimable levels; NaN or not estimable greyed."""

    names: tuple[str, ...]
    levels: tuple[float, ...]
    fmr: np.ndarray  # (levels, groups, groups)
    estimable: np.ndarray  # (levels, groups, groups) bool


def plot_cross_fmr(d: CrossData):
    """Heatmaps of log10(FMR / target) between groups, one panel per threshold, values written in the boxes.

    White is the target the threshold gives over all pairs; red cells match more often, blue less
    often, as in NIST's cross-demographic FMR heatmaps; pale grey cells rest on too few pairs.
    """
    n_panels = max(len(d.levels), 1)
    g = len(d.names)
    side = 3.3 if g <= 6 else 4.2
    # Square panels fix the height: room above them for the titles.
    fig, axes = plotting.figure(side * n_panels + 1.2, side + 0.6, ncols=n_panels, squeeze=False)
    import matplotlib  # lazily: a no-change rebuild never draws

    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#eeeeee")  # not estimable: pale grey, marked n.e.
    image = None
    for ax, li in zip(axes[0], range(len(d.levels))):
        level = d.levels[li]
        m = np.where(d.estimable[li] & np.isfinite(d.fmr[li]), d.fmr[li], np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.log10(np.where(m > 0, m, level / 1000) / level)
        rel = np.where(np.isfinite(m), np.clip(rel, -2, 2), np.nan)
        image = ax.imshow(np.ma.masked_invalid(rel), cmap=cmap, vmin=-2, vmax=2, interpolation="nearest")
        ax.grid(False)
        ax.set_xticks(range(g), [short(n, 12) for n in d.names], rotation=45 if g > 3 else 0,
                      ha="right" if g > 3 else "center")
        ax.set_yticks(range(g), [short(n, 12) for n in d.names])
        ax.set_title(f"threshold at FMR {level_text(level)}")
        if g <= 8:
            for i in range(g):
                for j in range(g):
                    v = d.fmr[li, i, j]
                    text = "n.e." if not (d.estimable[li, i, j] and math.isfinite(v)) else (
                        "0" if v == 0 else f"{v:.1e}".replace("e-0", "e-"))
                    dark = math.isfinite(rel[i, j]) and abs(rel[i, j]) > 1.2
                    ax.text(j, i, text, ha="center", va="center", fontsize=10 if g <= 4 else 8,
                            color="white" if dark else ("#777777" if text == "n.e." else "black"))
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes[0]), shrink=0.85, ticks=[-2, -1, 0, 1, 2])
        bar.ax.set_yticklabels(["1/100", "1/10", "target", "10x", "100x"])
        bar.set_label("FMR / target")
    plotting.readable_text(fig)
    return fig


@dataclass(frozen=True, eq=False)
class CompareData:
    """One rate (FNMR or FMR) per group (columns) and network (rows) at one level, with intervals."""

    networks: tuple[str, ...]
    names: tuple[str, ...]
    fnmr: np.ndarray  # (3, networks, groups)
    fmr: np.ndarray
    level: float


def plot_compare_rates(d: CompareData):
    """Every network's FNMR and FMR per group at one global threshold, side by side."""
    fig, axes = plotting.figure(10.0, 3.8, ncols=2)
    x = np.arange(len(d.names))
    width = 0.7 / max(len(d.networks), 1)
    for ax, values, label in ((axes[0], d.fnmr, "FNMR"), (axes[1], d.fmr, "FMR")):
        est, lo, hi = values
        positive = np.concatenate([v[np.isfinite(v) & (v > 0)].ravel() for v in (est, lo, hi)])
        floor = 10 ** math.floor(math.log10(positive.min())) / 2 if len(positive) else 1e-5
        for k, net in enumerate(d.networks):
            color = plotting.TOP_COLORS[k % len(plotting.TOP_COLORS)]
            off = x + (k - (len(d.networks) - 1) / 2) * width
            for gi in range(len(d.names)):
                v = est[k, gi]
                if not math.isfinite(v):
                    continue
                if math.isfinite(lo[k, gi]) and math.isfinite(hi[k, gi]):
                    ax.plot([off[gi]] * 2, [max(lo[k, gi], floor), max(hi[k, gi], floor)], color=color, lw=1.4)
                ax.plot([off[gi]], [max(v, floor)], "o" if v > 0 else "v", color=color, ms=6,
                        label=net if gi == 0 or not ax.get_legend_handles_labels()[1].count(net) else None)
        if label == "FMR":
            ax.axhline(d.level, color="black", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor)
        ax.set_xlim(-0.6, len(d.names) - 0.4)
        ax.set_xticks(x, [short(n) for n in d.names], rotation=30 if len(d.names) > 4 else 0,
                      ha="right" if len(d.names) > 4 else "center")
        ax.set_ylabel(f"{label} at the threshold for FMR {level_text(d.level)}")
    handles, labels = axes[0].get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    axes[0].legend(seen.values(), seen.keys(), frameon=False, loc="best")
    plotting.plain_tick_labels(fig)
    plotting.readable_text(fig)
    return fig
