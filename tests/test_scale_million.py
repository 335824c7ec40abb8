"""Large-set paths of the million-row suite, on small data with the size thresholds lowered.

Each approximate path is compared with the exact code on the same data (agreement stated in the
assertions), the switch is checked to follow the size and the params, and the pages to say so.
"""
from __future__ import annotations

import numpy as np
import pytest

from analysis.statistics.audit.large import centroid_scores_indexed, near_duplicates_indexed, top_centroid_pairs
from analysis.statistics.search.centre_search import MIN_INDEXED_CENTRES, nearest_centre, use_index
from analysis.statistics.classifiers.classifiers import CosineCentroidClassifier
from analysis.statistics.audit.image_audit import centroid_scores, near_duplicate_pairs
from analysis.statistics.clustering.kmeans import _assign, assign
from analysis.types import Cell, EmbeddingSet, l2_normalize
from report.contexts import CellContext


def _clustered(n: int, d: int, k: int, seed: int, spread: float = 0.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    labels = np.sort(rng.integers(0, k, size=n))
    x = centres[labels] + spread * rng.normal(size=(n, d))
    return l2_normalize(x), labels


def _emb(x, y):
    ids = np.array([f"id{v:04d}" for v in y])
    return EmbeddingSet("d", "n", x, ids, np.array([f"i{i}" for i in range(len(x))]), synthetic=False)


CTX = CellContext(Cell("d", "n", "all"), "all images", True, 16, 0)


def test_switch_follows_size_centres_and_params():
    assert not use_index(10_000, 5_000, 0)  # 0: always exact
    assert not use_index(10_000, 5_000, 10_000)  # not above the threshold
    assert not use_index(10_000, MIN_INDEXED_CENTRES - 1, 100)  # too few centres to pay
    assert use_index(10_001, MIN_INDEXED_CENTRES, 10_000)


def _near_centres(n: int, k: int, d: int, seed: int):
    """Unit centres and unit rows near them (as KMeans centres and the rows they were fitted on)."""
    rng = np.random.default_rng(seed)
    centres = l2_normalize(rng.normal(size=(k, d)))
    labels = rng.integers(0, k, n)
    return l2_normalize(centres[labels] + 0.5 / np.sqrt(d) * rng.normal(size=(n, d))), labels, centres


def test_indexed_kmeans_assignment_agrees_with_exact():
    x, _, centres = _near_centres(15_000, 1500, 32, seed=1)
    exact, inertia = _assign(x, centres)
    labels, approx_inertia, search = assign(x, centres, exact_max_rows=5000)
    assert search is not None and search.n_centres == 1500 and search.checked_rows == 2000
    # A real index, not a disguised exhaustive search: measured nprobe 8 of 38 cells,
    # agreement 0.997 on the checked rows and 0.9955 of all labels equal to the exact ones.
    assert search.nprobe < search.nlist
    assert np.mean(labels == exact) >= 0.99 and search.agreement >= 0.99
    # A missed centre can only add distance: at least the exact inertia, here 1.5% above it.
    assert inertia * (1 - 1e-5) <= approx_inertia <= 1.02 * inertia
    # Below the threshold the exact code runs, unchanged.
    again, again_inertia, none = assign(x, centres, exact_max_rows=0)
    assert none is None and np.array_equal(again, exact) and again_inertia == inertia
    # Deterministic.
    np.testing.assert_array_equal(nearest_centre(x, centres)[0], labels)


def test_indexed_centroid_scores_agree_with_exact():
    x, y = _clustered(10_000, 32, 1200, seed=3, spread=0.6)
    exact = centroid_scores(x.astype(np.float64), y, 1200)
    own, nearest, other, sil, searches, flags = centroid_scores_indexed(x, y, 1200)
    # Measured: agreement 0.995 / 0.994 on 2,000 checked rows with 128 candidate identities of 1,200.
    assert len(searches) == 2 and all(s.agreement >= 0.99 and s.nprobe < 1200 for s in searches)
    np.testing.assert_allclose(own, exact[0], rtol=1e-5, equal_nan=True)  # exact terms
    assert np.mean(nearest == exact[1]) >= 0.99
    agree = nearest == exact[1]
    np.testing.assert_allclose(other[agree], exact[2][agree], atol=1e-5)
    assert np.mean(np.abs(sil - exact[3]) < 1e-5) >= 0.99
    # The suspected-mislabel rule (negative margin or silhouette) flags the same images.
    s_exact = (np.nan_to_num(exact[0] - exact[2]) < 0) | (exact[3] < 0)
    s_new = (np.nan_to_num(own - other) < 0) | (sil < 0)
    assert np.mean(s_exact == s_new) >= 0.995 and flags >= 0.995  # the measured flag agreement says the same


def test_top_centroid_pairs_are_the_exact_top_pairs():
    c, _ = _clustered(700, 16, 40, seed=4)
    sim = c @ c.T
    i, j = np.triu_indices(len(c), 1)
    v = sim[i, j].astype(np.float64)
    order = np.lexsort((j, i, -v))
    for threshold, top in ((0.9, 30), (2.0, 30), (0.99, 5)):
        ti, tj, tv = top_centroid_pairs(c, threshold, top)
        n_keep = max(top, int((v >= threshold).sum()))
        np.testing.assert_array_equal(ti, i[order][:n_keep])
        np.testing.assert_array_equal(tj, j[order][:n_keep])


def test_indexed_near_duplicates_find_the_exact_pairs():
    x, _ = _clustered(8000, 64, 300, seed=5, spread=0.8)
    rng = np.random.default_rng(6)
    src = rng.choice(len(x), 40, replace=False)
    dup = l2_normalize(x[src] + 0.002 * rng.normal(size=(40, x.shape[1])))
    x = np.concatenate([x, dup]).astype(np.float32)
    exact = near_duplicate_pairs(x, 0.995, 5000)
    first, second, cos, search = near_duplicates_indexed(x, 0.995)
    assert exact.n_found >= 40
    found = set(zip(first.tolist(), second.tolist()))
    assert found <= set(zip(exact.first.tolist(), exact.second.tolist()))  # never a false pair
    assert len(found) / exact.n_found >= 0.99 and search.recall >= 0.99


def test_grouped_ami_equals_scikit_learn():
    from sklearn.metrics import adjusted_mutual_info_score

    from analysis.statistics.clustering import metrics
    from analysis.statistics.clustering.mutual_info import adjusted_mutual_info_grouped

    rng = np.random.default_rng(7)
    t = np.repeat(np.arange(300), 12)
    p = np.where(rng.random(len(t)) < 0.7, t % 250, rng.integers(0, 250, len(t)))
    p = np.unique(p, return_inverse=True)[1]
    expected = adjusted_mutual_info_score(t, p)
    assert adjusted_mutual_info_grouped(t, p) == pytest.approx(expected, abs=1e-9)
    # Below GROUPED_MIN_CELLS the project's metric is scikit-learn's own value, to the bit.
    assert metrics.adjusted_mutual_info(t[:600], p[:600]) == adjusted_mutual_info_score(t[:600], p[:600])


def test_sparse_confusion_equals_dense(monkeypatch):
    from analysis.statistics.classifiers import confusion

    rng = np.random.default_rng(8)
    y = rng.integers(0, 40, 3000)
    pred = np.where(rng.random(3000) < 0.8, y, rng.integers(0, 40, 3000))
    names = np.array([f"n{i}" for i in range(40)])
    dense = confusion.confusion_summary(y, pred, names, "knn", 10, 20)
    monkeypatch.setattr(confusion, "DENSE_MAX_IDENTITIES", 5)
    sparse = confusion.confusion_summary(y, pred, names, "knn", 10, 20)
    assert hasattr(sparse.matrix, "toarray")
    for f in ("pair_a", "pair_b", "pair_count", "a_to_b", "b_to_a", "shown"):
        np.testing.assert_array_equal(getattr(sparse, f), getattr(dense, f))
    np.testing.assert_array_equal(sparse.block(sparse.shown), dense.block(dense.shown))


def test_indexed_centroid_classifier_agrees_with_exact():
    x, y, _ = _near_centres(12_000, 1100, 32, seed=9)
    train, test = np.arange(len(x)) % 4 != 0, np.arange(len(x)) % 4 == 0
    exact = CosineCentroidClassifier().fit(x[train], y[train])
    approx = CosineCentroidClassifier(exact_max_rows=1000).fit(x[train], y[train])
    pe, pa = exact.predict(x[test]), approx.predict(x[test])
    assert exact.search_ is None and approx.search_ is not None
    assert approx.search_.nprobe < approx.search_.nlist
    assert np.mean(pe == pa) >= 0.99 and approx.search_.agreement >= 0.99


def test_similarity_and_geometry_matrices_of_sampled_identities_keep_exact_neighbours():
    from analysis.statistics.geometry import GeometryParams, analyze_geometry
    from analysis.statistics.verification.similarity import SimilarityParams, analyze_similarity
    from report.pages import geometry as geometry_page
    from report.pages import similarity as similarity_page

    x, y = _clustered(900, 16, 30, seed=10)
    emb = _emb(x, y)
    full = analyze_similarity(emb, SimilarityParams(bootstrap_reps=0), 0)
    part = analyze_similarity(emb, SimilarityParams(bootstrap_reps=0, matrix_max_identities=12), 0)
    assert full.matrix_identities is None and part.centroid_cosine.shape == (12, 12)
    np.testing.assert_array_equal(part.nearest.neighbor, full.nearest.neighbor)
    np.testing.assert_allclose(part.nearest.cosine, full.nearest.cosine, atol=1e-9)
    np.testing.assert_allclose(part.consecutive.distance, full.consecutive.distance, atol=1e-9)
    sub = part.matrix_identities
    np.testing.assert_allclose(part.centroid_cosine, full.centroid_cosine[np.ix_(sub, sub)], atol=1e-9)
    assert "Centroid matrices of sampled identities" in repr(similarity_page.page(CTX, part))
    assert "Centroid matrices of sampled identities" not in repr(similarity_page.page(CTX, full))
    geo = analyze_geometry(emb, GeometryParams(matrix_max_identities=12), 0)
    assert geo.l2.centroid_cosine.shape == (12, 12) and len(geo.l2.matrix_names) == 12
    assert "Centroid matrix of sampled identities" in repr(geometry_page.page(CTX, geo))


def test_clustering_and_audit_pages_state_their_approximations():
    from analysis.statistics.audit.audit import AuditParams, analyze_audit
    from analysis.statistics.clustering.clustering import ClusteringParams, analyze_clustering
    from report.pages import audit as audit_page
    from report.pages import clustering as clustering_page

    big_x, big_y = _clustered(12_000, 16, 300, seed=11)
    big = _emb(big_x, big_y)
    base = dict(dbscan=False, agglomerative=False, hdbscan=False, kmeans_n_init=1, kmeans_max_iter=5, n_diagrams=0,
                kmeans_max_samples=12_000)
    params = ClusteringParams(k_values=(10, 1100, 5000), assign_exact_max_rows=1000, dendrogram_max_identities=20, **base)
    r = analyze_clustering(big, params, 0)
    # k = 5000 is capped at a tenth of the 12,000 fitted rows; k = 10 is assigned exactly (too few
    # centres), k = 1100 through the index.
    assert list(r.sweep.k) == [10, 1100, 1199] and r.sampling.max_k == 1199
    assert [k for k, _ in r.sampling.assignment] == [1100, 1199]
    assert all(s.agreement >= 0.99 for _, s in r.sampling.assignment)
    assert r.sampling.dendrogram_identities == 20 and len(r.dendrogram.names) == 20
    text = repr(clustering_page.page(CTX, r))
    assert "Approximate assignment" in text and "assign_exact_max_rows" in text and "k at most 1,199" in text
    exact = analyze_clustering(big, ClusteringParams(k_values=(10, 1100, 5000), **base), 0)
    assert list(exact.sweep.k) == [10, 1100, 5000] and exact.sampling.assignment == ()
    assert "Approximate assignment" not in repr(clustering_page.page(CTX, exact))

    x, y = _clustered(2600, 16, 100, seed=11)
    emb = _emb(x, y)

    a = analyze_audit(emb, AuditParams(exact_max_rows=1000, pair_sample_identities=50), 0)
    assert len(a.centroid_searches) == 2 and a.pair_sample_identities == 50 and a.duplicates.search is not None
    a_text = repr(audit_page.page(CTX, a))
    assert "Approximate audit passes" in a_text and "pair_sample_identities" in a_text
    a_exact = analyze_audit(emb, AuditParams(), 0)
    assert "Approximate audit passes" not in repr(audit_page.page(CTX, a_exact))
    # The mislabel suspects of the two runs agree on at least 99% of the images.
    assert np.mean(a.images.suspected == a_exact.images.suspected) >= 0.99


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_cell_search_probing_every_cell_is_the_exact_search(metric):
    import faiss

    from analysis.statistics.search.ivf_blas import cell_index, probe, search_cells, train_centres

    x, _ = _clustered(3000, 24, 50, seed=12)
    base, queries = x[:2000], x[2000:]
    centres = train_centres(base, 20, 0)
    index = cell_index(base, centres)
    values, found = search_cells(index, queries, 5, probe(queries, centres, 20), metric)
    exact_v, exact_i = faiss.knn(queries, base, 5, faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)
    np.testing.assert_array_equal(found, exact_i)
    np.testing.assert_allclose(values, exact_v, atol=1e-4)
    # With fewer probed cells, never a row outside them, and values stay exact for what is found.
    few_v, few = search_cells(index, queries, 5, probe(queries, centres, 2), metric)
    assert 0.5 < np.mean([len(np.intersect1d(a, b)) / 5 for a, b in zip(few, exact_i)]) < 1.0
    ok = few >= 0
    d = ((queries[:, None, :] - base[np.maximum(few, 0)]) ** 2).sum(-1) if metric == "l2" else \
        np.einsum("ij,ikj->ik", queries, base[np.maximum(few, 0)])
    np.testing.assert_allclose(few_v[ok], d[ok], atol=1e-4)


def test_pseudo_labels_cap_k_at_the_fitted_rows():
    from analysis.statistics.classifiers.pseudo_labels import pseudo_labels

    x = np.random.default_rng(13).normal(size=(500, 16)).astype(np.float32)
    # 800 clusters asked of a 300-row fit (a million images of 40,000 identities fitted on 10,000 rows).
    labels = pseudo_labels(x, 800, 0, max_samples=300, n_init=1)
    assert len(labels) == 500 and labels.max() < 300


def test_spherical_cells_of_unit_rows_have_no_hub():
    """Plain k-means of unit rows leaves short centres that take the rows of many identities (a hub
    cell every query probes); spherical cells do not. Measured here on the project's generator."""
    from analysis.embedding.synthetic import SyntheticDatasetOptions, SyntheticNetworkOptions, generate
    from analysis.statistics.search.ivf_blas import cell_index, train_centres

    emb = generate(SyntheticDatasetOptions(n_identities=400, seed=3), {"a": SyntheticNetworkOptions()}, "t", 0)["a"]
    x = emb.normalized().astype(np.float32)
    nlist = int(round(2 * np.sqrt(len(x))))
    largest = {}
    for spherical in (False, True):
        centres = train_centres(x, nlist, 0, train_rows=20 * nlist, spherical=spherical)
        largest[spherical] = np.diff(cell_index(x, centres).bounds).max() / len(x)
        if spherical:
            np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 1.0, atol=1e-5)
    assert largest[False] > 0.08 and largest[True] < 0.04, largest


def test_approximate_knn_trains_spherical_cells_for_unit_rows(monkeypatch):
    import analysis.statistics.search.ivf_blas as ivf
    from analysis.statistics.search.ann import approximate_knn

    seen = []
    real = ivf.train_centres
    monkeypatch.setattr(ivf, "train_centres", lambda *a, **kw: seen.append(kw.get("spherical")) or real(*a, **kw))
    x, _ = _clustered(3000, 16, 60, seed=21)
    approximate_knn(x.astype(np.float32), 5, recall_queries=100)
    approximate_knn((3.0 * x).astype(np.float32), 5, recall_queries=100)
    assert seen == [True, False]


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_brute_force_keeps_the_k_best_with_ties_by_position(metric):
    from analysis.statistics.search.ivf_blas import _brute_force

    rng = np.random.default_rng(22)
    # Exact ties need exact arithmetic: multiples of 1/8 make every product and sum exact in
    # float32, so equal rows score exactly equal whatever kernel BLAS picks for their position
    # (with unrounded rows OpenBLAS gave row 3 and its copies scores one ulp apart on one CPU).
    exact = (np.round(8 * l2_normalize(rng.normal(size=(300, 8)))) / 8).astype(np.float32)
    exact[150:160] = exact[3]  # exact ties: the lower positions come first
    _, idx = _brute_force(exact[3:4], exact, 12, metric)
    np.testing.assert_array_equal(idx[0, :11], [3, *range(150, 160)])

    base = l2_normalize(rng.normal(size=(300, 8))).astype(np.float32)
    queries = l2_normalize(rng.normal(size=(50, 8))).astype(np.float32)
    scores, idx = _brute_force(queries, base, 12, metric)
    full = ((queries[:, None] - base[None]) ** 2).sum(-1) if metric == "l2" else -(queries @ base.T)
    expected = np.lexsort((np.broadcast_to(np.arange(300), full.shape), full.round(5)), axis=1)[:, :12]
    assert np.mean(idx == expected) > 0.99  # float32 expansion vs direct difference: last-bit near-ties only
    np.testing.assert_allclose(scores, np.take_along_axis(full, idx, axis=1), atol=1e-5)


def test_knn_nprobe_is_tuned_on_the_vote_and_the_page_says_so():
    from analysis.statistics.search.ann import _loo_votes, approximate_knn
    from analysis.statistics.classifiers.classifiers import ClassifierParams, analyze_classifiers
    from report.pages.approximations import classifiers_note

    # The leave-one-out vote: the query itself and unfilled slots are skipped, ties go to the smallest label.
    labels = np.array([5, 1, 1, 2, 2, 7])
    idx = np.array([[0, 1, 3, 4, 2], [-1, 1, 2, 3, 5], [2, 5, 0, 1, 3]])
    np.testing.assert_array_equal(_loo_votes(idx, np.array([0, 1, 2]), labels, 3), [2, 1, 1])

    x, y = _clustered(3000, 16, 60, seed=23)
    _, _, report = approximate_knn(x.astype(np.float32), 8, recall_queries=300, labels=y, vote_k=3)
    assert report.vote_k == 3 and 0.0 <= report.vote_agreement <= 1.0
    _, _, plain = approximate_knn(x.astype(np.float32), 8, recall_queries=300)
    assert plain.vote_agreement is None and plain.vote_k == 0
    r = analyze_classifiers(_emb(x, y), ClassifierParams(knn_exact_max_rows=1000, pseudo_labels=False), 0)
    assert r.knn_ann.vote_agreement is not None
    text = repr(classifiers_note(r))
    assert "leave-one-out 3-NN vote of" in text and "agreement of the 3-NN vote" in text


def test_centroid_classifier_indexes_a_small_test_fold_of_a_large_training_set():
    """The switch follows the training set: a test fold under the threshold must not make the
    exact (rows x classes) product, 30 GB for a fifth of a million rows and 40,000 classes."""
    x, y, _ = _near_centres(12_000, 1100, 32, seed=9)
    train, test = np.arange(len(x)) % 4 != 0, np.flatnonzero(np.arange(len(x)) % 4 == 0)[:500]
    model = CosineCentroidClassifier(exact_max_rows=1000).fit(x[train], y[train])
    pred = model.predict(x[test])
    assert model.search_ is not None  # 500 test rows < 1,000, yet through the index
    exact = CosineCentroidClassifier().fit(x[train], y[train])
    assert np.mean(exact.predict(x[test]) == pred) >= 0.99


def test_compact_rows_equals_boolean_indexing():
    from analysis.statistics.search.large_sets import compact_rows

    rng = np.random.default_rng(24)
    x = rng.normal(size=(1000, 7)).astype(np.float32)
    keep = rng.random(1000) < 0.7
    expected = x[keep].copy()
    out = compact_rows(x, keep, block=64)
    np.testing.assert_array_equal(out, expected)
    assert np.shares_memory(out, x)


def test_approximate_graph_of_some_rows_and_one_scored_fold():
    """The approximate search for some rows only: every row indexed, the queries searched, the recall
    measured among them; with one scored fold the classifiers search only the rows it tests."""
    from analysis.statistics.search.ann import approximate_knn
    from analysis.statistics.classifiers.classifiers import ClassifierParams, analyze_classifiers
    from analysis.statistics.search.ivf_blas import brute_force_blocks, _brute_force

    x, y = _clustered(3000, 16, 60, seed=25)
    x = x.astype(np.float32)
    q = np.sort(np.random.default_rng(0).choice(3000, 700, replace=False))
    dist, idx, report = approximate_knn(x, 8, recall_queries=300, queries=q)
    assert idx.shape == (700, 8) and report.recall_queries == 300 and report.recall > 0.8
    assert (idx[:, 0] == q).mean() > 0.99  # each query's nearest row is itself
    # The exact reference in base blocks equals the one-block brute force.
    s1, i1 = brute_force_blocks(x[:50], x, 8)
    s2, i2 = _brute_force(x[:50], x, 8)
    np.testing.assert_array_equal(i1, i2)
    r = analyze_classifiers(_emb(x, y), ClassifierParams(knn_exact_max_rows=1000, cv_max_rows=1000), 0)
    knn = r.score("knn", "true", "all")
    assert knn.folds_scored == 1 and 550 <= knn.n_test <= 650 and r.knn_ann is not None
    assert r.knn_ann.recall_queries == 1000 and 0.0 < knn.accuracy[0] <= 1.0


def test_cell_search_in_parts_on_threads_does_not_depend_on_the_thread_count(monkeypatch):
    from threadpoolctl import threadpool_limits

    from analysis.statistics.search import ivf_blas

    x, _ = _clustered(4000, 24, 80, seed=26)
    x = l2_normalize(x).astype(np.float32)
    centres = ivf_blas.train_centres(x, 60, 0, spherical=True)
    index = ivf_blas.cell_index(x, centres)
    probes = ivf_blas.probe(x[:1500], centres, 6).astype(np.int32)
    monkeypatch.setattr(ivf_blas, "SEARCH_PART", 256)  # six parts
    with threadpool_limits(limits=1):  # one thread: the parts one after another
        one = ivf_blas.search_cells(index, x[:1500], 9, probes)
    with threadpool_limits(limits=2):  # two threads
        two = ivf_blas.search_cells(index, x[:1500], 9, probes)
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[0], two[0])
    # The parts give the one-part answer's neighbours.
    monkeypatch.setattr(ivf_blas, "SEARCH_PART", 1 << 20)
    whole = ivf_blas.search_cells(index, x[:1500], 9, probes)
    assert (whole[1] == one[1]).mean() > 0.999


def test_blocked_brute_force_with_an_allowed_mask(monkeypatch):
    from analysis.statistics.search import ivf_blas

    rng = np.random.default_rng(27)
    x = rng.normal(size=(3000, 12)).astype(np.float32)
    q = x[:300]
    monkeypatch.setattr(ivf_blas, "BASE_BLOCK", 700)
    monkeypatch.setattr(ivf_blas, "BASE_BLOCK_QUERIES", 64)
    for share in (0.9, 0.1):  # in place, and on a copy of the few allowed rows
        allowed = rng.random(3000) < share
        _, found = ivf_blas.brute_force_blocks(q, x, 5, allowed=allowed)
        rows = np.flatnonzero(allowed)
        _, ref = ivf_blas._brute_force(q, x[rows], 5)
        np.testing.assert_array_equal(found, rows[ref])
