"""Similarity pages: genuine vs impostor distributions, verification metrics, centroid similarity."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from analysis.statistics.verification.pair_histograms import PairHistograms
from analysis.statistics.verification.similarity import SimilarityResult
from analysis.statistics.verification.verification import Verification
from analysis.types import Cell
from analysis.statistics.levels import level_text
from report import plotting
from report.format import fixed, pct, pm
from report.pages.junk import junk_note
from report.pages.nearest import nearest_extremes_frame, nearest_frame
from report.model import Admonition, Bullets, Figure, InlineMath, Math, P, Page, Section, Strong, Table, Text
from report.contexts import CellContext
from report.pages.verification_table import ci_text as _ci_text, far_label as _far_label, verification_frame
from report.pages.approximations import similarity_note
from report.pages.operating_points import compare_iso, iso_section

PAPER_TEXT = (
    "We compare the cosine similarity of every pair of embeddings of the same identity (genuine) "
    "with every pair of different identities (impostor), computed exactly over all pairs, and "
    "report d-prime, the overlap of the two distributions, the equal error rate and the true "
    "accept rate at fixed false accept rates; identity centroids are compared by cosine and "
    "Euclidean distance and by the distance to the nearest other identity."
)




def consecutive_frame(r: SimilarityResult) -> pd.DataFrame:
    """Distribution of centroid cosine / distance for consecutive identities, nearest others and all pairs."""
    iu = np.triu_indices(len(r.centroid_cosine), 1)
    all_pairs = ("all pairs of identities" if r.matrix_identities is None
                 else f"all pairs of {len(r.matrix_identities):,d} seeded identities")
    groups = (
        ("consecutive identities (i vs i+1, sorted names)", r.consecutive.cosine, r.consecutive.distance),
        ("nearest other identity", r.nearest.cosine, r.nearest.distance),
        (all_pairs, r.centroid_cosine[iu], r.centroid_euclidean[iu]),
    )
    rows = []
    for name, cos, dist in groups:
        for measure, v in (("cosine", cos), ("Euclidean distance", dist)):
            rows.append(
                {
                    "pairs": name,
                    "measure": measure,
                    "n": len(v),
                    "mean": float(v.mean()) if len(v) else np.nan,
                    "std": float(v.std()) if len(v) else np.nan,
                    "min": float(v.min()) if len(v) else np.nan,
                    "median": float(np.median(v)) if len(v) else np.nan,
                    "max": float(v.max()) if len(v) else np.nan,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- figures
@dataclass(frozen=True, eq=False)
class _DistData:
    hist: PairHistograms
    eer_threshold: float


def _coarsen(counts: np.ndarray, edges: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(counts) // factor * factor
    return counts[:n].reshape(-1, factor).sum(axis=1), edges[: n + 1 : factor]


def plot_distributions(d: _DistData):
    """Genuine vs impostor densities in cosine (left) and angle in degrees (right)."""
    h = d.hist
    fig, (a, b) = plotting.figure(10.0, 3.4, ncols=2)
    factor = max(1, len(h.genuine) // 200)  # plot on ~200 bins; metrics use the full resolution
    for counts, total, label, color in (
        (h.genuine, h.n_genuine, "genuine (same identity)", plotting.ACCENT),
        (h.impostor, h.n_impostor, "impostor (different identities)", plotting.SECOND),
    ):
        if total == 0:
            continue
        c, e = _coarsen(counts, h.edges, factor)
        dens = c / total / np.diff(e)
        a.stairs(dens, e, fill=True, alpha=0.35, color=color, label=label)
        a.stairs(dens, e, color=color)
        ang = np.degrees(np.arccos(np.clip(e, -1, 1)))[::-1]  # increasing angles
        dens_ang = (c / total)[::-1] / np.diff(ang)
        b.stairs(dens_ang, ang, fill=True, alpha=0.35, color=color, label=label)
        b.stairs(dens_ang, ang, color=color)
    if np.isfinite(d.eer_threshold):
        a.axvline(d.eer_threshold, color="black", lw=0.8, ls="--", label="EER threshold")
        b.axvline(np.degrees(np.arccos(np.clip(d.eer_threshold, -1, 1))), color="black", lw=0.8, ls="--")
    a.set_xlabel("cosine similarity")
    a.set_ylabel("density")
    a.legend(loc="upper left")
    b.set_xlabel("angle between embeddings (degrees)")
    b.set_ylabel("density")
    return fig


@dataclass(frozen=True, eq=False)
class _RocData:
    verification: Verification
    estimable: tuple[bool, ...] = ()  # per FAR level; TARs resting on too few impostor pairs get no dot


def plot_roc(d: _RocData):
    """ROC on a log FAR axis with the TAR@FAR points and the EER marked."""
    v = d.verification
    fig, ax = plotting.figure(5.2, 4.0)
    ok = v.far > 0
    ax.plot(v.far[ok], v.tar[ok], color=plotting.ACCENT, lw=1.5)
    ok_levels = d.estimable or (True,) * len(v.far_levels)
    for f, t, est in zip(v.far_levels, v.tar_at_far, ok_levels):
        if np.isfinite(t) and est:
            ax.plot([f], [t], "o", color=plotting.SECOND, ms=5)
            ax.annotate(f"{t:.3f} @ {level_text(f)}", (f, t), textcoords="offset points", xytext=(4, -10), fontsize=7)
    if np.isfinite(v.eer):
        ax.plot([v.eer], [1 - v.eer], "s", color="black", ms=4, label=f"EER = {v.eer:.3f}")
        ax.legend(loc="lower right")
    ax.set_xscale("log")
    lo = float(v.far[ok].min()) if ok.any() else 1e-6
    ax.set_xlim(max(lo, 1e-7), 1.0)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate (impostor pairs accepted)")
    ax.set_ylabel("true accept rate (genuine pairs accepted)")
    return fig


@dataclass(frozen=True, eq=False)
class _CentroidDistData:
    all_cosine: np.ndarray
    nearest_cosine: np.ndarray
    consecutive_cosine: np.ndarray
    margin: np.ndarray


def plot_centroid_distributions(d: _CentroidDistData):
    """Centroid-to-centroid cosines (all pairs, nearest other, consecutive) and margins."""
    fig, (a, b) = plotting.figure(10.0, 3.2, ncols=2)
    bins = np.linspace(-1, 1, 121)
    lo = min(d.all_cosine.min(), d.nearest_cosine.min()) if len(d.all_cosine) else -1
    hi = max(d.all_cosine.max(), d.nearest_cosine.max()) if len(d.all_cosine) else 1
    bins = bins[(bins >= lo - 0.05) & (bins <= hi + 0.05)] if np.sum((bins >= lo - 0.05) & (bins <= hi + 0.05)) > 5 else bins
    for v, label, color in (
        (d.all_cosine, "all pairs of identities", "#7f7f7f"),
        (d.consecutive_cosine, "consecutive identities (i, i+1)", plotting.SECOND),
        (d.nearest_cosine, "nearest other identity", plotting.ACCENT),
    ):
        if len(v):
            a.hist(v, bins=bins, density=True, histtype="step", lw=1.4, color=color, label=label)
    a.set_xlabel("cosine similarity of centroids")
    a.set_ylabel("density")
    a.legend(loc="upper left", fontsize=7)
    m = d.margin[np.isfinite(d.margin)]
    b.hist(m, bins=40, color=plotting.ACCENT, alpha=0.85)
    b.axvline(0, color="black", lw=0.8, ls="--")
    b.set_xlabel("distance to nearest other centroid minus own radius")
    b.set_ylabel("identities")
    return fig


@dataclass(frozen=True, eq=False)
class _EuclidData:
    matrix: np.ndarray
    names: np.ndarray


def plot_centroid_euclidean(d: _EuclidData):
    """Heatmap of Euclidean distances between centroids, ordered by average-linkage clustering."""
    order = plotting.linkage_order(d.matrix)
    m = d.matrix[np.ix_(order, order)].copy()
    np.fill_diagonal(m, 0.0)
    off = m[~np.eye(len(m), dtype=bool)]
    vmin, vmax = (float(np.percentile(off, 1)), float(np.percentile(off, 99))) if off.size else (0.0, 1.0)
    return plotting.identity_heatmap(m, "viridis_r", vmin, max(vmax, vmin + 1e-6),
                                     "Euclidean distance of centroids (diagonal = 0)")


@dataclass(frozen=True, eq=False)
class _PairsData:
    scores: np.ndarray
    same: np.ndarray
    thresholds: np.ndarray


def plot_pairs(d: _PairsData):
    """Scores of the protocol pairs, same vs different, with the per-fold thresholds."""
    fig, ax = plotting.figure(6.0, 3.2)
    bins = np.linspace(min(-0.2, d.scores.min()), 1.0, 80)
    ax.hist(d.scores[d.same], bins=bins, alpha=0.5, color=plotting.ACCENT, label="same identity")
    ax.hist(d.scores[~d.same], bins=bins, alpha=0.5, color=plotting.SECOND, label="different identities")
    for t in d.thresholds:
        ax.axvline(t, color="black", lw=0.5, alpha=0.6)
    ax.set_xlabel("cosine similarity of the pair")
    ax.set_ylabel("pairs")
    ax.legend()
    return fig


# --------------------------------------------------------------------------- page
def page(ctx: CellContext, r: SimilarityResult) -> Page:
    """The similarity and verification page of one cell."""
    h, v, p = r.histograms, r.verification, r.params
    fmt3 = {c: ".3f" for c in ("centroid cosine", "centroid distance", "radius", "margin (distance - radius)",
                                "mean", "std", "min", "median", "max")}
    tar_bits: list = []
    u = r.uncertainty
    for i, (f, t) in enumerate(zip(v.far_levels, v.tar_at_far)):
        est = u.tar_at_far[i] if u is not None else None
        value = (f"not estimable ({est.accepted_impostors:,d} impostor pairs above the threshold)"
                 if est is not None and not est.estimable else fixed(float(t)) + _ci_text(est.interval if est else None))
        tar_bits += [f"{'; ' if tar_bits else ''}TAR at FAR {level_text(f)}: ", Strong(value)]
    inside = int((r.nearest.margin < 0).sum())
    intro = [
        P(
            "Cell ", Strong(ctx.label), f": {r.n_samples:,d} L2-normalised embeddings of {len(r.names)} identities "
            f"({ctx.subset_description}). Genuine pairs are two embeddings with the same label, impostor pairs "
            f"two with different labels; all {h.n_genuine + h.n_impostor:,d} pairs are counted exactly, binned at a "
            f"cosine resolution of {h.resolution:.1e} ({p.n_bins} bins on [-1, 1]).",
        ),
        Bullets(
            ("d-prime: ", Strong(fixed(v.d_prime, 2) + _ci_text(u.d_prime if u else None, 2)),
             f" ({v.d_prime_note})" if v.d_prime_note else "", "; overlap of the two distributions: ", Strong(pct(v.overlap))),
            ("Equal error rate: ", Strong(pct(v.eer, 2) + _ci_text(u.eer if u else None, 2, True)), " at cosine ",
             Strong(fixed(v.eer_threshold))),
            tuple(tar_bits) if tar_bits else ("TAR@FAR: none",),
            ("Identities whose nearest other centroid lies within their own radius: ", Strong(f"{inside} of {len(r.names)}")),
        ),
    ]
    if u is not None:
        intro.append(P(f"Intervals in brackets are {100 * u.confidence:.0f}% percentile intervals of {u.n_boot} bootstrap "
                       f"replicates over the {u.n_identities} identities (seeded); a TAR is reported only when at least "
                       f"{u.min_impostor_pairs} impostor pairs score above its threshold."))
    if r.junk_identities or r.singleton_identities:
        bits = []
        if r.junk_identities:
            bits.append(f"the {'label' if len(r.junk_identities) == 1 else 'labels'} {', '.join(r.junk_identities)} are used as given, so their pairs count as genuine "
                        "although nothing says they show one person")
        if r.singleton_identities:
            bits.append(f"{r.singleton_identities} identities have a single image: no genuine pair and a zero radius")
        text = "; ".join(bits)
        intro.append(Admonition("note", "Labels taken as given", (Text(text[0].upper() + text[1:] + "."),)))
    if (note := similarity_note(r)) is not None:
        intro.append(note)
    ver_table = Table(
        key=ctx.key("similarity-verification"),
        caption=(f"Verification metrics over all pairs ({ctx.label}). Thresholds accept a pair when its cosine is at "
                 f"least the threshold; they are bin edges, so TAR@FAR and EER have a resolution of {h.resolution:.1e} "
                 "in cosine. Intervals come from a bootstrap over identities; a TAR@FAR resting on too few impostor "
                 "pairs above its threshold is not estimable, and the note says how many there were."),
        frame=verification_frame(r),
        formats={"value": ".4g"},
        # The paper shows these numbers, with intervals, in its own cross-cell tables (report.pages.paper_findings).
        in_paper=False,
        max_rows=None,
    )
    sections = [
        Section(
            "Genuine vs impostor similarities",
            (
                P("d-prime measures the separation of the two distributions in units of their pooled standard deviation:"),
                Math(r"d' = \frac{|\mu_g - \mu_i|}{\sqrt{(\sigma_g^2 + \sigma_i^2)/2}}"),
                Figure(
                    key=ctx.key("similarity-distributions"),
                    caption=(f"Distribution of the cosine (left) and angle (right) of genuine and impostor pairs "
                             f"({ctx.label}), each normalised to unit area; the dashed line is the EER threshold. The "
                             "area where the two overlap is where a verification threshold must make errors."),
                    plot=plot_distributions,
                    data=_DistData(h, v.eer_threshold),
                    in_paper=ctx.cell.subset == "all",
                    width=1.0,
                ),
                Figure(
                    key=ctx.key("similarity-roc"),
                    caption=(f"ROC over all pairs ({ctx.label}), false accept rate on a log axis; dots mark the TAR at "
                             "each estimable FAR level, the square the equal error rate. The curve is a step function: "
                             "thresholds are histogram bin edges, and at low FAR each step is a few impostor pairs."),
                    plot=plot_roc,
                    data=_RocData(v, tuple(t.estimable for t in r.uncertainty.tar_at_far) if r.uncertainty else ()),
                    in_paper=ctx.cell.subset == "all",
                    width=0.6,
                ),
                ver_table,
            ),
        ),
        *((iso,) if (iso := iso_section(ctx, r)) is not None else ()),
        Section(
            "Nearest other identity",
            tuple(b for b in (junk_note(r.nearest.names, r.nearest.count, ctx.junk_labels),) if b is not None) + (
                P("For each identity, the other identity whose centroid is most similar by cosine. A negative margin "
                  "(centroid distance minus the identity's own radius) means that the other centroid lies inside the "
                  "ball that holds all of this identity's embeddings: a candidate for a merged identity or mislabels."),
                Table(
                    key=ctx.key("similarity-nearest-extremes"),
                    caption=(f"The {min(p.top_n, len(r.names))} identities closest to another identity and the "
                             f"{min(p.top_n, len(r.names))} most isolated ones ({ctx.label})."),
                    frame=nearest_extremes_frame(r, p.top_n, ctx.junk_labels),
                    formats=fmt3,
                    max_rows=None,
                ),
                Table(
                    key=ctx.key("similarity-nearest-all"),
                    caption=f"Nearest other identity of every identity ({ctx.label}); full table in the CSV.",
                    frame=nearest_frame(r, ctx.junk_labels).sort_values(["centroid cosine", "identity"], ascending=[False, True], kind="mergesort"),
                    formats=fmt3,
                    max_rows=25,
                ),
            ),
        ),
        Section(
            "Centroid similarities",
            (
                P("Comparing each identity with the next one in sorted order (", InlineMath("i"),
                  " vs ", InlineMath("i+1"), ") gives a cheap sample of unrelated identities; the nearest other identity is "
                  "the stricter test, and the all-pairs row is the reference."),
                Table(
                    key=ctx.key("similarity-consecutive"),
                    caption=(f"Centroid cosine and Euclidean distance for consecutive identities, nearest other identities "
                             f"and all pairs of identities ({ctx.label})."),
                    frame=consecutive_frame(r),
                    formats=fmt3,
                    max_rows=None,
                ),
                Figure(
                    key=ctx.key("similarity-centroid-distributions"),
                    caption=(f"Left: cosine similarity between centroids for all pairs, consecutive identities and each "
                             f"identity's nearest other ({ctx.label}). Right: margin between the nearest other centroid "
                             "and the identity's radius; identities left of the dashed line overlap their neighbour."),
                    plot=plot_centroid_distributions,
                    data=_CentroidDistData(
                        r.centroid_cosine[np.triu_indices(len(r.centroid_cosine), 1)], r.nearest.cosine,
                        r.consecutive.cosine, r.nearest.margin,
                    ),
                    width=1.0,
                ),
                _euclid_figure(ctx, r),
            ),
        ),
    ]
    if r.pairs_skipped:
        sections.append(Section("Pairs protocol", (
            Admonition("warning", "Verification pairs not scored", (Text(r.pairs_skipped),)),)))
    if r.pairs is not None:
        pr = r.pairs
        sections.append(
            Section(
                "Pairs protocol",
                (
                    P(f"{pr.n_pairs:,d} given pairs ({pr.n_missing} skipped: an image without embedding), "
                      f"{len(pr.fold_accuracy)} folds, threshold chosen on the other folds: accuracy ",
                      Strong(pm(pr.accuracy_mean, pr.accuracy_std, 2, percent=True)), "."),
                    Table(
                        key=ctx.key("similarity-pairs-folds"),
                        caption=f"Accuracy and threshold of each fold of the pairs protocol ({ctx.label}).",
                        frame=pd.DataFrame({"fold": np.arange(1, len(pr.fold_accuracy) + 1),
                                            "accuracy": pr.fold_accuracy, "threshold": pr.fold_threshold}),
                        formats={"accuracy": ".4f", "threshold": ".4f"},
                        in_paper=True,
                        max_rows=None,
                    ),
                    Figure(
                        key=ctx.key("similarity-pairs"),
                        caption=f"Cosine of the protocol pairs with the per-fold thresholds ({ctx.label}).",
                        plot=plot_pairs,
                        data=_PairsData(pr.scores, pr.same, pr.fold_threshold),
                        width=0.7,
                    ),
                ),
            )
        )
    return Page(
        path=(*ctx.path, "similarity"),
        title="Similarity and verification",
        intro=tuple(intro),
        sections=tuple(sections),
        synthetic=ctx.synthetic,
        nav_titles=ctx.nav_titles,
    )


def _euclid_figure(ctx: CellContext, r: SimilarityResult) -> Figure:
    k = len(r.centroid_euclidean)
    cap = r.params.heatmap_max_identities
    idx = np.arange(k)
    note = ""
    if k > cap:
        idx = np.sort(np.argsort(-r.matrix_counts, kind="stable")[:cap])
        note = f" Only the {cap} identities with the most images are shown."
        if r.matrix_identities is not None:
            note = (f" Only the {cap} identities with the most images among a seeded sample of {k:,d} of the "
                    f"{len(r.names):,d} identities are shown.")
    return Figure(
        key=ctx.key("similarity-centroid-euclidean"),
        caption=(f"Euclidean distance between identity centroids of L2-normalised embeddings ({ctx.label}), ordered by "
                 f"average-linkage clustering; dark blocks off the diagonal are groups of close identities.{note} The "
                 "cosine version is on the geometry page."),
        plot=plot_centroid_euclidean,
        data=_EuclidData(r.centroid_euclidean[np.ix_(idx, idx)], r.matrix_names[idx]),
        width=0.7,
    )


def compare(results: Mapping[Cell, SimilarityResult], contexts: Mapping[Cell, CellContext]) -> tuple[Section, ...]:
    """Verification metrics of every cell side by side."""
    rows = []
    levels: tuple[float, ...] = ()
    for cell in sorted(results, key=lambda c: (c.dataset, c.network, c.subset)):
        r = results[cell]
        v = r.verification
        levels = v.far_levels
        row = {
            "dataset": cell.dataset,
            "network": cell.network,
            "subset": cell.subset,
            "identities": len(r.names),
            "genuine pairs": r.histograms.n_genuine,
            "impostor pairs": r.histograms.n_impostor,
            "d-prime": v.d_prime,
            "overlap": v.overlap,
            "EER": v.eer,
            "EER interval": (f"[{100 * r.uncertainty.eer.low:.2f}%, {100 * r.uncertainty.eer.high:.2f}%]"
                             if r.uncertainty is not None and np.isfinite(r.uncertainty.eer.low) else ""),
            "AUC": v.auc,
        }
        tars = r.uncertainty.tar_at_far if r.uncertainty is not None else ()
        for i, (f, t) in enumerate(zip(v.far_levels, v.tar_at_far)):
            row[_far_label(f)] = float(t) if i >= len(tars) or tars[i].estimable else np.nan
        row["pairs accuracy"] = r.pairs.accuracy_mean if r.pairs is not None else np.nan
        rows.append(row)
    frame = pd.DataFrame(rows)
    fmt = {"d-prime": ".2f", "overlap": ".3f", "EER": ".4f", "AUC": ".4f", "pairs accuracy": ".4f"}
    fmt.update({_far_label(f): ".4f" for f in levels})
    return (
        Section(
            "Verification across networks and subsets",
            (
                P("Genuine vs impostor separation of every cell over all pairs: higher d-prime and TAR@FAR, lower EER "
                  "and overlap are better. Subsets change the pair populations, so compare networks within a subset."),
                Table(
                    key="compare-similarity",
                    caption=("Verification metrics of every (dataset, network, subset) cell, all pairs, cosine similarity; "
                             "EER with its bootstrap interval over identities. A TAR@FAR is empty where too few impostor "
                             "pairs score above its threshold (see each cell's page)."),
                    frame=frame,
                    formats=fmt,
                    in_paper=True,
                    max_rows=None,
                ),
            ),
        ),
        *compare_iso(results),
    )


def headline(r) -> str:
    """One sentence of key numbers for the Overview page."""
    v = r.verification
    return (f"EER {100 * v.eer:.2f}%, d' {v.d_prime:.2f}, genuine/impostor overlap {100 * v.overlap:.1f}% "
            f"over all pairs of {r.n_samples:,d} embeddings.")
