"""Tests of analysis.statistics.clustering.metrics in the style of scikit-learn's metrics/cluster/tests/test_common.py:
a registry of metrics checked for common properties, plus worked examples with known answers and
brute-force definitions."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from analysis.statistics.clustering import metrics as m

# --------------------------------------------------------------------------- registries
EXTERNAL = {
    "purity": m.purity_score,
    "rand": m.rand_index,
    "ari": m.adjusted_rand,
    "nmi": m.normalized_mutual_info,
    "ami": m.adjusted_mutual_info,
    "pairwise_precision": lambda t, p: m.pairwise_precision_recall_fscore(t, p)[0],
    "pairwise_recall": lambda t, p: m.pairwise_precision_recall_fscore(t, p)[1],
    "pairwise_f1": lambda t, p: m.pairwise_precision_recall_fscore(t, p)[2],
    "bcubed_precision": lambda t, p: m.bcubed_precision_recall_fscore(t, p)[0],
    "bcubed_recall": lambda t, p: m.bcubed_precision_recall_fscore(t, p)[1],
    "bcubed_f1": lambda t, p: m.bcubed_precision_recall_fscore(t, p)[2],
}
SYMMETRIC = {"rand", "ari", "nmi", "ami", "pairwise_f1", "bcubed_f1"}
# (lower, upper) bounds; AMI and ARI can go below 0 for worse-than-chance labelings.
BOUNDS = {name: (0.0, 1.0) for name in EXTERNAL}
BOUNDS["ari"] = (-0.5, 1.0)
BOUNDS["ami"] = (-1.0, 1.0)

INTERNAL = {
    "silhouette": m.silhouette,
    "davies_bouldin": m.davies_bouldin,
    "calinski_harabasz": m.calinski_harabasz,
    "dunn": m.dunn_index,
}

# IR book example [MRS, Figure 16.4]: x = 0, o = 1, d = 2
MRS_TRUE = np.array([0, 0, 0, 0, 0, 1] + [0, 1, 1, 1, 1, 2] + [0, 0, 2, 2, 2])
MRS_PRED = np.array([0] * 6 + [1] * 6 + [2] * 5)


def _random_labelings(seed, n=60, k_true=5, k_pred=7):
    rng = np.random.default_rng(seed)
    return rng.integers(0, k_true, n), rng.integers(0, k_pred, n)


# --------------------------------------------------------------------------- common properties
@pytest.mark.parametrize("name", sorted(EXTERNAL))
def test_external_relabelling_invariance(name):
    t, p = _random_labelings(0)
    perm_t = np.random.default_rng(1).permutation(10)
    perm_p = np.random.default_rng(2).permutation(10)
    base = EXTERNAL[name](t, p)
    assert EXTERNAL[name](perm_t[t], perm_p[p]) == pytest.approx(base)
    # string labels give the same value as integer codes
    assert EXTERNAL[name](np.array([f"id_{v}" for v in t]), p) == pytest.approx(base)


@pytest.mark.parametrize("name", sorted(SYMMETRIC))
def test_external_symmetric(name):
    t, p = _random_labelings(3)
    assert EXTERNAL[name](t, p) == pytest.approx(EXTERNAL[name](p, t))


@pytest.mark.parametrize("name", sorted(set(EXTERNAL) - SYMMETRIC))
def test_external_not_symmetric(name):
    # These are genuinely asymmetric; checking it guards against a swapped-argument bug.
    t, p = _random_labelings(4, k_true=3, k_pred=12)
    assert EXTERNAL[name](t, p) != pytest.approx(EXTERNAL[name](p, t))


@pytest.mark.parametrize("name", sorted(EXTERNAL))
@pytest.mark.parametrize("seed", range(4))
def test_external_bounds(name, seed):
    t, p = _random_labelings(seed, k_pred=2 + seed * 5)
    lo, hi = BOUNDS[name]
    assert lo - 1e-12 <= EXTERNAL[name](t, p) <= hi + 1e-12


@pytest.mark.parametrize("name", sorted(EXTERNAL))
def test_external_perfect_is_one(name):
    t = np.array([0, 0, 1, 1, 1, 2, 3, 3])
    assert EXTERNAL[name](t, 5 - t) == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(EXTERNAL))
def test_external_rejects_nan_and_length_mismatch(name):
    with pytest.raises(ValueError, match="NaN"):
        EXTERNAL[name](np.array([0.0, 1.0, np.nan]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="NaN"):
        EXTERNAL[name](np.array([0, 1, 1]), np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="same rows"):
        EXTERNAL[name](np.array([0, 1, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="1-D"):
        EXTERNAL[name](np.zeros((2, 2)), np.zeros((2, 2)))


def _blobs(seed=0, n=90, k=3, d=5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6, size=(k, d))
    labels = np.repeat(np.arange(k), n // k)
    return centres[labels] + rng.normal(size=(len(labels), d)), labels


@pytest.mark.parametrize("name", sorted(INTERNAL))
def test_internal_relabelling_invariance(name):
    X, labels = _blobs()
    perm = np.array([2, 0, 1])
    assert INTERNAL[name](X, perm[labels]) == pytest.approx(INTERNAL[name](X, labels))


@pytest.mark.parametrize("name", sorted(INTERNAL))
def test_internal_rejects_bad_input(name):
    X, labels = _blobs()
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        INTERNAL[name](bad, labels)
    with pytest.raises(ValueError, match="one entry per row"):
        INTERNAL[name](X, labels[:-1])
    with pytest.raises(ValueError, match="between 2"):
        INTERNAL[name](X, np.zeros(len(X), dtype=int))


@pytest.mark.parametrize("name", sorted(INTERNAL))
def test_internal_prefers_true_structure(name):
    # Well separated blobs with their true labels beat a random labeling.
    X, labels = _blobs(1)
    shuffled = np.random.default_rng(0).permutation(labels)
    good, bad = INTERNAL[name](X, labels), INTERNAL[name](X, shuffled)
    assert (good < bad) if name == "davies_bouldin" else (good > bad)


def test_silhouette_bounds_and_per_cluster():
    X, labels = _blobs(2)
    s = m.silhouette_samples(X, labels)
    assert s.shape == (len(X),) and (s >= -1).all() and (s <= 1).all()
    clusters, mean, size = m.silhouette_per_cluster(s, labels)
    assert list(clusters) == [0, 1, 2] and size.sum() == len(X)
    # the size-weighted cluster means give back the overall mean
    assert np.sum(mean * size) / size.sum() == pytest.approx(s.mean())
    assert m.silhouette(X, labels) == pytest.approx(s.mean())


# --------------------------------------------------------------------------- known answers
def test_mrs_book_example():
    assert m.purity_score(MRS_TRUE, MRS_PRED) == pytest.approx(12 / 17)
    assert round(m.purity_score(MRS_TRUE, MRS_PRED), 2) == 0.71
    c = m.pair_counts(MRS_TRUE, MRS_PRED)
    assert (c.tp, c.fp, c.fn, c.tn) == (20, 20, 24, 72)
    assert c.total == 17 * 16 // 2
    assert m.rand_index(MRS_TRUE, MRS_PRED) == pytest.approx(92 / 136)
    assert round(m.rand_index(MRS_TRUE, MRS_PRED), 2) == 0.68
    p, r, f = m.pairwise_precision_recall_fscore(MRS_TRUE, MRS_PRED)
    assert (p, r) == pytest.approx((0.5, 20 / 44))
    # F1 of the book: 0.48; F5 (recall weighted) 0.456
    assert round(f, 2) == 0.48
    assert round(m.pairwise_precision_recall_fscore(MRS_TRUE, MRS_PRED, beta=5)[2], 3) == 0.456


def test_bcubed_known_answer():
    # Cluster {a, a, b}, cluster {b}: precision = (2/3 + 2/3 + 1/3 + 1) / 4, recall = (1 + 1 + 1/2 + 1/2) / 4
    p, r, _ = m.bcubed_precision_recall_fscore([0, 0, 1, 1], [0, 0, 0, 1])
    assert p == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4)
    assert r == pytest.approx(3 / 4)


def test_all_singletons_conventions():
    t = np.array([0, 0, 1, 1])
    singletons = np.arange(4)
    assert m.purity_score(t, singletons) == 1.0
    p, r, f = m.pairwise_precision_recall_fscore(t, singletons)
    assert (p, r, f) == (1.0, 0.0, 0.0)


def test_dunn_known_answer():
    # Two clusters on a line: {0, 1} and {5, 7}: separation 4, largest diameter 2.
    X = np.array([[0.0], [1.0], [5.0], [7.0]])
    assert m.dunn_index(X, [0, 0, 1, 1]) == pytest.approx(2.0)


# --------------------------------------------------------------------------- brute force
def _brute_pairs(t, p):
    tp = fp = fn = tn = 0
    for i, j in itertools.combinations(range(len(t)), 2):
        same_t, same_p = t[i] == t[j], p[i] == p[j]
        tp += same_t and same_p
        fp += (not same_t) and same_p
        fn += same_t and not same_p
        tn += (not same_t) and not same_p
    return tp, fp, fn, tn


def _brute_bcubed(t, p):
    prec = np.mean([np.sum((p == p[i]) & (t == t[i])) / np.sum(p == p[i]) for i in range(len(t))])
    rec = np.mean([np.sum((p == p[i]) & (t == t[i])) / np.sum(t == t[i]) for i in range(len(t))])
    return prec, rec


def _brute_purity(t, p):
    return sum(np.bincount(t[p == k]).max() for k in np.unique(p)) / len(t)


def _brute_dunn(X, labels):
    d = np.linalg.norm(X[:, None, :] - X[None, :, :], axis=2)
    same = labels[:, None] == labels[None, :]
    return d[~same].min() / d[same].max()


@pytest.mark.filterwarnings("ignore:Could not adhere to working_memory")
@pytest.mark.parametrize("seed", range(5))
def test_fast_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 40))
    t, p = rng.integers(0, 4, n), rng.integers(0, 6, n)
    c = m.pair_counts(t, p)
    assert (c.tp, c.fp, c.fn, c.tn) == _brute_pairs(t, p)
    assert m.purity_score(t, p) == pytest.approx(_brute_purity(t, p))
    assert m.bcubed_precision_recall_fscore(t, p)[:2] == pytest.approx(_brute_bcubed(t, p))
    X = rng.normal(size=(n, 3))
    if 2 <= len(np.unique(p)) <= n - 1:
        # small working memory forces several chunks
        assert m.dunn_index(X, p, working_memory=0) == pytest.approx(_brute_dunn(X, p))


@pytest.mark.parametrize("seed", range(3))
def test_vectorised_db_ch_match_sklearn(seed):
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 8)).astype(np.float32)
    labels = rng.integers(0, 15, 200)
    assert m.davies_bouldin(X, labels) == pytest.approx(davies_bouldin_score(X, labels), rel=1e-5)
    assert m.calinski_harabasz(X, labels) == pytest.approx(calinski_harabasz_score(X, labels), rel=1e-5)


def test_precomputed_silhouette_and_dunn_match():
    from sklearn.metrics import pairwise_distances

    X, labels = _blobs(5)
    D = pairwise_distances(X)
    assert m.silhouette_samples(D, labels, metric="precomputed") == pytest.approx(m.silhouette_samples(X, labels))
    assert m.dunn_index(D, labels, metric="precomputed") == pytest.approx(m.dunn_index(X, labels))
