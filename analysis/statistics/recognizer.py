"""A recogniser for new photos: the study's best classifier, refitted on every face, with an "unknown" threshold.

:func:`fit_recognizer` takes the classifier with the highest cross-validated accuracy on the true
labels (:mod:`analysis.statistics.classifiers.classifiers`), refits it on every L2-normalised embedding of
the cell and keeps only arrays, so that it can be saved without pickle
(:mod:`report.recognizer_files` writes ``.npz`` + JSON):

* ``centroid``: the re-normalised identity centroids;
* ``knn``: the training vectors and their labels (``k`` neighbours by cosine, majority vote);
* ``svm`` / ``logreg``: the linear model's ``coef`` and ``intercept`` on the normalised vectors.

**Unknown faces.** Whatever the classifier, a face is accepted as identity ``c`` only when its
cosine similarity to the centroid of ``c`` reaches ``threshold``, calibrated on the study's
impostor distribution: the similarities of every face to the centroids of the *other*
identities, thresholded at their ``1 - far`` quantile (at ``far = 0.01``, 1% of impostor
face-to-identity comparisons would be accepted). The returned confidence is that similarity.
Pure: arrays in, frozen results out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.types import EmbeddingSet, l2_normalize

UNKNOWN = "unknown"


@dataclass(frozen=True)
class RecognitionParams:
    """The ``[recognition]`` table: the exported recogniser of labelled image datasets.

    Parameters
    ----------
    enabled : bool, default=True
        Export ``models/<dataset>-<network>/recognizer.{npz,json}`` for ``predict``.
    far : float, default=0.01
        Impostor acceptance rate of the "unknown" threshold (see module docstring).
    knn_k : int, default=3
    """

    enabled: bool = True
    far: float = 0.01
    knn_k: int = 3

    def __post_init__(self) -> None:
        if not 0.0 < self.far < 1.0:
            raise ValueError("far must be in (0, 1), e.g. 0.01")
        if self.knn_k < 1:
            raise ValueError("knn_k must be at least 1")


@dataclass(frozen=True, eq=False)
class Recognizer:
    """Everything needed to name a new face embedding (arrays only; see module docstring)."""

    classifier: str
    names: tuple[str, ...]
    centroids: np.ndarray  # (k, d) unit rows
    threshold: float
    far: float
    cv_accuracy: float
    knn_k: int = 3
    train_x: np.ndarray | None = None  # knn
    train_y: np.ndarray | None = None  # knn, label codes
    coef: np.ndarray | None = None  # svm / logreg, (k or 1, d)
    intercept: np.ndarray | None = None

    def __post_init__(self) -> None:
        # A NaN threshold would accept nobody and -inf everybody: neither is a calibrated recogniser.
        if not (np.isfinite(self.threshold) and -1.0 <= self.threshold <= 1.0):
            raise ValueError(f"threshold must be a cosine in [-1, 1], got {self.threshold!r}")
        if self.classifier not in ("centroid", "knn", "svm", "logreg"):
            raise ValueError(f"unknown classifier {self.classifier!r}; valid: centroid, knn, svm, logreg")
        needed = {"knn": ("train_x", "train_y"), "svm": ("coef", "intercept"), "logreg": ("coef", "intercept")}
        missing = [name for name in needed.get(self.classifier, ()) if getattr(self, name) is None]
        if missing:
            raise ValueError(f"the {self.classifier} classifier needs {', '.join(missing)}")


def best_classifier(scores) -> tuple[str, float]:
    """(name, mean accuracy) of the best classifier on the true labels over every class (ties: first name)."""
    order = ("centroid", "knn", "svm", "logreg")  # ties go to the simpler model
    found = [(s.accuracy_mean, s.classifier) for s in scores
             if s.labels == "true" and s.scope == "all" and s.classifier in order and np.isfinite(s.accuracy_mean)]
    if not found:
        raise ValueError("no classifier was cross-validated on the true labels of every identity")
    acc, name = min(found, key=lambda t: (-t[0], order.index(t[1])))
    return name, float(acc)


def impostor_threshold(x: np.ndarray, y: np.ndarray, centroids: np.ndarray, far: float) -> float:
    """``1 - far`` quantile of the cosine similarity of every face to the other identities' centroids."""
    sims = x @ centroids.T
    mask = np.ones_like(sims, dtype=bool)
    mask[np.arange(len(y)), y] = False
    return float(np.quantile(sims[mask], 1.0 - far))


def fit_recognizer(emb: EmbeddingSet, classifier: str, cv_accuracy: float, params: RecognitionParams,
                   random_state: int = 0) -> Recognizer:
    """Refit ``classifier`` on every face of ``emb`` and calibrate the unknown threshold.

    Raises
    ------
    ValueError
        Fewer than 2 identities, or an unknown classifier name.
    """
    names = emb.identity_names
    if len(names) < 2:
        raise ValueError("a recogniser needs at least 2 identities")
    x = emb.normalized().astype(np.float64)
    y = emb.labels
    centroids = l2_normalize(np.stack([x[y == c].mean(axis=0) for c in range(len(names))])).astype(np.float64)
    common = dict(classifier=classifier, names=tuple(str(n) for n in names), centroids=centroids,
                  threshold=impostor_threshold(x, y, centroids, params.far), far=params.far, cv_accuracy=cv_accuracy,
                  knn_k=params.knn_k)
    if classifier == "centroid":
        return Recognizer(**common)
    if classifier == "knn":
        return Recognizer(**common, train_x=x, train_y=y)
    if classifier == "svm":
        from sklearn.svm import LinearSVC

        model = LinearSVC(random_state=random_state).fit(x, y)
    elif classifier == "logreg":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=10.0, max_iter=1000, random_state=random_state).fit(x, y)
    else:
        raise ValueError(f"unknown classifier {classifier!r}; valid: centroid, knn, svm, logreg")
    return Recognizer(**common, coef=np.asarray(model.coef_, np.float64), intercept=np.asarray(model.intercept_, np.float64))


def predict_identities(rec: Recognizer, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Identity (or :data:`UNKNOWN`) and confidence (cosine to that identity's centroid) of each raw embedding."""
    x = l2_normalize(np.asarray(vectors, np.float64)).astype(np.float64)
    if len(x) == 0:
        return np.array([], dtype=str), np.array([], dtype=float)
    broken = ~np.isfinite(x).all(axis=1)  # a failed embedding is nobody, not the first identity
    x[broken] = 0.0
    if rec.classifier == "centroid":
        codes = np.argmax(x @ rec.centroids.T, axis=1)
    elif rec.classifier == "knn":
        sims = x @ rec.train_x.T
        k = min(rec.knn_k, sims.shape[1])
        near = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        votes = np.zeros((len(x), len(rec.names)))
        for j in range(k):
            np.add.at(votes, (np.arange(len(x)), rec.train_y[near[:, j]]), 1.0)
        codes = np.argmax(votes, axis=1)
    else:
        scores = x @ rec.coef.T + rec.intercept
        codes = (scores[:, 0] > 0).astype(np.int64) if scores.shape[1] == 1 else np.argmax(scores, axis=1)
    confidence = np.einsum("ij,ij->i", x, rec.centroids[codes])
    names = np.array(rec.names, dtype=object)[codes]
    names[(confidence < rec.threshold) | broken] = UNKNOWN
    confidence[broken] = np.nan
    return names.astype(str), confidence
