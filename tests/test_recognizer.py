"""The exported recogniser (analysis.statistics.recognizer, report.recognizer_files): fit, unknowns, safe files."""
from __future__ import annotations

import zipfile
from types import SimpleNamespace

import numpy as np
import pytest

from analysis.statistics.recognizer import (
    UNKNOWN,
    RecognitionParams,
    best_classifier,
    fit_recognizer,
    predict_identities,
)
from analysis.types import EmbeddingSet
from report.recognizer_files import read_recognizer, write_recognizer


def _people(seed=0, n_people=4, per=12, dims=24, spread=0.2):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people + 1, dims))
    y = np.repeat(np.arange(n_people), per)
    x = centres[y] + spread * rng.normal(size=(len(y), dims))
    emb = EmbeddingSet("d", "n", x.astype(np.float32), np.array([f"person-{i}" for i in y]),
                       np.array([f"{i:03d}.jpg" for i in range(len(y))]))
    new = centres[:n_people] + spread * rng.normal(size=(n_people, dims))
    stranger = centres[n_people] + spread * rng.normal(size=(3, dims))
    return emb, new, stranger


def test_best_classifier_uses_true_label_cv_accuracy_and_prefers_simple_models_on_ties():
    s = lambda c, labels, acc, scope="all": SimpleNamespace(classifier=c, labels=labels, accuracy_mean=acc, scope=scope)  # noqa: E731
    scores = [s("centroid", "true", 0.9), s("knn", "true", 0.95), s("svm", "kmeans", 1.0), s("logreg", "true", 0.95)]
    assert best_classifier(scores) == ("knn", 0.95)
    with pytest.raises(ValueError):
        best_classifier([s("svm", "kmeans", 1.0)])


@pytest.mark.parametrize("classifier", ["centroid", "knn", "svm", "logreg"])
def test_each_classifier_names_new_faces_and_rejects_strangers(classifier):
    emb, new, stranger = _people()
    rec = fit_recognizer(emb, classifier, 1.0, RecognitionParams())
    names, conf = predict_identities(rec, new)
    assert list(names) == [f"person-{i}" for i in range(4)]
    assert (conf >= rec.threshold).all()
    names, conf = predict_identities(rec, stranger)
    assert (names == UNKNOWN).all() and (conf < rec.threshold).all()


def test_threshold_follows_the_impostor_acceptance_rate():
    emb, *_ = _people(spread=0.8)
    strict = fit_recognizer(emb, "centroid", 1.0, RecognitionParams(far=0.001)).threshold
    loose = fit_recognizer(emb, "centroid", 1.0, RecognitionParams(far=0.2)).threshold
    assert strict > loose


def test_files_round_trip_without_pickle_and_are_byte_stable(tmp_path):
    emb, new, _ = _people()
    rec = fit_recognizer(emb, "knn", 0.9, RecognitionParams())
    write_recognizer(tmp_path / "a", rec, {"network": "n"})
    write_recognizer(tmp_path / "b", rec, {"network": "n"})
    assert (tmp_path / "a" / "recognizer.npz").read_bytes() == (tmp_path / "b" / "recognizer.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "a" / "recognizer.npz") as zf:
        assert sorted(zf.namelist()) == ["centroids.npy", "train_x.npy", "train_y.npy"]
    loaded, doc = read_recognizer(tmp_path / "a")
    assert doc["network"] == "n" and loaded.names == rec.names
    assert list(predict_identities(loaded, new)[0]) == list(predict_identities(rec, new)[0])
    with pytest.raises(ValueError, match="recognizer.json"):
        read_recognizer(tmp_path)
