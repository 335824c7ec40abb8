"""KMeans runs several initialisations (default 4), in the clustering sweep and for pseudo-labels."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.statistics.classifiers.classifiers import ClassifierParams, pseudo_labels
from analysis.statistics.clustering.params import ClusteringParams
from analysis.statistics.clustering.kmeans import _fit_kmeans


def _blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 8)) * 4
    return np.concatenate([c + rng.normal(size=(30, 8)) for c in centres])


def test_default_is_at_least_four_initialisations_and_configurable():
    assert ClusteringParams().kmeans_n_init >= 4 and ClassifierParams().kmeans_n_init >= 4
    x = _blobs()
    assert _fit_kmeans(x, 6, ClusteringParams(), 0).n_init == 4
    one, many = _fit_kmeans(x, 6, ClusteringParams(kmeans_n_init=1), 3), _fit_kmeans(x, 6, ClusteringParams(kmeans_n_init=8), 3)
    assert many.inertia_ <= one.inertia_ + 1e-9  # the best of 8 is never worse than the first
    with pytest.raises(ValueError, match="kmeans_n_init"):
        ClusteringParams(kmeans_n_init=0)
    with pytest.raises(ValueError, match="kmeans_n_init"):
        ClassifierParams(kmeans_n_init=0)


def test_pseudo_labels_use_n_init():
    x = _blobs()
    a = pseudo_labels(x, 6, 0, n_init=4)
    assert np.array_equal(a, pseudo_labels(x, 6, 0, n_init=4))  # seeded
    assert len(np.unique(a)) == 6
