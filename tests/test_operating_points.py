"""Verification in ISO/IEC 19795-1 terms (FNMR at FMR, FMR100, FMR1000, ZeroFMR, ZeroFNMR, DET) against pyeer and numpy.

pyeer (a test dependency, ``requirements-dev.txt``) computes its operating points from the raw
scores; ours are read from histograms whose thresholds are bin edges, so the two agree within one
bin of cosine: each of our values must lie between the raw-score rates one bin either side of
pyeer's threshold.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from analysis.statistics.uncertainty import Interval, TarAtFar
from analysis.statistics.verification.operating_points import (
    FMR_LEVELS, fnmr_from_tar, operating_points, required_levels,
)
from analysis.statistics.verification.similarity import SimilarityParams, analyze_similarity
from analysis.types import EmbeddingSet


def _emb(n_id=36, per=30, dim=48, spread=0.9, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_id, dim))
    x = np.repeat(centres, per, axis=0) + spread * rng.normal(size=(n_id * per, dim))
    ids = np.repeat([f"id{i:03d}" for i in range(n_id)], per)
    return EmbeddingSet("t", "net", x.astype(np.float32), ids, np.array([f"img{i:05d}" for i in range(len(x))]))


def _raw_scores(emb):
    """Every pair's cosine in float64 from the raw vectors, split into genuine and impostor: the reference."""
    x = emb.normalized().astype(np.float64)
    s = x @ x.T
    iu = np.triu_indices(len(x), 1)
    same = (emb.labels[:, None] == emb.labels[None, :])[iu]
    v = s[iu]
    return v[same], v[~same]


@pytest.fixture(scope="module")
def cell():
    emb = _emb()
    r = analyze_similarity(emb, SimilarityParams(bootstrap_reps=40, n_bins=4000), 0)
    g, i = _raw_scores(emb)
    return emb, r, g, i


def _fnmr(g, t):
    return float(np.mean(g < t))


def _fmr(i, t):
    return float(np.mean(i >= t))


def test_operating_points_agree_with_pyeer_within_one_bin(cell):
    pyeer_info = pytest.importorskip("pyeer.eer_info", reason="pyeer is a test dependency: pip install -r requirements-dev.txt")
    _, r, g, i = cell
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st = pyeer_info.get_eer_stats(g, i)
    res = r.histograms.resolution
    op = r.operating_points
    # A threshold of ours and pyeer's differ by at most one bin, and the FNMR we read lies between the raw
    # FNMR one bin below and one bin above pyeer's threshold.
    for ours, (value, thr) in ((op.fmr100, (st.fmr100, st.fmr100_th)), (op.fmr1000, (st.fmr1000, st.fmr1000_th)),
                               (op.zero_fmr, (st.fmr0, st.fmr0_th))):
        ours_value = ours.fnmr if hasattr(ours, "fnmr") else ours.value
        assert abs(ours.threshold - thr) <= res + 1e-9, (ours, thr)
        assert _fnmr(g, thr - res) - 1e-12 <= ours_value <= _fnmr(g, thr + res) + 1e-12
        assert abs(ours_value - value) <= _fnmr(g, thr + res) - _fnmr(g, thr - res) + 1e-12
    # EER: pyeer takes the midpoint at the crossing, we interpolate; both within the rates' change over one bin.
    t = st.eer_th
    spread = max(_fnmr(g, t + res) - _fnmr(g, t - res), _fmr(i, t - res) - _fmr(i, t + res))
    assert abs(r.verification.eer - st.eer) <= spread + 1e-12
    assert abs(r.verification.eer_threshold - t) <= res + 1e-9
    # ZeroFNMR: pyeer's FMR at its lowest genuine score; ours at the bin edge just below it.
    assert abs(op.zero_fnmr.value - st.fnmr0) <= _fmr(i, st.fnmr0_th - res) - _fmr(i, st.fnmr0_th + res) + 1e-12


def test_det_points_match_numpy_on_raw_scores(cell):
    # Every DET point (one per bin edge of the ROC) is the raw-score FMR and FNMR at that threshold; a score
    # within float32 rounding of an edge may fall on either side, hence the 1e-6 bracket.
    _, r, g, i = cell
    v = r.verification
    g, i = np.sort(g), np.sort(i)
    finite = np.isfinite(v.thresholds)
    t = v.thresholds[finite]
    fmr, fnmr = v.far[finite], 1 - v.tar[finite]

    def above(sorted_scores, thr):
        return 1.0 - np.searchsorted(sorted_scores, thr, side="left") / len(sorted_scores)

    assert np.all(above(i, t + 1e-6) - 1e-12 <= fmr) and np.all(fmr <= above(i, t - 1e-6) + 1e-12)
    assert np.all(1 - above(g, t - 1e-6) - 1e-12 <= fnmr) and np.all(fnmr <= 1 - above(g, t + 1e-6) + 1e-12)
    # FNMR at each FMR level: the lowest raw FNMR over the bin edges whose raw FMR does not exceed the level.
    for row in r.operating_points.fnmr_at_fmr:
        if not row.estimable:
            continue
        ok = above(i, t + 1e-6) <= row.fmr
        assert row.fnmr <= (1 - above(g, t + 1e-6))[ok].min() + 1e-12
        assert _fmr(i, row.threshold + 1e-6) <= row.fmr


def test_fnmr_at_fmr_follows_the_tar_at_far_rule_and_bootstrap(cell):
    _, r, _, _ = cell
    op, u = r.operating_points, r.uncertainty
    assert [row.fmr for row in op.fnmr_at_fmr] == list(required_levels(FMR_LEVELS))
    for far, t in zip(r.verification.far_levels, u.tar_at_far):
        row = op.at(far)
        assert row.estimable == t.estimable and row.threshold == t.threshold
        if t.estimable:
            assert row.fnmr == pytest.approx(1 - t.interval.estimate)
            assert row.interval.low == pytest.approx(1 - t.interval.high)
            assert row.interval.high == pytest.approx(1 - t.interval.low)
            assert row.interval.low <= row.fnmr <= row.interval.high
        else:
            assert math.isnan(row.fnmr) and row.interval is None and "at least" in row.reason
    # Stricter FMR, higher FNMR; levels below one impostor pair are never estimable.
    est = [row for row in op.fnmr_at_fmr if row.estimable]
    assert len(est) >= 2 and all(a.fnmr <= b.fnmr for a, b in zip(est, est[1:]))
    assert not op.at(1e-6).estimable and op.at(1e-6).accepted_impostors < r.params.min_impostor_pairs
    assert op.fmr100 is op.at(1e-2) and op.fmr1000 is op.at(1e-3)


def test_fnmr_from_tar_and_levels():
    t = TarAtFar(1e-3, Interval(0.9, 0.85, 0.93), 0.4, 120, 10**6, True, "")
    f = fnmr_from_tar(t)
    assert f.fnmr == pytest.approx(0.1) and f.interval.low == pytest.approx(0.07) and f.interval.high == pytest.approx(0.15)
    assert required_levels((1e-4,)) == (1e-2, 1e-3, 1e-4)
    assert required_levels((1e-2, 0.01, 1e-3)) == (1e-2, 1e-3)
    with pytest.raises(ValueError, match="fmr_levels"):
        SimilarityParams(fmr_levels=(0.0,))
    with pytest.raises(ValueError, match="fmr_levels"):
        SimilarityParams(fmr_levels=(1.5,))


def test_separated_scores_give_zero_fmr_zero_and_known_thresholds():
    # Two tight, far-apart identities: every genuine pair beats every impostor pair.
    rng = np.random.default_rng(3)
    a, b = np.eye(8)[0], np.eye(8)[1]
    x = np.vstack([a + 0.01 * rng.normal(size=(20, 8)), b + 0.01 * rng.normal(size=(20, 8))])
    emb = EmbeddingSet("t", "n", x.astype(np.float32), np.repeat(["a", "b"], 20), np.array([f"i{k:03d}" for k in range(40)]))
    r = analyze_similarity(emb, SimilarityParams(bootstrap_reps=0), 0)
    op = r.operating_points
    assert op.zero_fmr.value == 0.0 and op.zero_fmr.errors == 0
    assert op.zero_fnmr.value == 0.0 and op.zero_fnmr.errors == 0
    g, i = _raw_scores(emb)
    assert i.max() < op.zero_fmr.threshold <= g.min() + r.histograms.resolution
    # Too few impostor pairs (400) for any level at the default rule of 100 accepted.
    assert not any(row.estimable for row in op.fnmr_at_fmr)


def test_operating_points_without_pairs():
    from analysis.statistics.verification.verification import Verification

    empty = np.array([])
    v = Verification(*(float("nan"),) * 5, empty, empty, empty, (1e-2,), np.array([np.nan]), np.array([np.nan]),
                     float("nan"), float("nan"))
    op = operating_points(v, 0, 0, (1e-3,))
    assert math.isnan(op.zero_fmr.value) and not op.at(1e-3).estimable


def test_similarity_page_shows_the_iso_section_and_det(cell):
    import matplotlib.pyplot as plt

    from analysis.types import Cell
    from report.contexts import CellContext
    from report.model import Figure, Table
    from report.pages import similarity as sec

    emb, r, _, _ = cell
    ctx = CellContext(cell=Cell("d", "net", "all"), subset_description="all", synthetic=True, n_dims=emb.n_dims)
    page = sec.page(ctx, r)
    titles = [s.title for s in page.sections]
    assert "Verification in ISO/IEC 19795-1 terms" in titles
    blocks = {b.key: b for b in page.blocks() if isinstance(b, (Figure, Table))}
    table = blocks["d-net-all-similarity-fnmr-at-fmr"].frame
    assert {"FMR100", "FMR1000", "ZeroFMR", "ZeroFNMR", "FNMR at FMR 1e-6"} <= set(table["operating point"])
    row = table[table["operating point"] == "FNMR at FMR 1e-6"].iloc[0]
    assert np.isnan(row["FNMR"]) and "not estimable" in row["note"] and "100 needed" in row["note"]
    assert len(table.columns) <= 7  # the site shows every column (report.table_view.MAX_COLUMNS)
    det = blocks["d-net-all-similarity-det"]
    fig = det.plot(det.data)
    ax = fig.axes[0]
    # Probit axes: tick positions are normal deviates of the labelled probabilities.
    from scipy.stats import norm

    labels = {t.get_text(): t.get_position()[0] for t in ax.get_xticklabels()}
    assert labels["0.01"] == pytest.approx(norm.ppf(0.01)) and labels["0.5"] == pytest.approx(0.0)
    assert len(ax.lines[0].get_xdata()) > 50  # the curve, not a handful of points
    plt.close(fig)
    sections = sec.compare({ctx.cell: r}, {ctx.cell: ctx})
    iso = [s for s in sections if s.title == "Verification in ISO/IEC 19795-1 terms"]
    assert iso and any(isinstance(b, Figure) and b.key == "compare-det-d-all" for b in iso[0].blocks)
