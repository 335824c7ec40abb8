"""Audit pages: ranked lists of suspected label noise (mislabels, merged/split identities, duplicates)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from analysis.statistics.audit.audit import AuditResult
from analysis.statistics.galleries import suspect_order
from analysis.types import Cell
from report import plotting
from report.format import fixed, pct
from report.model import Admonition, Bullets, Figure, P, Page, Section, Strong, Table, spans
from report.contexts import CellContext
from report.pages.approximations import audit_note

PAPER_TEXT = (
    "We audit the labels of every cell: an image is a suspected mislabel when the centroid of another "
    "identity is closer (cosine) than the leave-one-out centroid of its own identity, or when its "
    "silhouette is negative; pairs of identities with unusually similar centroids are suspected to be "
    "one person, identities whose images fall into distinct clusters to be several, and pairs of images "
    "with near-identical embeddings to be duplicates."
)

_FMT = {
    "own cosine": ".3f",
    "nearest cosine": ".3f",
    "margin": ".3f",
    "silhouette": ".3f",
    "cosine": ".4f",
    "z-score": ".1f",
    "largest share": ".0%",
    "second share": ".0%",
    "parts cosine": ".3f",
    "separation (SD)": ".1f",
    "detector score": ".3f",
    "box side (px)": ".0f",
    "centre offset": ".2f",
    "second face score": ".3f",
    "precision": ".3f",
    "recall": ".3f",
}


# --------------------------------------------------------------------------- tables
def mislabel_frame(r: AuditResult) -> pd.DataFrame:
    """Label suspects (suspected mislabels without a detection doubt), most negative margin first."""
    im = r.images
    truth = r.truth
    # The gallery's suspects follow the same order, so their ranks match this table's.
    sel = suspect_order(im.rows, im.margin, im.silhouette, r.label_suspects)
    rows = im.rows[sel]
    frame = pd.DataFrame(
        {
            "rank": np.arange(1, len(sel) + 1),
            "item": r.items[rows].astype(str),
            "label": r.identities[rows].astype(str),
            "nearest other identity": r.names[im.nearest_other[sel]].astype(str),
            "own cosine": im.own_cosine[sel],
            "nearest cosine": im.other_cosine[sel],
            "margin": im.margin[sel],
            "silhouette": im.silhouette[sel],
        }
    )
    if truth is not None:
        frame["planted mislabel"] = np.where(truth[sel], "yes", "no")
    return frame


def detection_frame(r: AuditResult) -> pd.DataFrame:
    """Images whose kept face raises a detection doubt, suspected mislabels first, then by score."""
    d, im = r.detection, r.images
    columns = ["item", "label", "doubt", "detector score", "box side (px)", "centre offset", "second face score",
               "also a mislabel suspect"]
    if d is None:
        return pd.DataFrame(columns=columns)
    sel = np.flatnonzero(d.suspect)
    sel = sel[np.lexsort((r.items[im.rows[sel]].astype(str), d.score[sel], ~im.suspected[sel]))]
    doubts = [", ".join(name for name, flag in (("low score", d.low_score[i]), ("small box", d.small[i]),
                                                ("off-centre", d.off_centre[i]), ("several faces", d.several[i])) if flag)
              for i in sel]
    rows = im.rows[sel]
    return pd.DataFrame({
        "item": r.items[rows].astype(str),
        "label": r.identities[rows].astype(str),
        "doubt": doubts,
        "detector score": d.score[sel],
        "box side (px)": d.box_side[sel],
        "centre offset": d.centre_offset[sel],
        "second face score": d.second_score[sel],
        "also a mislabel suspect": np.where(im.suspected[sel], "yes", "no"),
    }, columns=columns)


def merged_frame(r: AuditResult) -> pd.DataFrame:
    m = r.merged
    return pd.DataFrame(
        {
            "identity A": r.names[m.first].astype(str),
            "identity B": r.names[m.second].astype(str),
            "cosine": m.cosine,
            "z-score": m.zscore,
            "suspected": np.where(m.flagged, "yes", "no"),
        }
    )


def split_frame(r: AuditResult) -> pd.DataFrame:
    s = r.split
    if s is None:
        return pd.DataFrame(columns=["identity", "images", "parts", "largest share", "second share", "parts cosine",
                                     "separation (SD)", "suspected"])
    order = np.lexsort((s.identity, -s.second_share, ~s.flagged))
    return pd.DataFrame(
        {
            "identity": r.names[s.identity[order]].astype(str),
            "images": s.images[order],
            "parts": s.n_parts[order],
            "largest share": s.largest_share[order],
            "second share": s.second_share[order],
            "parts cosine": s.parts_cosine[order],
            "separation (SD)": s.separation[order],
            "suspected": np.where(s.flagged[order], "yes", "no"),
        }
    )


def duplicate_frame(r: AuditResult) -> pd.DataFrame:
    d = r.duplicates
    return pd.DataFrame(
        {
            "item A": r.items[d.first].astype(str),
            "item B": r.items[d.second].astype(str),
            "identity A": r.identities[d.first].astype(str),
            "identity B": r.identities[d.second].astype(str),
            "cosine": d.cosine,
            "same identity": np.where(r.identities[d.first] == r.identities[d.second], "yes", "no"),
        }
    )


def planted_frame(r: AuditResult) -> pd.DataFrame:
    s = r.planted
    return pd.DataFrame(
        [{"planted": s.n_planted, "suspected": s.n_suspected, "true positives": s.n_true_positive,
          "precision": s.precision, "recall": s.recall}]
    )


# --------------------------------------------------------------------------- derivations
def _merge_derivation(r: AuditResult) -> tuple:
    """How the merge threshold was obtained, with its numbers."""
    th, p = r.merged.thresholds, r.params
    if th.merge_source == "override":
        return (f"Identity pairs whose centroid cosine is at least {fixed(th.merge)}, the absolute merge_threshold of the "
                f"config. For reference, the {th.merge_quantile:.0%} quantile of the {th.n_genuine_pairs:,d} genuine-pair "
                f"cosines of this cell is {fixed(th.genuine_quantile_value)}. Such pairs may be one person under two names, "
                "or relatives and look-alikes.",)
    return (
        f"Identity pairs whose centroid cosine is at least {fixed(th.merge)}. Cosines here are measured around the cell's "
        "mean embedding (subtracted before normalising): a direction shared by every face carries no identity, and in "
        "some spaces (dlib's) it pushes every centroid cosine towards 1. The threshold is derived from this cell: it is "
        f"the {th.merge_quantile:.0%} quantile (merge_quantile) of the cosines between two images of the same identity "
        f"({th.n_genuine_pairs:,d} genuine pairs, at most {p.genuine_max_images} images per identity; median "
        f"{fixed(th.genuine_median)}). Averaging removes per-image noise, so the centroids of two names of one person are "
        "at least as alike as a typical pair of that person's images, whatever the network; centroids of different "
        f"people have a median cosine of {fixed(th.impostor_median)} here. Such pairs may be one person under two names, "
        "or relatives and look-alikes. An absolute merge_threshold in the config overrides the derived value.",
    )


def _split_derivation(r: AuditResult) -> tuple:
    th = r.merged.thresholds
    if th.split_source == "override":
        return (f"The cosine threshold is the absolute split_max_cosine of the config.",)
    capped = " (capped at the merge threshold)" if th.split < th.impostor_quantile_value else ""
    return (f"The cosine threshold is derived from this cell: the {th.split_quantile:.0%} quantile (split_quantile) of the "
            f"{th.n_impostor_pairs:,d} cosines between centroids of different identities, {fixed(th.impostor_quantile_value)}"
            f"{capped}: two people under one name are about as far apart as two identities.",)


def _detection_blocks(ctx: CellContext, r: AuditResult) -> tuple:
    d, p = r.detection, r.params
    if d is None:
        return ()
    return (
        P(f"Images whose kept face (detector {d.detector or 'unknown'}) may not be the labelled person's face: a detector "
          f"score below {fixed(d.low_score_threshold)} (the median kept-face score {fixed(d.score_median)} minus "
          f"detection_low_z = {p.detection_low_z:g} robust standard deviations of {fixed(d.score_robust_std)}), a box "
          f"shorter than {p.detection_small_px:g} px, a box centre farther than {p.detection_off_centre:.0%} of the "
          "half-diagonal from the image centre, or another valid face in the image. Check the detection before the label."),
        Table(
            key=ctx.key("audit-detection"),
            caption=(f"Detection suspects, suspected mislabels first, then by detector score ({ctx.label}). "
                     "Full list in the CSV."),
            frame=detection_frame(r),
            formats=_FMT,
            max_rows=30,
        ),
    )


# --------------------------------------------------------------------------- figures
@dataclass(frozen=True, eq=False)
class _MarginData:
    margin: np.ndarray
    silhouette: np.ndarray
    planted: np.ndarray | None  # bool per audited row, synthetic data only


def plot_margins(d: _MarginData):
    """Histogram of nearest-centroid margins and margin vs silhouette, suspected region shaded."""
    fig, (a, b) = plotting.figure(9.5, 3.4, ncols=2)
    ok = np.isfinite(d.margin)
    m, s = d.margin[ok], d.silhouette[ok]
    bins = np.linspace(min(m.min(), -0.05), max(m.max(), 0.05), 60) if len(m) else 10
    a.hist(m, bins=bins, color=plotting.ACCENT, alpha=0.85, label="all images")
    if d.planted is not None:
        a.hist(m[d.planted[ok]], bins=bins, color=plotting.SECOND, alpha=0.9, label="planted mislabels")
        a.legend()
    a.axvline(0, color="black", lw=0.8)
    a.set_yscale("log")
    a.set_xlabel("margin: cos(own leave-one-out centroid) - cos(nearest other centroid)")
    a.set_ylabel("images")
    colors = np.where(d.planted[ok], plotting.SECOND, plotting.ACCENT) if d.planted is not None else plotting.ACCENT
    b.scatter(m, s, s=4, c=colors, alpha=0.5, linewidths=0)
    b.axvline(0, color="black", lw=0.8)
    b.axhline(0, color="black", lw=0.8)
    b.set_xlabel("margin")
    b.set_ylabel("silhouette (cosine, identity labels)")
    return fig


@dataclass(frozen=True, eq=False)
class _PairData:
    cosine: np.ndarray  # all identity-pair centroid cosines shown in the table
    median: float
    threshold: float


def plot_pair_cosines(d: _PairData):
    """Most similar centroid pairs against the median and the suspicion threshold."""
    fig, ax = plotting.figure(6.0, 3.2)
    ranks = np.arange(1, len(d.cosine) + 1)
    ax.plot(ranks, d.cosine, marker="o", ms=3, color=plotting.ACCENT, lw=1)
    ax.axhline(d.threshold, color=plotting.SECOND, lw=1, ls="--", label=f"threshold {d.threshold:.3f}")
    ax.axhline(d.median, color="grey", lw=1, ls=":", label=f"median of all pairs {d.median:.3f}")
    ax.set_xlabel("identity pair rank (most similar first)")
    ax.set_ylabel("centroid cosine")
    ax.legend()
    return fig


# --------------------------------------------------------------------------- page
def page(ctx: CellContext, r: AuditResult) -> Page:
    """The audit page of one cell."""
    p = r.params
    im = r.images
    truth = r.truth  # aligned with im.rows
    n_audited = len(im.rows)
    n_susp = int(r.label_suspects.sum())
    n_merged = int(r.merged.flagged.sum())
    n_split = int(r.split.flagged.sum()) if r.split is not None else 0
    th = r.merged.thresholds
    bullets = [
        ("Suspected mislabels (label suspects): ", Strong(f"{n_susp:,d} of {n_audited:,d} images ({pct(n_susp / max(n_audited, 1))})")),
        ("Suspected merged identity pairs (centroid cosine at least ", Strong(fixed(th.merge)), f", {th.merge_source}): ",
         Strong(f"{n_merged:,d}")),
        ("Suspected split identities (parts cosine below ", Strong(fixed(th.split)), f", {th.split_source}): ",
         Strong(f"{n_split:,d}")),
        ("Near-duplicate image pairs (cosine at least ", f"{p.duplicate_threshold:g}", "): ",
         Strong(f"{r.duplicates.n_found:,d}")),
    ]
    if r.detection is not None:
        n_det = int(r.detection.suspect.sum())
        bullets.insert(1, ("Detection suspects (low score, small or off-centre box, several faces): ",
                           Strong(f"{n_det:,d}"), f", of which {int((r.detection.suspect & im.suspected).sum()):,d} "
                           "would otherwise be listed as suspected mislabels"))
    if r.planted is not None:
        bullets.append(("Planted mislabels found: ", Strong(f"recall {fixed(r.planted.recall)}, precision {fixed(r.planted.precision)}")))
    intro = [
        P(
            "Cell ", Strong(ctx.label), f" ({ctx.subset_description}): candidates for label errors, ranked so that the "
            "most suspicious come first. These are leads for a human to check, not verdicts: a hard image (profile, "
            "occlusion, poor quality) looks like a mislabel to any embedding.",
        ),
        Bullets(*bullets),
    ]
    if r.n_ignored:
        intro.append(P(f"{r.n_ignored:,d} images of the identities ", ", ".join(p.ignore_identities),
                       " (not people) are left out of the mislabel, merge and split audits."))
    if r.skipped:
        intro.append(Admonition("note", "Not computed", spans("; ".join(r.skipped) + ".")))
    if (approx := audit_note(r)) is not None:
        intro.append(approx)

    mis = mislabel_frame(r)
    planted_rows = truth
    mis_blocks = [
        P("An image is suspected when the centroid of another identity is closer (cosine) than the centroid of its own "
          "identity computed without it (negative margin), or when its silhouette on the identity labels is negative. "
          "Images whose detected face raises a doubt (next section) are listed there instead: their fix is a better "
          "detection, not a new label."),
        Table(
            key=ctx.key("audit-mislabels"),
            caption=(
                f"Label suspects, most negative margin first ({ctx.label}); margin = own cosine - nearest cosine. "
                "Full list in the CSV."
            ),
            frame=mis,
            formats=_FMT,
            in_paper=ctx.cell.subset == "all",
            max_rows=30,
        ),
        Figure(
            key=ctx.key("audit-margins"),
            caption=(
                f"Nearest-centroid margins of every audited image (log scale) and margin against silhouette ({ctx.label}). "
                "Images left of the vertical line are closer to another identity than to their own."
                + (" Planted mislabels of the synthetic data in orange: they should sit in the negative tail." if truth is not None else "")
            ),
            plot=plot_margins,
            data=_MarginData(im.margin, im.silhouette, planted_rows),
            width=1.0,
        ),
    ]
    if r.planted is not None:
        mis_blocks.append(
            Table(
                key=ctx.key("audit-planted"),
                caption=(
                    f"Suspected mislabels scored against the mislabels planted in the synthetic data ({ctx.label}): "
                    "recall is the share of planted errors found, precision the share of suspects that are planted errors."
                ),
                frame=planted_frame(r),
                formats=_FMT,
                in_paper=ctx.cell.subset == "all",
                max_rows=None,
            )
        )
    detection_blocks = _detection_blocks(ctx, r)
    m = r.merged
    merged_blocks = (
        P(*_merge_derivation(r)),
        Table(
            key=ctx.key("audit-merged"),
            caption=f"The most similar identity pairs by centroid cosine, suspected ones marked ({ctx.label}).",
            frame=merged_frame(r),
            formats=_FMT,
            max_rows=30,
        ),
        Figure(
            key=ctx.key("audit-pair-cosines"),
            caption=(
                f"Centroid cosine of the most similar identity pairs against the suspicion threshold ({ctx.label}). "
                "A few points far above the others stand out as candidates for merged identities."
            ),
            plot=plot_pair_cosines,
            data=_PairData(m.cosine, m.median_cosine, m.threshold),
            width=0.7,
        ),
    )
    split_blocks = (
        P(f"The images of every identity with at least {p.split_min_images} images (suspected mislabels left out) are "
          f"split in two by 2-means clustering. The identity is suspected to mix people when both parts hold at least "
          f"{p.split_min_share:.0%} of its images, the centroids of the parts have a cosine below {fixed(th.split)} and "
          f"the parts are at least {p.split_min_separation:g} within-part standard deviations apart along the axis "
          "joining them (2-means cuts any elongated identity in two; two people leave a gap). ", *_split_derivation(r)),
        Table(
            key=ctx.key("audit-split"),
            caption=f"Identities split in two parts, suspected ones first, then by the share of the smaller part ({ctx.label}).",
            frame=split_frame(r),
            formats=_FMT,
            max_rows=20,
        ),
    )
    dup = r.duplicates
    dup_caption = f"Image pairs with cosine at least {p.duplicate_threshold:g}, most similar first ({ctx.label})."
    if dup.truncated:
        dup_caption += f" Only the {len(dup.cosine):,d} most similar of {dup.n_found:,d} pairs are kept (max_duplicates)."
    dup_blocks = (
        P("Near-identical embeddings are usually the same image stored twice (possibly resized or re-encoded); pairs "
          "with different identities are also label errors."),
        Table(key=ctx.key("audit-duplicates"), caption=dup_caption, frame=duplicate_frame(r), formats=_FMT, max_rows=30),
    )
    return Page(
        path=(*ctx.path, "audit"),
        title="Label audit",
        intro=tuple(intro),
        sections=(
            Section("Suspected mislabelled images", tuple(mis_blocks)),
            *((Section("Detection suspects", detection_blocks),) if detection_blocks else ()),
            Section("Suspected merged identities", merged_blocks),
            Section("Suspected split identities", split_blocks),
            Section("Near-duplicate images", dup_blocks),
        ),
        synthetic=ctx.synthetic,
        nav_titles=ctx.nav_titles,
    )


def compare(results: Mapping[Cell, AuditResult], contexts: Mapping[Cell, CellContext]) -> tuple[Section, ...]:
    """One row per cell: how many suspects of each kind, and planted-mislabel scores when known."""
    rows = []
    for cell in sorted(results, key=lambda c: (c.dataset, c.network, c.subset)):
        r = results[cell]
        n = len(r.images.rows)
        rows.append(
            {
                "dataset": cell.dataset,
                "network": cell.network,
                "subset": cell.subset,
                "audited images": n,
                "suspected mislabels": int(r.label_suspects.sum()),
                "share": r.label_suspects.sum() / max(n, 1),
                "detection suspects": int(r.detection.suspect.sum()) if r.detection is not None else 0,
                "merged pairs": int(r.merged.flagged.sum()),
                "split identities": int(r.split.flagged.sum()) if r.split is not None else 0,
                "near-duplicates": r.duplicates.n_found,
                "planted precision": r.planted.precision if r.planted is not None else np.nan,
                "planted recall": r.planted.recall if r.planted is not None else np.nan,
            }
        )
    frame = pd.DataFrame(rows)
    return (
        Section(
            "Label audit across networks and subsets",
            (
                P("Suspected label errors found through each network. An image suspected under every network is more "
                  "likely a true label error than one suspected under a single network."),
                Table(
                    key="compare-audit",
                    caption="Counts of suspected mislabels, merged and split identities and near-duplicates per cell.",
                    frame=frame,
                    formats={"share": ".1%", "planted precision": ".3f", "planted recall": ".3f"},
                    in_paper=True,
                    max_rows=None,
                ),
            ),
        ),
    )


def headline(r) -> str:
    """One sentence of key numbers for the Overview page."""
    n = int(r.label_suspects.sum())
    text = f"{n} suspected mislabelled images, {int(r.merged.flagged.sum())} suspected merged identity pairs"
    if r.planted is not None:
        text += (f"; against the {r.planted.n_planted} planted mislabels: precision {r.planted.precision:.2f}, "
                 f"recall {r.planted.recall:.2f}")
    return text + "."
