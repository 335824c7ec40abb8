"""1:N identification against an independent brute-force numpy implementation, its properties and edge cases."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from analysis.statistics.identification.identification import analyze_identification
from analysis.statistics.identification.params import IdentificationParams
from analysis.types import EmbeddingSet


def _emb(n_id=30, per=(3, 12), dim=24, spread=0.8, seed=0, junk=0, names=None):
    rng = np.random.default_rng(seed)
    counts = rng.integers(per[0], per[1] + 1, n_id)
    centres = rng.normal(size=(n_id, dim))
    x = np.concatenate([c + spread * rng.normal(size=(k, dim)) for c, k in zip(centres, counts)])
    names = names or [f"id{i:03d}" for i in range(n_id)]
    ids = np.repeat(names, counts)
    if junk:
        x = np.concatenate([x, rng.normal(size=(junk, dim))])
        ids = np.concatenate([ids, ["unknown"] * junk])
    # Item names not in row order, so that "first in sorted item order" is not "first row".
    items = np.array([f"{n}/img{int(v):06d}.jpg" for n, v in zip(ids, rng.permutation(len(x)))])
    return EmbeddingSet("t", "net", x.astype(np.float32), ids, items)


# --------------------------------------------------------------------------- the reference
def brute_force(emb: EmbeddingSet, g: int, share: float, seed: int, max_rank: int, junk=("unknown",)):
    """The protocol written out with Python loops and one full score matrix, sharing no code with the analysis."""
    x = emb.vectors.astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    names = sorted({str(n) for n in emb.identities if str(n).lower() not in {j.lower() for j in junk}})
    rows_of = {n: sorted((str(emb.items[i]), i) for i in range(len(x)) if str(emb.identities[i]) == n) for n in names}
    eligible = [n for n in names if len(rows_of[n]) >= g + 1]
    templates, probes, mates = [], [], []
    for j, n in enumerate(eligible):
        rows = [i for _, i in rows_of[n]]
        t = x[rows[:g]].sum(axis=0)
        templates.append(t / np.linalg.norm(t))
        for i in rows[g:]:
            probes.append(i)
            mates.append(j)
    t = np.array(templates)
    s = x[probes] @ t.T
    ranks, top1 = [], []
    for p, m in enumerate(mates):
        # Ties count against the probe; the rank-1 candidate is the mate at rank 1, else the best other one.
        others = [j for j in range(len(t)) if j != m]
        ranks.append(1 + sum(s[p, j] >= s[p, m] for j in others))
        top1.append(m if ranks[-1] == 1 else max(others, key=lambda j: (s[p, j], -j)))
    ranks = np.array(ranks)
    cmc = np.array([np.mean(ranks <= r) for r in range(1, min(max_rank, len(t)) + 1)])
    out = {"eligible": eligible, "ranks": ranks, "cmc": cmc, "top1": np.array(top1), "mates": np.array(mates), "s": s}
    k = len(eligible)
    n_out = min(k - 1, max(1, round(share * k)))
    unenrolled = set(np.random.default_rng(seed).choice(k, size=n_out, replace=False).tolist())
    enrolled = [j for j in range(k) if j not in unenrolled]
    mated = [p for p, m in enumerate(mates) if m not in unenrolled]
    nonmated = [p for p, m in enumerate(mates) if m in unenrolled]
    out["nonmated_top"] = np.array([s[p, enrolled].max() for p in nonmated])
    hits = []
    for p in mated:
        beaten = any(s[p, j] >= s[p, mates[p]] for j in enrolled if j != mates[p])
        hits.append(-np.inf if beaten else s[p, mates[p]])
    out["hits"] = np.array(hits)
    out["unenrolled"] = sorted(eligible[j] for j in unenrolled)
    return out


def _fpir_fnir(ref, t):
    return float(np.mean(ref["nonmated_top"] >= t)), float(np.mean(~(ref["hits"] >= t)))


@pytest.mark.parametrize("g", [1, 2])
def test_matches_brute_force(g):
    emb = _emb(seed=g, junk=7)
    p = IdentificationParams(gallery_images=g, unenrolled_share=0.3, fpir_levels=(0.2, 0.1), min_nonmated_above=3)
    r = analyze_identification(emb, p, random_state=5)
    ref = brute_force(emb, g, 0.3, 5, p.max_rank)
    assert list(r.names) == ref["eligible"]
    assert r.n_probes == len(ref["ranks"])
    first = {n: min(str(it) for i_, it in zip(emb.identities, emb.items) if i_ == n) for n in ref["eligible"]}
    assert list(r.enrolled_items) == [first[n] for n in ref["eligible"]]
    np.testing.assert_allclose(r.cmc, ref["cmc"])
    assert r.rank1.estimate == pytest.approx(np.mean(ref["ranks"] == 1))
    assert r.confused_probes == int(np.sum(ref["top1"] != ref["mates"]))
    # The most confused pair: the brute force's most frequent (mate, rank-1) pair among the misidentified.
    wrong = ref["top1"] != ref["mates"]
    pairs, counts = np.unique(np.stack([ref["mates"][wrong], ref["top1"][wrong]], 1), axis=0, return_counts=True)
    assert r.confusions.count[0] == counts.max()
    top_pairs = {(ref["eligible"][a], ref["eligible"][b]) for (a, b), c in zip(pairs, counts) if c == counts.max()}
    assert (str(r.confusions.probe_identity[0]), str(r.confusions.returned_identity[0])) in top_pairs
    o = r.open_set
    assert list(o.unenrolled_identities) == ref["unenrolled"]
    assert o.n_nonmated == len(ref["nonmated_top"]) and o.n_mated == len(ref["hits"])
    eps = 1e-6  # the reference scores in float64, the analysis in float32: a score may move by ~1e-7
    for f in o.fnir_at_fpir:
        hi, lo = _fpir_fnir(ref, f.threshold + eps), _fpir_fnir(ref, f.threshold - eps)
        assert hi[0] <= f.achieved_fpir <= lo[0] and f.achieved_fpir <= f.fpir
        # The lowest such threshold: any lower non-mated score as threshold would exceed the level.
        lower = ref["nonmated_top"][ref["nonmated_top"] < f.threshold - eps]
        if len(lower):
            assert _fpir_fnir(ref, lower.max())[0] > f.fpir
        if f.estimable:
            assert hi[1] - 1e-12 <= f.fnir <= lo[1] + 1e-12
            assert f.interval.low <= f.fnir <= f.interval.high
    # The curve at every threshold it lists.
    for t, fp, fn in zip(o.thresholds[::7], o.fpir[::7], o.fnir[::7]):
        hi, lo = _fpir_fnir(ref, t + eps), _fpir_fnir(ref, t - eps)
        assert hi[0] <= fp <= lo[0] and lo[1] - 1e-12 <= fn <= hi[1] + 1e-12
    assert o.rank1_fnir == pytest.approx(np.mean(~np.isfinite(ref["hits"])))


def test_junk_labels_are_not_identities_and_small_ones_are_counted():
    emb = _emb(n_id=12, per=(1, 6), seed=4, junk=9)
    r = analyze_identification(emb, IdentificationParams(gallery_images=2), 0)
    assert r.junk_identities == ("unknown",) and r.junk_images == 9 and "unknown" not in set(r.names)
    small = [n for n in set(emb.identities) if n != "unknown" and int(np.sum(emb.identities == n)) < 3]
    assert r.small_identities == len(small) and r.small_images == sum(int(np.sum(emb.identities == n)) for n in small)
    assert r.n_gallery_items == 2 * len(r.names)
    assert r.n_probes + r.n_gallery_items + r.small_images + r.junk_images == emb.n_samples
    # A study's own junk label (case-insensitive) is honoured.
    other = analyze_identification(emb, IdentificationParams(gallery_images=2, junk_labels=("UNKNOWN", "id000")), 0)
    assert "id000" not in set(other.names) and set(other.junk_identities) == {"unknown", "id000"}


def test_separable_data_gives_rank1_one_and_monotone_cmc():
    emb = _emb(n_id=25, spread=0.01, seed=2)
    r = analyze_identification(emb, IdentificationParams(), 0)
    assert r.rank1.estimate == 1.0 and np.all(r.cmc == 1.0) and r.confused_probes == 0
    assert len(r.confusions.count) == 0
    noisy = analyze_identification(_emb(n_id=40, spread=2.5, seed=2), IdentificationParams(), 0)
    assert 0 < noisy.rank1.estimate < 1
    assert np.all(np.diff(noisy.cmc) >= 0) and noisy.cmc[-1] <= 1
    assert noisy.rank1.low <= noisy.rank1.estimate <= noisy.rank1.high
    assert noisy.rank5.estimate == pytest.approx(noisy.cmc[4])


def test_relabelling_and_row_order_do_not_change_the_closed_set():
    emb = _emb(n_id=20, spread=1.5, seed=7)
    base = analyze_identification(emb, IdentificationParams(unenrolled_share=0), 0)
    # Names renamed keeping their order, rows shuffled: the same gallery, probes and ranks.
    rng = np.random.default_rng(0)
    perm = rng.permutation(emb.n_samples)
    renamed = np.char.add("person-", emb.identities.astype(str))
    moved = EmbeddingSet("t", "net", emb.vectors[perm], renamed[perm], emb.items[perm])
    other = analyze_identification(moved, IdentificationParams(unenrolled_share=0), 0)
    np.testing.assert_array_equal(base.cmc, other.cmc)
    np.testing.assert_array_equal(base.confusions.count, other.confusions.count)
    assert base.open_set is None and "unenrolled_share = 0" in base.open_set_note


def test_seeds_move_the_open_set_only():
    emb = _emb(n_id=30, spread=1.2, seed=8)
    a = analyze_identification(emb, IdentificationParams(), 1)
    b = analyze_identification(emb, IdentificationParams(), 1)
    c = analyze_identification(emb, IdentificationParams(), 2)
    assert a.open_set.unenrolled_identities == b.open_set.unenrolled_identities
    np.testing.assert_array_equal(a.open_set.fnir, b.open_set.fnir)
    assert a.open_set.unenrolled_identities != c.open_set.unenrolled_identities
    np.testing.assert_array_equal(a.cmc, c.cmc)
    assert len(a.open_set.unenrolled_identities) == 6  # round(0.2 * 30)


def test_edge_cases():
    one = _emb(n_id=1, per=(5, 5))
    with pytest.raises(ValueError, match="at least 2 identities"):
        analyze_identification(one, IdentificationParams(), 0)
    small = _emb(n_id=6, per=(1, 3), seed=1)
    with pytest.raises(ValueError, match=r"at least 5 images.*6 identities with fewer images left out"):
        analyze_identification(small, IdentificationParams(gallery_images=4), 0)
    # Two identities: one is left out of the open set (at least one, at most all but one).
    two = _emb(n_id=2, per=(4, 4), seed=3)
    r = analyze_identification(two, IdentificationParams(), 0)
    assert r.rank5 is None and len(r.cmc) == 2 and len(r.open_set.unenrolled_identities) == 1
    assert r.open_set.enrolled_identities == 1
    # No non-mated search above a strict level: not estimable, with the counts.
    f = r.open_set.fnir_at_fpir[-1]
    assert not f.estimable and math.isnan(f.fnir) and "non-mated searches" in f.reason


@pytest.mark.parametrize("bad", [
    {"gallery_images": 0}, {"unenrolled_share": 1.0}, {"unenrolled_share": -0.1}, {"max_rank": 0},
    {"max_rank": 10**6}, {"fpir_levels": (0.0,)}, {"fpir_levels": (2.0,)}, {"min_nonmated_above": 0},
    {"exact_max_rows": -1}, {"check_probes": 1}, {"nonmated_sample": 5}, {"confidence": 1.0},
])
def test_params_reject_bad_values(bad):
    with pytest.raises(ValueError):
        IdentificationParams(**bad)


def test_inverted_file_agrees_with_the_exact_search():
    # 1,100 identities (the index needs at least 1,024 templates) with a threshold lowered below the rows.
    emb = _emb(n_id=1100, per=(3, 6), dim=32, spread=0.45, seed=11)
    p = IdentificationParams(exact_max_rows=0, check_probes=500)
    exact = analyze_identification(emb, p, 0)
    approx = analyze_identification(emb, dataclasses.replace(p, exact_max_rows=1000), 0)
    s = approx.search
    assert exact.search.method == "exact" and s.method == "IVF"
    assert s.checked_probes == 500 and 1 <= s.nprobe <= min(s.nlist, 64)
    assert 0.9 <= s.rank_agreement <= 1 and 0 < s.recall <= 1
    # A missed template can only lower a rank (even a missed mate: its score is known): the CMC is never below
    # the exact one, and at most the
    # measured disagreement (plus sampling noise of 500 checked probes) above it.
    assert np.all(approx.cmc >= exact.cmc - 1e-12)
    assert np.max(approx.cmc - exact.cmc) <= (1 - s.rank_agreement) + 0.03
    assert approx.open_set.n_nonmated == exact.open_set.n_nonmated  # below nonmated_sample: every one, exactly
    for a, b in zip(approx.open_set.fnir_at_fpir, exact.open_set.fnir_at_fpir):
        assert a.threshold == pytest.approx(b.threshold)
    sampled = analyze_identification(emb, dataclasses.replace(p, exact_max_rows=1000, nonmated_sample=200), 0)
    assert sampled.nonmated_sampled and sampled.open_set.n_nonmated == 200
    assert sampled.nonmated_total == exact.open_set.n_nonmated


def test_page_and_comparison_render():
    import matplotlib.pyplot as plt

    from analysis.types import Cell
    from report.contexts import CellContext
    from report.model import Admonition, Figure, Table
    from report.pages import identification as page_mod

    emb = _emb(n_id=40, spread=1.6, seed=5, junk=4)
    cells = {}
    for net, seed in (("a", 5), ("b", 6)):
        e = _emb(n_id=40, spread=1.6, seed=seed, junk=4)
        cells[Cell("d", net, "all")] = analyze_identification(e, IdentificationParams(min_nonmated_above=2), 0)
    ctxs = {c: CellContext(cell=c, subset_description="all", synthetic=True, n_dims=emb.n_dims) for c in cells}
    c0 = next(iter(cells))
    page = page_mod.page(ctxs[c0], cells[c0])
    blocks = list(page.blocks())
    keys = [b.key for b in blocks if isinstance(b, (Figure, Table))]
    assert len(keys) == len(set(keys)) and page.path[-1] == "identification"
    for b in blocks:
        if isinstance(b, Figure):
            plt.close(b.plot(b.data))
    text = " ".join(getattr(s, "text", "") for b in page.intro if hasattr(b, "parts") for s in b.parts)
    assert "unknown" in text and "neither enrolled nor searched" in text
    (section,) = page_mod.compare(cells, ctxs)
    figs = [b for b in section.blocks if isinstance(b, Figure)]
    assert {f.key for f in figs} == {"compare-cmc-d-all", "compare-fnir-fpir-d-all"}
    table = [b for b in section.blocks if isinstance(b, Table)][0]
    assert list(table.frame["network"]) == ["a", "b"] and "rank-1" in table.frame
    for f in figs:
        fig = f.plot(f.data)
        assert len(fig.axes[0].get_legend().get_texts()) == 2
        plt.close(fig)
    no_open = analyze_identification(emb, IdentificationParams(unenrolled_share=0), 0)
    p2 = page_mod.page(ctxs[c0], no_open)
    assert any(isinstance(b, Admonition) and b.title == "No open-set protocol" for b in p2.blocks())
    assert "rank-1 identification" in page_mod.headline(cells[c0])


def test_config_reads_identification_and_study_junk_labels(tmp_path):
    from analysis.config import ConfigError, load_config
    from tests.conftest import write_small_config

    path = write_small_config(tmp_path, extra="[identification]\ngallery_images = 2\nunenrolled_share = 0.25\n")
    text = path.read_text().replace("[study]\n", '[study]\njunk_labels = ["unknown", "nobody"]\n', 1)
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.identification.gallery_images == 2 and cfg.identification.junk_labels == ("unknown", "nobody")
    for extra, match in (("junk_labels = [\"x\"]", "set \\[study\\] junk_labels"), ("gallery_images = -3", "gallery_images"),
                         ("unenrolled_share = 1.5", "unenrolled_share"), ("max_rnk = 5", "did you mean 'max_rank'"),
                         ("fpir_levels = \"0.01\"", "must be a list"), ("exact_max_rows = 1e400", "finite|integer")):
        bad = write_small_config(tmp_path / f"bad{abs(hash(extra))}", extra=f"[identification]\n{extra}\n")
        with pytest.raises(ConfigError, match=match):
            load_config(bad)


@pytest.mark.slow
def test_second_and_third_run_follow_the_data(tmp_path):
    # Run 1, then the data change (more identities): run 2 recomputes identification on the new data; run 3 reuses it.
    from analysis.config import load_config
    from analysis.embedding.store import EmbeddingStore
    from report.study import BuildLog, compute_all, load_inputs
    from tests.conftest import write_small_config

    def run(n_identities):
        cfg = load_config(write_small_config(tmp_path, subsets='["all"]', n_identities=n_identities))
        off = {name: dataclasses.replace(getattr(cfg, name), enabled=False)
               for name in ("geometry", "similarity", "clustering", "manifold", "classifiers", "audit", "crossnet")}
        cfg = dataclasses.replace(cfg, **off)
        build = BuildLog()
        inputs = load_inputs(cfg, EmbeddingStore(cfg.study.cache_dir), build, progress=False)
        res = compute_all(cfg, inputs, build, progress=False)
        return res.cell_results["identification"], build

    first, _ = run(12)
    second, build2 = run(15)
    third, build3 = run(15)
    for cell in first:
        assert len(first[cell].names) < len(second[cell].names) == len(third[cell].names)
        np.testing.assert_array_equal(second[cell].cmc, third[cell].cmc)
    assert any(w.startswith("identification") for w in build2.computed)
    assert not any(w.startswith("identification") for w in build3.computed)
    assert any(w.startswith("identification") for w in build3.reused)


@pytest.mark.parametrize("cmc", [np.linspace(0.829, 1.0, 20), np.r_[0.995, np.full(19, 0.9992)], np.linspace(0.2, 0.9, 20)])
def test_cmc_axis_reads_true_percentages_never_above_100(cmc):
    import matplotlib.pyplot as plt

    from report.pages.identification import CmcData, plot_cmc

    fig = plot_cmc(CmcData(("n",), (np.arange(1, 21),), (cmc,)))
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [(t.get_text(), t.get_position()[1]) for t in ax.get_yticklabels() if t.get_text()]
    assert len(labels) >= 3
    for text, value in labels:
        assert float(text.rstrip("%")) == pytest.approx(100 * value, abs=1e-6), (text, value)
        assert value <= 1.0 + 1e-9
    assert ax.get_ylim()[0] <= cmc.min()
    plt.close(fig)


@pytest.mark.parametrize("d", [3, 128, 512])
def test_a_mate_with_an_identical_twin_template_is_never_rank_1(d):
    """One photo filed under two names gives two identical templates: a tie, which counts against the probe.

    Before, the mate's score came from einsum and the others' from a BLAS product: 506 of 2,400 such
    probes came out at rank 1 (d = 3, 128, 512), depending on rounding alone.
    """
    from analysis.statistics.identification.search import exact_search

    rng = np.random.default_rng(d)
    t = rng.normal(size=(30, d)).astype(np.float32)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    t[2] = t[1]
    q = t[np.full(200, 1)] + 0.3 * rng.normal(size=(200, d)).astype(np.float32)
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    out = exact_search(q, t, np.full(200, 1), np.ones(30, bool), 20)
    assert (np.asarray(out.rank) >= 2).all()
    assert 1 not in set(np.asarray(out.top1).tolist())  # the twin or an impostor beats the mate, never the mate itself
