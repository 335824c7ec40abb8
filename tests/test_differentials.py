"""Demographic and covariate differentials: against an independent numpy computation, and their properties.

The reference works on the float64 cosine matrix of a small set, so it shares no code with the
binned passes of :mod:`analysis.statistics.verification.differentials`; counts may differ only for
pairs within float32 rounding of a bin edge (a pair or two), hence the tolerances.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from analysis.embedding.synthetic import SyntheticDatasetOptions, SyntheticNetworkOptions, generate
from analysis.statistics.verification.differentials import bootstrap as boot
from analysis.statistics.verification.differentials.differentials import analyze_differentials
from analysis.statistics.verification.differentials.group_pairs import AbovePairs
from analysis.statistics.verification.differentials.params import DifferentialsParams
from analysis.statistics.verification.differentials.results import MISSING_GROUP
from analysis.statistics.verification.differentials.thresholds import fmr_threshold_bin
from analysis.statistics.verification.similarity import SimilarityParams, analyze_similarity
from analysis.types import EmbeddingSet

N_BINS = 4000


@pytest.fixture(scope="module")
def small() -> EmbeddingSet:
    """About 1,000 rows of 30 identities with a per-identity column (3 groups) and a per-image one (2 + missing)."""
    emb = generate(SyntheticDatasetOptions(n_identities=30, max_images=70, junk_fraction=0.0),
                   {"a": SyntheticNetworkOptions(dim=64, noise=0.3)}, "small", 0)["a"]
    rng = np.random.default_rng(5)
    per_id = dict(zip(emb.identity_names, rng.choice(["x", "y", "z"], len(emb.identity_names), p=[0.4, 0.4, 0.2])))
    cohort = np.array([per_id[i] for i in emb.identities], dtype=str)
    light = rng.choice(["dark", "lit", ""], emb.n_samples, p=[0.45, 0.45, 0.1]).astype(str)
    return dataclasses.replace(emb, groups=(("cohort", cohort), ("light", light)))


@pytest.fixture(scope="module")
def result(small):
    return analyze_differentials(small, DifferentialsParams(bootstrap_reps=50, min_identities=3), random_state=1)


def _reference(emb: EmbeddingSet):
    """Float64 cosines of every pair i < j with its mated flag."""
    x = emb.normalized().astype(np.float64)
    s = x @ x.T
    i, j = np.triu_indices(len(x), 1)
    lab = emb.labels
    return i, j, s[i, j], lab[i] == lab[j]


def test_thresholds_match_a_float64_reference_and_the_similarity_page(small, result):
    i, j, cos, mated = _reference(small)
    edges = np.linspace(-1, 1, N_BINS + 1)
    imp = np.sort(cos[~mated])
    sim = analyze_similarity(small, SimilarityParams(bootstrap_reps=0))
    for op, thr_sim in zip(result.operating_points, sim.verification.threshold_at_far):
        # Reference: the lowest bin edge whose share of non-mated pairs at or above it is <= the level.
        above = len(imp) - np.searchsorted(imp, edges, side="left")
        b_ref = int(np.flatnonzero(above / len(imp) <= op.level)[0])
        assert abs(op.bin - b_ref) <= 1
        assert op.threshold == pytest.approx(thr_sim, abs=2 / N_BINS)
        assert op.fnmr == pytest.approx(np.mean(cos[mated] < op.threshold), abs=3 / mated.sum())
        assert op.fmr == pytest.approx(np.mean(cos[~mated] >= op.threshold), abs=3 / (~mated).sum())
        assert op.fmr <= op.level


@pytest.mark.parametrize("column", ["cohort", "light"])
def test_group_rates_match_a_float64_reference(small, result, column):
    i, j, cos, mated = _reference(small)
    values = small.group(column)
    col = next(c for c in result.columns if c.column == column)
    names = sorted(set(values) - {""})
    assert col.names == tuple(names)
    for li, op in enumerate(result.operating_points):
        for g in col.groups:
            inside = (values[i] == g.name) & (values[j] == g.name)
            m, nm = inside & mated, inside & ~mated
            assert g.mated_pairs == m.sum() and g.nonmated_pairs == nm.sum()
            fn, fm = g.fnmr[li], g.fmr[li]
            if fn.estimable:
                assert fn.estimate == pytest.approx(np.mean(cos[m] < op.threshold), abs=3 / m.sum())
            if fm.estimable:
                assert fm.estimate == pytest.approx(np.mean(cos[nm] >= op.threshold), abs=3 / nm.sum())
            elif op.estimable:
                assert nm.sum() < math.ceil(100 / op.level)  # the only other reason an FMR is not estimable
        for a, ga in enumerate(names):
            for b, gb in enumerate(names):
                cross = ((values[i] == ga) & (values[j] == gb) | (values[i] == gb) & (values[j] == ga)) & ~mated
                assert col.cross_pairs[a, b] == cross.sum()
                if cross.sum():
                    ref = np.mean(cos[cross] >= op.threshold)
                    assert col.cross_fmr[li, a, b] == pytest.approx(ref, abs=3 / cross.sum())


def test_group_eer_and_d_prime_match_a_reference(small, result):
    i, j, cos, mated = _reference(small)
    values = small.group("cohort")
    col = result.columns[0]
    for g in col.groups:
        inside = (values[i] == g.name) & (values[j] == g.name)
        score, y = cos[inside], mated[inside]
        far, tar, _ = roc_curve(y, score)
        k = int(np.argmax((1 - tar) - far <= 0))
        eer = (far[k - 1] + far[k]) / 2 if k else far[0]
        assert g.eer == pytest.approx(eer, abs=0.01)
        gm, im = score[y], score[~y]
        d = abs(gm.mean() - im.mean()) / math.sqrt((gm.var() + im.var()) / 2)
        assert g.d_prime == pytest.approx(d, rel=1e-4)


def test_per_image_covariate_counts(small, result):
    i, j, cos, mated = _reference(small)
    values = small.group("light")
    col = next(c for c in result.columns if c.column == "light")
    assert col.missing_rows == int((values == "").sum())
    across = mated & (values[i] != values[j]) & (values[i] != "") & (values[j] != "")
    assert col.cross_group_mated_pairs == across.sum()
    per_id = [set(values[small.identities == n]) - {""} for n in small.identity_names]
    assert col.mixed_identities == sum(len(v) >= 2 for v in per_id)


def test_ratio_is_max_over_min_of_the_eligible_groups(result):
    for col in result.columns:
        for r in col.ratios:
            li = result.levels.index(r.level)
            est = {g.name: (g.fnmr if r.metric == "FNMR" else g.fmr)[li] for g in col.groups if not g.few_identities}
            est = {k: v.estimate for k, v in est.items() if v.estimable}
            if r.available:
                assert r.estimate == pytest.approx(max(est.values()) / min(est.values()))
                assert est[r.highest] == max(est.values()) and est[r.lowest] == min(est.values())
                assert r.interval is not None and r.interval.low <= r.estimate <= r.interval.high


def test_intervals_bracket_the_estimates(result):
    for col in result.columns:
        for g in col.groups:
            for rate in (*g.fnmr, *g.fmr):
                if rate.interval is not None:
                    assert 0 <= rate.interval.low <= rate.estimate <= rate.interval.high <= 1


# --------------------------------------------------------------------------- properties
def test_one_group_for_everyone_gives_the_global_figures(small):
    everyone = dataclasses.replace(small, groups=(("all", np.full(small.n_samples, "everyone")),))
    r = analyze_differentials(everyone, DifferentialsParams(bootstrap_reps=0), 0)
    g = r.columns[0].groups[0]
    sim = analyze_similarity(small, SimilarityParams(bootstrap_reps=0))
    assert g.mated_pairs == sim.histograms.n_genuine and g.nonmated_pairs == sim.histograms.n_impostor
    for li, op in enumerate(r.operating_points):
        assert g.fnmr[li].estimate == op.fnmr if op.estimable else not g.fnmr[li].estimable
        if g.fmr[li].estimable:
            assert g.fmr[li].estimate == pytest.approx(op.fmr)
        assert 1 - op.fnmr == pytest.approx(sim.verification.tar_at_far[li], abs=2e-3)
    assert g.eer == pytest.approx(sim.verification.eer, abs=1e-3)
    assert g.d_prime == pytest.approx(sim.verification.d_prime, rel=1e-4)
    assert all(not x.available for x in r.columns[0].ratios)  # one group: nothing to compare


def test_relabelling_groups_and_shuffling_rows_change_nothing(small, result):
    rename = {"x": "zeta", "y": "alpha", "z": "mu"}
    cohort = np.array([rename[v] for v in small.group("cohort")], dtype=str)
    order = np.random.default_rng(3).permutation(small.n_samples)
    moved = dataclasses.replace(small, groups=(("cohort", cohort), ("light", small.group("light")))).take(order)
    r2 = analyze_differentials(moved, DifferentialsParams(bootstrap_reps=50, min_identities=3), random_state=1)
    a = {g.name: g for g in result.columns[0].groups}
    b = {g.name: g for g in r2.columns[0].groups}
    for old, new in rename.items():
        assert [x.estimate for x in a[old].fnmr] == pytest.approx([x.estimate for x in b[new].fnmr], nan_ok=True)
        assert [x.estimate for x in a[old].fmr] == pytest.approx([x.estimate for x in b[new].fmr], nan_ok=True)
        assert a[old].eer == pytest.approx(b[new].eer)
    for x, y in zip(result.columns[0].ratios, r2.columns[0].ratios):
        assert x.estimate == pytest.approx(y.estimate, nan_ok=True)
        assert rename.get(x.highest, x.highest) == y.highest


def test_sampled_path_is_exact_when_every_pair_fits_and_close_when_sampled(small, result):
    whole = analyze_differentials(small, DifferentialsParams(bootstrap_reps=50, min_identities=3, exact_max_rows=10,
                                                             impostor_samples=10**9), random_state=1)
    assert whole.sampled and whole.impostor_pairs_binned == result.impostor_pairs
    for x, y in zip(result.operating_points, whole.operating_points):
        assert (x.bin, x.fmr, x.fnmr) == (y.bin, y.fmr, y.fnmr)
    for cx, cy in zip(result.columns, whole.columns):
        for gx, gy in zip(cx.groups, cy.groups):
            assert [r.estimate for r in gx.fmr] == pytest.approx([r.estimate for r in gy.fmr], nan_ok=True)
            assert [r.estimate for r in gx.fnmr] == pytest.approx([r.estimate for r in gy.fnmr], nan_ok=True)
    part = analyze_differentials(small, DifferentialsParams(bootstrap_reps=20, min_identities=3, exact_max_rows=10,
                                                            impostor_samples=60_000), random_state=1)
    assert part.impostor_pairs_binned < result.impostor_pairs
    for x, y in zip(result.operating_points[:1], part.operating_points[:1]):
        assert abs(x.threshold - y.threshold) < 0.03
    g_exact, g_part = result.columns[0].groups[0], part.columns[0].groups[0]
    assert g_part.fmr[0].pairs < g_exact.fmr[0].pairs
    assert g_part.fnmr[0].pairs == g_exact.fnmr[0].pairs  # mated pairs stay exact


def test_missing_values_as_a_group_and_left_out(small, result):
    r = analyze_differentials(small, DifferentialsParams(bootstrap_reps=0, missing="group"), 0)
    light = next(c for c in r.columns if c.column == "light")
    assert MISSING_GROUP in light.names
    miss = next(g for g in light.groups if g.name == MISSING_GROUP)
    assert miss.rows == int((small.group("light") == "").sum())
    # The thresholds are over all pairs either way.
    assert [op.bin for op in r.operating_points] == [op.bin for op in result.operating_points]
    left_out = next(c for c in result.columns if c.column == "light")
    assert MISSING_GROUP not in left_out.names and sum(g.rows for g in left_out.groups) == small.n_samples - left_out.missing_rows


def test_too_many_values_skip_the_column_with_a_reason(small):
    ages = np.array([str(v) for v in np.random.default_rng(0).integers(18, 90, small.n_samples)])
    r = analyze_differentials(dataclasses.replace(small, groups=(("age", ages),)), DifferentialsParams(bootstrap_reps=0), 0)
    assert "max_groups" in r.columns[0].skipped and "bands" in r.columns[0].skipped
    empty = dataclasses.replace(small, groups=(("none", np.full(small.n_samples, "")),))
    r = analyze_differentials(empty, DifferentialsParams(bootstrap_reps=0), 0)
    assert r.columns[0].skipped == "no row has a value in this column"
    assert all(op.threshold > -1 for op in r.operating_points)  # the global thresholds still stand


def test_few_identities_are_flagged_and_leave_the_ratios(small):
    r = analyze_differentials(small, DifferentialsParams(bootstrap_reps=20, min_identities=9), 0)
    col = r.columns[0]
    few = [g for g in col.groups if g.few_identities]
    assert few and all(rate.interval is None for g in few for rate in (*g.fnmr, *g.fmr))
    assert all(x.highest not in {g.name for g in few} and x.lowest not in {g.name for g in few}
               for x in col.ratios if x.available)


def test_not_estimable_levels_and_errors(small):
    tiny = small.take(np.isin(small.identities, small.identity_names[:8]))
    r = analyze_differentials(tiny, DifferentialsParams(bootstrap_reps=0, min_identities=2), 0)
    last = r.operating_points[-1]
    assert not last.estimable and "at least 100" in last.reason
    assert all(not g.fmr[-1].estimable and "not estimable" in g.fmr[-1].reason for g in r.columns[0].groups)
    with pytest.raises(ValueError, match="group_columns"):
        analyze_differentials(dataclasses.replace(small, groups=()), DifferentialsParams(), 0)
    with pytest.raises(ValueError, match="fmr_levels"):
        DifferentialsParams(fmr_levels=(0.0,))


# --------------------------------------------------------------------------- pieces
def test_threshold_helper_on_a_histogram():
    imp = np.array([50, 30, 10, 6, 3, 1, 0, 0])
    # 100 pairs: bins >= 5 hold 1% (1 pair), bins >= 4 hold 4%.
    assert fmr_threshold_bin(imp, 0.01) == 5
    assert fmr_threshold_bin(imp, 0.04) == 4
    assert fmr_threshold_bin(imp, 0.005) == 6  # nothing scores there: every pair rejected
    occupied = np.array([1, 1, 1, 1, 1, 0, 0, 1], dtype=bool)
    assert fmr_threshold_bin(imp, 0.005, occupied) == 7  # moved up to the next bin holding a pair: same decisions
    assert fmr_threshold_bin(np.zeros(4), 0.1) == 4
    with pytest.raises(ValueError):
        fmr_threshold_bin(imp, 1.5)


def test_bootstrap_weights_equal_an_explicitly_replicated_set():
    """A replicate's weighted FNMR and FMR equal the rates of the data with each identity copied w times."""
    rng = np.random.default_rng(0)
    k, n_levels = 6, 2
    rows = rng.integers(1, 5, size=(k, 1)).astype(float)  # images of each identity (one group)
    mated = rows * (rows - 1) / 2
    misses = np.floor(mated[:, :, None] * rng.uniform(0, 1, (k, 1, n_levels)))
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    counts = {p: rng.integers(0, int(rows[p[0], 0] * rows[p[1], 0]) + 1, size=n_levels) for p in pairs}
    first, second, passes, count = [], [], [], []
    for (a, b), c in counts.items():
        c = np.sort(c)[::-1]  # passing the stricter threshold implies passing the looser one
        for level in range(n_levels):
            n = c[level] - (c[level + 1] if level + 1 < n_levels else 0)
            if n:
                first.append(a), second.append(b), passes.append(level + 1), count.append(n)
        counts[(a, b)] = c
    above = AbovePairs(*(np.array(v, dtype=np.int64) for v in (first, second, passes, count)))
    w = np.array([[2, 0, 1, 3, 1, 1]], dtype=float)
    fn = boot.fnmr_replicates(w, mated, misses)[0, 0]
    fm = boot.fmr_replicates(w, rows, [above], np.ones(1), n_levels)[0, 0]
    copies = [a for a in range(k) for _ in range(int(w[0, a]))]
    ref_fn = [sum(misses[a, 0, li] for a in copies) / sum(mated[a, 0] for a in copies) for li in range(n_levels)]
    nonmated = sum(rows[a, 0] * rows[b, 0] for x, a in enumerate(copies) for b in copies[x + 1:] if a != b)
    ref_fm = [sum(counts[(min(a, b), max(a, b))][li] for x, a in enumerate(copies) for b in copies[x + 1:] if a != b)
              / nonmated for li in range(n_levels)]
    assert fn == pytest.approx(ref_fn) and fm == pytest.approx(ref_fm)


def test_ratio_replicates_and_percentiles():
    r = boot.ratio_replicates(np.array([2.0, 1.0, 0.0, 3.0]), np.array([1.0, 2.0, 0.0, 0.0]))
    assert r[0] == 2 and r[1] == 0.5 and np.isnan(r[2]) and np.isinf(r[3])
    i = boot.percentile_interval(np.array([1.0, 2.0, 3.0, np.inf]), 2.0, 0.5)
    assert i.low <= 2.0 and i.high in (3.0, np.inf)
    assert math.isnan(boot.percentile_interval(np.array([np.nan]), 1.0, 0.9).low)


def test_mated_pairs_of_large_identities_go_by_row_blocks(small, monkeypatch):
    """The row-block path for identities above BIG_IDENTITY counts the same pairs as the padded batches."""
    from analysis.statistics.verification.differentials import mated

    codes = [np.unique(small.group("light"), return_inverse=True)[1]]
    args = (small.normalized(), small.labels, codes, [4], N_BINS, np.array([1500, 2500, 3200]))
    batched = mated.mated_stats(*args)
    monkeypatch.setattr(mated, "BIG_IDENTITY", 8)
    blocks = mated.mated_stats(*args, batch_rows=64)
    assert blocks.count == batched.count == sum(n * (n - 1) // 2 for n in np.bincount(small.labels))
    a, b = batched.columns[0], blocks.columns[0]
    assert a.across == b.across and (a.per_identity.sum(axis=2) == b.per_identity.sum(axis=2)).all()
    # float32 products of other shapes may round a pair across a bin edge: a handful at most
    assert np.abs(a.per_identity - b.per_identity).sum() <= 4 and np.abs(batched.hist - blocks.hist).sum() <= 8


def test_a_value_spelled_like_the_missing_group_keeps_its_own_group(small):
    """A real value "(missing)" and the rows without a value are two groups with two names, never one name twice."""
    values = small.group("light").copy()
    present = np.flatnonzero(values != "")
    values = values.astype(f"<U{max(values.dtype.itemsize // 4, len(MISSING_GROUP))}")
    values[present[: len(present) // 3]] = MISSING_GROUP
    groups = tuple((name, values if name == "light" else v) for name, v in small.groups)
    r = analyze_differentials(dataclasses.replace(small, groups=groups), DifferentialsParams(bootstrap_reps=0,
                              missing="group"), 0)
    light = next(c for c in r.columns if c.column == "light")
    assert len(set(light.names)) == len(light.names) and MISSING_GROUP in light.names
    assert next(g for g in light.groups if g.name == MISSING_GROUP).rows == len(present) // 3
