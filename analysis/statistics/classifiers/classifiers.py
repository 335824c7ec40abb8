"""Identity classifiers: centroid, kNN, linear SVM, logistic regression, cross-validated.

How linearly (or locally) separable are the identities of an embedding space? Four classifiers
on L2-normalised vectors, each scored by stratified k-fold cross-validation (accuracy and
macro-F1, mean and standard deviation over folds):

* ``centroid``: nearest class centroid by cosine (centroids re-normalised), the decision rule
  of a face-identification gallery;
* ``knn``: 3 nearest neighbours by cosine (:class:`sklearn.neighbors.KNeighborsClassifier`);
* ``svm``: one-vs-rest linear SVM (:class:`sklearn.svm.LinearSVC`);
* ``logreg``: multinomial logistic regression (:class:`sklearn.linear_model.LogisticRegression`).

Cost control. The nearest-centroid and k-NN classifiers always use every identity, every
training image and every dimension; k-NN reads one exact neighbour search shared by all folds
and label sources (:class:`NeighbourGraph`). The two linear models cost ``O(classes x rows)``
per fit (a one-vs-rest SVM fits one model per identity), which made them take minutes at 1,600
identities and 40,000 images, so:

* above ``linear_max_identities`` classes they are cross-validated on a seeded subset of that
  many classes, with every image of those classes; the nearest-centroid and k-NN classifiers are
  then scored on the same subset too (``scope="subset"``), so that the four are compared on the
  same task. Accuracy falls with the number of classes, so subset and all-class scores are never
  compared with each other;
* they are fitted on a PCA projection (``pca_dims`` components, fitted on each training fold
  only) and, above ``max_samples`` rows, on a seeded stratified sample of each training fold.
  Test folds are never sampled.

Above ``cv_max_rows`` rows the nearest-centroid and k-NN classifiers on all classes are scored on
the first of the stratified folds only (a whole fold, every class in it): at a million rows that
fold holds 200,000 test images, the accuracy's binomial standard error is under 0.1 points, and
the neighbour search (most of the cost) is made for the rows scored only.

Every classifier is trained twice: on the true labels, and on KMeans pseudo-labels (``k`` = the
number of identities; fitted on at most ``kmeans_max_samples`` seeded rows, one initialisation,
then every row assigned), which says how much of the identity structure an unsupervised
partition recovers in a form classifiers can learn. Identities (or clusters) with fewer images
than folds cannot be stratified: they are dropped and listed in the result.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from analysis.statistics.search.ann import AnnReport
from analysis.statistics.search.centre_search import CentreSearch
from analysis.statistics.classifiers.confusion import ConfusionSummary, confusion_summary
from analysis.statistics.classifiers.folds import stratified_splits
from analysis.statistics.classifiers.pseudo_labels import pseudo_labels
from analysis.statistics.classifiers.knn import NeighbourGraph, _GraphKNN, neighbour_graph
from analysis.statistics.search.large_sets import compact_rows
from analysis.types import EmbeddingSet


def __getattr__(name: str):
    # The cosine centroid classifier subclasses scikit-learn's estimators: it lives in
    # classifiers.centroid and is imported on first use, so importing this module (the config
    # does) does not load scikit-learn.
    if name == "CosineCentroidClassifier":
        from analysis.statistics.classifiers.centroid import CosineCentroidClassifier

        return CosineCentroidClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CLASSIFIERS = ("centroid", "knn", "svm", "logreg")
CLASSIFIER_TITLES = {
    "centroid": "nearest centroid (cosine)",
    "knn": "k-NN (cosine)",
    "svm": "linear SVM",
    "logreg": "logistic regression",
}
LABEL_SOURCES = ("true", "kmeans")


@dataclass(frozen=True)
class ClassifierParams:
    """The ``[classifiers]`` table.

    Parameters
    ----------
    folds : int, default=5
        Stratified cross-validation folds; identities with fewer images are dropped.
    knn_k : int, default=3
    max_samples : int, default=4000
        Training rows (seeded stratified sample of each training fold) for the SVM and the
        logistic regression; 0 for no cap.
    pca_dims : int, default=64
        PCA components the SVM and logistic regression are fitted on; 0 for the full vectors.
    svm_c, logreg_c : float, default=1.0, 10.0
        Inverse regularisation strengths.
    logreg_max_iter : int, default=50
        lbfgs iterations (non-converged fits are counted in the result, not hidden).
    linear_max_identities : int, default=100
        Above this many classes the SVM and logistic regression (and, for comparison, the
        other two) are also cross-validated on a seeded subset of this many classes, and
        the linear models only there; 0 for no cap.
    pseudo_labels : bool, default=True
        Also train on KMeans pseudo-labels.
    kmeans_max_iter : int, default=20
        Lloyd iterations of the pseudo-label KMeans.
    kmeans_n_init : int, default=4
        Initialisations of the pseudo-label KMeans (lowest inertia kept): with one, the
        pseudo-labels, and every classifier trained on them, inherit the seeding's luck.
    kmeans_max_samples : int, default=10000
        The pseudo-label KMeans is fitted on at most this many seeded rows, then every row is
        assigned to its nearest centre.
    top_confused : int, default=10
        Rows of the most-confused-pairs table.
    confusion_max_identities : int, default=20
        Identities shown in the confusion heatmap (those in the most confused pairs).
    knn_exact_max_rows : int, default=200000
        Above this many rows the shared k-NN search is approximate (an inverted file, vote
        agreement and recall measured and shown, :mod:`analysis.statistics.search.ann`), and so are the nearest-centroid
        predictions and the pseudo-label assignment with 1,024 or more classes (a FAISS index of
        the centroids, agreement measured and shown, :mod:`analysis.statistics.search.centre_search`);
        0 keeps them exact at any size.
    cv_max_rows : int, default=200000
        Above this many rows the nearest-centroid and k-NN classifiers on all classes are scored
        on the first stratified fold of each label source only (the linear models' class subset
        keeps every fold); 0 scores every fold at any size.
    """

    enabled: bool = True
    folds: int = 5
    knn_k: int = 3
    max_samples: int = 4000
    pca_dims: int = 64
    svm_c: float = 1.0
    logreg_c: float = 10.0
    logreg_max_iter: int = 50
    linear_max_identities: int = 100
    pseudo_labels: bool = True
    kmeans_max_iter: int = 20
    kmeans_n_init: int = 4
    kmeans_max_samples: int = 10000
    top_confused: int = 10
    confusion_max_identities: int = 20
    knn_exact_max_rows: int = 200_000
    cv_max_rows: int = 200_000

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2, got {self.folds}")
        if self.knn_k < 1:
            raise ValueError(f"knn_k must be >= 1, got {self.knn_k}")
        if self.max_samples < 0 or self.pca_dims < 0 or self.linear_max_identities < 0:
            raise ValueError("max_samples, pca_dims and linear_max_identities must be >= 0 (0 switches the cap / the PCA off)")
        if 0 < self.linear_max_identities < 2 or self.kmeans_max_samples < 2:
            raise ValueError("linear_max_identities must be 0 or >= 2, and kmeans_max_samples >= 2")
        if self.svm_c <= 0 or self.logreg_c <= 0 or self.logreg_max_iter < 1 or self.kmeans_max_iter < 1:
            raise ValueError("svm_c > 0, logreg_c > 0 and logreg_max_iter >= 1 and kmeans_max_iter >= 1 are required")
        if self.kmeans_n_init < 1:
            raise ValueError(f"kmeans_n_init must be >= 1, got {self.kmeans_n_init}")
        if self.knn_exact_max_rows < 0 or self.cv_max_rows < 0:
            raise ValueError("knn_exact_max_rows and cv_max_rows must be >= 0 (0: no threshold)")
        if self.top_confused < 1 or self.confusion_max_identities < 2:
            raise ValueError("top_confused >= 1 and confusion_max_identities >= 2 are required")


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class ClassifierScore:
    """Cross-validated scores of one classifier on one label source."""

    classifier: str
    labels: str  # "true" | "kmeans"
    accuracy: np.ndarray  # (folds,)
    macro_f1: np.ndarray  # (folds,)
    not_converged: int  # folds whose fit hit its iteration limit (svm, logreg)
    fit_seconds: float  # wall time summed over folds (not part of page content)
    scope: str = "all"  # "all" classes of the source, or the seeded "subset" (linear_max_identities)
    n_classes: int = 0  # classes cross-validated
    n_test: int = 0  # test rows scored, over the folds scored (one entry of ``accuracy`` each)

    @property
    def folds_scored(self) -> int:
        return len(self.accuracy)

    @property
    def accuracy_mean(self) -> float:
        return float(self.accuracy.mean())

    @property
    def accuracy_std(self) -> float:
        return float(self.accuracy.std())

    @property
    def f1_mean(self) -> float:
        return float(self.macro_f1.mean())

    @property
    def f1_std(self) -> float:
        return float(self.macro_f1.std())


@dataclass(frozen=True, eq=False)
class LabelSource:
    """What one label source kept for cross-validation."""

    name: str
    n_samples: int
    n_classes: int
    dropped_classes: tuple[str, ...]  # identities (or cluster ids) with fewer images than folds
    dropped_samples: int


@dataclass(frozen=True, eq=False)
class ClassifierResult:
    """Result of :func:`analyze_classifiers`. ``skipped`` is non-empty when nothing could run."""

    n_samples: int
    n_dims: int
    n_identities: int
    folds: int
    sources: tuple[LabelSource, ...]
    scores: tuple[ClassifierScore, ...]
    confusion: ConfusionSummary | None
    kmeans_ari: float  # agreement of the pseudo-labels with the true labels (NaN when not run)
    sampled: bool  # the SVM / logistic regression training folds were capped at max_samples
    linear_subset: bool  # the linear models ran on a seeded subset of classes only
    pca_dims: int  # components the linear models used (0 = full vectors)
    skipped: str
    params: ClassifierParams
    knn_ann: AnnReport | None = None  # the k-NN search was approximate: how, and its measured recall
    # Nearest-centroid searches made through a centroid index (large sets): the one of lowest agreement.
    centroid_search: CentreSearch | None = None

    def score(self, classifier: str, labels: str, scope: str | None = None) -> ClassifierScore | None:
        """The score of ``classifier`` on ``labels``: on all classes when it ran there, else on the subset
        (or exactly ``scope`` when given)."""
        found = [s for s in self.scores if s.classifier == classifier and s.labels == labels
                 and (scope is None or s.scope == scope)]
        found.sort(key=lambda s: s.scope != "all")
        return found[0] if found else None


def _stratified_cap(y: np.ndarray, cap: int, min_per_class: int, seed: int) -> np.ndarray:
    """Seeded sample of row positions: about ``cap`` rows in class proportions, >= ``min_per_class`` each."""
    if cap <= 0 or len(y) <= cap:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    keep = []
    classes, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
    quota = np.minimum(counts, np.maximum(min_per_class, np.round(counts * cap / len(y)).astype(int)))
    order = np.argsort(inv, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    for c in range(len(classes)):
        rows = order[starts[c] : starts[c + 1]]
        keep.append(rng.choice(rows, size=quota[c], replace=False))
    return np.sort(np.concatenate(keep))


def _keep_classes(y: np.ndarray, folds: int) -> np.ndarray:
    """Boolean mask of rows whose class has at least ``folds`` rows."""
    classes, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
    return counts[inv] >= folds


def _cross_validate(
    y: np.ndarray, params: ClassifierParams, seed: int, source: str, graph: NeighbourGraph, rows: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]], which: tuple[str, ...] = CLASSIFIERS, scope: str = "all",
    searches: list | None = None,
) -> tuple[list[ClassifierScore], dict[str, np.ndarray], bool]:
    """Scores of the classifiers ``which`` and their out-of-fold predictions on labels ``y``.

    ``rows`` are the positions in ``graph.x`` (the rows, and the k-NN search shared by every fold
    and label source) of the rows labelled ``y``: the rows of a label source or class subset are
    read from there fold by fold, never copied whole (2 GB at a million rows). ``splits`` are
    the ``(train, test)`` folds scored (positions in ``y``); rows of no scored test fold get the
    prediction -1. Centroid-index searches (large sets) are appended to ``searches``.
    """
    import time

    # scikit-learn is imported where it runs: a rebuild that reads every result from the cache
    # never loads it (about 2 s of a 4 s rebuild).
    from sklearn.decomposition import PCA
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.svm import LinearSVC

    from analysis.statistics.classifiers.centroid import CosineCentroidClassifier

    def x(positions: np.ndarray) -> np.ndarray:
        return graph.x[rows[positions]]

    y_graph = np.full(len(graph.x), -1, dtype=y.dtype)
    y_graph[rows] = y
    linear = [c for c in which if c in ("svm", "logreg")]
    acc = {c: [] for c in which}
    f1 = {c: [] for c in which}
    secs = {c: 0.0 for c in which}
    not_conv = {c: 0 for c in which}
    oof = {c: np.full_like(y, -1) for c in which}
    sampled = False
    for fold, (train, test) in enumerate(splits):
        models = {
            "centroid": (CosineCentroidClassifier(params.knn_exact_max_rows, seed), x(train), y[train], x(test)),
            "knn": (_GraphKNN(graph, rows[train], rows[test], y_graph, params.knn_k), None, None, None),
        }
        pca_secs = 0.0
        if linear:
            sub = train[_stratified_cap(y[train], params.max_samples, 2, seed + fold)]
            sampled = sampled or len(sub) < len(train)
            t0 = time.perf_counter()
            if params.pca_dims and params.pca_dims < graph.x.shape[1]:
                pca = PCA(n_components=min(params.pca_dims, len(sub) - 1), svd_solver="randomized", random_state=seed)
                z_train = pca.fit_transform(x(sub))
                z_test = pca.transform(x(test))
            else:
                z_train, z_test = x(sub), x(test)
            pca_secs = (time.perf_counter() - t0) / len(linear)  # shared by the linear models
            # dual=True: liblinear's dual coordinate descent was 1.8x faster than the primal
            # solver "auto" picks here (rows > PCA dimensions), at the same accuracy.
            models["svm"] = (LinearSVC(C=params.svm_c, dual=True, random_state=seed), z_train, y[sub], z_test)
            models["logreg"] = (
                LogisticRegression(C=params.logreg_c, max_iter=params.logreg_max_iter, solver="lbfgs"),
                z_train, y[sub], z_test,
            )
        for name in which:
            model, xtr, ytr, xte = models[name]
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                pred = model.fit(xtr, ytr).predict(xte)
            not_conv[name] += any(issubclass(w.category, ConvergenceWarning) for w in caught)
            secs[name] += time.perf_counter() - t0 + (pca_secs if name in linear else 0.0)
            oof[name][test] = pred
            if name == "centroid" and model.search_ is not None and searches is not None:
                searches.append(model.search_)
            acc[name].append(accuracy_score(y[test], pred))
            f1[name].append(f1_score(y[test], pred, average="macro", zero_division=0))
        # Free this fold's row copies before the next fold's (two folds' at once: 3.8 GB at 1M rows).
        del models, model, xtr, ytr, xte
    n_classes = len(np.unique(y))
    n_test = int(sum(len(test) for _, test in splits))
    scores = [
        ClassifierScore(c, source, np.array(acc[c]), np.array(f1[c]), not_conv[c], secs[c], scope, n_classes, n_test)
        for c in which
    ]
    return scores, oof, sampled


def _class_subset(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted rows of a seeded sample of ``size`` classes (all rows when there are fewer classes)."""
    classes = np.unique(y)
    if size == 0 or len(classes) <= size:
        return np.arange(len(y))
    chosen = np.random.default_rng(seed).choice(classes, size=size, replace=False)
    return np.flatnonzero(np.isin(y, chosen))


@dataclass(frozen=True, eq=False)
class _SourcePlan:
    """The folds one label source is scored on, decided before the neighbour search (which then
    searches only the rows some scored fold tests)."""

    name: str
    y: np.ndarray  # labels of the source's rows
    rows: np.ndarray  # their positions in the searched rows
    splits: list  # (train, test) of the folds scored on all classes
    subset: np.ndarray | None  # positions (in y) of the linear models' class subset, when capped
    subset_splits: list  # its folds (all of them)

    def tested_rows(self) -> np.ndarray:
        """Positions (in the searched rows) of every row some scored fold tests."""
        parts = [self.rows[test] for _, test in self.splits]
        if self.subset is not None:
            parts.append(self.rows[self.subset])  # every fold of the subset: each of its rows once
        return np.concatenate(parts)


def _plan_source(name: str, y: np.ndarray, rows: np.ndarray, params: ClassifierParams, seed: int, folds_scored: int,
                 ) -> _SourcePlan:
    """Folds of one label source: the first ``folds_scored`` on all classes, all of them on the class subset."""
    splits = stratified_splits(y, params.folds, seed, folds_scored)
    sub = _class_subset(y, params.linear_max_identities, seed)
    if len(sub) == len(y):
        return _SourcePlan(name, y, rows, splits, None, [])
    return _SourcePlan(name, y, rows, splits, sub, stratified_splits(y[sub], params.folds, seed))


def _score_source(plan: _SourcePlan, params: ClassifierParams, seed: int, graph: NeighbourGraph,
                  searches: list | None = None) -> tuple[list[ClassifierScore], dict[str, np.ndarray], bool, bool]:
    """All classifiers on one label source, with the class cap of the linear models.

    Returns the scores, the out-of-fold predictions on all classes (centroid and k-NN always;
    the linear models too when uncapped; -1 on rows no scored fold tests), whether training
    folds were sampled and whether the class cap applied.
    """
    y, rows = plan.y, plan.rows
    if plan.subset is None:
        scores, oof, sampled = _cross_validate(y, params, seed, plan.name, graph, rows, plan.splits, searches=searches)
        return scores, oof, sampled, False
    scores, oof, _ = _cross_validate(y, params, seed, plan.name, graph, rows, plan.splits, ("centroid", "knn"),
                                     searches=searches)
    sub = plan.subset
    sub_scores, _, sampled = _cross_validate(y[sub], params, seed, plan.name, graph, rows[sub], plan.subset_splits,
                                             CLASSIFIERS, "subset", searches=searches)
    return scores + sub_scores, oof, sampled, True


def analyze_classifiers(emb: EmbeddingSet, params: ClassifierParams, random_state: int = 0) -> ClassifierResult:
    """Cross-validated identity classifiers on true labels and on KMeans pseudo-labels.

    Parameters
    ----------
    emb : EmbeddingSet
        Computed on L2-normalised vectors.
    params : ClassifierParams
    random_state : int, default=0
        Seeds the folds, the KMeans pseudo-labels, the training samples and the PCA.

    Returns
    -------
    ClassifierResult
        ``skipped`` explains why nothing ran (fewer than two identities with ``folds`` images).
    """
    from sklearn.metrics import adjusted_rand_score

    names_all = emb.identity_names
    labels_all = emb.labels
    x_all = emb.normalized()
    keep = _keep_classes(labels_all, params.folds)
    counts = np.bincount(labels_all, minlength=len(names_all))
    dropped = tuple(str(n) for n, c in zip(names_all, counts) if c < params.folds)
    kept_ids = np.flatnonzero(counts >= params.folds)
    empty = ClassifierResult(
        n_samples=emb.n_samples, n_dims=emb.n_dims, n_identities=len(names_all), folds=params.folds,
        sources=(LabelSource("true", int(keep.sum()), len(kept_ids), dropped, int((~keep).sum())),),
        scores=(), confusion=None, kmeans_ari=float("nan"), sampled=False, linear_subset=False,
        pca_dims=params.pca_dims if params.pca_dims < emb.n_dims else 0, skipped="", params=params,
    )
    if len(kept_ids) < 2:
        return _replace(empty, skipped=(
            f"fewer than 2 identities have at least {params.folds} images ({len(kept_ids)} do); "
            "lower [classifiers] folds or choose a larger subset"
        ))
    # One copy of the rows at a time (2 GB each at 1M x 512): the kept rows are moved up in place.
    x = x_all if keep.all() else compact_rows(x_all, keep)
    del x_all
    # Re-code the kept identities 0..k-1 so confusion matrices are dense.
    y = np.searchsorted(kept_ids, labels_all[keep])
    names = names_all[kept_ids]
    sources = [empty.sources[0]]
    searches: list[CentreSearch] = []
    # Large sets score the all-class classifiers on one fold; the folds of both label sources are
    # drawn first so that the neighbour search is made only for the rows they test.
    folds_scored = 1 if params.cv_max_rows and len(x) > params.cv_max_rows else params.folds
    plans = [_plan_source("true", y, np.arange(len(x)), params, random_state, folds_scored)]
    ari = float("nan")
    if params.pseudo_labels:
        pl = pseudo_labels(x, len(names), random_state, params.kmeans_max_iter, params.kmeans_max_samples,
                           params.kmeans_n_init, params.knn_exact_max_rows, searches)
        ari = float(adjusted_rand_score(y, pl))
        keep_pl = _keep_classes(pl, params.folds)
        pl_counts = np.bincount(pl, minlength=len(names))
        dropped_pl = tuple(f"cluster {c}" for c in np.flatnonzero((pl_counts > 0) & (pl_counts < params.folds)))
        n_cl = int((pl_counts >= params.folds).sum())
        sources.append(LabelSource("kmeans", int(keep_pl.sum()), n_cl, dropped_pl, int((~keep_pl).sum())))
        if n_cl >= 2:
            plans.append(_plan_source("kmeans", pl[keep_pl], np.flatnonzero(keep_pl), params, random_state,
                                      folds_scored))
    queries = None
    if folds_scored < params.folds:
        queries = np.unique(np.concatenate([plan.tested_rows() for plan in plans]))
    # One neighbour search serves k-NN in every fold of both label sources.
    graph = neighbour_graph(x, max(4 * params.knn_k, 16), params.knn_exact_max_rows, random_state, params.knn_k, y,
                            queries=queries)
    scores: list[ClassifierScore] = []
    sampled = capped = False
    confusion = None
    for plan in plans:
        plan_scores, oof, s2, c2 = _score_source(plan, params, random_state, graph, searches)
        scores.extend(plan_scores)
        sampled, capped = sampled or s2, capped or c2
        if plan.name == "true":
            # The confusion matrix is of the best classifier on all classes (a subset score is of an
            # easier task), over the rows its scored folds tested.
            best = max((s for s in plan_scores if s.scope == "all"),
                       key=lambda s: (s.accuracy_mean, -CLASSIFIERS.index(s.classifier)))
            tested = oof[best.classifier] >= 0
            confusion = confusion_summary(y[tested], oof[best.classifier][tested], names, best.classifier,
                                          params.top_confused, params.confusion_max_identities)
    return _replace(
        empty, sources=tuple(sources), scores=tuple(scores), confusion=confusion, kmeans_ari=ari, sampled=sampled,
        linear_subset=capped, knn_ann=graph.ann,
        centroid_search=min(searches, key=lambda s: s.agreement) if searches else None,
    )


def _replace(r: ClassifierResult, **changes) -> ClassifierResult:
    import dataclasses

    return dataclasses.replace(r, **changes)
