"""Exact cosine nearest neighbours for the explorer (analysis.statistics.neighbours)."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.statistics.neighbours import NeighbourParams, nearest_neighbours


def _brute(x: np.ndarray, k: int):
    u = x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    s = u @ u.T
    np.fill_diagonal(s, -np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(len(x)), s.shape), -s), axis=1)[:, :k]
    return order, np.take_along_axis(s, order, axis=1)


@pytest.mark.parametrize("n, dim, k", [(2, 3, 10), (11, 3, 10), (12, 8, 10), (300, 16, 10), (2500, 32, 5)])
def test_lists_equal_the_brute_force_search(n, dim, k):
    x = np.random.default_rng(n).standard_normal((n, dim)).astype(np.float32) * 7  # raw norms, not unit
    got = nearest_neighbours(x, NeighbourParams(k=k))
    keep = min(k, n - 1)
    index, cosine = _brute(x, keep)
    np.testing.assert_array_equal(got.index[:, :keep], index)
    np.testing.assert_allclose(got.cosine[:, :keep], cosine, atol=1e-12)
    assert (got.index[:, keep:] == -1).all() and np.isnan(got.cosine[:, keep:]).all()
    assert (got.index[:, :keep] != np.arange(n)[:, None]).all()  # never the row itself
    assert (np.diff(got.cosine[:, :keep], axis=1) <= 0).all()  # nearest first


def test_duplicates_tie_at_one_and_are_ordered_by_row():
    base = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    x = np.vstack([base, base[2], base[2] * 3.0])  # rows 5 and 6 repeat row 2's direction
    got = nearest_neighbours(x, NeighbourParams(k=3))
    assert got.index[2, :2].tolist() == [5, 6] and got.cosine[2, :2] == pytest.approx([1.0, 1.0])
    assert got.index[5, :2].tolist() == [2, 6]


def test_same_lists_whatever_the_block_size(monkeypatch):
    from analysis.statistics import neighbours

    x = np.random.default_rng(3).standard_normal((700, 24)).astype(np.float32)
    whole = nearest_neighbours(x)
    monkeypatch.setattr(neighbours, "BLOCK_ROWS", 37)
    parts = nearest_neighbours(x)
    np.testing.assert_array_equal(whole.index, parts.index)
    np.testing.assert_array_equal(whole.cosine, parts.cosine)


def test_zero_rows_and_bad_input():
    x = np.zeros((4, 3), np.float32)
    x[0] = [1, 0, 0]
    got = nearest_neighbours(x, NeighbourParams(k=2))
    assert np.isfinite(got.cosine[:, :2]).all()  # a zero row has cosine 0 to every row, never NaN
    assert nearest_neighbours(np.ones((1, 3), np.float32)).index.tolist() == [[-1] * 10]
    with pytest.raises(ValueError, match="NaN"):
        nearest_neighbours(np.array([[np.nan, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="2-D"):
        nearest_neighbours(np.ones(3))
    with pytest.raises(ValueError, match="k must"):
        NeighbourParams(k=0)


def test_many_identical_rows_give_the_lowest_numbered_neighbours():
    """40 copies of one face: every copy's neighbours are the lowest-numbered other copies, whatever numpy's
    selection code picks among equal scores (it differs across CPUs)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    x[100:140] = x[100]
    nb = nearest_neighbours(x)
    for r in (100, 117, 139):
        assert nb.index[r, :nb.k].tolist() == [i for i in range(100, 140) if i != r][:nb.k]
