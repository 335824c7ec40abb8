"""Tests of analysis.statistics.manifold and its page (report.pages.manifold)."""
from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from analysis.statistics.manifold import ManifoldParams, analyze_manifold, seeded_sample
from analysis.embedding.synthetic import SyntheticDatasetOptions, SyntheticNetworkOptions, generate
from analysis.types import Cell, EmbeddingSet
from report.model import Figure, Table
from report.pages import manifold as section
from report.contexts import CellContext

FAST = ManifoldParams(umap=False, max_samples=400, tsne_iterations=250, trust_samples=300)


@pytest.fixture(scope="module")
def emb() -> EmbeddingSet:
    opts = SyntheticDatasetOptions(n_identities=12, min_images=6, max_images=40, mislabel_fraction=0.0)
    return generate(opts, {"a": SyntheticNetworkOptions()}, "small", 0)["a"]


@pytest.fixture(scope="module")
def full_result(emb):
    # One run with UMAP (numba compiles on first use: the slowest part of these tests).
    return analyze_manifold(emb, dataclasses.replace(FAST, umap=True), random_state=3)


def test_pca_and_tsne_are_byte_identical_for_the_same_seed(emb):
    a = analyze_manifold(emb, FAST, random_state=7)
    b = analyze_manifold(emb, FAST, random_state=7)
    for method in ("pca", "tsne"):
        assert a.get(method).coords.tobytes() == b.get(method).coords.tobytes()
    assert np.array_equal(a.clusters, b.clusters)
    assert np.array_equal(a.sample_index, b.sample_index)


def test_umap_is_byte_identical_for_the_same_seed(emb, full_result):
    again = analyze_manifold(emb, dataclasses.replace(FAST, umap=True), random_state=3)
    assert full_result.get("umap").coords.tobytes() == again.get("umap").coords.tobytes()


def test_maps_have_one_finite_row_per_sampled_point(full_result):
    r = full_result
    assert [m.method for m in r.maps] == ["pca", "tsne", "umap"]
    for m in r.maps:
        assert m.coords.shape == (len(r.sample_index), 2)
        assert m.coords.dtype == np.float32
        assert np.isfinite(m.coords).all()
        assert 0.0 <= m.trustworthiness <= 1.0
    assert r.skipped == ()


def test_nonlinear_maps_keep_neighbourhoods_better_than_pca(full_result):
    # Well separated synthetic identities: t-SNE/UMAP neighbourhoods should be faithful.
    pca, tsne, umap = (full_result.get(m).trustworthiness for m in ("pca", "tsne", "umap"))
    assert tsne > 0.9 and umap > 0.9
    assert tsne > pca and umap > pca


def test_kmeans_clusters_match_identities_on_separated_data(full_result):
    assert full_result.n_clusters == len(np.unique(full_result.labels))
    assert full_result.cluster_ari > 0.5


def test_sample_cap_draws_a_sorted_seeded_subset(emb):
    r = analyze_manifold(emb, dataclasses.replace(FAST, max_samples=50, tsne=False), random_state=1)
    assert len(r.sample_index) == 50
    assert np.all(np.diff(r.sample_index) > 0)
    assert np.array_equal(r.labels, emb.labels[r.sample_index])
    assert not np.array_equal(seeded_sample(emb.n_samples, 50, 1), seeded_sample(emb.n_samples, 50, 2))
    assert np.array_equal(seeded_sample(30, 50, 0), np.arange(30))


def test_switched_off_maps_are_recorded_as_skipped(emb):
    r = analyze_manifold(emb, dataclasses.replace(FAST, tsne=False, umap=False), random_state=0)
    assert [m.method for m in r.maps] == ["pca"]
    assert len(r.skipped) == 2 and all("switched off" in s for s in r.skipped)


def test_two_identities_only(emb):
    names = emb.identity_names[:2]
    r = analyze_manifold(emb.take(np.isin(emb.identities, names)), FAST, random_state=0)
    assert r.n_identities == 2 and r.n_clusters == 2


def test_too_small_inputs_raise_with_the_fix(emb):
    one = emb.take(emb.identities == emb.identity_names[0])
    with pytest.raises(ValueError, match="at least 2 identities"):
        analyze_manifold(one, FAST)
    tiny = emb.take(np.r_[np.flatnonzero(emb.labels == 0)[:4], np.flatnonzero(emb.labels == 1)[:4]])
    with pytest.raises(ValueError, match="at least 10 rows"):
        analyze_manifold(tiny, FAST)


@pytest.mark.parametrize("kwargs", [{"max_samples": 5}, {"perplexity": 0}, {"umap_min_dist": 2.0}, {"n_jobs": 0}])
def test_invalid_params_raise(kwargs):
    with pytest.raises(ValueError):
        ManifoldParams(**kwargs)


def test_page_renders_every_figure_and_table(full_result):
    ctx = CellContext(cell=Cell("demo", "a", "all"), subset_description="all", synthetic=True, n_dims=512)
    page = section.page(ctx, full_result)
    assert page.path == ("demo", "a", "all", "manifold")
    figures = [b for b in page.blocks() if isinstance(b, Figure)]
    tables = [b for b in page.blocks() if isinstance(b, Table)]
    # t-SNE and UMAP; PCA is drawn once per cell, on the Geometry page and in the Explorer.
    assert len(figures) == 2 and len(tables) == 1
    assert not any(f.key.endswith('manifold-pca') for f in figures)
    for f in figures:
        plt.close(f.plot(f.data))
    frame = tables[0].frame
    assert list(frame["method"]) == ["PCA", "t-SNE", "UMAP"]
    assert frame["trustworthiness"].between(0, 1).all()
    (cmp,) = section.compare({ctx.cell: full_result}, {ctx.cell: ctx})
    assert isinstance(cmp.blocks[-1].frame, pd.DataFrame) and len(cmp.blocks[-1].frame) == 1


def test_kmeans_seeding_switches_to_random_for_many_clusters(emb):
    fast = dataclasses.replace(FAST, tsne=False)
    assert analyze_manifold(emb, fast, random_state=0).kmeans_init == "k-means++"
    many = analyze_manifold(emb, dataclasses.replace(fast, kmeans_plusplus_max_k=5), random_state=0)
    assert many.kmeans_init == "random" and many.n_clusters == emb.identity_names.size
    with pytest.raises(ValueError, match="kmeans_init"):
        ManifoldParams(kmeans_init="best")
