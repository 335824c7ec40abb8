"""Undefined metrics are NaN with a reason (not inf); bad input (NaN, mixed label types) is refused."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import UndefinedMetricWarning

from analysis.statistics.clustering import metrics
from analysis.statistics.geometry import pca_dimensions, twonn_dimension
from analysis.statistics.verification.pair_histograms import pair_histograms
from analysis.statistics.verification.verification import verification_metrics


def test_d_prime_of_identical_embeddings_is_undefined_not_infinite():
    x = np.tile(np.array([[1.0, 0.0, 0.0]]), (6, 1))
    v = verification_metrics(pair_histograms(x, np.array([0, 0, 0, 1, 1, 1]), n_bins=100))
    assert np.isnan(v.d_prime) and "zero variance" in v.d_prime_note
    rng = np.random.default_rng(0)
    y = rng.normal(size=(12, 8))
    ok = verification_metrics(pair_histograms(y / np.linalg.norm(y, axis=1, keepdims=True), np.repeat([0, 1, 2], 4), n_bins=400))
    assert np.isfinite(ok.d_prime) and ok.d_prime_note == ""


def test_dunn_of_identical_points_is_nan_with_a_warning():
    with pytest.warns(UndefinedMetricWarning, match="zero diameter"):
        assert np.isnan(metrics.dunn_index(np.zeros((6, 3)), [0, 0, 0, 1, 1, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.dunn_index(np.array([[0.0], [0.1], [5.0], [5.1]]), [0, 0, 1, 1]) == pytest.approx(4.9 / 0.1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pca_counts_identical_rows_as_zero_dimensions(dtype):
    row = np.random.default_rng(0).normal(size=(1, 128)) * 10
    assert pca_dimensions(np.tile(row, (10, 1)).astype(dtype), 0.01) == (0, 0, 0, False)
    # A genuine direction far smaller than the rows' norm is still counted.
    x = np.tile(row, (10, 1)) + np.outer(np.arange(10.0), np.eye(128)[0]) * 1e-3
    assert pca_dimensions(x, 0.01)[0] == 1


def test_twonn_and_pca_reject_nan():
    x = np.random.default_rng(0).normal(size=(20, 4))
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        twonn_dimension(x)
    with pytest.raises(ValueError, match="NaN"):
        pca_dimensions(x, 0.01)


@pytest.mark.parametrize("fn", [metrics.adjusted_rand, metrics.purity_score, metrics.normalized_mutual_info,
                                metrics.pairwise_precision_recall_fscore, metrics.bcubed_precision_recall_fscore])
def test_mixed_type_labels_are_rejected(fn):
    with pytest.raises(ValueError, match="mixes strings and numbers"):
        fn([1, "1", 2, 2], [0, 0, 1, 1])
    with pytest.raises(ValueError, match="mixes strings and numbers"):
        fn([0, 0, 1, 1], np.array([1, "1", 2, 2], dtype=object))
    fn(["1", "1", "2", "2"], [0, 0, 1, 1])  # one type is fine


def test_internal_metrics_reject_nan_and_mixed_labels():
    x = np.random.default_rng(0).normal(size=(6, 2))
    with pytest.raises(ValueError, match="mixes strings and numbers"):
        metrics.davies_bouldin(x, [1, 1, "1", 2, 2, 2])
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.dunn_index(x, [0, 0, 0, 1, 1, 1])
