"""Identification (1:N) pages: CMC, rank-1 and rank-5, confused identities, FNIR at FPIR."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from analysis.statistics.identification.identification import IdentificationResult
from analysis.statistics.uncertainty import wilson_interval
from analysis.types import Cell
from analysis.statistics.levels import level_text
from report import plotting
from report.contexts import CellContext
from report.escape import slugify
from report.format import count, pct, plural
from report.model import Admonition, Bullets, Figure, P, Page, Section, Strong, Table, Text
from report.pages.verification_table import ci_text

PAPER_TEXT = (
    "Identification (1:N) enrols each identity's first images in sorted file order as one template and searches "
    "every other image against all templates by cosine: we report the cumulative match characteristic with rank-1 "
    "and rank-5 identification rates (Wilson intervals) and, with a seeded share of identities left out of the "
    "gallery, the false negative identification rate at fixed false positive identification rates."
)

#: Ranks of the CMC table (the figure shows every rank).
TABLE_RANKS = (1, 2, 3, 5, 10, 20)


def fpir_label(f: float) -> str:
    return f"FNIR at FPIR {level_text(f)}"


# --------------------------------------------------------------------------- figures
@dataclass(frozen=True, eq=False)
class CmcData:
    labels: tuple[str, ...]
    ranks: tuple[np.ndarray, ...]
    cmc: tuple[np.ndarray, ...]
    title: str = ""


def plot_cmc(d: CmcData):
    """Cumulative match characteristic: identification rate against rank, rank-1 and rank-5 marked."""
    fig, ax = plotting.figure(5.6, 3.8)
    lows = []
    for k, (label, ranks, cmc) in enumerate(zip(d.labels, d.ranks, d.cmc)):
        color = plotting.ACCENT if len(d.labels) == 1 else plotting.TOP_COLORS[k % len(plotting.TOP_COLORS)]
        text = label + (f" (rank-1 {100 * cmc[0]:.1f}%)" if len(cmc) and math.isfinite(cmc[0]) else "")
        ax.plot(ranks, cmc, "-o", ms=3, lw=1.5, color=color, label=text)
        for r in (1, 5):
            if r <= len(cmc) and len(d.labels) == 1:
                ax.annotate(f"rank-{r}: {100 * cmc[r - 1]:.1f}%", (r, cmc[r - 1]), textcoords="offset points",
                            xytext=(6, -12), fontsize=8)
        lows.extend(cmc[np.isfinite(cmc)])
    from matplotlib.ticker import PercentFormatter

    lo = min(lows) if lows else 0.0
    bottom = max(0.0, lo - 0.1 * max(1 - lo, 0.05))
    ax.set_ylim(bottom, 1.0 + 0.02 * (1.0 - bottom))
    ticks = [t for t in ax.get_yticks() if bottom - 1e-9 <= t <= 1.0 + 1e-9]
    ax.set_yticks(ticks)
    # As many decimals as the ticks need (97.5%, not a rounded 98%), no more.
    decimals = next((d for d in range(4) if all(abs(t * 100 * 10**d - round(t * 100 * 10**d)) < 1e-6 for t in ticks)), 3)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))
    ax.set_xlim(0.5, max((len(r) for r in d.ranks), default=1) + 0.5)
    ax.set_xticks([r for r in (1, 2, 5, 10, 15, 20, 30, 50, 100) if r <= max((len(x) for x in d.ranks), default=1)])
    ax.set_xlabel("rank (mate among the r best candidates)")
    ax.set_ylabel("identification rate")
    if d.title:
        ax.set_title(d.title)
    ax.legend(frameon=False, loc="lower right")
    return fig


@dataclass(frozen=True, eq=False)
class FnirFpirData:
    labels: tuple[str, ...]
    fpir: tuple[np.ndarray, ...]
    fnir: tuple[np.ndarray, ...]
    points: tuple[tuple[float, float], ...] = ()  # estimable (FPIR level, FNIR) of a single curve
    title: str = ""


def plot_fnir_fpir(d: FnirFpirData):
    """FNIR against FPIR (log axis), NIST's open-set error tradeoff; estimable levels marked."""
    from matplotlib.ticker import NullFormatter

    fig, ax = plotting.figure(5.6, 3.8)
    lows = []
    for k, (label, fpir, fnir) in enumerate(zip(d.labels, d.fpir, d.fnir)):
        keep = fpir > 0
        color = plotting.ACCENT if len(d.labels) == 1 else plotting.TOP_COLORS[k % len(plotting.TOP_COLORS)]
        ax.plot(fpir[keep], fnir[keep], lw=1.6, color=color, label=label, drawstyle="steps-post")
        if keep.any():
            lows.append(float(fpir[keep].min()))
    for f, n in d.points:
        ax.plot([f], [n], "o", color=plotting.SECOND, ms=5)
        # Below and left of the point: the curve falls to its right and runs flat above it on the left.
        ax.annotate(f"{100 * n:.1f}% @ {f:g}", (f, n), textcoords="offset points", xytext=(-6, -13), ha="right",
                    fontsize=8)
    ax.set_xscale("log")
    lo = max(min(lows, default=1e-3) / 1.5, 1e-6)
    ax.set_xlim(lo, 1.0)
    ticks = [10.0 ** e for e in range(int(math.floor(math.log10(lo))), 1) if 10.0 ** e >= lo]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    top = max((float(np.max(n[f > 0])) for f, n in zip(d.fpir, d.fnir) if np.any(f > 0)), default=1.0)
    ax.set_ylim(0, min(1.0, 1.15 * top + 0.02))
    ax.set_xlabel("false positive identification rate, FPIR (log scale)")
    ax.set_ylabel("false negative identification rate, FNIR")
    if d.title:
        ax.set_title(d.title)
    # FNIR falls as FPIR grows: the lower left is the empty corner (upper right ran into the marked levels).
    ax.legend(frameon=False, loc="lower left")
    return fig


# --------------------------------------------------------------------------- tables
def cmc_frame(r: IdentificationResult) -> pd.DataFrame:
    level = f"{100 * r.params.confidence:.0f}% interval"
    rows = []
    for rank in (k for k in TABLE_RANKS if k <= len(r.cmc)):
        i = wilson_interval(r.cmc[rank - 1] * r.n_probes, r.n_probes, r.params.confidence)
        rows.append({"rank": rank, "identification rate": float(r.cmc[rank - 1]),
                     level: f"[{i.low:.4f}, {i.high:.4f}]"})
    return pd.DataFrame(rows)


def confusions_frame(r: IdentificationResult) -> pd.DataFrame:
    c = r.confusions
    return pd.DataFrame({"probe identity": c.probe_identity.astype(str), "rank-1 identity": c.returned_identity.astype(str),
                         "searches": c.count, "share of the identity's searches": c.share,
                         "mean rank-1 cosine": c.mean_score})


def hardest_frame(r: IdentificationResult) -> pd.DataFrame:
    order = np.lexsort((r.names.astype(str), -r.probes_per_identity, r.rank1_per_identity))[: r.params.top_confusions]
    enrolled = r.enrolled_items[order] if r.gallery_images == 1 else np.char.add(
        r.enrolled_items[order].astype(str), f" (+{r.gallery_images - 1})")
    return pd.DataFrame({"identity": r.names[order].astype(str), "images": r.images[order],
                         "searches": r.probes_per_identity[order], "rank-1 rate": r.rank1_per_identity[order],
                         "enrolled image": enrolled})


def fnir_frame(r: IdentificationResult) -> pd.DataFrame:
    o = r.open_set
    level = f"{100 * r.params.confidence:.0f}% interval (FNIR)"
    rows = []
    for f in o.fnir_at_fpir:
        rows.append({"FPIR level": f.fpir, "FNIR (rank 1)": f.fnir,
                     level: f"[{f.interval.low:.4f}, {f.interval.high:.4f}]" if f.interval is not None else "",
                     "FNIR (any rank)": f.fnir_any_rank if f.estimable else np.nan,
                     "threshold (cosine)": f.threshold, "non-mated searches above": f.nonmated_above,
                     "note": "" if f.estimable else (f"not estimable: {f.nonmated_above:,d} of {f.n_nonmated:,d} above "
                                                     f"the threshold, {r.params.min_nonmated_above:,d} needed"),
                     "FPIR at the threshold": f.achieved_fpir})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- notes
def search_note(r: IdentificationResult) -> Admonition | None:
    """What the inverted-file search cost in agreement with the exact one (none when exact)."""
    s = r.search
    if s.method == "exact":
        return None
    text = (f"Approximate: {count(r.n_samples)} rows are more than [identification] exact_max_rows = "
            f"{count(r.params.exact_max_rows)}, so the {count(s.n_probes)} probes searched an inverted file of the "
            f"{count(s.n_templates)} templates ({count(s.nlist)} seeded spherical k-means cells, the {s.nprobe} nearest "
            f"searched per probe; 99% agreement of the mate's rank aimed at, at most 64 cells). Measured on "
            f"{count(s.checked_probes)} seeded probes searched exactly as well: the mate's rank (up to "
            f"{r.params.max_rank}) agrees for {pct(s.rank_agreement, 2)}, the rank-1 candidate for "
            f"{pct(s.top1_agreement, 2)}, the open-set rank-1 candidate of mated searches for "
            f"{pct(s.open_agreement, 2)}; the candidate lists hold {pct(s.recall, 2)} of the exact "
            f"{r.params.max_rank} best templates. A missed template can only lower a rank, so the CMC is at most "
            f"{pct(1 - s.rank_agreement, 2)} too high.")
    if s.exact_fallbacks:
        text += f" {count(s.exact_fallbacks)} probes whose probed cells held too few templates were searched exactly."
    if r.open_set is not None and r.nonmated_sampled:
        text += (f" The FPIR reads the rank-1 scores of a seeded sample of {count(r.open_set.n_nonmated)} of the "
                 f"{count(r.nonmated_total)} non-mated searches, scored exactly against the whole open-set gallery.")
    elif r.open_set is not None:
        text += " Every non-mated search was scored exactly against the whole open-set gallery for the FPIR."
    return Admonition("note", "Inverted-file search", (Text(text),))


def _exclusions(r: IdentificationResult) -> str:
    bits = []
    if r.small_identities:
        one = r.small_identities == 1
        bits.append(f"{plural(r.small_identities, 'identity', 'identities')} with fewer than {r.gallery_images + 1} "
                    f"images ({plural(r.small_images, 'image')}) {'is' if one else 'are'} left out: "
                    f"{'it' if one else 'they'} cannot be both enrolled and searched")
    if r.junk_identities:
        bits.append(f"the catch-all label{'s' if len(r.junk_identities) > 1 else ''} {', '.join(r.junk_identities)} "
                    f"({count(r.junk_images)} images, [study] junk_labels) names no person: neither enrolled nor searched")
    return ("; ".join(bits)[:1].upper() + "; ".join(bits)[1:] + ".") if bits else ""


# --------------------------------------------------------------------------- page
def page(ctx: CellContext, r: IdentificationResult) -> Page:
    """The identification page of one cell."""
    g = r.gallery_images
    intro: list = [P(
        "Cell ", Strong(ctx.label), f": closed-set search of {count(r.n_probes)} probes against {count(len(r.names))} "
        f"templates. Each identity enrols its first {'image' if g == 1 else f'{g} images'} in sorted file order as one template (the "
        "re-normalised mean of the L2-normalised embeddings); each of its other images is a probe searched by cosine "
        "against every template, and its rank is the position of its own identity's template (the mate) among the "
        "candidates by decreasing cosine, ties counting against it. " + _exclusions(r))]
    bullets: list = [("Rank-1 identification rate: ", Strong(pct(r.rank1.estimate, 2) + ci_text(r.rank1, 2, True)),
                      f" ({count(r.n_probes - r.confused_probes)} of {count(r.n_probes)} searches)")]
    if r.rank5 is not None:
        bullets.append(("Rank-5: ", Strong(pct(r.rank5.estimate, 2) + ci_text(r.rank5, 2, True)),
                        f"; rank-{len(r.cmc)}: ", Strong(pct(r.cmc[-1], 2))))
    o = r.open_set
    if o is not None:
        item: list = [f"Open set ({len(o.unenrolled_identities)} of {len(r.names)} identities not enrolled): "]
        est = [f for f in o.fnir_at_fpir if f.estimable]
        for i, f in enumerate(est):
            item += [Strong(f"FNIR {pct(f.fnir, 2)}{ci_text(f.interval, 2, True)}"), f" at FPIR {f.fpir:g}",
                     *(["; "] if i < len(est) - 1 else [])]
        if not est:
            item.append("no FNIR at FPIR is estimable (too few non-mated searches)")
        bullets.append(tuple(item))
    intro.append(Bullets(*bullets))
    intro.append(P(f"Intervals are {100 * r.params.confidence:.0f}% Wilson intervals over the searches; they treat "
                   "searches as independent, so they understate the uncertainty due to the choice of identities."))
    if (note := search_note(r)) is not None:
        intro.append(note)
    sections = [
        Section("Closed set: cumulative match characteristic", (
            Figure(key=ctx.key("identification-cmc"),
                   caption=(f"Cumulative match characteristic ({ctx.label}): the share of searches whose mate is among "
                            f"the r best of {count(len(r.names))} templates, for r = 1 to {len(r.cmc)}."),
                   plot=plot_cmc, data=CmcData((ctx.cell.network,), (r.ranks,), (r.cmc,)),
                   in_paper=ctx.cell.subset == "all", width=0.6),
            Table(key=ctx.key("identification-cmc-table"), caption=f"Identification rate at selected ranks ({ctx.label}).",
                  frame=cmc_frame(r), formats={"identification rate": ".4f"}, max_rows=None),
        )),
        Section("Most confused identities", (
            P(f"{count(r.confused_probes)} searches return another identity at rank 1. The pairs below are the most "
              "frequent (probe identity, rank-1 identity) pairs, a candidate list for look-alikes or label errors; the "
              "second table lists the identities least often identified at rank 1 with the image their template was "
              "enrolled from: one template from a mislabelled or unusual image fails every search of its identity."),
            Table(key=ctx.key("identification-confusions"),
                  caption=f"The most frequent misidentifications at rank 1 ({ctx.label}).",
                  frame=confusions_frame(r), formats={"share of the identity's searches": ".1%", "mean rank-1 cosine": ".3f"},
                  max_rows=None),
            Table(key=ctx.key("identification-hardest"),
                  caption=f"The identities with the lowest rank-1 identification rate ({ctx.label}).",
                  frame=hardest_frame(r), formats={"rank-1 rate": ".3f"}, max_rows=None),
        )),
        _open_section(ctx, r),
    ]
    return Page(path=(*ctx.path, "identification"), title="Identification (1:N)", intro=tuple(intro),
                sections=tuple(sections), synthetic=ctx.synthetic, nav_titles=ctx.nav_titles)


def _open_section(ctx: CellContext, r: IdentificationResult) -> Section:
    o = r.open_set
    if o is None:
        return Section("Open set: FNIR at FPIR", (Admonition("note", "No open-set protocol", (Text(
            r.open_set_note[:1].upper() + r.open_set_note[1:] + "."),)),))
    points = tuple((f.fpir, f.fnir) for f in o.fnir_at_fpir if f.estimable)
    return Section("Open set: FNIR at FPIR", (
        P(f"A seeded {pct(r.params.unenrolled_share, 0)} of the identities ({len(o.unenrolled_identities)}) is not "
          f"enrolled: their {count(r.nonmated_total)} probes are non-mated searches of the {o.enrolled_identities} "
          f"remaining templates, and the {count(o.n_mated)} probes of enrolled identities are mated searches. At a "
          "threshold t, FPIR is the share of non-mated searches whose rank-1 candidate scores at least t, and FNIR "
          "the share of mated searches whose mate is not the rank-1 candidate with a score of at least t (NIST FRTE "
          f"1:N). Without a threshold FNIR is {pct(o.rank1_fnir, 2)}. An FNIR is reported only where at least "
          f"{r.params.min_nonmated_above} non-mated searches score above its threshold."),
        Figure(key=ctx.key("identification-fnir-fpir"),
               caption=(f"Open-set error tradeoff ({ctx.label}): FNIR against FPIR as the threshold moves, FPIR on a log "
                        "axis; dots mark the estimable FPIR levels."),
               plot=plot_fnir_fpir, data=FnirFpirData((ctx.cell.network,), (o.fpir,), (o.fnir,), points),
               in_paper=ctx.cell.subset == "all", width=0.6),
        Table(key=ctx.key("identification-fnir-at-fpir"),
              caption=(f"FNIR at fixed FPIR with its threshold ({ctx.label}): rank 1 (the mate is the rank-1 candidate "
                       "and scores at least the threshold; Wilson interval over the "
                       f"{count(o.n_mated)} mated searches) and any rank (the mate scores at least the threshold, as "
                       "NIST's FRTE 1:N tables count it)."),
              frame=fnir_frame(r), formats={"FPIR level": ".3g", "FNIR (rank 1)": ".4f", "FNIR (any rank)": ".4f",
                                            "threshold (cosine)": ".4f",
                                            "FPIR at the threshold": ".4g"}, max_rows=None),
    ))


# --------------------------------------------------------------------------- comparisons
def compare(results: Mapping[Cell, IdentificationResult], contexts: Mapping[Cell, CellContext]) -> tuple[Section, ...]:
    """CMC and FNIR-vs-FPIR of every network per dataset and subset, and one row per cell."""
    if not results:
        return ()
    cells = sorted(results, key=lambda c: (c.dataset, c.network, c.subset))
    rows = []
    levels: tuple[float, ...] = ()
    for c in cells:
        r = results[c]
        row = {"dataset": c.dataset, "network": c.network, "subset": c.subset, "templates": len(r.names),
               "searches": r.n_probes, "rank-1": r.rank1.estimate,
               "rank-1 interval": f"[{100 * r.rank1.low:.2f}%, {100 * r.rank1.high:.2f}%]",
               "rank-5": r.rank5.estimate if r.rank5 is not None else np.nan, f"rank-{r.params.max_rank}": (
                   r.cmc[r.params.max_rank - 1] if len(r.cmc) >= r.params.max_rank else np.nan)}
        for f in (r.open_set.fnir_at_fpir if r.open_set is not None else ()):
            row[fpir_label(f.fpir)] = f.fnir
            levels = tuple(sorted({*levels, f.fpir}, reverse=True))
        row["search"] = "exact" if r.search.method == "exact" else f"IVF (rank agreement {100 * r.search.rank_agreement:.1f}%)"
        rows.append(row)
    fmt = {"rank-1": ".4f", "rank-5": ".4f", **{fpir_label(f): ".4f" for f in levels}}
    fmt.update({k: ".4f" for k in rows[0] if k.startswith("rank-") and k != "rank-1 interval"})
    blocks: list = [P("Closed-set identification rates (higher is better) and open-set FNIR at FPIR (lower is better) of "
                      "every cell. The gallery size differs between subsets, and rank-1 falls as the gallery grows, so "
                      "compare networks within a dataset and subset.")]
    by_ds = sorted({(c.dataset, c.subset) for c in cells})
    if len(cells) > 1:
        for dataset, subset in by_ds:
            here = [c for c in cells if c.dataset == dataset and c.subset == subset]
            blocks.append(Figure(
                key=f"compare-cmc-{slugify(dataset)}-{slugify(subset)}",
                caption=f"CMC of every network on dataset {dataset}, subset {subset}.",
                plot=plot_cmc, data=CmcData(tuple(c.network for c in here), tuple(results[c].ranks for c in here),
                                            tuple(results[c].cmc for c in here), f"{dataset} / {subset}"), width=0.7))
            opened = [c for c in here if results[c].open_set is not None]
            if opened:
                blocks.append(Figure(
                    key=f"compare-fnir-fpir-{slugify(dataset)}-{slugify(subset)}",
                    caption=f"Open-set FNIR against FPIR of every network on dataset {dataset}, subset {subset}.",
                    plot=plot_fnir_fpir, data=FnirFpirData(
                        tuple(c.network for c in opened), tuple(results[c].open_set.fpir for c in opened),
                        tuple(results[c].open_set.fnir for c in opened), title=f"{dataset} / {subset}"), width=0.7))
    blocks.append(Table(
        key="compare-identification",
        caption=("Identification of every (dataset, network, subset) cell: rank-1 with its Wilson interval, rank-5, the "
                 "last CMC rank and the open-set FNIR at each FPIR (empty where not estimable)."),
        frame=pd.DataFrame(rows), formats=fmt, in_paper=True, max_rows=None))
    return (Section("Identification across networks and subsets", tuple(blocks)),)


def headline(r: IdentificationResult) -> str:
    """One sentence of key numbers for the Overview page and the paper."""
    text = (f"rank-1 identification {pct(r.rank1.estimate, 1)}{ci_text(r.rank1, 1, True)} over {count(r.n_probes)} "
            f"searches of {count(len(r.names))} templates")
    if r.open_set is not None:
        est = [f for f in r.open_set.fnir_at_fpir if f.estimable]
        if est:
            f = min(est, key=lambda f: f.fpir)
            text += f", FNIR {pct(f.fnir, 1)} at FPIR {f.fpir:g}"
    return text + "."
