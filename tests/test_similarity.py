"""Tests of analysis.statistics.verification.similarity and its page."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.statistics.verification.pair_histograms import pair_histograms
from analysis.statistics.verification.similarity import SimilarityParams, analyze_similarity
from analysis.statistics.verification.verification import best_threshold, pairs_protocol
from analysis.types import EmbeddingSet, l2_normalize


def _emb(vectors, identities, name="t"):
    n = len(vectors)
    return EmbeddingSet(name, "net", np.asarray(vectors, dtype=np.float32), np.asarray(identities),
                        np.array([f"img{i:05d}" for i in range(n)]))


def _clusters(k=6, per=12, dim=16, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    x = np.repeat(centres, per, axis=0) + spread * rng.normal(size=(k * per, dim))
    ids = np.repeat([f"id{i:02d}" for i in range(k)], per)
    return x.astype(np.float32), ids


@pytest.mark.parametrize("block_rows", [1, 7, 64, 5000])
def test_pair_histograms_match_brute_force(block_rows):
    rng = np.random.default_rng(1)
    x = l2_normalize(rng.normal(size=(150, 8)))
    labels = rng.integers(0, 9, size=150)
    h = pair_histograms(x, labels, n_bins=100, block_rows=block_rows)
    s = x.astype(np.float64) @ x.T.astype(np.float64)
    iu = np.triu_indices(150, 1)
    same = (labels[:, None] == labels[None, :])[iu]
    v = s[iu]
    assert h.n_genuine == same.sum() and h.n_impostor == (~same).sum()
    assert h.genuine.sum() == h.n_genuine and h.impostor.sum() == h.n_impostor
    # Exact up to float32 rounding at bin edges.
    assert np.abs(np.histogram(v[same], bins=h.edges)[0] - h.genuine).sum() <= 2
    assert np.abs(np.histogram(v[~same], bins=h.edges)[0] - h.impostor).sum() <= 2
    assert h.genuine_mean == pytest.approx(v[same].mean(), abs=1e-6)
    assert h.impostor_var == pytest.approx(v[~same].var(), abs=1e-6)


def test_identical_vectors_land_in_last_bin():
    x = l2_normalize(np.ones((5, 4)))
    h = pair_histograms(x, np.zeros(5, dtype=int), n_bins=40)
    assert h.genuine[-1] == 10 and h.n_impostor == 0


def test_verification_separated_and_random():
    x, ids = _clusters(spread=0.05)
    r = analyze_similarity(_emb(x, ids), SimilarityParams(n_bins=2000, far_levels=(1e-1,)))
    v = r.verification
    assert v.eer == pytest.approx(0.0, abs=1e-9)
    assert v.auc == pytest.approx(1.0)
    assert v.overlap == pytest.approx(0.0)
    assert v.tar_at_far[0] == pytest.approx(1.0)
    assert v.d_prime > 5
    rng = np.random.default_rng(0)
    rand = analyze_similarity(_emb(rng.normal(size=(300, 32)), rng.integers(0, 5, 300).astype(str)), SimilarityParams())
    assert 0.4 < rand.verification.eer < 0.6
    assert 0.4 < rand.verification.auc < 0.6
    assert rand.verification.d_prime < 0.3


def test_tar_at_far_not_reported_below_resolution():
    x, ids = _clusters(k=3, per=4)
    r = analyze_similarity(_emb(x, ids), SimilarityParams(far_levels=(1e-1, 1e-4)))
    assert r.histograms.n_impostor < 1e4
    assert np.isfinite(r.verification.tar_at_far[0]) and np.isnan(r.verification.tar_at_far[1])


def test_roc_monotone_and_eer_consistent():
    x, ids = _clusters(spread=0.9, seed=3)
    v = analyze_similarity(_emb(x, ids), SimilarityParams()).verification
    assert np.all(np.diff(v.far) >= 0) and np.all(np.diff(v.tar) >= 0)
    # At the EER threshold, FAR and FRR read from the ROC are both close to the EER.
    j = np.argmin(np.abs(v.thresholds - v.eer_threshold))
    assert abs(v.far[j] - v.eer) < 0.05 and abs((1 - v.tar[j]) - v.eer) < 0.05


def test_nearest_other_and_consecutive_known_answer():
    # Three tight identities: a and b close, c far away.
    base = np.array([[1, 0, 0], [0.95, 0.3, 0], [0, 0, 1]], dtype=np.float32)
    x = np.repeat(base, 3, axis=0) + 0.01 * np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32)
    r = analyze_similarity(_emb(x, np.repeat(["a", "b", "c"], 3)), SimilarityParams())
    assert list(r.names[r.nearest.neighbor])[:2] == ["b", "a"]
    assert r.nearest.cosine[0] > 0.9 > r.nearest.cosine[2]
    assert np.all(r.nearest.margin > 0)
    assert r.consecutive.cosine.shape == (2,)
    assert r.consecutive.cosine[0] == pytest.approx(r.centroid_cosine[0, 1])
    assert np.allclose(r.centroid_euclidean, r.centroid_euclidean.T) and np.allclose(np.diag(r.centroid_euclidean), 0)


def test_edge_cases():
    with pytest.raises(ValueError, match="at least 2 identities"):
        analyze_similarity(_emb(np.eye(3), ["a", "a", "a"]), SimilarityParams())
    # Two identities with one image each: no genuine pair, metrics NaN, no crash.
    r = analyze_similarity(_emb(np.eye(2, 4), ["a", "b"]), SimilarityParams())
    assert r.histograms.n_genuine == 0 and np.isnan(r.verification.eer)
    assert r.singleton_identities == 2
    with pytest.raises(ValueError, match="n_bins"):
        SimilarityParams(n_bins=1)


def test_best_threshold_known_answer():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    same = np.array([0, 0, 0, 1, 1, 1], dtype=bool)
    assert best_threshold(scores, same) == pytest.approx(0.5)


def test_pairs_protocol_synthetic():
    x, ids = _clusters(k=10, per=10, spread=0.2)
    emb = _emb(x, ids)
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(300):
        i, j = rng.integers(0, len(x), 2)
        pairs.append((emb.items[i], emb.items[j], ids[i] == ids[j]))
    for i in range(0, 100, 10):  # make sure there are positives
        pairs.append((emb.items[i], emb.items[i + 1], True))
    pairs.append(("missing.jpg", emb.items[0], False))
    r = pairs_protocol(emb, pairs, folds=10)
    assert r.n_pairs == 310 and r.n_missing == 1
    assert r.accuracy_mean == pytest.approx(1.0)
    # Random labels: accuracy near chance, never above what the majority class allows by much.
    noisy = [(a, b, bool(rng.integers(0, 2))) for a, b, _ in pairs[:-1]]
    assert pairs_protocol(emb, noisy, folds=10).accuracy_mean < 0.65
    with pytest.raises(ValueError, match="usable pairs"):
        pairs_protocol(emb, [("x", "y", True)] * 20, folds=10)


def test_page_renders_demo():
    from analysis.embedding.synthetic import SyntheticDatasetOptions, SyntheticNetworkOptions, generate
    from analysis.types import Cell
    from report.model import Figure, Table
    from report.pages import similarity as sec
    from report.contexts import CellContext

    emb = generate(SyntheticDatasetOptions(n_identities=20, max_images=30), {"a": SyntheticNetworkOptions()}, "demo", 0)["a"]
    pairs = [(emb.items[i], emb.items[i + 1], emb.identities[i] == emb.identities[i + 1]) for i in range(0, 200, 2)]
    r = analyze_similarity(emb, SimilarityParams(heatmap_max_identities=10), pairs=pairs)
    ctx = CellContext(cell=Cell("demo", "a", "all"), subset_description="all", synthetic=True, n_dims=emb.n_dims)
    page = sec.page(ctx, r)
    assert page.path[-1] == "similarity" and page.synthetic
    blocks = list(page.blocks())
    keys = [b.key for b in blocks if isinstance(b, (Figure, Table))]
    assert len(keys) == len(set(keys))
    import matplotlib.pyplot as plt

    for b in blocks:
        if isinstance(b, Figure):
            plt.close(b.plot(b.data))
        if isinstance(b, Table):
            assert isinstance(b.frame, pd.DataFrame) and len(b.frame) > 0
    section, *more = sec.compare({ctx.cell: r}, {ctx.cell: ctx})
    assert len(section.blocks[-1].frame) == 1
    assert [s.title for s in more] == ["Verification in ISO/IEC 19795-1 terms"]


def test_dataset_pairs_reach_the_similarity_of_the_all_subset(tmp_path):
    # The pipeline hands a dataset's verification pairs (LFW protocol) to the similarity analysis
    # of the "all" subset only; unusable pairs are recorded on the result, not fatal.
    import dataclasses

    from analysis.config import load_config
    from report.study import BuildLog, compute_all, load_inputs
    from analysis.embedding.store import EmbeddingStore
    from tests.conftest import write_small_config

    cfg = load_config(write_small_config(tmp_path, subsets='["all", "min-5"]'))
    off = {name: dataclasses.replace(getattr(cfg, name), enabled=False)
           for name in ("geometry", "clustering", "manifold", "classifiers", "audit", "crossnet")}
    cfg = dataclasses.replace(cfg, **off)
    build = BuildLog()
    (inp, *_) = load_inputs(cfg, EmbeddingStore(cfg.study.cache_dir), build, progress=False)
    emb = next(iter(inp.embeddings.values()))
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(200):
        a, b = rng.choice(emb.n_samples, 2, replace=False)
        pairs.append((str(emb.items[a]), str(emb.items[b]), bool(emb.identities[a] == emb.identities[b])))
    same = [i for i in range(emb.n_samples) for j in range(i + 1, min(i + 2, emb.n_samples))
            if emb.identities[i] == emb.identities[j]][:100]
    pairs += [(str(emb.items[i]), str(emb.items[i + 1]), True) for i in same]
    res = compute_all(cfg, (dataclasses.replace(inp, pairs=tuple(pairs)),), build, progress=False)
    by_subset = {c.subset: r for c, r in res.cell_results["similarity"].items()}
    assert by_subset["all"].pairs is not None and by_subset["all"].pairs.n_pairs == len(pairs)
    assert by_subset["all"].pairs.accuracy_mean > 0.8
    assert by_subset["min-5"].pairs is None
    bad = compute_all(cfg, (dataclasses.replace(inp, pairs=(("nope", "nada", True),)),), BuildLog(), progress=False)
    r = next(r for c, r in bad.cell_results["similarity"].items() if c.subset == "all")
    assert r.pairs is None and "usable pairs" in r.pairs_skipped
