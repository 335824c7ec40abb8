"""Written results of the paper: sentences generated from the results objects, with intervals.

Every number of the prose is a key of the value registry (:class:`report.model.Val`, written
``\\atlasvalue{key}`` in the paper: :mod:`report.values`), and a sentence that ranks two networks
names a winner only when their intervals do not overlap
(:func:`analysis.statistics.uncertainty.compare_intervals`); otherwise it says that the
difference is within the intervals. The verification tables built here carry the same
intervals as the site's similarity pages (both read ``SimilarityResult.uncertainty``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.statistics.uncertainty import Interval, TarAtFar, compare_intervals, wilson_interval
from analysis.types import Cell
from analysis.statistics.levels import level_text
from report.format import fixed, pct
from report.model import P, Paragraph, Ref, Table, Val
from report.values import cell_key

VERIFICATION_TABLE = "paper-verification-intervals"
TAR_TABLE = "paper-tar-at-far"


# --------------------------------------------------------------------------- formatting
def interval_text(i: Interval, kind: str = "pct") -> str:
    """``0.70% [0.52, 0.91]`` (percent) or ``4.12 [3.90, 4.31]`` (plain), NaN bounds omitted."""
    if kind == "pct":
        est = pct(i.estimate, 2)
        lo, hi = (f"{100 * i.low:.2f}", f"{100 * i.high:.2f}")
    else:
        est, lo, hi = fixed(i.estimate, 2), fixed(i.low, 2), fixed(i.high, 2)
    if not (math.isfinite(i.low) and math.isfinite(i.high)):
        return est
    return f"{est} [{lo}, {hi}]"


def far_label(f: float) -> str:
    return level_text(f)


def tar_text(t: TarAtFar) -> str:
    """TAR with its interval, or ``not estimable (n = 3)`` with the accepted impostor count."""
    if not t.estimable or t.interval is None:
        return f"n.e. (n = {t.accepted_impostors:,d})"
    return interval_text(t.interval)


def with_interval(key: str, interval: Interval | None) -> list:
    """``[Val(key), " ", Val(key, interval=True)]``, without the interval when it has no finite bounds (as the registry)."""
    if interval is None or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return [Val(key)]
    return [Val(key), " ", Val(key, interval=True)]


def eer_spans(r: "VerificationRow") -> list:
    """The EER of a row's cell with its interval, as keys."""
    return with_interval(cell_key(r.cell, "similarity", "eer"), r.eer)


def d_prime_spans(r: "VerificationRow") -> list:
    """The d-prime of a row's cell with its interval, as keys."""
    return with_interval(cell_key(r.cell, "similarity", "d-prime"), r.d_prime)


# --------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class VerificationRow:
    """The verification figures of one cell with their intervals."""

    cell: Cell
    identities: int
    eer: Interval
    d_prime: Interval
    tar: tuple[TarAtFar, ...]


def verification_rows(similarity: dict) -> list[VerificationRow]:
    """One row per cell (sorted) from ``{cell: SimilarityResult}``; cells without intervals are skipped."""
    rows = []
    for cell in sorted(similarity, key=lambda c: (c.dataset, c.network, c.subset)):
        r = similarity[cell]
        u = r.uncertainty
        if u is None:
            continue
        rows.append(VerificationRow(cell, len(r.names), u.eer, u.d_prime, u.tar_at_far))
    return rows


def verification_table(rows: list[VerificationRow], confidence: float) -> Table:
    """EER and d-prime of every cell with their intervals."""
    level = f"{100 * confidence:.0f}%"
    frame = pd.DataFrame([{
        "dataset": r.cell.dataset, "network": r.cell.network, "subset": r.cell.subset, "identities": r.identities,
        f"EER [{level} interval]": interval_text(r.eer), f"d-prime [{level} interval]": interval_text(r.d_prime, "plain"),
    } for r in rows])
    frame = _drop_single_dataset(frame)
    return Table(VERIFICATION_TABLE, (
        f"Equal error rate and d-prime of every cell over all pairs, with {level} bootstrap intervals over identities "
        "(lower EER and higher d-prime are better; compare networks within a subset)."), frame, in_paper=True, max_rows=None)


def tar_table(rows: list[VerificationRow], confidence: float, min_pairs: int) -> Table:
    """TAR at each FAR level with its interval, or not estimable."""
    level = f"{100 * confidence:.0f}%"
    records = []
    for r in rows:
        rec = {"dataset": r.cell.dataset, "network": r.cell.network, "subset": r.cell.subset}
        for t in r.tar:
            rec[f"TAR at FAR {far_label(t.far)}"] = tar_text(t)
        records.append(rec)
    return Table(TAR_TABLE, (
        f"True accept rate at fixed false accept rates with {level} bootstrap intervals over identities. A TAR is "
        f"reported only when at least {min_pairs} impostor pairs score above its threshold; otherwise it is not "
        "estimable (n.e.) and n is the number that did."), _drop_single_dataset(pd.DataFrame(records)), in_paper=True,
        max_rows=None)


def _drop_single_dataset(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the dataset column when every row has the same dataset (the text names it): the table then
    fits the text width."""
    if "dataset" in frame and frame["dataset"].nunique() == 1:
        return frame.drop(columns="dataset")
    return frame


# --------------------------------------------------------------------------- comparisons
def _comparisons(rows: list[VerificationRow]) -> list[tuple[str, list, str, bool]]:
    """Each network against the best of one (dataset, subset): (claim, figures as spans, d-prime note, separated)."""
    if len(rows) < 2:
        raise ValueError("a comparison needs at least two networks")
    ranked = sorted(rows, key=lambda r: (r.eer.estimate if math.isfinite(r.eer.estimate) else math.inf, r.cell.network))
    best = ranked[0]
    dataset, subset = best.cell.dataset, best.cell.subset
    out = []
    for other in ranked[1:]:
        c = compare_intervals(best.cell.network, best.eer, other.cell.network, other.eer, higher_is_better=False)
        d = compare_intervals(best.cell.network, best.d_prime, other.cell.network, other.d_prime, higher_is_better=True)
        figures = ["EER ", *eer_spans(best), " vs ", *eer_spans(other), "; d-prime ", *d_prime_spans(best), " vs ",
                   *d_prime_spans(other)]
        if c.better is not None:
            d_note = ("" if d.better == c.better else
                      ", although the d-prime difference is within the intervals" if d.better is None else
                      f", although d-prime favours {d.better}")
            out.append((f"On the {subset} subset of {dataset}, {c.better} separates identities better than {c.worse}",
                        figures, d_note, True))
        else:
            out.append((f"On the {subset} subset of {dataset}, {best.cell.network} and {other.cell.network} do not differ "
                        "beyond their intervals", figures, "", False))
    return out


def network_comparison(rows: list[VerificationRow], table_key: str = VERIFICATION_TABLE) -> Paragraph:
    """Sentence ranking the networks of one (dataset, subset) by EER, claiming a winner only beyond the intervals.

    Parameters
    ----------
    rows : list of VerificationRow
        At least two networks of the same dataset and subset.
    """
    parts: list = []
    for claim, figures, d_note, separated in _comparisons(rows):
        if separated:
            parts += [claim + ": ", *figures, " (", Ref(table_key), f"){d_note}. "]
        else:
            parts += [claim + ": ", *figures, " (", Ref(table_key), "); no network is better on this evidence. "]
    return P(*parts)


def _groups(rows: list[VerificationRow]) -> list[list[VerificationRow]]:
    groups: dict[tuple[str, str], list[VerificationRow]] = {}
    for r in rows:
        groups.setdefault((r.cell.dataset, r.cell.subset), []).append(r)
    return [rs for _, rs in sorted(groups.items()) if len(rs) >= 2]


def comparison_claims(rows: list[VerificationRow]) -> list[list]:
    """The comparisons as short findings for the abstract: ``claim: figures.`` (spans), one per network pair."""
    return [[claim + ": ", *figures, "."] for rs in _groups(rows) for claim, figures, _, _ in _comparisons(rs)]


def comparison_paragraphs(rows: list[VerificationRow]) -> list[Paragraph]:
    """One comparison paragraph per (dataset, subset) with two or more networks."""
    return [network_comparison(rs) for rs in _groups(rows)]


def subset_paragraph(rows: list[VerificationRow]) -> Paragraph | None:
    """How the EER moves across subsets of each network (subsets change the pair populations)."""
    by_net: dict[tuple[str, str], list[VerificationRow]] = {}
    for r in rows:
        by_net.setdefault((r.cell.dataset, r.cell.network), []).append(r)
    parts: list = []
    for (dataset, net), rs in sorted(by_net.items()):
        finite = [r for r in rs if math.isfinite(r.eer.estimate)]
        if len(finite) < 2:
            continue
        lo = min(finite, key=lambda r: (r.eer.estimate, r.cell.subset))
        hi = max(finite, key=lambda r: (r.eer.estimate, r.cell.subset))
        overlap = lo.eer.overlaps(hi.eer)
        parts += [f"For {net} on {dataset} the EER ranges from ", *eer_spans(lo), f" ({lo.cell.subset}) to ",
                  *eer_spans(hi), f" ({hi.cell.subset})"
                  + ("; the intervals overlap, so the subsets do not differ measurably. " if overlap else ". ")]
    if not parts:
        return None
    return P(*parts, "Subsets keep different identities and therefore different impostor populations, so these "
             "are differences between populations, not between networks.")


def tar_paragraph(rows: list[VerificationRow], min_pairs: int) -> Paragraph | None:
    """Which TAR@FAR values are reported and which are not estimable, with the counts."""
    if not rows:
        return None
    missing = [(r, t) for r in rows for t in r.tar if not t.estimable]
    total = sum(len(r.tar) for r in rows)
    if not missing:
        return P(f"All {total} TAR values rest on at least {min_pairs} accepted impostor pairs (", Ref(TAR_TABLE), ").")
    worst = max(missing, key=lambda rt: (rt[1].far, rt[0].cell.dataset, rt[0].cell.network, rt[0].cell.subset))
    r, t = worst
    from report.value_sources import far_slug

    return P(f"{total - len(missing)} of {total} TAR values are estimable (", Ref(TAR_TABLE), f"); the others rest on "
             f"fewer than {min_pairs} impostor pairs above the threshold and are not reported. For example at FAR "
             f"{far_label(t.far)} on {r.cell.dataset} / {r.cell.network} / {r.cell.subset} only ",
             Val(cell_key(r.cell, "similarity", f"accepted-impostors-at-far-{far_slug(t.far)}")), " of ",
             Val(cell_key(r.cell, "similarity", "impostor-pairs")), " impostor pairs score above the threshold, so a "
             "single pair moves the TAR; the ROC curves are step functions at such rates for the same reason.")


# --------------------------------------------------------------------------- classifiers
@dataclass(frozen=True)
class ClassifierRow:
    cell: Cell
    classifier: str
    accuracy: Interval
    n: int


def best_classifiers(results: dict, confidence: float = 0.95) -> list[ClassifierRow]:
    """The best true-label classifier of each cell with a Wilson interval over its predictions."""
    out = []
    for cell in sorted(results, key=lambda c: (c.dataset, c.network, c.subset)):
        r = results[cell]
        scores = [s for s in r.scores if s.labels == "true" and s.scope == "all"]
        source = next((s for s in r.sources if s.name == "true"), None)
        if r.skipped or not scores or source is None:
            continue
        best = max(scores, key=lambda s: s.accuracy_mean)  # the page's choice (report.pages.classifiers)
        # The predictions scored: every kept row, or the test rows of the folds scored ([classifiers] cv_max_rows).
        n = int(best.n_test or source.n_samples)
        out.append(ClassifierRow(cell, best.classifier, wilson_interval(best.accuracy_mean * n, n, confidence), n))
    return out


def accuracy_spans(r: ClassifierRow) -> list:
    """The best accuracy of a row's cell with its Wilson interval, as keys."""
    return with_interval(cell_key(r.cell, "classifiers", "best-accuracy"), r.accuracy)


def classifier_spans(r: ClassifierRow) -> list:
    return [Val(cell_key(r.cell, "classifiers", "best-classifier"))]


def classifier_paragraph(rows: list[ClassifierRow]) -> Paragraph | None:
    """Best classifier per cell, comparing networks within a subset by their intervals."""
    if not rows:
        return None
    top = max(rows, key=lambda r: (r.accuracy.estimate, r.cell.network, r.cell.subset))
    low = min(rows, key=lambda r: (r.accuracy.estimate, r.cell.network, r.cell.subset))
    parts: list = ["The best identity classifier reaches ", *accuracy_spans(top), " cross-validated accuracy (",
                   *classifier_spans(top), f", {top.cell.network} / {top.cell.subset})"]
    if low is not top:
        parts += [" and the weakest cell ", *accuracy_spans(low), " (", *classifier_spans(low),
                  f", {low.cell.network} / {low.cell.subset}). "]
    else:
        parts.append(". ")
    groups: dict[tuple[str, str], list[ClassifierRow]] = {}
    for r in rows:
        groups.setdefault((r.cell.dataset, r.cell.subset), []).append(r)
    for (dataset, subset), rs in sorted(groups.items()):
        if len(rs) < 2:
            continue
        a, b = sorted(rs, key=lambda r: (-r.accuracy.estimate, r.cell.network))[:2]
        c = compare_intervals(a.cell.network, a.accuracy, b.cell.network, b.accuracy, higher_is_better=True)
        if c.better:
            parts += [f"On {dataset} / {subset}, {c.better} embeddings are classified more accurately than "
                      f"{c.worse}'s (", *accuracy_spans(a), " vs ", *accuracy_spans(b), "). "]
        else:
            parts += [f"On {dataset} / {subset} the best accuracies of {a.cell.network} and {b.cell.network} are "
                      "within their intervals (", *accuracy_spans(a), " vs ", *accuracy_spans(b), "). "]
    parts.append("Intervals are Wilson intervals over the cross-validated predictions; they treat predictions as "
                 "independent and so understate the uncertainty due to the choice of identities.")
    return P(*parts)


def spans_summary(rows: list[VerificationRow], lo: VerificationRow, hi: VerificationRow) -> list:
    """``Table N lists ...; the lowest EER is ...`` (always refers to the verification table)."""
    text = [Ref(VERIFICATION_TABLE), " lists the equal error rate and d-prime of every cell with their intervals. "]
    if lo is hi:
        return text + [f"On {lo.cell.network} / {lo.cell.subset} the EER is ", *eer_spans(lo), " and d-prime ",
                       *d_prime_spans(lo), "."]
    return text + ["The lowest EER is ", *eer_spans(lo), f" ({lo.cell.network} / {lo.cell.subset}), the highest ",
                   *eer_spans(hi), f" ({hi.cell.network} / {hi.cell.subset})."]


def headline_numbers(rows: list[VerificationRow]) -> tuple[VerificationRow | None, VerificationRow | None]:
    """The cells with the lowest and the highest EER (for the abstract)."""
    finite = [r for r in rows if math.isfinite(r.eer.estimate)]
    if not finite:
        return None, None
    key = lambda r: (r.eer.estimate, r.cell.dataset, r.cell.network, r.cell.subset)  # noqa: E731
    return min(finite, key=key), max(finite, key=key)


def median_of(values) -> float:
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    return float(np.median(v)) if len(v) else float("nan")
