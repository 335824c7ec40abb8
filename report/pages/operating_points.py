"""Verification in ISO/IEC 19795-1 terms on a cell's similarity page: FNMR at FMR, FMR100, ZeroFMR, the DET.

Values come from ``SimilarityResult.operating_points``
(:mod:`analysis.statistics.verification.operating_points`); the DET curve is the cell's ROC drawn as
FNMR against FMR on normal-deviate (probit) axes, where two normal score distributions give a
straight line. :func:`plot_det` also draws the Comparisons page's overlay of every network.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.statistics.verification.operating_points import OperatingPoints
from analysis.statistics.verification.similarity import SimilarityResult
from analysis.statistics.levels import level_text
from report import plotting
from report.contexts import CellContext
from report.format import count, pct
from report.model import Figure, P, Section, Strong, Table


def fmr_label(f: float) -> str:
    """``FNMR at FMR 1e-4`` (with spaces, so that a narrow table column can wrap its header)."""
    return f"FNMR at FMR {level_text(f)}"


# --------------------------------------------------------------------------- table
def operating_points_frame(op: OperatingPoints, confidence: float, min_pairs: int) -> pd.DataFrame:
    """One row per operating point: FMR, FNMR, its interval, threshold and why it is missing."""
    level = f"{100 * confidence:.0f}% interval (FNMR)"
    rows = []

    def ci(i) -> str:
        return f"[{i.low:.4f}, {i.high:.4f}]" if i is not None and math.isfinite(i.low) else ""

    def fnmr_row(name: str, r) -> None:
        note = "" if r.estimable else (f"not estimable: {r.accepted_impostors:,d} of {r.n_impostor:,d} non-mated pairs "
                                       f"above the threshold, {min_pairs:,d} needed")
        rows.append({"operating point": name, "FMR": r.fmr, "FNMR": r.fnmr, level: ci(r.interval),
                     "threshold (cosine)": r.threshold, "non-mated pairs accepted": r.accepted_impostors, "note": note})

    for r in op.fnmr_at_fmr:
        fnmr_row(fmr_label(r.fmr), r)
    fnmr_row("FMR100", op.fmr100)
    fnmr_row("FMR1000", op.fmr1000)
    z, zn = op.zero_fmr, op.zero_fnmr
    rows.append({"operating point": "ZeroFMR", "FMR": 0.0, "FNMR": z.value, level: "", "threshold (cosine)": z.threshold,
                 "non-mated pairs accepted": 0, "note": f"set by the highest non-mated score; {z.errors:,d} mated pairs rejected"})
    rows.append({"operating point": "ZeroFNMR", "FMR": zn.value, "FNMR": 0.0, level: "", "threshold (cosine)": zn.threshold,
                 "non-mated pairs accepted": zn.errors, "note": "set by the lowest mated score"})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- DET figure
#: Probabilities that may carry a tick on a DET axis.
_TICKS = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99)


@dataclass(frozen=True, eq=False)
class DetData:
    """Curves ``(label, fmr, fnmr)`` (ROC points) and marked points ``(fmr, fnmr)`` for one DET plot."""

    labels: tuple[str, ...]
    fmr: tuple[np.ndarray, ...]
    fnmr: tuple[np.ndarray, ...]
    eer: tuple[float, ...]
    points: tuple[tuple[float, float], ...] = ()  # estimable FNMR at FMR of a single curve
    title: str = ""


def _tick_label(p: float) -> str:
    return f"{p:.0e}".replace("e-0", "e-") if p < 1e-3 else f"{p:g}"


def _floor_decade(p: float, lowest: float) -> float:
    return max(lowest, 10.0 ** math.floor(math.log10(p))) if p > 0 else lowest


def plot_det(d: DetData):
    """DET curves (FNMR vs FMR, both on normal-deviate axes), the FMR = FNMR diagonal through the EERs."""
    from scipy.stats import norm

    fig, ax = plotting.figure(5.6, 4.4)
    pos_fmr = [f[f > 0].min() for f in d.fmr if np.any(f > 0)]
    pos_fnmr = [n[(n > 0) & (f <= 0.5)].min() for f, n in zip(d.fmr, d.fnmr) if np.any((n > 0) & (f <= 0.5))]
    x_lo = _floor_decade(min(pos_fmr), 1e-7) if pos_fmr else 1e-6
    y_lo = _floor_decade(min(pos_fnmr), 1e-5) if pos_fnmr else 1e-3
    x_hi, y_hi = 0.5, 0.99
    for k, (label, fmr, fnmr, eer) in enumerate(zip(d.labels, d.fmr, d.fnmr, d.eer)):
        keep = (fmr > 0) & (fnmr > 0)
        color = plotting.ACCENT if len(d.labels) == 1 else plotting.TOP_COLORS[k % len(plotting.TOP_COLORS)]
        text = label + (f" (EER {100 * eer:.2f}%)" if math.isfinite(eer) else "")
        # Outside the axes matplotlib clips the line itself; clipping the data instead drew false edges.
        # FNMR = 1 (every mated pair rejected) would be an infinite deviate, drawn just above the top.
        ax.plot(norm.ppf(fmr[keep]), norm.ppf(np.minimum(fnmr[keep], 1 - 1e-9)), lw=1.6, color=color, label=text,
                drawstyle="steps-post")
        if math.isfinite(eer) and eer > 0:
            ax.plot([norm.ppf(np.clip(eer, x_lo, x_hi))], [norm.ppf(np.clip(eer, y_lo, y_hi))], "s", color=color, ms=4)
    for f, n in d.points:
        if f > 0 and n > 0:
            ax.plot([norm.ppf(f)], [norm.ppf(np.clip(n, y_lo, y_hi))], "o", color=plotting.SECOND, ms=5)
    diag = np.array([max(x_lo, y_lo), min(x_hi, y_hi)])
    ax.plot(norm.ppf(diag), norm.ppf(diag), ls=":", lw=0.9, color="#777777", label="FMR = FNMR (squares: EER)")
    xt = [t for t in _TICKS if x_lo <= t <= x_hi]
    yt = [t for t in _TICKS if y_lo <= t <= y_hi]
    ax.set_xticks(norm.ppf(xt), [_tick_label(t) for t in xt])
    ax.set_yticks(norm.ppf(yt), [_tick_label(t) for t in yt])
    ax.set_xlim(norm.ppf(x_lo), norm.ppf(x_hi))
    ax.set_ylim(norm.ppf(y_lo), norm.ppf(y_hi))
    ax.set_xlabel("false match rate, FMR (normal-deviate scale)")
    ax.set_ylabel("false non-match rate, FNMR (normal-deviate scale)")
    if d.title:
        ax.set_title(d.title)
    ax.legend(frameon=False, loc="upper right", fontsize=8)
    return fig


def det_data(r: SimilarityResult, label: str, title: str = "") -> DetData:
    """The DET of one cell with its estimable FNMR at FMR points marked."""
    v, op = r.verification, r.operating_points
    points = tuple((row.fmr, row.fnmr) for row in (op.fnmr_at_fmr if op is not None else ()) if row.estimable)
    return DetData((label,), (np.asarray(v.far),), (1.0 - np.asarray(v.tar),), (float(v.eer),), points, title)


# --------------------------------------------------------------------------- section
def iso_section(ctx: CellContext, r: SimilarityResult) -> Section | None:
    """The section "Verification in ISO/IEC 19795-1 terms" of a cell's similarity page."""
    op = r.operating_points
    if op is None:
        return None
    conf = r.uncertainty.confidence if r.uncertainty is not None else r.params.confidence
    reported = [row for row in op.fnmr_at_fmr if row.estimable]
    strictest = min(reported, key=lambda row: row.fmr) if reported else None
    lead = [f"The same pairs in the terms of ISO/IEC 19795-1: a mated pair is a genuine pair, a non-mated pair an "
            f"impostor pair, FMR = FAR and FNMR = 1 - TAR (Methods). {len(reported)} of {len(op.fnmr_at_fmr)} FMR levels "
            f"{'rests' if len(reported) == 1 else 'rest'} on at least {r.params.min_impostor_pairs} accepted non-mated "
            "pairs"]
    if strictest is not None:
        lead += ["; at the strictest, FMR ", Strong(f"{strictest.fmr:g}"), ", the FNMR is ",
                 Strong(pct(strictest.fnmr, 2)), f" (threshold {strictest.threshold:.4f})"]
    lead += [". ZeroFMR is ", Strong(pct(op.zero_fmr.value, 2)), ": with no non-mated pair accepted, that share of "
             "mated pairs is rejected."]
    table = Table(
        key=ctx.key("similarity-fnmr-at-fmr"),
        caption=(f"FNMR at fixed FMR with their thresholds ({ctx.label}); FMR100 and FMR1000 are the lowest FNMR at "
                 "FMR <= 1% and <= 0.1%, ZeroFMR the lowest FNMR with no non-mated pair accepted, ZeroFNMR the lowest "
                 "FMR with no mated pair rejected. Intervals are the bootstrap over identities of TAR@FAR turned into "
                 "FNMR = 1 - TAR; a level resting on too few accepted non-mated pairs is not estimable."),
        frame=operating_points_frame(op, conf, r.params.min_impostor_pairs),
        formats={"FMR": ".3g", "FNMR": ".4f", "threshold (cosine)": ".4f"},
        max_rows=None,
    )
    figure = Figure(
        key=ctx.key("similarity-det"),
        caption=(f"DET curve ({ctx.label}): FNMR against FMR on normal-deviate axes (ISO/IEC 19795-1), lower is "
                 "better; dots mark the estimable FNMR at FMR levels, the square the EER on the dotted FMR = FNMR line. "
                 "Below an FMR of about 1 / (non-mated pairs) the curve is a few pairs."),
        plot=plot_det,
        data=det_data(r, ctx.cell.network),
        in_paper=ctx.cell.subset == "all",
        width=0.6,
    )
    return Section("Verification in ISO/IEC 19795-1 terms", (P(*lead), figure, table))


# --------------------------------------------------------------------------- comparisons
def _compare_frame(results) -> tuple[pd.DataFrame, dict[str, str]]:
    rows, formats = [], {}
    for cell in sorted(results, key=lambda c: (c.dataset, c.network, c.subset)):
        op = results[cell].operating_points
        if op is None:
            continue
        row = {"dataset": cell.dataset, "network": cell.network, "subset": cell.subset}
        for r in op.fnmr_at_fmr:
            row[fmr_label(r.fmr)] = r.fnmr  # NaN where not estimable
            formats[fmr_label(r.fmr)] = ".4f"
        row["ZeroFMR"], row["ZeroFNMR"] = op.zero_fmr.value, op.zero_fnmr.value
        rows.append(row)
    formats.update({"ZeroFMR": ".4f", "ZeroFNMR": ".4g"})
    return pd.DataFrame(rows), formats


def compare_iso(results) -> tuple[Section, ...]:
    """DET curves of every network per dataset and subset, and FNMR at FMR of every cell."""
    from report.escape import slugify

    results = {c: r for c, r in results.items() if r.operating_points is not None}
    if not results:
        return ()
    frame, formats = _compare_frame(results)
    blocks: list = [P("The Comparisons page's ROC in the terms of ISO/IEC 19795-1 and NIST's FRTE 1:1 report cards: "
                      "one DET plot per dataset and subset with every network (FNMR against FMR on normal-deviate "
                      "axes; the lower curve is better), then FNMR at each FMR level.")]
    cells = sorted(results, key=lambda c: (c.dataset, c.subset, c.network))
    for dataset, subset in sorted({(c.dataset, c.subset) for c in cells}):
        here = [c for c in cells if c.dataset == dataset and c.subset == subset]
        v = [results[c].verification for c in here]
        blocks.append(Figure(
            key=f"compare-det-{slugify(dataset)}-{slugify(subset)}",
            caption=(f"DET curves of every network on dataset {dataset}, subset {subset}, all pairs; squares mark "
                     "each network's EER on the FMR = FNMR line."),
            plot=plot_det,
            data=DetData(tuple(c.network for c in here), tuple(np.asarray(x.far) for x in v),
                         tuple(1.0 - np.asarray(x.tar) for x in v), tuple(float(x.eer) for x in v),
                         title=f"{dataset} / {subset}"),
            width=0.7,
        ))
    any_r = next(iter(results.values()))
    blocks.append(Table(
        key="compare-fnmr-at-fmr",
        caption=("FNMR at fixed FMR of every (dataset, network, subset) cell, ZeroFMR and ZeroFNMR (FMR100 and FMR1000 "
                 "are the 1e-2 and 1e-3 columns). A level is empty where fewer than "
                 f"{any_r.params.min_impostor_pairs} non-mated pairs score above its threshold (see each cell's page)."),
        frame=frame,
        formats=formats,
        # The paper gives these values with their intervals (report.pages.paper_protocols.fnmr_table).
        in_paper=False,
        max_rows=None,
    ))
    return (Section("Verification in ISO/IEC 19795-1 terms", tuple(blocks)),)
