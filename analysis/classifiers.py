"""Identity classifiers: centroid, kNN, linear SVM, logistic regression, cross-validated.

How linearly (or locally) separable are the identities of an embedding space? Four classifiers
on L2-normalised vectors, each scored by stratified k-fold cross-validation (accuracy and
macro-F1, mean and standard deviation over folds):

* ``centroid``: nearest class centroid by cosine (centroids re-normalised), the decision rule
  of a face-identification gallery;
* ``knn``: 3 nearest neighbours by cosine (:class:`sklearn.neighbors.KNeighborsClassifier`);
* ``svm``: one-vs-rest linear SVM (:class:`sklearn.svm.LinearSVC`);
* ``logreg``: multinomial logistic regression (:class:`sklearn.linear_model.LogisticRegression`).

The two linear models are fitted on a PCA projection (``pca_dims`` components, fitted on each
training fold only) and, above ``max_samples`` rows, on a seeded stratified sample of each
training fold: with about 1000 identities a one-vs-rest SVM or a 1000-way softmax on 40,000 x
512 vectors is the slow part of the whole report. The test folds are never sampled.

Every classifier is trained twice: on the true labels, and on KMeans pseudo-labels (``k`` = the
number of identities, computed here with :class:`sklearn.cluster.KMeans`, one initialisation), which says
how much of the identity structure an unsupervised partition recovers in a form classifiers can
learn. Identities (or clusters) with fewer images than folds cannot be stratified: they are
dropped and listed in the result.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC

from analysis.types import EmbeddingSet, l2_normalize

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
    pseudo_labels : bool, default=True
        Also train on KMeans pseudo-labels.
    kmeans_max_iter : int, default=20
        Lloyd iterations of the pseudo-label KMeans (one initialisation).
    top_confused : int, default=10
        Rows of the most-confused-pairs table.
    confusion_max_identities : int, default=20
        Identities shown in the confusion heatmap (those in the most confused pairs).
    """

    enabled: bool = True
    folds: int = 5
    knn_k: int = 3
    max_samples: int = 4000
    pca_dims: int = 64
    svm_c: float = 1.0
    logreg_c: float = 10.0
    logreg_max_iter: int = 50
    pseudo_labels: bool = True
    kmeans_max_iter: int = 20
    top_confused: int = 10
    confusion_max_identities: int = 20

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2, got {self.folds}")
        if self.knn_k < 1:
            raise ValueError(f"knn_k must be >= 1, got {self.knn_k}")
        if self.max_samples < 0 or self.pca_dims < 0:
            raise ValueError("max_samples and pca_dims must be >= 0 (0 switches the cap / the PCA off)")
        if self.svm_c <= 0 or self.logreg_c <= 0 or self.logreg_max_iter < 1 or self.kmeans_max_iter < 1:
            raise ValueError("svm_c > 0, logreg_c > 0 and logreg_max_iter >= 1 and kmeans_max_iter >= 1 are required")
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
class ConfusionSummary:
    """Out-of-fold confusion of the best classifier on the true labels."""

    classifier: str
    names: np.ndarray  # identities kept, index = label code in ``matrix``
    matrix: np.ndarray  # (k, k) int64, rows true, columns predicted
    pair_a: np.ndarray  # most confused pairs (indices into names), a < b
    pair_b: np.ndarray
    pair_count: np.ndarray  # errors a->b plus b->a
    a_to_b: np.ndarray
    b_to_a: np.ndarray
    shown: np.ndarray  # indices of identities in the heatmap


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
    pca_dims: int  # components the linear models used (0 = full vectors)
    skipped: str
    params: ClassifierParams

    def score(self, classifier: str, labels: str) -> ClassifierScore | None:
        for s in self.scores:
            if s.classifier == classifier and s.labels == labels:
                return s
        return None


# --------------------------------------------------------------------------- classifiers
class CosineCentroidClassifier(ClassifierMixin, BaseEstimator):
    """Nearest centroid by cosine similarity.

    :class:`sklearn.neighbors.NearestCentroid` has no cosine metric; on L2-normalised inputs
    this is ``argmax_c x . c / |c|`` with ``c`` the mean of the class's rows.
    """

    def fit(self, x, y):
        self.classes_, inv = np.unique(y, return_inverse=True)
        sums = np.zeros((len(self.classes_), x.shape[1]), dtype=np.float64)
        np.add.at(sums, inv, x)
        self.centroids_ = l2_normalize(sums).astype(np.float32)
        return self

    def predict(self, x):
        return self.classes_[np.argmax(np.asarray(x, dtype=np.float32) @ self.centroids_.T, axis=1)]


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
    x: np.ndarray, y: np.ndarray, params: ClassifierParams, seed: int, source: str
) -> tuple[list[ClassifierScore], dict[str, np.ndarray], bool]:
    """Scores of the four classifiers and their out-of-fold predictions on labels ``y``."""
    import time

    skf = StratifiedKFold(n_splits=params.folds, shuffle=True, random_state=seed)
    acc = {c: [] for c in CLASSIFIERS}
    f1 = {c: [] for c in CLASSIFIERS}
    secs = {c: 0.0 for c in CLASSIFIERS}
    not_conv = {c: 0 for c in CLASSIFIERS}
    oof = {c: np.empty_like(y) for c in CLASSIFIERS}
    sampled = False
    for fold, (train, test) in enumerate(skf.split(x, y)):
        sub = train[_stratified_cap(y[train], params.max_samples, 2, seed + fold)]
        sampled = sampled or len(sub) < len(train)
        t0 = time.perf_counter()
        if params.pca_dims and params.pca_dims < x.shape[1]:
            pca = PCA(n_components=min(params.pca_dims, len(sub) - 1), svd_solver="randomized", random_state=seed)
            z_train, z_test = pca.fit_transform(x[sub]), None
            z_test = pca.transform(x[test])
        else:
            z_train, z_test = x[sub], x[test]
        pca_secs = (time.perf_counter() - t0) / 2  # shared by the two linear models
        models = {
            "centroid": (CosineCentroidClassifier(), x[train], y[train], x[test]),
            "knn": (
                # Euclidean on unit vectors ranks neighbours exactly as cosine does, and sklearn's
                # Euclidean path is a single matmul (its cosine path is several times slower).
                KNeighborsClassifier(n_neighbors=min(params.knn_k, len(train)), metric="euclidean", algorithm="brute"),
                x[train], y[train], x[test],
            ),
            "svm": (LinearSVC(C=params.svm_c, dual="auto", random_state=seed), z_train, y[sub], z_test),
            "logreg": (
                LogisticRegression(C=params.logreg_c, max_iter=params.logreg_max_iter, solver="lbfgs"),
                z_train, y[sub], z_test,
            ),
        }
        for name, (model, xtr, ytr, xte) in models.items():
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                pred = model.fit(xtr, ytr).predict(xte)
            not_conv[name] += any(issubclass(w.category, ConvergenceWarning) for w in caught)
            secs[name] += time.perf_counter() - t0 + (pca_secs if name in ("svm", "logreg") else 0.0)
            oof[name][test] = pred
            acc[name].append(accuracy_score(y[test], pred))
            f1[name].append(f1_score(y[test], pred, average="macro", zero_division=0))
    scores = [
        ClassifierScore(c, source, np.array(acc[c]), np.array(f1[c]), not_conv[c], secs[c]) for c in CLASSIFIERS
    ]
    return scores, oof, sampled


def _confusion(y: np.ndarray, pred: np.ndarray, names: np.ndarray, classifier: str, params: ClassifierParams) -> ConfusionSummary:
    k = len(names)
    cm = confusion_matrix(y, pred, labels=np.arange(k))
    off = cm.astype(np.int64)
    np.fill_diagonal(off, 0)
    sym = off + off.T
    iu = np.triu_indices(k, 1)
    vals = sym[iu]
    nz = np.flatnonzero(vals > 0)
    # Most errors first; ties by identity order so the table is deterministic.
    top = nz[np.lexsort((nz, -vals[nz]))][: params.top_confused]
    pa, pb = iu[0][top], iu[1][top]
    shown: list[int] = []
    for a, b in zip(pa, pb):
        for i in (a, b):
            if i not in shown and len(shown) < params.confusion_max_identities:
                shown.append(int(i))
    return ConfusionSummary(
        classifier=classifier,
        names=names,
        matrix=cm.astype(np.int64),
        pair_a=pa,
        pair_b=pb,
        pair_count=vals[top],
        a_to_b=off[pa, pb],
        b_to_a=off[pb, pa],
        shown=np.array(sorted(shown), dtype=np.int64),
    )


def pseudo_labels(x: np.ndarray, k: int, random_state: int, max_iter: int = 20) -> np.ndarray:
    """KMeans pseudo-labels with ``k`` clusters (Lloyd, one seeded k-means++ initialisation).

    Full-batch KMeans rather than MiniBatchKMeans: with about 1000 clusters on 25,000 synthetic
    rows the mini-batch variant was slower (35 s vs 21 s) and far worse (ARI with the true labels
    0.06 vs 0.43). ``max_iter`` bounds the cost; the clustering page runs the full analysis.
    """
    km = KMeans(n_clusters=k, n_init=1, max_iter=max_iter, random_state=random_state)
    return km.fit_predict(x).astype(np.int64)


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
        scores=(), confusion=None, kmeans_ari=float("nan"), sampled=False,
        pca_dims=params.pca_dims if params.pca_dims < emb.n_dims else 0, skipped="", params=params,
    )
    if len(kept_ids) < 2:
        return _replace(empty, skipped=(
            f"fewer than 2 identities have at least {params.folds} images ({len(kept_ids)} do); "
            "lower [classifiers] folds or choose a larger subset"
        ))
    x = x_all[keep]
    # Re-code the kept identities 0..k-1 so confusion matrices are dense.
    y = np.searchsorted(kept_ids, labels_all[keep])
    names = names_all[kept_ids]
    true_scores, oof, sampled = _cross_validate(x, y, params, random_state, "true")
    best = max(true_scores, key=lambda s: (s.accuracy_mean, -CLASSIFIERS.index(s.classifier)))
    confusion = _confusion(y, oof[best.classifier], names, best.classifier, params)
    sources = [empty.sources[0]]
    scores = list(true_scores)
    ari = float("nan")
    if params.pseudo_labels:
        pl = pseudo_labels(x, len(names), random_state, params.kmeans_max_iter)
        ari = float(adjusted_rand_score(y, pl))
        keep_pl = _keep_classes(pl, params.folds)
        pl_counts = np.bincount(pl, minlength=len(names))
        dropped_pl = tuple(f"cluster {c}" for c in np.flatnonzero((pl_counts > 0) & (pl_counts < params.folds)))
        n_cl = int((pl_counts >= params.folds).sum())
        sources.append(LabelSource("kmeans", int(keep_pl.sum()), n_cl, dropped_pl, int((~keep_pl).sum())))
        if n_cl >= 2:
            pl_scores, _, s2 = _cross_validate(x[keep_pl], pl[keep_pl], params, random_state, "kmeans")
            scores.extend(pl_scores)
            sampled = sampled or s2
    return _replace(
        empty, sources=tuple(sources), scores=tuple(scores), confusion=confusion, kmeans_ari=ari, sampled=sampled
    )


def _replace(r: ClassifierResult, **changes) -> ClassifierResult:
    import dataclasses

    return dataclasses.replace(r, **changes)
