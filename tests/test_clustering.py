"""Tests of analysis.statistics.clustering.clustering and report.pages.clustering."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.statistics.clustering.clustering import ClusteringParams, analyze_clustering
from analysis.statistics.clustering.kmeans import k_grid
from analysis.config import ConfigError, build_dataclass
from analysis.embedding.synthetic import SyntheticDatasetOptions, SyntheticNetworkOptions, generate
from analysis.types import Cell, EmbeddingSet
from report import plotting
from report.model import Figure, Table

FAST = ClusteringParams(small_k=(2,), n_k=3, kmeans_max_iter=50)


@pytest.fixture(scope="module")
def emb() -> EmbeddingSet:
    opts = SyntheticDatasetOptions(n_identities=12, min_images=6, max_images=30, junk_fraction=0.0, mislabel_fraction=0.0)
    return generate(opts, {"a": SyntheticNetworkOptions()}, "demo", 0)["a"]


@pytest.fixture(scope="module")
def result(emb):
    return analyze_clustering(emb, FAST, random_state=0)


def _blob_set(sizes, d=16, seed=0, spread=0.05) -> EmbeddingSet:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), d))
    rows = [centres[i] + spread * rng.normal(size=(n, d)) for i, n in enumerate(sizes)]
    ids = np.concatenate([[f"id{i}"] * n for i, n in enumerate(sizes)])
    x = np.concatenate(rows).astype(np.float32)
    return EmbeddingSet("t", "n", x, ids, np.array([f"r{i}" for i in range(len(x))]))


def test_pseudo_labels_exposed(result, emb):
    assert result.pseudo_labels.shape == (emb.n_samples,)
    assert result.pseudo_labels.dtype == np.int64
    assert result.pseudo_k == result.n_identities == 12
    assert len(np.unique(result.pseudo_labels)) <= 12


def test_sweep_shapes_and_bounds(result):
    s = result.sweep
    assert 12 in s.k and 2 in s.k and np.all(np.diff(s.k) > 0)
    assert len(s.external) == len(s.k) == len(s.silhouette) == len(s.davies_bouldin)
    assert np.allclose(s.distortion * result.n_samples, s.inertia)
    # distortion falls (almost always; allow a little slack for n_init=1) as k grows
    assert s.distortion[-1] < s.distortion[0]
    for m in result.methods:
        e = m.external
        for v in (e.purity, e.rand, e.nmi, e.bcubed_f, e.pair_f):
            assert 0.0 <= v <= 1.0 + 1e-12
        assert 0.0 <= m.noise_fraction < 1.0


def test_methods_recover_separated_identities(result):
    names = {m.method for m in result.methods}
    assert {"kmeans", "dbscan", "hdbscan", "agglomerative-ward", "agglomerative-average",
            "agglomerative-complete", "agglomerative-single"} <= names
    # synthetic identities are well separated: average linkage and the best method find them
    assert result.method("agglomerative-average").external.ari > 0.8
    assert max(m.external.ari for m in result.methods) > 0.9
    with pytest.raises(KeyError, match="available"):
        result.method("spectral")


def test_deterministic(emb, result):
    again = analyze_clustering(emb, FAST, random_state=0)
    assert np.array_equal(again.pseudo_labels, result.pseudo_labels)
    assert np.allclose(again.sweep.silhouette, result.sweep.silhouette, equal_nan=True)


def test_sampling_is_recorded():
    emb = _blob_set([60] * 5)
    r = analyze_clustering(emb, ClusteringParams(small_k=(2,), n_k=2, max_samples=130, silhouette_sample_size=120,
                                                 kmeans_max_samples=200), 0)
    # whole identities of 60 rows up to 130 rows: two identities
    assert r.sampling.density_rows == 120 and r.sampling.silhouette_rows == 120 and r.sampling.kmeans_fit_rows == 200
    assert r.method("hdbscan").n_evaluated == 120 and r.method("hdbscan").sampled
    assert r.method("agglomerative-average").n_clusters == 2
    assert r.pseudo_labels.shape == (300,)  # every row assigned although KMeans saw 200
    assert r.method("kmeans").external.ari > 0.95


def test_two_identities_and_singleton_identity():
    r = analyze_clustering(_blob_set([20, 1, 15]), FAST, 0)
    assert r.pseudo_k == 3 and r.pseudo_labels.shape == (36,)
    r2 = analyze_clustering(_blob_set([10, 12]), FAST, 0)
    assert r2.pseudo_k == 2 and r2.method("kmeans").external.ari == pytest.approx(1.0)
    assert r2.dendrogram is None  # a dendrogram of 2 leaves says nothing


def test_too_small_inputs_raise():
    with pytest.raises(ValueError, match="at least 2 identities"):
        analyze_clustering(_blob_set([10]), FAST, 0)
    with pytest.raises(ValueError, match="at least 4 embeddings"):
        analyze_clustering(_blob_set([1, 2]), FAST, 0)


def test_switched_off_methods_are_recorded():
    r = analyze_clustering(_blob_set([10, 12, 9]), ClusteringParams(small_k=(2,), dbscan=False, hdbscan=False, agglomerative=False), 0)
    assert [m.method for m in r.methods] == ["kmeans"]
    assert len(r.skipped) == 3 and r.dbscan is None


def test_identity_sample_keeps_whole_identities():
    from analysis.statistics.clustering.clustering import identity_sample

    labels = np.repeat(np.arange(10), [5, 1, 8, 3, 20, 2, 7, 4, 6, 9])
    for seed in range(5):
        rows = identity_sample(labels, 25, np.random.default_rng(seed))
        kept = np.unique(labels[rows])
        # at most 25 rows, except that two identities are always kept
        assert len(kept) >= 2 and (len(rows) <= 25 or len(kept) == 2)
        assert len(rows) == np.isin(labels, kept).sum()  # every image of a kept identity
    assert np.array_equal(identity_sample(labels, 1000, np.random.default_rng(0)), np.arange(len(labels)))


def test_k_grid():
    p = ClusteringParams()
    ks = k_grid(100, 10_000, p)
    assert list(ks[:3]) == [2, 5, 10] and 100 in ks and ks.min() == 2 and ks.max() == 150
    assert k_grid(100, 40, p).max() == 39  # clipped to n - 1
    assert list(k_grid(5, 100, ClusteringParams(k_values=(3, 7, 3)))) == [3, 7]


def test_params_validation_and_config():
    with pytest.raises(ValueError, match="linkage"):
        ClusteringParams(linkages=("ward", "centroid"))
    with pytest.raises(ValueError, match="k_low"):
        ClusteringParams(k_low=1.5)
    p = build_dataclass(ClusteringParams, {"k_values": [5, 10], "dbscan_eps": [0.5, 0.7], "linkages": ["ward"]}, "[clustering]")
    assert p.k_values == (5, 10) and p.linkages == ("ward",)
    with pytest.raises(ConfigError, match="max_samples"):
        build_dataclass(ClusteringParams, {"max_sample": 10}, "[clustering]")


def test_page_and_compare(result):
    from report.pages import clustering as section
    from report.contexts import CellContext

    ctx = CellContext(cell=Cell("demo", "a", "all"), subset_description="all", synthetic=True, n_dims=512)
    page = section.page(ctx, result)
    assert page.path == ("demo", "a", "all", "clustering") and page.synthetic
    blocks = list(page.blocks())
    figures = [b for b in blocks if isinstance(b, Figure)]
    tables = [b for b in blocks if isinstance(b, Table)]
    assert 3 <= len(figures) <= 8
    keys = [b.key for b in figures] + [b.key for b in tables]
    assert len(set((type(b), b.key) for b in figures + tables)) == len(keys)
    for f in figures:
        fig = f.plot(f.data)
        assert fig.axes
        plotting.close(fig)
    for t in tables:
        assert isinstance(t.frame, pd.DataFrame) and len(t.frame) > 0
        assert set(t.formats) - set(t.frame.columns) <= set(section._METRIC_FORMATS)
    methods = next(t for t in tables if t.key.endswith("clustering-methods"))
    assert len(methods.frame) == len(result.methods) and "BCubed F" in methods.frame and "Dunn" in methods.frame
    sections = section.compare({ctx.cell: result}, {ctx.cell: ctx})
    frame = sections[0].blocks[-1].frame
    assert len(frame) == 1 and frame["best ARI"].iloc[0] >= frame["KMeans ARI"].iloc[0]
