"""Differentials pages: is the network worse for some groups of people or images (NIST's method)?

One page per cell of a dataset with group columns: the global thresholds, then per column the
findings in words, the error rates per group with intervals, the max/min ratios, the
cross-group FMR heatmap and each group's EER and d'. :func:`compare` puts the networks side by side.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd

from analysis.statistics.verification.differentials.results import ColumnDifferentials, DifferentialsResult, GroupRate, GroupRatio
from analysis.types import Cell
from report.contexts import CellContext
from report.escape import slugify
from report.format import count, pct, plural
from report.model import Admonition, Bullets, Figure, P, Page, Section, Strong, Table, Text
from report.pages.differentials_figures import (
    CompareData,
    CrossData,
    RatesData,
    level_text,
    plot_compare_rates,
    plot_cross_fmr,
    plot_group_rates,
)

PAPER_TEXT = (
    "Following NIST's demographic-differentials method, we fix one threshold per false match rate over all "
    "non-mated pairs of a cell and read, for every group of a group column, the false non-match rate of the mated "
    "pairs inside the group and the false match rate of the non-mated pairs inside it, with bootstrap intervals over "
    "identities, and the ratio of the highest to the lowest group."
)


# --------------------------------------------------------------------------- text
def fnmr_text(rate: GroupRate) -> str:
    """``11.0% [9.9, 12.7]`` (the interval in percent), ``4.2% (no interval)`` or ``n.e.``."""
    if not rate.estimable:
        return "n.e."
    i = rate.interval
    if i is None or not (math.isfinite(i.low) and math.isfinite(i.high)):
        return pct(rate.estimate, 2)
    return f"{pct(rate.estimate, 2)} [{100 * i.low:.2f}, {100 * i.high:.2f}]"


def sci(x: float) -> str:
    """``2.1e-3``; 0 as ``0``."""
    if not math.isfinite(x):
        return "\u2014"
    return "0" if x == 0 else f"{x:.1e}".replace("e-0", "e-").replace("e+00", "")


def fmr_text(rate: GroupRate) -> str:
    """``2.1e-3 [1.1e-3, 3.0e-3]``, without brackets when there is no interval, or ``n.e.``."""
    if not rate.estimable:
        return "n.e."
    i = rate.interval
    if i is None or not (math.isfinite(i.low) and math.isfinite(i.high)):
        return sci(rate.estimate)
    return f"{sci(rate.estimate)} [{sci(i.low)}, {sci(i.high)}]"


def ratio_text(r: GroupRatio) -> str:
    """``6.2 [2.2, 13.7]``, ``inf`` spelled out (LaTeX fonts lack the infinity sign), or an em dash when there is no
    ratio."""
    if not r.available:
        return "\u2014"
    bounds = ratio_interval_text(r)
    return ratio_number(r.estimate) + (f" {bounds}" if bounds else "")


def ratio_number(v: float) -> str:
    """One ratio: ``6.2``, ``13.7``, ``inf``."""
    return "inf" if math.isinf(v) else f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 1000 else f"{v:,.0f}"


def ratio_interval_text(r: GroupRatio) -> str:
    """``[2.2, 13.7]``; empty when the ratio has no interval."""
    i = r.interval
    if i is None or not (math.isfinite(i.low) or math.isinf(i.low)) or math.isnan(i.high):
        return ""
    return f"[{ratio_number(i.low)}, {ratio_number(i.high)}]"


def separated(r: GroupRatio) -> bool | None:
    """Whether the ratio's interval excludes 1 (the two named groups differ beyond the intervals); None: unknown."""
    if not r.available or r.interval is None or math.isnan(r.interval.low):
        return None
    return r.interval.low > 1


def finding(metric: str, col: ColumnDifferentials, li: int, level: float) -> tuple | None:
    """One bullet: the highest and lowest group of a rate at one threshold, their ratio, and whether it is real."""
    r = col.ratio(metric, level)
    if r is None or not r.available:
        return None
    by_name = {g.name: g for g in col.groups}
    text = fnmr_text if metric == "FNMR" else fmr_text
    hi, lo = by_name[r.highest], by_name[r.lowest]
    rate = (lambda g: g.fnmr[li]) if metric == "FNMR" else (lambda g: g.fmr[li])  # noqa: E731
    verdict = {True: "beyond the intervals: the two groups differ",
               False: "within the intervals: no difference is shown",
               None: "no interval"}[separated(r)]
    return (Strong(f"{metric} at the threshold for FMR {level_text(level)}: "), f"highest in {r.highest} ",
            f"({text(rate(hi))}), lowest in {r.lowest} ({text(rate(lo))}); ratio ", Strong(ratio_text(r)),
            f", {verdict}.")


# --------------------------------------------------------------------------- tables
def operating_frame(r: DifferentialsResult) -> pd.DataFrame:
    return pd.DataFrame([{
        "FMR target": level_text(op.level), "threshold (cosine)": op.threshold, "FMR over all pairs": op.fmr,
        "FNMR over all mated pairs": op.fnmr, "non-mated pairs above": op.accepted_impostors,
        "note": "" if op.estimable else f"not estimable: {op.reason}",
    } for op in r.operating_points])


def rates_frame(col: ColumnDifferentials, levels: tuple[float, ...], confidence: float, shown: list[int]) -> pd.DataFrame:
    """One row per (level, group) at the estimable levels: the rates as text for the page, raw values and bounds
    for the CSV."""
    ci = f"{100 * confidence:.0f}%"
    rows = []
    for li in shown:
        for g in col.groups:
            fn, fm = g.fnmr[li], g.fmr[li]
            notes = [n for n in (("few identities: no interval" if g.few_identities else ""),
                                 (f"FNMR: {fn.reason}" if fn.reason else ""), (f"FMR: {fm.reason}" if fm.reason else "")) if n]
            rows.append({
                "FMR target": level_text(levels[li]), "group": g.name, "identities": g.identities,
                f"FNMR [{ci}]": fnmr_text(fn), f"FMR [{ci}]": fmr_text(fm), "note": "; ".join(notes),
                "FNMR": fn.estimate, "FNMR low": _low(fn), "FNMR high": _high(fn), "false non-matches": fn.errors,
                "mated pairs": fn.pairs, "FMR": fm.estimate, "FMR low": _low(fm), "FMR high": _high(fm),
                "false matches": fm.errors, "non-mated pairs binned": fm.pairs,
            })
    return pd.DataFrame(rows)


def _low(rate: GroupRate) -> float:
    return rate.interval.low if rate.interval is not None else float("nan")


def _high(rate: GroupRate) -> float:
    return rate.interval.high if rate.interval is not None else float("nan")


def ratios_frame(col: ColumnDifferentials, confidence: float, levels: tuple[float, ...]) -> pd.DataFrame:
    ci = f"{100 * confidence:.0f}%"
    return pd.DataFrame([{
        "rate": r.metric, "FMR target": level_text(r.level), f"max/min [{ci}]": ratio_text(r), "highest": r.highest,
        "lowest": r.lowest, "groups compared": r.groups,
        "note": r.reason or {True: "beyond the interval", False: "interval holds 1", None: ""}[separated(r)],
        "ratio": r.estimate, "low": r.interval.low if r.interval else float("nan"),
        "high": r.interval.high if r.interval else float("nan"),
    } for r in col.ratios if r.level in levels])


def groups_frame(col: ColumnDifferentials) -> pd.DataFrame:
    return pd.DataFrame([{
        "group": g.name, "identities": g.identities, "images": g.rows, "mated pairs": g.mated_pairs,
        "non-mated pairs": g.nonmated_pairs, "EER": g.eer, "d-prime": g.d_prime,
        "note": "few identities" if g.few_identities else "",
    } for g in col.groups])


def cross_frame(col: ColumnDifferentials, levels: tuple[float, ...], shown: list[int]) -> pd.DataFrame:
    rows = []
    for li in shown:
        level = levels[li]
        for i, a in enumerate(col.names):
            for j, b in enumerate(col.names):
                if j < i:
                    continue
                rows.append({"FMR target": level_text(level), "group": a, "other group": b,
                             "FMR": col.cross_fmr[li, i, j], "non-mated pairs": int(col.cross_pairs[i, j]),
                             "pairs binned": int(col.cross_sampled[i, j]),
                             "estimable": bool(col.cross_estimable[li, i, j])})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- page
def _column_section(ctx: CellContext, r: DifferentialsResult, col: ColumnDifferentials) -> Section:
    title = f"By {col.column}"
    key = f"differentials-{slugify(col.column) or 'column'}-{r.columns.index(col)}"
    if col.skipped:
        return Section(title, (Admonition("warning", f"{col.column} not analysed", (Text(col.skipped + "."),)),))
    levels = r.levels
    p = r.params
    shown = [li for li, op in enumerate(r.operating_points) if op.estimable]
    left_out = ("" if not col.missing_rows else
                f" {plural(col.missing_rows, 'image')} without a value "
                + ("form the group (missing)." if p.missing == "group" else
                   "are left out of every group (they still count in the global thresholds)."))
    blocks: list = [P(f"{plural(len(col.groups), 'group')} ({', '.join(col.names)}).{left_out}")]
    if col.mixed_identities:
        blocks.append(P(f"{plural(col.mixed_identities, 'identity', 'identities')} have images in two or more groups: "
                        f"{col.column} varies within identities (a per-image covariate such as session or lighting), and "
                        f"their {count(col.cross_group_mated_pairs)} mated pairs across two groups count in no group's FNMR."))
    few = [g.name for g in col.groups if g.few_identities]
    if few:
        blocks.append(Admonition("warning", "Groups with few identities", (Text(
            f"{', '.join(few)} {'has' if len(few) == 1 else 'have'} fewer than {p.min_identities} identities: shown "
            "(hollow markers, 'few identities'), but without an interval and left out of the ratios."),)))
    if not shown:
        blocks.append(Admonition("warning", "No estimable threshold", (Text(
            "No global threshold rests on enough non-mated pairs (first table of the page), so no group rate is read; "
            f"a study needs at least {p.min_impostor_pairs} non-mated pairs above the loosest threshold."),)))
        return Section(title, tuple(blocks))
    hidden = [level_text(levels[li]) for li in range(len(levels)) if li not in shown]
    if hidden:
        blocks.append(P(f"At FMR {' and '.join(hidden)} the global threshold rests on too few non-mated pairs (first "
                        "table of the page): no group rate is read there."))
    bullets = [b for metric in ("FNMR", "FMR") for li in shown if (b := finding(metric, col, li, levels[li])) is not None]
    if bullets:
        blocks += [P("What the groups show (intervals are bootstrap intervals over identities; a ratio's interval is "
                     "that of the ratio of the two groups named):"), Bullets(*bullets)]
    else:
        blocks.append(P("No rate could be compared across two groups here (see the notes of the tables)."))
    ci = f"{100 * r.confidence:.0f}%"
    kept = tuple(levels[li] for li in shown)
    blocks += [
        Figure(key=ctx.key(f"{key}-rates-plot"), caption=(
            f"FNMR (left) and FMR (right) of each {col.column} group at the global thresholds ({ctx.label}), with "
            f"{ci} bootstrap intervals over identities; log scale, dashed lines the FMR each threshold gives over all "
            "pairs. A group above the line matches other people of the group more often than the threshold promises."),
            plot=plot_group_rates, data=_rates_data(col, levels, shown), in_paper=ctx.cell.subset == "all", width=1.0),
        Table(key=ctx.key(f"{key}-rates"), caption=(
            f"FNMR of the mated pairs and FMR of the non-mated pairs inside each {col.column} group at each global "
            f"threshold ({ctx.label}), with {ci} bootstrap intervals over identities; n.e. = not estimable (the note "
            "says why). The CSV holds the counts and the bounds as numbers."),
            frame=rates_frame(col, levels, r.confidence, shown),
            site_columns=("FMR target", "group", f"FNMR [{ci}]", f"FMR [{ci}]", "note"), max_rows=None),
        Table(key=ctx.key(f"{key}-ratios"), caption=(
            f"Ratio of the highest to the lowest group's rate for {col.column} ({ctx.label}), among groups with at least "
            f"{p.min_identities} identities, with the {ci} bootstrap interval of the ratio of those two groups."),
            frame=ratios_frame(col, r.confidence, kept),
            site_columns=("rate", "FMR target", f"max/min [{ci}]", "highest", "lowest", "note"), max_rows=None),
    ]
    mapped = [li for li in shown if col.cross_estimable[li].any()]  # panels with something to show
    if len(col.groups) >= 2 and mapped:
        blocks.append(Figure(key=ctx.key(f"{key}-cross-map"), caption=(
            f"FMR between {col.column} groups at each global threshold ({ctx.label}): the non-mated pairs with one "
            "image in the row's group and one in the column's, divided by the FMR the threshold gives over all pairs "
            "(log colour scale; white = as promised, red = more false matches, blue = fewer). Numbers in the boxes are "
            "the FMRs; n.e. (pale grey) = too few pairs."),
            plot=plot_cross_fmr, data=CrossData(col.names, tuple(levels[li] for li in mapped), col.cross_fmr[mapped],
                                                col.cross_estimable[mapped]), in_paper=ctx.cell.subset == "all",
            width=0.95))
    blocks += [
        Table(key=ctx.key(f"{key}-cross"), caption=(
            f"Cross-group FMR of {col.column} at each global threshold ({ctx.label}): every pair of groups, with the "
            "non-mated pairs it rests on (the CSV also has the pairs binned, all of them up to exact_max_rows)."),
            frame=cross_frame(col, levels, shown), formats={"FMR": ".2e"}, max_rows=12,
            site_columns=("FMR target", "group", "other group", "FMR", "non-mated pairs", "estimable")),
        Table(key=ctx.key(f"{key}-groups"), caption=(
            f"Each {col.column} group on its own ({ctx.label}): its mated and non-mated pairs, and the EER and d-prime "
            "of its own score distributions (a threshold chosen for the group alone)."),
            frame=groups_frame(col), formats={"EER": ".2%", "d-prime": ".2f"}, max_rows=None,
            site_columns=("group", "identities", "mated pairs", "non-mated pairs", "EER", "d-prime")
            + (("note",) if any(g.few_identities for g in col.groups) else ())),
    ]
    return Section(title, tuple(blocks))


def _rates_data(col: ColumnDifferentials, levels, shown: list[int]) -> RatesData:
    def arr(pick):
        return np.array([[[pick(g)[li].estimate if pick(g)[li].estimable else np.nan for li in shown] for g in col.groups],
                         [[_low(pick(g)[li]) for li in shown] for g in col.groups],
                         [[_high(pick(g)[li]) for li in shown] for g in col.groups]], dtype=float)

    return RatesData(col.names, tuple(levels[li] for li in shown), arr(lambda g: g.fnmr), arr(lambda g: g.fmr),
                     tuple(g.few_identities for g in col.groups))


def page(ctx: CellContext, r: DifferentialsResult) -> Page:
    """The differentials page of one cell."""
    p = r.params
    intro: list = [P(
        "Cell ", Strong(ctx.label), f": {count(r.n_samples)} L2-normalised embeddings of {count(r.n_identities)} identities "
        f"({ctx.subset_description}). Following NIST's demographic-differentials method (NIST IR 8280), one threshold per "
        f"false match rate is set over all {count(r.impostor_pairs)} non-mated pairs of the cell, as a deployed system "
        "sets it once for everyone; at each threshold every group's FNMR (mated pairs with both images in the group) "
        "and FMR (non-mated pairs with both images in the group) are read, with bootstrap intervals over identities "
        f"({r.bootstrap_reps} seeded replicates, thresholds held fixed).")]
    if r.planted:
        intro.append(Admonition("info", "Planted differential (synthetic data)", (Text(
            f"These data are a synthetic demo and the differential was planted by the generator: {r.planted}. The "
            "page should find it and name those groups; nothing here describes real faces."),)))
    if r.sources:
        intro.append(P("Where the group values come from: ", Text(r.sources), "."))
    if r.sampled:
        intro.append(Admonition("note", "Non-mated pairs sampled", (Text(
            f"Approximate: {count(r.n_samples)} rows are more than exact_max_rows = {count(p.exact_max_rows)}, so mated "
            f"pairs are all counted exactly but non-mated pairs are a seeded sample, drawn separately for every pair of "
            f"groups (about {count(p.impostor_samples)} per column, so that a small group gets as many as a large one); "
            f"the global thresholds are read from {count(r.impostor_pairs_binned)} sampled pairs weighted by the size of "
            "their pair of groups, and every FMR is that of its sample."),)))
    elif not r.bootstrap_pairs_exhaustive:
        intro.append(P(f"Point estimates use every pair; the replicates read each group's FMR from a seeded sample of "
                       f"{count(p.bootstrap_impostor_pairs)} of its non-mated pairs ([differentials] "
                       "bootstrap_impostor_pairs)."))
    intro.append(Table(key=ctx.key("differentials-thresholds"), caption=(
        f"The global thresholds ({ctx.label}): the cosine that gives each FMR over all non-mated pairs, and the FNMR "
        f"it gives over all mated pairs. A threshold resting on fewer than {p.min_impostor_pairs} non-mated pairs is "
        "not estimable, and so is every group rate at it."), frame=operating_frame(r),
        formats={"threshold (cosine)": ".4f", "FMR over all pairs": ".2e", "FNMR over all mated pairs": ".2%"},
        max_rows=None))
    sections = [_column_section(ctx, r, col) for col in r.columns]
    return Page(path=(*ctx.path, "differentials"), title="Demographic and covariate differentials", intro=tuple(intro),
                sections=tuple(sections), synthetic=ctx.synthetic, nav_titles=ctx.nav_titles)


# --------------------------------------------------------------------------- comparisons
def compare(results: Mapping[Cell, DifferentialsResult], contexts: Mapping[Cell, CellContext]) -> tuple[Section, ...]:
    """Per group column: every cell's max/min ratios side by side, and a figure of the networks' group rates."""
    by_column: dict[str, list] = {}
    for cell in sorted(results, key=lambda c: (c.dataset, c.network, c.subset)):
        for col in results[cell].columns:
            if not col.skipped:
                by_column.setdefault(col.column, []).append((cell, results[cell], col))
    sections = []
    for column, entries in sorted(by_column.items()):
        rows = []
        for cell, r, col in entries:
            # Which groups first, then the ratios: the site shows the first columns of a wide compare table.
            row = {"dataset": cell.dataset, "network": cell.network, "subset": cell.subset}
            for metric in ("FNMR", "FMR"):
                first = next((x for x in col.ratios if x.metric == metric and x.available), None)
                row[f"highest {metric}"] = (f"{first.highest} (at {level_text(first.level)})" if first else "\u2014")
            for ratio in col.ratios:
                row[f"{ratio.metric} max/min at {level_text(ratio.level)}"] = ratio_text(ratio)
            row["groups"] = len(col.groups)
            rows.append(row)
        blocks: list = [P(f"For {column}: the ratio of the highest to the lowest group's rate at each global threshold, "
                          "with the bootstrap interval of the ratio of those two groups; an interval that holds 1 shows no "
                          "difference. Compare networks within a dataset and subset.")]
        blocks.append(Table(key=f"compare-differentials-{slugify(column) or 'column'}", caption=(
            f"Max/min ratios of FNMR and FMR across {column} groups for every (dataset, network, subset) cell, at the "
            "global thresholds; — where fewer than two groups could be compared."),
            frame=pd.DataFrame(rows), in_paper=True, max_rows=None))
        blocks += _compare_figures(column, entries)
        sections.append(Section(f"Differentials by {column} across networks", tuple(blocks)))
    return tuple(sections)


def _compare_figures(column: str, entries) -> list:
    out = []
    for dataset in sorted({c.dataset for c, _, _ in entries}):
        here = [(c, r, col) for c, r, col in entries if c.dataset == dataset and c.subset == "all"] or \
               [(c, r, col) for c, r, col in entries if c.dataset == dataset]
        subset = here[0][0].subset
        here = [e for e in here if e[0].subset == subset]
        names = sorted({n for _, _, col in here for n in col.names})
        levels = here[0][1].levels
        # The level with the most estimable group FMRs over the networks (ties: the stricter), so both panels show data.
        score = [sum(g.fmr[li].estimable for _, _, col in here for g in col.groups) if
                 all(r.operating_points[li].estimable for _, r, _ in here) else -1 for li in range(len(levels))]
        if len(here) < 2 or not names or max(score) <= 0:
            continue
        li = max(range(len(levels)), key=lambda i: (score[i], i))
        arrays = {}
        for metric in ("fnmr", "fmr"):
            a = np.full((3, len(here), len(names)), np.nan)
            for k, (_, _, col) in enumerate(here):
                for g in col.groups:
                    rate = getattr(g, metric)[li]
                    gi = names.index(g.name)
                    a[:, k, gi] = (rate.estimate if rate.estimable else np.nan, _low(rate), _high(rate))
            arrays[metric] = a
        out.append(Figure(
            key=f"compare-differentials-{slugify(column) or 'column'}-{slugify(dataset)}",
            caption=(f"FNMR (left) and FMR (right) of each {column} group for every network on {dataset} / {subset}, at "
                     f"the global threshold for FMR {level_text(levels[li])} (each network's own), with bootstrap "
                     "intervals over identities; log scale."),
            plot=plot_compare_rates,
            data=CompareData(tuple(c.network for c, _, _ in here), tuple(names), arrays["fnmr"], arrays["fmr"], levels[li]),
            width=1.0))
    return out


def discussion(results: Mapping[Cell, DifferentialsResult]) -> list[tuple]:
    """Bullets of the paper's Discussion: what the differentials support and what limits them here."""
    if not results:
        return []
    few = sorted({g.name for r in results.values() for c in r.columns for g in c.groups if g.few_identities})
    items = [("Group differentials are read at thresholds set over all pairs, as a deployed system sets them; a "
              "ratio's interval is that of the two groups it names, while the max/min over several groups is biased "
              "upwards by the choice of the extreme pair, so a ratio whose interval holds 1 is no evidence of a "
              "differential.",)]
    if few:
        items.append((f"Group(s) {', '.join(few)} have fewer than {next(iter(results.values())).params.min_identities} "
                      "identities in some cell: their rates are shown without an interval and enter no ratio.",))
    if any(r.planted for r in results.values()):
        items.append(("The demo's differential was planted by its generator; that the analysis finds it, and finds "
                      "nothing in the column with no planted effect, checks the method, not any network.",))
    return items


def headline(r: DifferentialsResult) -> str:
    """One sentence for the Overview page and the paper: per column, the groups with the highest FNMR and FMR."""
    bits = []
    for col in r.columns:
        parts = []
        for metric in ("FNMR", "FMR"):
            first = next((x for x in col.ratios if x.metric == metric and x.available), None)
            if first is None:
                continue
            verdict = {True: "beyond the intervals", False: "within the intervals", None: "no interval"}[separated(first)]
            parts.append(f"{metric} highest in {first.highest}, {ratio_text(first)} times the lowest ({first.lowest}) "
                         f"at FMR {level_text(first.level)}, {verdict}")
        if parts:
            bits.append(f"{col.column}: " + "; ".join(parts))
    return (". ".join(bits) + ".") if bits else "No group rates could be compared."
