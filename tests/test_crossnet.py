"""Tests of analysis.statistics.crossnet and its page (report.pages.crossnet)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis.statistics.crossnet import CrossNetworkParams, align, analyze_crossnet, neighbour_jaccard
from analysis.embedding.synthetic import SyntheticDatasetOptions, SyntheticNetworkOptions, generate
from analysis.types import EmbeddingSet
from report.model import Figure, Table
from report.pages import crossnet as section
from report.contexts import DatasetContext

PARAMS = CrossNetworkParams(n_pairs=5000)


@pytest.fixture(scope="module")
def embs() -> dict[str, EmbeddingSet]:
    opts = SyntheticDatasetOptions(n_identities=30, max_images=60)
    return generate(
        opts,
        {"net-512": SyntheticNetworkOptions(), "net-128": SyntheticNetworkOptions(dim=128, seed=1)},
        "demo",
        0,
    )


@pytest.fixture(scope="module")
def result(embs):
    return analyze_crossnet(embs, PARAMS, random_state=0)


def _copy(e: EmbeddingSet, network: str, rows=None, identities=None) -> EmbeddingSet:
    rows = np.arange(e.n_samples) if rows is None else rows
    return EmbeddingSet(
        dataset=e.dataset, network=network, vectors=e.vectors[rows],
        identities=(e.identities if identities is None else identities)[rows], items=e.items[rows],
        synthetic=e.synthetic,
    )


def test_alignment_ignores_row_order_and_missing_items(embs, result):
    a, b = embs["net-512"], embs["net-128"]
    rng = np.random.default_rng(1)
    shuffled = {"net-512": _copy(a, "net-512", rng.permutation(a.n_samples)),
                "net-128": _copy(b, "net-128", rng.permutation(b.n_samples)[5:])}
    items, ids, vectors = align(shuffled)
    assert len(items) == a.n_samples - 5 and np.all(items[:-1] < items[1:])
    order = np.argsort(a.items)
    full_items, _, full_vectors = align(embs)
    keep = np.isin(full_items, items)
    assert np.array_equal(vectors["net-512"], full_vectors["net-512"][keep])
    assert np.array_equal(full_vectors["net-512"], a.vectors[order])
    r = analyze_crossnet(shuffled, PARAMS, random_state=0)
    assert r.n_intersection == a.n_samples - 5 and r.n_items_per_network == (b.n_samples - 5, a.n_samples)


def test_identical_networks_agree_perfectly(embs):
    a = embs["net-512"]
    r = analyze_crossnet({"x": a, "y": _copy(a, "y")}, PARAMS, random_state=0)
    (pair,) = r.pairs
    assert pair.neighbour_jaccard == pytest.approx(1.0)
    assert pair.similarity_spearman == pytest.approx(1.0)
    assert pair.dispersion_spearman == pytest.approx(1.0)
    assert np.array_equal(r.hard_for_all, r.per_network[0].hard) and not r.hard_for_one.any()


def test_128_vs_512_networks_agree_partly(result):
    (pair,) = result.pairs
    assert 0.0 < pair.neighbour_jaccard < 1.0
    assert 0.2 < pair.similarity_spearman < 1.0
    assert pair.dispersion_spearman > 0.5
    dims = {s.network: s.n_dims for s in result.per_network}
    assert dims == {"net-512": 512, "net-128": 128}


def test_per_identity_scores_and_hard_fraction(result):
    n_ids = len(result.names)
    for s in result.per_network:
        assert s.knn_accuracy.shape == s.silhouette.shape == s.hard.shape == (n_ids,)
        assert np.nanmin(s.knn_accuracy) >= 0 and np.nanmax(s.knn_accuracy) <= 1
        assert s.hard.sum() == int(np.ceil(PARAMS.hard_fraction * np.isfinite(s.knn_accuracy).sum()))
        # The hard identities are the ones with the lowest kNN accuracy.
        assert s.knn_accuracy[s.hard].max() <= s.knn_accuracy[~s.hard].min()
        assert s.mean_knn_accuracy > 0.8
    hard = np.array([s.hard for s in result.per_network])
    assert np.array_equal(result.hard_for_all, hard.all(axis=0))
    assert np.array_equal(result.hard_for_one, hard.sum(axis=0) == 1)


def test_knn_accuracy_known_answer():
    # Two tight groups far apart, plus one image of group B labelled A.
    rng = np.random.default_rng(0)
    a = np.array([1.0, 0, 0]) + 0.01 * rng.standard_normal((12, 3))
    b = np.array([0, 1.0, 0]) + 0.01 * rng.standard_normal((12, 3))
    x = np.concatenate([a, b]).astype(np.float32)
    ids = np.array(["A"] * 12 + ["B"] * 12)
    ids[23] = "A"
    e = EmbeddingSet("toy", "n", x, ids, np.array([f"i{k:02d}" for k in range(24)]))
    r = analyze_crossnet({"n": e}, CrossNetworkParams(knn_k=3, n_pairs=100), random_state=0)
    acc = dict(zip(r.names, r.per_network[0].knn_accuracy))
    assert acc["B"] == 1.0 and acc["A"] == pytest.approx(12 / 13)


def test_neighbour_jaccard_known_answer():
    a = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    b = np.array([[1, 2, 3, 9], [9, 10, 11, 12]])
    assert neighbour_jaccard(a, b) == pytest.approx((3 / 5 + 0.0) / 2)


def test_sample_cap(embs):
    r = analyze_crossnet(embs, CrossNetworkParams(max_samples=200, n_pairs=100), random_state=0)
    assert r.n_items == 200 and r.n_intersection == embs["net-512"].n_samples


def test_errors_say_the_fix(embs):
    a = embs["net-512"]
    other = a.identities.copy()
    other[0] = "Someone_Else"
    with pytest.raises(ValueError, match="must share the labels"):
        analyze_crossnet({"x": a, "y": _copy(a, "y", identities=other)}, PARAMS)
    with pytest.raises(ValueError, match="at least one"):
        analyze_crossnet({}, PARAMS)
    disjoint = EmbeddingSet(a.dataset, "z", a.vectors, a.identities, np.char.add("other/", a.items.astype(str)))
    with pytest.raises(ValueError, match="common to networks"):
        analyze_crossnet({"x": a, "z": disjoint}, PARAMS)
    with pytest.raises(ValueError):
        CrossNetworkParams(hard_fraction=1.5)


def _check_page(page):
    assert page.path == ("demo", "networks") and page.title == "Across networks"
    for block in page.blocks():
        if isinstance(block, Figure):
            plt.close(block.plot(block.data))
        if isinstance(block, Table):
            assert block.frame.columns.is_unique
    return page


def test_page_renders(result):
    ctx = DatasetContext(dataset="demo", networks=result.networks, synthetic=True)
    page = _check_page(section.page(ctx, result))
    assert sum(isinstance(b, Figure) for b in page.blocks()) == 1
    assert len(section.pair_frame(result)) == 1


def test_single_network_says_nothing_to_compare_and_renders(embs):
    r = analyze_crossnet({"net-512": embs["net-512"]}, PARAMS, random_state=0)
    assert not r.comparable and r.pairs == () and "nothing to compare" in r.skipped[0]
    page = _check_page(section.page(DatasetContext(dataset="demo", networks=r.networks, synthetic=True), r))
    assert not any(isinstance(b, Figure) for b in page.blocks())
