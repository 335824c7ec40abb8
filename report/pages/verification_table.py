"""The verification table of a cell's similarity page: values, intervals and why a TAR is missing.

Values come from :class:`analysis.statistics.verification.verification.Verification`; intervals and the
estimability of each TAR@FAR from ``SimilarityResult.uncertainty``
(:mod:`analysis.statistics.uncertainty`), the same objects the paper's tables read.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.statistics.verification.similarity import SimilarityResult
from analysis.statistics.levels import level_text


def far_label(f: float) -> str:
    return f"TAR@FAR={level_text(f)}"


# --------------------------------------------------------------------------- tables
def verification_frame(r: SimilarityResult) -> pd.DataFrame:
    """One row per metric: name, value, its interval (bootstrap over identities) and a note.

    A TAR at a FAR with too few impostor pairs above its threshold has no value, and the note
    says how many there were (:func:`analysis.statistics.uncertainty.tar_estimability`).
    """
    h, v, u = r.histograms, r.verification, r.uncertainty

    def ci(i) -> str:
        return f"[{i.low:.4g}, {i.high:.4g}]" if i is not None and np.isfinite(i.low) else ""

    rows = [
        ("genuine pairs", float(h.n_genuine), "", ""),
        ("impostor pairs", float(h.n_impostor), "", ""),
        ("genuine cosine mean", h.genuine_mean, "", ""),
        ("genuine cosine std", float(np.sqrt(h.genuine_var)), "", ""),
        ("impostor cosine mean", h.impostor_mean, "", ""),
        ("impostor cosine std", float(np.sqrt(h.impostor_var)), "", ""),
        ("genuine angle median (deg)", v.genuine_angle_median, "", ""),
        ("impostor angle median (deg)", v.impostor_angle_median, "", ""),
        ("d-prime", v.d_prime, ci(u.d_prime if u else None), ""),
        ("overlap (shared histogram area)", v.overlap, "", ""),
        ("EER", v.eer, ci(u.eer if u else None), ""),
        ("EER threshold (cosine)", v.eer_threshold, "", ""),
        ("ROC AUC", v.auc, "", ""),
    ]
    tars = u.tar_at_far if u is not None else ()
    for i, (f, t, thr) in enumerate(zip(v.far_levels, v.tar_at_far, v.threshold_at_far)):
        est = tars[i] if i < len(tars) else None
        if est is not None and not est.estimable:
            rows.append((far_label(f), float("nan"), "", f"not estimable: {est.reason}"))
        else:
            rows.append((far_label(f), float(t), ci(est.interval if est else None), ""))
        rows.append((f"threshold at FAR={level_text(f)}", float(thr), "", ""))
    level = f"{100 * u.confidence:.0f}% interval" if u is not None else "interval"
    return pd.DataFrame({"metric": [a[0] for a in rows], "value": [a[1] for a in rows],
                         level: [a[2] for a in rows], "note": [a[3] for a in rows]})


def ci_text(i, decimals: int = 3, percent: bool = False) -> str:
    """`` [lo, hi]`` of an interval (empty when there is none)."""
    if i is None or not (np.isfinite(i.low) and np.isfinite(i.high)):
        return ""
    if percent:
        return f" [{100 * i.low:.{decimals}f}%, {100 * i.high:.{decimals}f}%]"
    return f" [{i.low:.{decimals}f}, {i.high:.{decimals}f}]"
