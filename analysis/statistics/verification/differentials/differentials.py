"""Demographic and covariate differentials of one cell, by NIST's method (see the package docstring).

For each group column of the embedding set (:attr:`analysis.types.EmbeddingSet.groups`):

1. the global thresholds giving FMR = ``fmr_levels`` over every non-mated pair of the set, missing
   values included (:mod:`~analysis.statistics.verification.differentials.thresholds`);
2. per group ``g`` at each threshold ``t``: ``FNMR_g(t)``, the share of mated pairs with both rows in
   ``g`` scoring below ``t``, and ``FMR_g(t)``, the share of non-mated pairs with both rows in ``g``
   scoring at or above it, with bootstrap intervals over identities
   (:mod:`~analysis.statistics.verification.differentials.bootstrap`);
3. ``max_g / min_g`` of each rate across the groups with enough identities, with its interval;
4. ``FMR_gh(t)`` of the non-mated pairs with one row in ``g`` and one in ``h`` (the cross-group matrix);
5. each group's EER and d' from its own mated and non-mated pairs.

Up to ``exact_max_rows`` rows every pair is counted, in one pass shared by all columns
(:func:`~analysis.statistics.verification.differentials.group_pairs.all_pair_counts`); above, mated
pairs stay exact and non-mated pairs are sampled per pair of groups
(:func:`~analysis.statistics.verification.differentials.group_pairs.stratum_pairs`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from analysis.statistics.verification.differentials import bootstrap as boot
from analysis.statistics.verification.differentials.group_pairs import AbovePairs, StratumPairs, all_pair_counts, stratum_pairs
from analysis.statistics.verification.differentials.mated import ColumnMated, mated_stats
from analysis.statistics.verification.differentials.params import DifferentialsParams
from analysis.statistics.verification.differentials.results import (
    MISSING_GROUP,
    ColumnDifferentials,
    DifferentialsResult,
    GroupRate,
    GroupRatio,
    GroupResult,
)
from analysis.statistics.verification.differentials.thresholds import OperatingPoint, fmr_threshold_bin, operating_point
from analysis.statistics.verification.pair_histograms import PairHistograms
from analysis.statistics.verification.verification import verification_metrics
from analysis.types import EmbeddingSet


@dataclass(frozen=True, eq=False)
class _Column:
    """One column's groups as codes: ``0 .. G-1`` the groups (sorted names), ``G`` rows left out."""

    name: str
    names: tuple[str, ...]
    codes: np.ndarray
    missing_rows: int
    skipped: str

    @property
    def n_codes(self) -> int:
        return len(self.names) + 1


@dataclass(frozen=True, eq=False)
class _NonMated:
    """Non-mated pairs of one column per code pair ``(g <= h)``: binned counts and what they stand for."""

    hist: np.ndarray  # (codes, codes, n_bins): binned pairs
    population: np.ndarray  # (codes, codes): all non-mated pairs
    s1: np.ndarray  # (codes, codes) sums of the binned cosines, and of their squares
    s2: np.ndarray
    budget: int = 0  # pairs drawn per code pair (sampled path): the bootstrap redraws the same samples
    includes_mated: bool = False  # s1, s2 of the within-group pairs sum over every pair, mated ones included


def _column(name: str, values: np.ndarray, p: DifferentialsParams) -> _Column:
    values = np.asarray(values).astype(str)
    missing = values == ""
    present = np.unique(values[~missing])
    as_group = p.missing == "group" and bool(missing.any())
    missing_name = MISSING_GROUP
    while missing_name in set(present.tolist()):  # a real value spelled "(missing)" keeps its own group
        missing_name += "*"
    names = [str(v) for v in present] + ([missing_name] if as_group else [])
    skipped = ""
    if not names:
        skipped = "no row has a value in this column"
    elif len(names) > p.max_groups:
        skipped = (f"{len(names):,d} distinct values, more than [differentials] max_groups = {p.max_groups}; group the "
                   "values first (ages into bands, say) or raise max_groups")
    codes = np.full(len(values), len(names), dtype=np.int64)  # the left-out code
    codes[~missing] = np.searchsorted(present, values[~missing])
    if as_group:
        codes[missing] = len(present)
    return _Column(name, tuple(names), codes, int(missing.sum()), skipped)


def analyze_differentials(emb: EmbeddingSet, params: DifferentialsParams, random_state: int = 0) -> DifferentialsResult:
    """FNMR and FMR per group at global thresholds, their max/min ratios, cross-group FMR, EER and d' per group.

    Parameters
    ----------
    emb : EmbeddingSet
        At least two identities and one group column (``emb.groups``). Computed on L2-normalised vectors.
    params : DifferentialsParams
        Settings left ``None`` take ``SimilarityParams``' defaults (the study passes ``[similarity]``'s).
    random_state : int, default=0
        Seed of the bootstrap and, above ``exact_max_rows`` rows, of the stratified pair samples.

    Returns
    -------
    DifferentialsResult

    References
    ----------
    .. [1] Grother, Ngan, Hanaoka. "Face Recognition Vendor Test (FRVT) Part 3: Demographic Effects."
       NIST IR 8280 (2019).
    .. [2] ISO/IEC 19795-1:2021, biometric performance testing and reporting: principles and framework.
    """
    if not emb.groups:
        raise ValueError("no group columns: set group_columns in the dataset's [[datasets]] entry")
    p = params.resolved()
    labels = emb.labels
    k = len(emb.identity_names)
    if k < 2:
        raise ValueError(f"differentials need at least 2 identities, got {k}")
    x = emb.normalized()
    n = len(x)
    cols = [_column(name, values, p) for name, values in emb.groups]
    used = [c for c in cols if not c.skipped]
    # Without an analysable column the global thresholds are still computed, on one code for every row.
    codes = [c.codes for c in used] or [np.zeros(n, dtype=np.int64)]
    n_codes = [c.n_codes for c in used] or [1]
    sampled = bool(p.exact_max_rows) and n > p.exact_max_rows
    edges = np.linspace(-1.0, 1.0, p.n_bins + 1)
    if sampled:
        nonmated = [_sampled_nonmated(x, labels, c, nc, p, random_state, i, every_code=i == 0)
                    for i, (c, nc) in enumerate(zip(codes, n_codes))]
    else:
        totals, mated_hists = all_pair_counts(x, labels, codes, max(n_codes), p.n_bins, p.block_rows)
        nonmated = [_exact_nonmated(t[:nc, :nc], g[:nc, :nc], x, c, nc) for t, g, c, nc in zip(totals, mated_hists, codes, n_codes)]
        genuine_exact = mated_hists[0].sum(axis=(0, 1))
    first = nonmated[0]
    binned = first.hist.sum(axis=(0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(first.hist.sum(axis=2) > 0, first.population / np.maximum(first.hist.sum(axis=2), 1), 0.0)
    estimated = (first.hist * weight[:, :, None]).sum(axis=(0, 1)) if sampled else binned
    # The thresholds depend on the non-mated pairs only (the mated ones only move a threshold up through empty
    # bins, which changes no decision), so the mated pairs are counted once, at known thresholds.
    if sampled:
        bins = [fmr_threshold_bin(estimated, level) for level in p.fmr_levels]
    else:
        exact_points = [operating_point(genuine_exact, binned, binned, edges, level, p.min_impostor_pairs)
                        for level in p.fmr_levels]
        bins = [op.bin for op in exact_points]
    mated = mated_stats(x, labels, codes, n_codes, p.n_bins, np.sort(bins))
    if sampled:
        points = tuple(operating_point(mated.hist, estimated, binned, edges, level, p.min_impostor_pairs)
                       for level in p.fmr_levels)
    else:  # the exact pass's thresholds (the similarity page's), the FNMR counted as every group's is
        points = tuple(dataclasses.replace(op, fnmr=float(mated.hist[: op.bin].sum() / max(mated.count, 1)))
                       for op in exact_points)
    rng = np.random.default_rng([random_state, 0xB007])
    w = boot.identity_weights(k, p.bootstrap_reps, rng)
    out, exhaustive = [], True
    for c in cols:
        if c.skipped:
            out.append(_skipped(c))
            continue
        i = used.index(c)
        col, col_exhaustive = _analyse_column(c, x, labels, k, mated.columns[i], nonmated[i], points, edges, w, p,
                                              random_state, i, sampled)
        exhaustive &= col_exhaustive
        out.append(col)
    return DifferentialsResult(
        n_samples=n, n_identities=k, operating_points=points, columns=tuple(out), sampled=sampled,
        impostor_pairs=n * (n - 1) // 2 - mated.count, impostor_pairs_binned=int(binned.sum()),
        bootstrap_reps=p.bootstrap_reps, bootstrap_pairs_exhaustive=exhaustive, confidence=float(p.confidence),
        planted=str(emb.meta.get("planted_differential", "")), sources=str(emb.meta.get("group_sources", "")), params=p,
    )


# --------------------------------------------------------------------------- non-mated pairs per code pair
def _exact_nonmated(total: np.ndarray, mated: np.ndarray, x: np.ndarray, codes: np.ndarray, n_codes: int) -> _NonMated:
    """All pairs minus mated pairs per code pair; the within-group sums over *all* pairs (closed forms: the mated
    pairs' share is subtracted once they are counted)."""
    hist = total - mated
    if (hist < 0).any():  # both come from the same float32 products, so this cannot happen
        raise RuntimeError("negative non-mated pair count: mated pairs binned inconsistently (a bug)")
    s1, s2 = np.zeros((n_codes, n_codes)), np.zeros((n_codes, n_codes))
    for g in range(n_codes):
        xg = x[codes == g].astype(np.float64)
        sq = np.einsum("ij,ij->i", xg, xg)
        tot = xg.sum(axis=0)
        gram = xg.T @ xg
        # sum over pairs i < j of x_i.x_j and of its square, without forming a pair (pair_histograms' closed forms).
        s1[g, g] = (tot @ tot - sq.sum()) / 2
        s2[g, g] = (np.einsum("ij,ij->", gram, gram) - (sq**2).sum()) / 2
    return _NonMated(hist, hist.sum(axis=2), s1, s2, includes_mated=True)


def _stratum_seed(random_state: int, column: int, g: int, h: int) -> list[int]:
    return [random_state, 0xD1FF, column, g, h]


def _budget(p: DifferentialsParams, n_strata: int) -> int:
    return max(1, int(p.impostor_samples) // max(n_strata, 1))


def _sampled_nonmated(x, labels, codes, n_codes, p: DifferentialsParams, random_state: int, column: int,
                      every_code: bool) -> _NonMated:
    """Stratified samples of the non-mated pairs per code pair (``every_code``: the left-out code too, for
    the global thresholds)."""
    present = [g for g in range(n_codes) if (codes == g).any() and (every_code or g < n_codes - 1)]
    pairs = [(g, h) for i, g in enumerate(present) for h in present[i:]]
    budget = _budget(p, len(pairs))
    hist = np.zeros((n_codes, n_codes, p.n_bins), dtype=np.int64)
    population = np.zeros((n_codes, n_codes), dtype=np.int64)
    s1, s2 = np.zeros((n_codes, n_codes)), np.zeros((n_codes, n_codes))
    for g, h in pairs:
        st = stratum_pairs(x, labels, codes, g, h, p.n_bins, budget, np.random.default_rng(_stratum_seed(random_state, column, g, h)))
        hist[g, h], population[g, h], s1[g, h], s2[g, h] = st.hist, st.population, st.s1, st.s2
    return _NonMated(hist, population, s1, s2, budget=budget)


# --------------------------------------------------------------------------- one column
def _skipped(c: _Column) -> ColumnDifferentials:
    empty = np.zeros((0, 0))
    return ColumnDifferentials(c.name, (), np.zeros((0, 0, 0)), empty, empty, np.zeros((0, 0, 0), dtype=bool), (),
                               c.missing_rows, 0, 0, c.skipped)


def _analyse_column(c: _Column, x, labels, k, cm: ColumnMated, nm: _NonMated, points: tuple[OperatingPoint, ...],
                    edges, w, p: DifferentialsParams, random_state: int, column: int, sampled: bool):
    G, L, nc = len(c.names), len(points), c.n_codes
    # cm.per_identity counts pairs passing exactly p of the sorted thresholds: a pair passing p of them is a false
    # non-match at every stricter one, so the misses at the j-th are a cumulative sum over p <= j.
    order = np.argsort([op.bin for op in points], kind="stable")
    mated_ag = cm.per_identity.sum(axis=2)[:, :G].astype(np.float64)
    misses = np.empty((k, G, L))
    misses[:, :, order] = np.cumsum(cm.per_identity, axis=2)[:, :G, :L]
    gen_hist = cm.hist
    gen_s1, gen_s2 = cm.s1, cm.s2
    if nm.includes_mated:
        imp_s1, imp_s2 = np.diag(nm.s1) - gen_s1, np.diag(nm.s2) - gen_s2
    else:
        imp_s1, imp_s2 = np.diag(nm.s1), np.diag(nm.s2)
    rows_ag = np.bincount(labels * nc + c.codes, minlength=k * nc).reshape(k, nc)[:, :G].astype(np.float64)
    ids_g = (rows_ag > 0).sum(axis=0)
    few = ids_g < p.min_identities
    # Rates and their estimability, per group and level.
    fnmr_est, fmr_est = np.full((G, L), np.nan), np.full((G, L), np.nan)
    fnmr_rates, fmr_rates = [[None] * L for _ in range(G)], [[None] * L for _ in range(G)]
    for g in range(G):
        n_mated = int(mated_ag[:, g].sum())
        binned = int(nm.hist[g, g].sum())
        for li, op in enumerate(points):
            errors = int(misses[:, g, li].sum())
            reason = _level_reason(op) or ("no mated pairs in the group" if n_mated == 0 else "")
            fnmr_est[g, li] = errors / n_mated if n_mated and not reason else np.nan
            fnmr_rates[g][li] = (errors, n_mated, reason)
            fm = int(nm.hist[g, g, op.bin:].sum())
            need = math.ceil(p.min_impostor_pairs / op.level)
            reason = _level_reason(op) or (
                f"only {binned:,d} non-mated pairs {'sampled ' if sampled else ''}in the group ({need:,d} needed at this "
                "FMR)" if binned < need else "")
            fmr_est[g, li] = fm / binned if binned and not reason else np.nan
            fmr_rates[g][li] = (fm, binned, reason)
    reps_fnmr = reps_fmr = None
    exhaustive = True
    if p.bootstrap_reps and (~few).any():
        reps_fnmr = boot.fnmr_replicates(w, mated_ag, misses)
        thresholds = np.array([points[i].bin for i in order])
        above, rates = [], np.ones(G)
        for g in range(G):
            st = _within_pairs(x, labels, c.codes, g, nm, p, random_state, column, sampled, thresholds, skip=bool(few[g]))
            above.append(st.above)
            rates[g] = st.rate
            exhaustive &= st.exhaustive or bool(few[g])
        reps_sorted = boot.fmr_replicates(w, rows_ag, above, rates, L)
        reps_fmr = np.empty_like(reps_sorted)
        reps_fmr[:, :, order] = reps_sorted
    groups = []
    for g in range(G):
        def rate(est, rates_g, reps, li):
            errors, pairs, reason = rates_g[li]
            interval = None
            if not reason and not few[g] and reps is not None:
                interval = boot.percentile_interval(reps[:, g, li], float(est[g, li]), p.confidence)
            return GroupRate(float(est[g, li]), interval, errors, pairs, reason)

        h = PairHistograms(edges, gen_hist[g], nm.hist[g, g], int(gen_hist[g].sum()), int(nm.hist[g, g].sum()),
                           *_moments(gen_s1[g], gen_s2[g], int(gen_hist[g].sum())),
                           *_moments(imp_s1[g], imp_s2[g], int(nm.hist[g, g].sum())))
        v = verification_metrics(h, ())
        groups.append(GroupResult(
            name=c.names[g], rows=int(rows_ag[:, g].sum()), identities=int(ids_g[g]), mated_pairs=int(mated_ag[:, g].sum()),
            nonmated_pairs=int(nm.population[g, g]), eer=float(v.eer), eer_threshold=float(v.eer_threshold),
            d_prime=float(v.d_prime), fnmr=tuple(rate(fnmr_est, fnmr_rates[g], reps_fnmr, li) for li in range(L)),
            fmr=tuple(rate(fmr_est, fmr_rates[g], reps_fmr, li) for li in range(L)), few_identities=bool(few[g])))
    ratios = tuple(_ratio(metric, li, op.level, est, reps, groups, few, p)
                   for metric, est, reps in (("FNMR", fnmr_est, reps_fnmr), ("FMR", fmr_est, reps_fmr))
                   for li, op in enumerate(points))
    cross_fmr, cross_pairs, cross_sampled, cross_ok = _cross(nm, points, G, p.min_impostor_pairs)
    mixed = int(((rows_ag > 0).sum(axis=1) >= 2).sum())
    cross_mated = cm.across
    return ColumnDifferentials(c.name, tuple(groups), cross_fmr, cross_pairs, cross_sampled, cross_ok, ratios,
                               c.missing_rows, mixed, cross_mated), exhaustive


def _level_reason(op: OperatingPoint) -> str:
    return "" if op.estimable else "the global threshold is not estimable"


def _moments(s1: float, s2: float, m: int) -> tuple[float, float]:
    if m == 0:
        return math.nan, math.nan
    mean = s1 / m
    return float(mean), float(max(s2 / m - mean**2, 0.0))


def _within_pairs(x, labels, codes, g, nm: _NonMated, p, random_state, column, sampled, thresholds, skip) -> StratumPairs:
    """The within-group non-mated pairs the bootstrap reads its FMRs from, with the identity pairs at or above
    the thresholds: above ``exact_max_rows`` the very sample of the point estimates (same seed and budget), else
    all of them or a seeded sample of ``bootstrap_impostor_pairs``."""
    if skip:  # too few identities for an interval: nothing to read
        empty = np.zeros(0, dtype=np.int64)
        return StratumPairs(g, g, 0, 0, True, empty, 0.0, 0.0, AbovePairs(empty, empty, empty, empty))
    if sampled:
        budget, seed = nm.budget, _stratum_seed(random_state, column, g, g)
    else:
        budget, seed = p.bootstrap_impostor_pairs, _stratum_seed(random_state, column + 1000, g, g)
    return stratum_pairs(x, labels, codes, g, g, p.n_bins, budget, np.random.default_rng(seed), thresholds)


def _ratio(metric, li, level, est, reps, groups, few, p: DifferentialsParams) -> GroupRatio:
    confidence = p.confidence
    ok = [g for g in range(len(groups)) if not few[g] and np.isfinite(est[g, li])]
    if len(ok) < 2:
        why = ("a single group" if len(groups) == 1 else
               f"{len(ok)} with an estimable {metric} and at least {p.min_identities} identities")
        return GroupRatio(metric, level, math.nan, None, "", "", len(ok), f"fewer than two groups to compare: {why}")
    vals = est[ok, li]
    hi, lo = ok[int(np.argmax(vals))], ok[int(np.argmin(vals))]
    if hi == lo:  # every group at the same rate: name two groups (ratio 1), never one group as both extremes
        lo = ok[1] if hi == ok[0] else ok[0]
    if vals.max() == 0:
        return GroupRatio(metric, level, math.nan, None, groups[hi].name, groups[lo].name, len(ok),
                          f"no group had a false {'non-match' if metric == 'FNMR' else 'match'}")
    estimate = float(vals.max() / vals.min()) if vals.min() > 0 else math.inf
    interval = None
    if reps is not None:
        # The interval is that of the ratio of the two groups named: recomputing max/min in every replicate
        # would be at least 1 by construction and call noise a differential.
        interval = boot.percentile_interval(boot.ratio_replicates(reps[:, hi, li], reps[:, lo, li]), estimate, confidence)
    return GroupRatio(metric, level, estimate, interval, groups[hi].name, groups[lo].name, len(ok))


def _cross(nm: _NonMated, points, G: int, min_pairs: int):
    """FMR of every pair of groups at every threshold (symmetric), the pairs behind it and whether it is estimable."""
    diag = np.arange(G)
    hist = nm.hist[:G, :G]
    sym = hist + hist.transpose(1, 0, 2)  # code pairs are stored once, g <= h
    sym[diag, diag] = hist[diag, diag]
    pop = nm.population[:G, :G] + nm.population[:G, :G].T
    pop[diag, diag] = nm.population[diag, diag]
    binned = sym.sum(axis=2)
    fmr = np.full((len(points), G, G), np.nan)
    ok = np.zeros((len(points), G, G), dtype=bool)
    for li, op in enumerate(points):
        above = sym[:, :, op.bin:].sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            fmr[li] = np.where(binned > 0, above / np.maximum(binned, 1), np.nan)
        ok[li] = op.estimable & (binned >= math.ceil(min_pairs / op.level))
    return fmr, pop, binned, ok
