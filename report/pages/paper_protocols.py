"""The paper's written results for the field's protocols: FNMR at FMR with intervals, 1:N identification.

Numbers are read from the cached results, and a sentence ranks two networks only when their
intervals do not overlap (:func:`analysis.statistics.uncertainty.compare_intervals`), as in
:mod:`report.pages.paper_findings`.
"""
from __future__ import annotations

import math

import pandas as pd

from analysis.statistics.uncertainty import compare_intervals
from analysis.statistics.levels import level_text
from report.model import P, Paragraph, Ref, Table
from report.pages.paper_findings import _drop_single_dataset, interval_text

FNMR_TABLE = "paper-fnmr-at-fmr"


def _level(f: float) -> str:
    return level_text(f)


def fnmr_table(similarity: dict, confidence: float) -> Table | None:
    """FNMR at the FMR levels estimable in some cell, with intervals, and ZeroFMR, one row per cell."""
    cells = [c for c in sorted(similarity, key=lambda c: (c.dataset, c.network, c.subset))
             if similarity[c].operating_points is not None]
    if not cells:
        return None
    levels = sorted({row.fmr for c in cells for row in similarity[c].operating_points.fnmr_at_fmr if row.estimable},
                    reverse=True)
    records = []
    for c in cells:
        op = similarity[c].operating_points
        rec = {"dataset": c.dataset, "network": c.network, "subset": c.subset}
        for f in levels:
            row = op.at(f)
            rec[f"FNMR at FMR {_level(f)}"] = (interval_text(row.interval) if row.estimable and row.interval is not None
                                               else f"n.e. (n = {row.accepted_impostors:,d})")
        rec["ZeroFMR"] = f"{100 * op.zero_fmr.value:.2f}%"
        records.append(rec)
    level = f"{100 * confidence:.0f}%"
    return Table(FNMR_TABLE, (
        f"False non-match rate at fixed false match rates (ISO/IEC 19795-1 terms: FNMR = 1 - TAR, FMR = FAR) with {level} "
        "bootstrap intervals over identities, and ZeroFMR; n.e.: not estimable, n the non-mated pairs above the "
        "threshold."), _drop_single_dataset(pd.DataFrame(records)), in_paper=True, max_rows=None)


def fnmr_paragraph(similarity: dict) -> Paragraph | None:
    """The strictest FMR at which every network of a (dataset, subset) is estimable, compared by interval."""
    groups: dict[tuple[str, str], list] = {}
    for c in sorted(similarity, key=lambda c: (c.dataset, c.subset, c.network)):
        if similarity[c].operating_points is not None:
            groups.setdefault((c.dataset, c.subset), []).append(c)
    parts: list = []
    for (dataset, subset), cells in groups.items():
        ops = [similarity[c].operating_points for c in cells]
        common = [r.fmr for r in ops[0].fnmr_at_fmr if all(op.at(r.fmr).estimable for op in ops)]
        if not common:
            continue
        f = min(common)
        rows = sorted(((c.network, op.at(f)) for c, op in zip(cells, ops)), key=lambda t: (t[1].fnmr, t[0]))
        text = "; ".join(f"{net} {interval_text(r.interval)}" for net, r in rows)
        parts.append(f"At FMR {f:g} on {dataset} / {subset}, the FNMR is {text}")
        if len(rows) >= 2:
            (a, ra), (b, rb) = rows[0], rows[1]
            cmp = compare_intervals(a, ra.interval, b, rb.interval, higher_is_better=False)
            parts.append(f": {cmp.better} rejects fewer mated pairs than {cmp.worse}. " if cmp.better else
                         ": the difference is within the intervals. ")
        else:
            parts.append(". ")
    if not parts:
        return None
    return P(Ref(FNMR_TABLE), " gives the false non-match rate at fixed false match rates. ", *parts)


def identification_paragraph(results: dict, table_key: str = "compare-identification") -> Paragraph | None:
    """Rank-1 identification per (dataset, subset), networks compared by their Wilson intervals; open-set FNIR."""
    if not results:
        return None
    groups: dict[tuple[str, str], list] = {}
    for c in sorted(results, key=lambda c: (c.dataset, c.subset, c.network)):
        groups.setdefault((c.dataset, c.subset), []).append(c)
    parts: list = []
    for (dataset, subset), cells in groups.items():
        ranked = sorted(cells, key=lambda c: (-results[c].rank1.estimate, c.network))
        best = results[ranked[0]]
        parts.append(f"On {dataset} / {subset} ({len(best.names):,d} templates), rank-1 identification is "
                     + "; ".join(f"{c.network} {interval_text(results[c].rank1)}" for c in ranked))
        if len(ranked) >= 2:
            cmp = compare_intervals(ranked[0].network, best.rank1, ranked[1].network, results[ranked[1]].rank1, True)
            parts.append(f": {cmp.better} identifies more searches at rank 1 than {cmp.worse}" if cmp.better else
                         ": the difference is within the Wilson intervals")
        opened = [(c, f) for c in ranked if results[c].open_set is not None
                  for f in results[c].open_set.fnir_at_fpir if f.estimable]
        if opened:
            f_level = min(f.fpir for _, f in opened)
            at = [(c, f) for c, f in opened if math.isclose(f.fpir, f_level)]
            parts.append(f"; open set, FNIR at FPIR {f_level:g}: "
                         + ", ".join(f"{c.network} {interval_text(f.interval)}" for c, f in at))
        parts.append(". ")
    return P(*parts, "Wilson intervals treat searches as independent (", Ref(table_key), ").")
