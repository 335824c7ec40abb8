"""Shared figure conventions: one style, one colour per identity everywhere, deterministic output.

Every plot function in ``report.pages`` starts from :func:`figure` and colours identities with
:func:`identity_colors`, so an identity has the same colour in every figure of the report
(the colour is a function of the name alone, not of its position in a particular subset).
"""
from __future__ import annotations

import hashlib

import numpy as np


def _pyplot():
    """matplotlib's pyplot on the Agg backend, imported on first use.

    Page builders import this module for their plot functions, but a rebuild whose figures are
    all cached never draws: matplotlib (half a second to import) is then not loaded at all.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless and deterministic; set before pyplot is imported
    import matplotlib.pyplot as plt

    return plt


def to_rgba(c, alpha=None):
    """:func:`matplotlib.colors.to_rgba`, imported on first use."""
    from matplotlib.colors import to_rgba as convert

    return convert(c, alpha)


def __getattr__(name: str):
    # ``plotting.plt`` for callers that use pyplot directly, loaded on first access.
    if name == "plt":
        return _pyplot()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# A 20-colour qualitative palette readable on white and on dark backgrounds (tab20 reordered so
# that neighbouring indices differ strongly), then shades of it for larger sets.
_BASE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
]
JUNK_COLOR = "#444444"
ACCENT = "#3f51b5"  # indigo, the site's primary colour
SECOND = "#e65100"

_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "svg.hashsalt": "face-embedding-atlas",
    "pdf.fonttype": 42,
    # Identity, dataset and network names are data: "$\\mathrm{\\input{/etc/passwd}}$" or "$$\\def$$" in
    # a tick label must print as typed, not reach mathtext (whose parse errors killed the build).
    "text.parse_math": False,
}


def figure(width: float = 6.4, height: float = 4.0, ncols: int = 1, nrows: int = 1, **kwargs):
    """A new figure and axes in the report's style (sizes in inches)."""
    plt = _pyplot()
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kwargs)
    fig.set_facecolor("white")
    return fig, ax


def plain_tick_labels(fig) -> None:
    """Swap matplotlib's mathtext log-axis labels (``$\\mathdefault{10^{2}}$``) for plain ones (``100``).

    The style turns mathtext off (``text.parse_math: False``) so that names can never be parsed as
    formulas; log axes are the one place where matplotlib itself writes mathtext, so their
    formatters are replaced by the plain-text :class:`matplotlib.ticker.LogFormatter`.
    """
    from matplotlib.ticker import LogFormatter, LogFormatterMathtext

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for getter, setter in ((axis.get_major_formatter, axis.set_major_formatter),
                                   (axis.get_minor_formatter, axis.set_minor_formatter)):
                f = getter()
                if isinstance(f, LogFormatterMathtext):
                    setter(LogFormatter(base=f._base, labelOnlyBase=f.labelOnlyBase,
                                        minor_thresholds=f.minor_thresholds, linthresh=f._linthresh))


def style():
    """Context manager applying the report style (use around plotting code)."""
    return _pyplot().rc_context(_STYLE)


def identity_color(name: str) -> tuple[float, float, float, float]:
    """RGBA colour of an identity, a function of its name only."""
    if name in ("unknown", "junk"):
        return to_rgba(JUNK_COLOR)
    h = int.from_bytes(hashlib.sha256(str(name).encode("utf-8")).digest()[:4], "big")
    base = to_rgba(_BASE[h % len(_BASE)])
    shade = ((h >> 8) % 3 - 1) * 0.18  # three shades per base colour
    rgb = np.clip(np.array(base[:3]) * (1 + shade) if shade < 0 else np.array(base[:3]) + (1 - np.array(base[:3])) * shade, 0, 1)
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]), 1.0)


def identity_colors(names) -> np.ndarray:
    """(n, 4) RGBA array, one row per name (see :func:`identity_color`)."""
    return np.array([identity_color(str(n)) for n in names])


def close(fig) -> None:
    _pyplot().close(fig)


def linkage_order(distances: np.ndarray) -> np.ndarray:
    """Row order that puts similar identities next to each other (average-linkage leaves).

    ``distances`` is a square matrix of non-negative distances; its diagonal is ignored.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    d = np.array(distances, dtype=np.float64)
    np.fill_diagonal(d, 0.0)
    if len(d) <= 2:
        return np.arange(len(d))
    return leaves_list(linkage(squareform(d, checks=False), method="average"))


def identity_heatmap(m: np.ndarray, cmap: str, vmin: float, vmax: float, label: str):
    """Heatmap of an (already ordered) identity x identity matrix with a colour bar."""
    fig, ax = figure(6.0, 5.0)
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.grid(False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"{len(m)} identities (ordered by average-linkage clustering)")
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)
    return fig


# --------------------------------------------------------------------------- readability
#: Width (CSS px) at which the site shows a figure: Material's content column is 688 px at a 1280 px window.
COLUMN_PX = 680
#: Smallest text height (CSS px) a figure may show at that width.
MIN_TEXT_PX = 9.5
#: Distinct colours for the largest groups of a map; every other group is grey (:func:`top_group_colors`).
TOP_COLORS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#17becf")
OTHER_COLOR = "#b0b0b0"


def min_font_points(fig_width_in: float, column_px: float = COLUMN_PX, min_px: float = MIN_TEXT_PX) -> float:
    """Font size (points) that shows as ``min_px`` CSS px once a figure ``fig_width_in`` wide fills the column.

    A figure wider than the column is scaled down by ``column_px / (width * dpi)``; a point is
    ``dpi / 72`` pixels, so the shown height of ``s`` points is ``s * column_px / (72 * width)``.
    """
    return min_px * 72.0 * fig_width_in / column_px


def readable_text(fig, column_px: float = COLUMN_PX, min_px: float = MIN_TEXT_PX) -> None:
    """Enlarge every text of ``fig`` (titles, labels, ticks, legends) to at least :func:`min_font_points`."""
    from matplotlib.text import Text as MplText

    floor = min_font_points(fig.get_figwidth(), column_px, min_px)
    for t in fig.findobj(MplText):
        if t.get_text() and t.get_fontsize() < floor:
            t.set_fontsize(floor)


def top_group_colors(groups, n: int = len(TOP_COLORS)) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Colours for a map: the ``n`` largest groups get distinct colours, all others grey.

    Parameters
    ----------
    groups : array-like of str
        Group (identity or cluster name) of every point.

    Returns
    -------
    colors : ndarray of shape (n_points, 4)
    legend : list of (label, colour)
        The coloured groups, largest first, then ``"other (m groups)"`` when some are grey.
    """
    g = np.asarray(groups).astype(str)
    names, counts = np.unique(g, return_counts=True)
    order = sorted(range(len(names)), key=lambda i: (-counts[i], names[i]))[:n]
    top = {names[i]: TOP_COLORS[k] for k, i in enumerate(order)}
    colors = np.array([to_rgba(top.get(x, OTHER_COLOR)) for x in g])
    legend = [(names[i], top[names[i]]) for i in order]
    if len(names) > len(order):
        legend.append((f"other ({len(names) - len(order)} groups)", OTHER_COLOR))
    return colors, legend


def legend_for(ax, legend: list[tuple[str, str]], title: str) -> None:
    """A legend of coloured dots outside the axes on the right."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", ms=5, color=c, label=str(lbl)[:28]) for lbl, c in legend]
    ax.legend(handles=handles, title=title, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
