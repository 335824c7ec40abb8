"""Geometry: known answers on constructed data, properties on the synthetic demo."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.statistics.geometry import GeometryParams, analyze_geometry, pca_dimensions, twonn_dimension
from analysis.types import EmbeddingSet


def make_set(vectors, labels):
    vectors = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(labels, dtype=str)
    items = np.array([f"i{k}" for k in range(len(labels))])
    return EmbeddingSet("d", "n", vectors, labels, items)


def test_radius_dispersion_count_known_answer():
    # Identity a: four points at distance 1 from the centroid (0, 0, 0); identity b: distances 1 and 3.
    a = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]]
    b = [[10, 0, 0], [10, 0, 0], [10, 0, 2], [10, 0, -2]]  # centroid (10, 0, 0): distances 0, 0, 2, 2
    r = analyze_geometry(make_set(a + b, ["a"] * 4 + ["b"] * 4), GeometryParams(twonn_min_samples=3))
    g = r.raw.identities
    assert list(g.names) == ["a", "b"]
    np.testing.assert_allclose(g.radius, [1.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(g.dispersion, [0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(g.mean_distance, [1.0, 1.0], rtol=1e-6)
    assert list(g.count) == [4, 4]
    np.testing.assert_allclose(r.raw.centroids, [[0, 0, 0], [10, 0, 0]], atol=1e-6)
    assert g.intrinsic_dim[0] == 2 and g.intrinsic_dim[1] == 1


def test_pca_dimension_is_capped_by_n_minus_1():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 100))  # 6 samples of a 100-D isotropic cloud: PCA can see at most 5
    above, d90, d95, capped = pca_dimensions(x, 0.01)
    assert above == 5 and capped and d90 <= 5 and d95 <= 5
    assert pca_dimensions(x[:1], 0.01) == (0, 0, 0, True)


@pytest.mark.parametrize("dim", [2, 5, 10])
def test_twonn_recovers_the_dimension_of_a_linear_manifold(dim):
    rng = np.random.default_rng(dim)
    latent = rng.uniform(size=(3000, dim))
    basis = np.linalg.qr(rng.standard_normal((64, dim)))[0]
    estimate = twonn_dimension(latent @ basis.T)
    assert abs(estimate - dim) / dim < 0.2


def test_twonn_rejects_too_few_points():
    assert np.isnan(twonn_dimension(np.zeros((2, 3))))


def test_geometry_on_the_synthetic_demo(demo_embeddings):
    r = analyze_geometry(demo_embeddings, GeometryParams(), random_state=0)
    g = r.l2.identities
    # L2-normalised radii are bounded by 2; raw norms are in the generator's range.
    assert (g.radius <= 2).all() and (g.radius > 0).all()
    assert 12 < np.median(r.norms) < 32
    # The planted per-identity intrinsic dimension is 5-25 (junk identity excluded).
    real = g.names != "unknown"
    assert 4 <= np.median(g.intrinsic_dim[real]) <= 25
    # The cosine matrix is symmetric with a unit diagonal.
    c = r.l2.centroid_cosine
    np.testing.assert_allclose(c, c.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(c), 1.0, atol=1e-5)
    # Deterministic for a given seed.
    again = analyze_geometry(demo_embeddings, GeometryParams(), random_state=0)
    np.testing.assert_array_equal(again.l2.map_points, r.l2.map_points)


def test_geometry_needs_two_identities():
    with pytest.raises(ValueError, match="at least 2 identities"):
        analyze_geometry(make_set([[1, 0], [0, 1]], ["a", "a"]), GeometryParams())
