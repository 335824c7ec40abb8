"""Large-set approximations: sampled impostor pairs, approximate k-NN, and the automatic switch to them."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.statistics.search.ann import approximate_knn
from analysis.statistics.classifiers.knn import knn_predict, neighbour_graph
from analysis.statistics.verification.pair_histograms import pair_histograms
from analysis.statistics.verification.sampled_pairs import far_interval, sampled_pair_histograms
from analysis.statistics.verification.verification import verification_metrics


def _clustered(n: int, d: int, k: int, seed: int, spread: float = 0.8):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    labels = rng.integers(0, k, size=n)
    x = centres[labels] + spread * rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels


def test_sampled_pairs_count_genuine_exactly_and_estimate_impostors():
    x, y = _clustered(3000, 32, 120, seed=1)
    exact = pair_histograms(x, y, n_bins=400)
    hist, sample = sampled_pair_histograms(x, y, n_bins=400, n_samples=400_000, random_state=5)
    np.testing.assert_array_equal(hist.genuine, exact.genuine)
    assert hist.n_genuine == exact.n_genuine and hist.genuine_mean == pytest.approx(exact.genuine_mean, rel=1e-9)
    # Same-label pairs of each sampled group are left out: slightly fewer than drawn.
    assert 0.95 * 400_000 <= sample.n_sampled == hist.n_impostor and sample.population == exact.n_impostor
    assert hist.impostor_mean == pytest.approx(exact.impostor_mean, abs=3e-3)
    ve, vs = verification_metrics(exact, (1e-2,)), verification_metrics(hist, (1e-2,))
    assert vs.tar_at_far[0] == pytest.approx(ve.tar_at_far[0], rel=0.05)
    # Seeded: the same seed gives the same sample, another seed another one.
    again, _ = sampled_pair_histograms(x, y, n_bins=400, n_samples=400_000, random_state=5)
    other, _ = sampled_pair_histograms(x, y, n_bins=400, n_samples=400_000, random_state=6)
    np.testing.assert_array_equal(again.impostor, hist.impostor)
    assert not np.array_equal(other.impostor, hist.impostor)


def test_far_interval_brackets_the_exact_rate_and_narrows_with_more_pairs():
    x, y = _clustered(4000, 32, 160, seed=7)
    exact = pair_histograms(x, y, n_bins=400)
    first = 300  # cosine >= 0.5
    true_far = exact.impostor[first:].sum() / exact.n_impostor
    _, small = sampled_pair_histograms(x, y, n_bins=400, n_samples=200_000, random_state=1, group_rows=200)
    _, large = sampled_pair_histograms(x, y, n_bins=400, n_samples=2_000_000, random_state=1, group_rows=200)
    lo, hi, above = far_interval(large, first)
    assert lo <= true_far <= hi and above > 0
    lo_s, hi_s, _ = far_interval(small, first)
    assert hi - lo < hi_s - lo_s


def test_approximate_knn_recall_is_measured_and_high():
    x, _ = _clustered(6000, 32, 200, seed=2, spread=0.5)
    dist, idx, report = approximate_knn(x, 10, nprobe=8, random_state=0)
    assert idx.shape == (6000, 10) and dist.shape == (6000, 10)
    assert 0.9 <= report.recall <= 1.0 and report.recall_queries == 1000
    again = approximate_knn(x, 10, nprobe=8, random_state=0)
    np.testing.assert_array_equal(again[1], idx)  # deterministic


def test_neighbour_graph_switches_to_approximate_above_the_limit_and_knn_still_predicts():
    x, y = _clustered(3000, 32, 60, seed=3, spread=0.5)
    exact = neighbour_graph(x, 16)
    approx = neighbour_graph(x, 16, exact_max_rows=1000)
    assert exact.ann is None and approx.ann is not None and approx.ann.recall > 0.8
    rows = np.arange(len(x))
    train, test = rows[rows % 5 != 0], rows[rows % 5 == 0]
    acc_exact = np.mean(knn_predict(exact, train, test, y, 3) == y[test])
    acc_approx = np.mean(knn_predict(approx, train, test, y, 3) == y[test])
    assert abs(acc_exact - acc_approx) < 0.02


def test_similarity_page_says_when_impostors_were_sampled():
    from analysis.statistics.verification.similarity import SimilarityParams, analyze_similarity
    from analysis.types import EmbeddingSet, Cell
    from report.contexts import CellContext
    from report.pages import similarity as page_mod

    x, y = _clustered(600, 16, 30, seed=4)
    ids = np.array([f"id{v:02d}" for v in y])
    emb = EmbeddingSet("d", "n", x, ids, np.array([f"i{i}" for i in range(len(x))]), synthetic=True)
    exact = analyze_similarity(emb, SimilarityParams(), 0)
    approx = analyze_similarity(emb, SimilarityParams(exact_max_rows=500, impostor_samples=50_000), 0)
    assert exact.impostor_sample is None and approx.impostor_sample is not None
    ctx = CellContext(Cell("d", "n", "all"), "all images", True, 16, 0)

    def text(result):
        return repr(page_mod.page(ctx, result))

    page_text = text(approx)
    assert "Impostor pairs sampled" in page_text and f"{approx.impostor_sample.n_sampled:,d}" in page_text
    assert "FAR 0.01:" in page_text  # the interval of a FAR read from the sample
    assert "Impostor pairs sampled" not in text(exact)
