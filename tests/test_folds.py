"""analysis.statistics.classifiers.folds: the same folds as scikit-learn's StratifiedKFold, faster."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from analysis.statistics.classifiers.folds import stratified_splits, stratified_test_folds


def _sklearn_folds(y, n_splits, seed):
    out = np.empty(len(y), dtype=int)
    for i, (_, test) in enumerate(StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)):
        out[test] = i
    return out


@pytest.mark.parametrize("seed", [0, 1, 12345])
@pytest.mark.parametrize("n_splits", [2, 3, 5])
def test_same_folds_as_sklearn(seed, n_splits):
    rng = np.random.default_rng(seed)
    # Unequal class sizes, classes in scrambled order of appearance, some below n_splits rows.
    counts = rng.integers(1, 40, size=60)
    y = rng.permutation(np.repeat(rng.permutation(200)[:60] * 7, counts))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the least populated class has fewer rows than folds
        assert np.array_equal(stratified_test_folds(y, n_splits, seed), _sklearn_folds(y, n_splits, seed))


def test_string_labels_and_splits_in_order():
    y = np.repeat(np.array(["zed", "amy", "bob", "cat"]), [7, 9, 5, 12])[np.random.default_rng(3).permutation(33)]
    ours = stratified_splits(y, 3, 7)
    theirs = list(StratifiedKFold(3, shuffle=True, random_state=7).split(np.zeros(len(y)), y))
    assert len(ours) == 3
    for (a_train, a_test), (b_train, b_test) in zip(ours, theirs):
        assert np.array_equal(a_train, b_train) and np.array_equal(a_test, b_test)
    assert [t.tolist() for _, t in stratified_splits(y, 3, 7, first=1)] == [theirs[0][1].tolist()]


def test_too_few_rows_everywhere_is_an_error():
    with pytest.raises(ValueError, match="n_splits=5"):
        stratified_test_folds(np.array([0, 0, 1, 1]), 5, 0)
    with pytest.warns(UserWarning, match="least populated"):
        stratified_test_folds(np.array([0, 0, 0, 0, 0, 1, 1]), 5, 0)
