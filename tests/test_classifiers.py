"""Tests of analysis.statistics.classifiers.classifiers and its page."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.statistics.classifiers.classifiers import (
    CLASSIFIERS,
    ClassifierParams,
    CosineCentroidClassifier,
    _stratified_cap,
    analyze_classifiers,
)
from analysis.types import EmbeddingSet

FAST = ClassifierParams(folds=3, pca_dims=8, max_samples=0, logreg_max_iter=200)


def _emb(x, ids):
    return EmbeddingSet("t", "net", np.asarray(x, dtype=np.float32), np.asarray(ids),
                        np.array([f"img{i:05d}" for i in range(len(x))]))


def _clusters(k=6, per=12, dim=16, spread=0.2, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    x = np.repeat(centres, per, axis=0) + spread * rng.normal(size=(k * per, dim))
    return x.astype(np.float32), np.repeat([f"id{i:02d}" for i in range(k)], per)


def test_separable_identities_are_learned():
    x, ids = _clusters()
    r = analyze_classifiers(_emb(x, ids), FAST, 0)
    assert not r.skipped
    for name in CLASSIFIERS:
        s = r.score(name, "true")
        assert s.accuracy.shape == (3,) and s.accuracy_mean > 0.95 and s.f1_mean > 0.95
        # Well-separated clusters: KMeans recovers them, so pseudo-labels are learnable too.
        assert r.score(name, "kmeans").accuracy_mean > 0.9
    assert r.kmeans_ari > 0.9


def test_random_labels_near_chance_and_deterministic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 10))
    ids = np.repeat(["a", "b", "c", "d"], 30)
    p = ClassifierParams(folds=3, pca_dims=0, max_samples=0, pseudo_labels=False)
    r = analyze_classifiers(_emb(x, ids), p, 0)
    for name in CLASSIFIERS:
        assert r.score(name, "true").accuracy_mean < 0.5
    assert r.score("centroid", "kmeans") is None
    r2 = analyze_classifiers(_emb(x, ids), p, 0)
    assert all(np.array_equal(a.accuracy, b.accuracy) for a, b in zip(r.scores, r2.scores))


def test_small_identities_dropped_and_recorded():
    x, ids = _clusters(k=4, per=10)
    x = np.vstack([x, x[:2] + 0.01])
    ids = np.concatenate([ids, ["tiny", "tiny"]])
    r = analyze_classifiers(_emb(x, ids), FAST, 0)
    true = r.sources[0]
    assert true.dropped_classes == ("tiny",) and true.dropped_samples == 2 and true.n_classes == 4
    assert "tiny" not in set(r.confusion.names)


def test_skipped_when_too_few_identities():
    x, ids = _clusters(k=2, per=2)
    r = analyze_classifiers(_emb(x, ids), FAST, 0)
    assert r.skipped and "fewer than 2 identities" in r.skipped and r.scores == ()
    with pytest.raises(ValueError, match="folds"):
        ClassifierParams(folds=1)


def test_confusion_finds_the_merged_pair():
    # id00 and id01 share a centre: they must be the most confused pair.
    x, ids = _clusters(k=5, per=15, spread=0.2)
    x[15:30] = x[0:15] + 0.2 * np.random.default_rng(1).normal(size=(15, x.shape[1]))
    r = analyze_classifiers(_emb(x, ids), FAST, 0)
    c = r.confusion
    assert {c.names[c.pair_a[0]], c.names[c.pair_b[0]]} == {"id00", "id01"}
    assert c.pair_count[0] == c.a_to_b[0] + c.b_to_a[0] > 5
    assert c.matrix.sum() == len(x)


def test_centroid_classifier_and_cap():
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    clf = CosineCentroidClassifier().fit(x, np.array([0, 0, 1, 1]))
    assert list(clf.predict(np.array([[5, 1], [1, 5]], dtype=np.float32))) == [0, 1]
    y = np.repeat(np.arange(10), [100] + [5] * 9)
    idx = _stratified_cap(y, 50, 2, 0)
    assert len(np.unique(y[idx])) == 10 and len(idx) < 100
    assert np.array_equal(idx, _stratified_cap(y, 50, 2, 0))


def test_page_renders_demo():
    from analysis.embedding.synthetic import SyntheticDatasetOptions, SyntheticNetworkOptions, generate
    from analysis.types import Cell
    from report.model import Figure, Table
    from report.pages import classifiers as sec
    from report.contexts import CellContext
    import matplotlib.pyplot as plt

    emb = generate(SyntheticDatasetOptions(n_identities=15, max_images=25), {"a": SyntheticNetworkOptions()}, "demo", 0)["a"]
    r = analyze_classifiers(emb, ClassifierParams(folds=3, pca_dims=16), 0)
    ctx = CellContext(cell=Cell("demo", "a", "all"), subset_description="all", synthetic=True, n_dims=emb.n_dims)
    page = sec.page(ctx, r)
    blocks = list(page.blocks())
    keys = [b.key for b in blocks if isinstance(b, (Figure, Table))]
    assert len(keys) == len(set(keys)) and page.path[-1] == "classifiers"
    for b in blocks:
        if isinstance(b, Figure):
            plt.close(b.plot(b.data))
        if isinstance(b, Table):
            assert isinstance(b.frame, pd.DataFrame) and len(b.frame) > 0
    (section,) = sec.compare({ctx.cell: r}, {ctx.cell: ctx})
    assert len(section.blocks[-1].frame) == 1
    skipped = analyze_classifiers(emb.take(np.arange(3)), ClassifierParams(), 0)
    assert sec.page(ctx, skipped).intro


def test_two_identities_two_images_each():
    x = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0.1, 0.9, 0]], dtype=np.float32)
    r = analyze_classifiers(_emb(x, ["a", "a", "b", "b"]), ClassifierParams(folds=2, pca_dims=0, pseudo_labels=False), 0)
    assert not r.skipped and r.score("knn", "true").accuracy.shape == (2,)


def test_graph_knn_matches_scikit_learn():
    # The shared neighbour graph must give exactly KNeighborsClassifier's predictions, including
    # rows whose m nearest rows hold fewer than k training rows (searched again exactly).
    from sklearn.neighbors import KNeighborsClassifier

    from analysis.statistics.classifiers.knn import knn_predict, neighbour_graph

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    y = rng.integers(0, 7, size=300)
    graph = neighbour_graph(x, 4)
    test = np.arange(0, 300, 2)  # half the rows: many candidate lists run short of training rows
    train = np.setdiff1d(np.arange(300), test)
    ours = knn_predict(graph, train, test, y, 3)
    ref = KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(x[train], y[train]).predict(x[test])
    np.testing.assert_array_equal(ours, ref)
    assert graph.index.shape == (300, 4) and not (graph.index == np.arange(300)[:, None]).any()
    # An approximate graph searches its short rows among the training rows in place: same answer.
    import dataclasses

    from analysis.statistics.search.ann import AnnReport

    approx = dataclasses.replace(graph, ann=AnnReport("test", 1, 1, 1.0, 1))
    np.testing.assert_array_equal(knn_predict(approx, train, test, y, 3), ref)


def test_linear_models_on_a_class_subset_above_the_cap():
    x, ids = _clusters(k=8, per=12)
    p = ClassifierParams(folds=3, pca_dims=8, max_samples=0, linear_max_identities=4)
    r = analyze_classifiers(_emb(x, ids), p, 0)
    assert r.linear_subset
    for source in ("true", "kmeans"):
        # centroid and k-NN: on all 8 classes and, for comparison, on the 4-class subset.
        assert r.score("centroid", source, "all").n_classes == 8
        assert r.score("knn", source, "subset").n_classes == 4
        # the linear models only on the subset; score() falls back to it.
        assert r.score("svm", source, "all") is None
        assert r.score("svm", source).scope == "subset" and r.score("svm", source).n_classes == 4
    assert r.confusion.classifier in ("centroid", "knn")
    uncapped = analyze_classifiers(_emb(x, ids), ClassifierParams(folds=3, pca_dims=8, max_samples=0), 0)
    assert not uncapped.linear_subset and {s.scope for s in uncapped.scores} == {"all"}


def test_one_fold_above_cv_max_rows_equals_the_first_fold_of_the_full_run():
    """Above [classifiers] cv_max_rows the all-class centroid and k-NN are scored on fold 1 only, with
    the neighbour search made for the rows that fold tests: the same predictions as fold 1 of the full
    run; the class subset of the linear models keeps every fold; the page says which."""
    from analysis.statistics.classifiers.knn import neighbour_graph
    from report.pages import classifiers as sec
    from report.pages.approximations import classifiers_note

    x, ids = _clusters(k=8, per=15, spread=0.6, seed=4)
    base = dict(folds=3, pca_dims=8, max_samples=0, linear_max_identities=4)
    full = analyze_classifiers(_emb(x, ids), ClassifierParams(**base), 0)
    one = analyze_classifiers(_emb(x, ids), ClassifierParams(**base, cv_max_rows=100), 0)
    for source in ("true", "kmeans"):
        for name in ("centroid", "knn"):
            a, b = full.score(name, source, "all"), one.score(name, source, "all")
            assert a.folds_scored == 3 and b.folds_scored == 1
            assert b.accuracy[0] == a.accuracy[0] and b.macro_f1[0] == a.macro_f1[0]
            assert 30 <= b.n_test <= 50 and a.n_test == one.sources[0 if source == "true" else 1].n_samples
        for name in ("centroid", "knn", "svm", "logreg"):
            assert np.array_equal(full.score(name, source, "subset").accuracy, one.score(name, source, "subset").accuracy)
    assert one.confusion.matrix.sum() == one.score("knn", "true", "all").n_test  # the rows fold 1 tested
    frame = sec.scores_frame(one)
    assert "folds scored" in frame.columns and "folds scored" not in sec.scores_frame(full).columns
    row = frame[(frame.classifier == "k-NN (cosine)") & (frame.labels == "true labels") & frame.classes.str.startswith("all")]
    assert row["folds scored"].iloc[0].startswith("1 of 3") and np.isnan(row["accuracy std"].iloc[0])
    note = repr(classifiers_note(one))
    assert "One fold scored" in note and "cv_max_rows = 100" in note and classifiers_note(full) is None
    assert "scored on the first of the 3 stratified folds" in note
    assert "on fold 1 of 3" in sec.headline(one) and "Wilson" in repr(sec.page(_ctx(), one).intro)
    # The graph searched with queries equals the full graph on those rows, and says which it searched.
    q = np.arange(0, len(x), 3)
    part, whole = neighbour_graph(x, 6, queries=q), neighbour_graph(x, 6)
    np.testing.assert_array_equal(part.index[q], whole.index[q])
    assert np.array_equal(part.searched, q) and (np.delete(part.index, q, axis=0) == -1).all()
    with pytest.raises(ValueError, match="not searched"):
        from analysis.statistics.classifiers.knn import knn_predict
        knn_predict(part, np.arange(1, len(x)), np.array([1]), np.zeros(len(x), dtype=int), 3)


def _ctx():
    from analysis.types import Cell
    from report.contexts import CellContext

    return CellContext(cell=Cell("demo", "a", "all"), subset_description="all", synthetic=True, n_dims=16)


def test_paper_methods_say_when_classifiers_were_scored_on_one_fold():
    from types import SimpleNamespace

    from analysis.config import load_config
    from report.pages.paper_methods import estimators_section

    cfg = load_config("configs/demo.toml")
    x, ids = _clusters(k=8, per=15, spread=0.6, seed=4)
    base = dict(folds=3, pca_dims=8, max_samples=0)
    one = analyze_classifiers(_emb(x, ids), ClassifierParams(**base, cv_max_rows=100), 0)
    full = analyze_classifiers(_emb(x, ids), ClassifierParams(**base), 0)
    cell = _ctx().cell
    text = lambda r: repr(estimators_section(SimpleNamespace(config=cfg, cell_results={"classifiers": {cell: r}})))
    assert "scored on the first fold only" in text(one) and "scored on the first fold only" not in text(full)
