"""The exported recogniser (analysis.statistics.recognizer, report.recognizer_files): fit, unknowns, safe files."""
from __future__ import annotations

import zipfile
from types import SimpleNamespace

import numpy as np
import pytest

from analysis.statistics.recognizer import (
    UNKNOWN,
    RecognitionParams,
    Recognizer,
    best_classifier,
    fit_recognizer,
    predict_identities,
)
from analysis.types import EmbeddingSet
from report.recognizer_files import read_recognizer, write_recognizer


INFO = {"network": "n", "network_kind": "dlib", "network_options": {}, "extraction": {}}


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
    write_recognizer(tmp_path / "a", rec, dict(INFO, embedding_dims=emb.n_dims))
    write_recognizer(tmp_path / "b", rec, dict(INFO, embedding_dims=emb.n_dims))
    assert (tmp_path / "a" / "recognizer.npz").read_bytes() == (tmp_path / "b" / "recognizer.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "a" / "recognizer.npz") as zf:
        assert sorted(zf.namelist()) == ["centroids.npy", "names.npy", "train_x.npy", "train_y.npy"]
    loaded, doc = read_recognizer(tmp_path / "a")
    assert doc["network"] == "n" and loaded.names == rec.names
    assert list(predict_identities(loaded, new)[0]) == list(predict_identities(rec, new)[0])
    with pytest.raises(ValueError, match="recognizer.json"):
        read_recognizer(tmp_path)


# ---- the model folder is one checked unit (issue 21) ----


def _model(tmp_path, classifier="knn", names=None):
    emb, new, _ = _people()
    if names is not None:
        emb = EmbeddingSet("d", "n", emb.vectors, np.array([names[int(i.split("-")[1])] for i in emb.identities]),
                           emb.items)
    rec = fit_recognizer(emb, classifier, 0.9, RecognitionParams())
    folder = tmp_path / "model"
    write_recognizer(folder, rec, dict(INFO, embedding_dims=emb.n_dims))
    return folder, rec, new


def _doc(folder):
    import json

    return json.loads((folder / "recognizer.json").read_text(encoding="utf-8"))


def _save_doc(folder, doc):
    import json

    (folder / "recognizer.json").write_text(json.dumps(doc), encoding="utf-8")


def _rewrite_npz(folder, change):
    """Rewrite the NPZ with ``change(arrays)`` and make the JSON's digest and sizes match, so that only value checks remain."""
    import hashlib
    import io

    with np.load(folder / "recognizer.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (folder / "recognizer.npz").write_bytes(buf.getvalue())
    doc = _doc(folder)
    doc.update(npz_sha256=hashlib.sha256(buf.getvalue()).hexdigest(), npz_bytes=len(buf.getvalue()),
               arrays={k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in arrays.items()})
    _save_doc(folder, doc)


@pytest.mark.parametrize("key, value, message", [
    ("threshold", float("nan"), "threshold"),
    ("threshold", float("-inf"), "threshold"),
    ("threshold", 1.5, "threshold"),
    ("names", None, "'names' is missing"),
    ("classifier", None, "'classifier' is missing"),
    ("classifier", "forest", "unknown classifier"),
    ("embedding_dims", None, "embedding_dims"),
    ("npz_sha256", None, "npz_sha256"),
    ("n_identities", 5, "n_identities"),
    ("format", "face-embedding-atlas recognizer 1", "format"),
])
def test_every_damaged_json_is_one_value_error_naming_the_file(tmp_path, key, value, message):
    folder, *_ = _model(tmp_path)
    doc = _doc(folder)
    if value is None:
        doc.pop(key)
    else:
        doc[key] = value
    _save_doc(folder, doc)
    with pytest.raises(ValueError, match=message) as info:
        read_recognizer(folder)
    assert "recognizer.json" in str(info.value)


def test_reordered_names_and_an_npz_of_another_study_are_refused(tmp_path):
    folder, *_ = _model(tmp_path)
    doc = _doc(folder)
    doc["names"] = doc["names"][::-1]
    _save_doc(folder, doc)
    with pytest.raises(ValueError, match="identity names differ"):
        read_recognizer(folder)
    other, *_ = _model(tmp_path / "other", classifier="centroid")
    folder, *_ = _model(tmp_path / "again")
    (folder / "recognizer.npz").write_bytes((other / "recognizer.npz").read_bytes())
    with pytest.raises(ValueError, match="not one export|digest"):
        read_recognizer(folder)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.__setitem__("centroids", np.full_like(a["centroids"], np.nan)), "NaN"),
    (lambda a: a.__setitem__("centroids", a["centroids"] * 2), "unit vectors"),
    (lambda a: a.__setitem__("train_y", a["train_y"] + 10), "identity codes"),
    (lambda a: a.pop("train_y"), "needs array 'train_y'"),
    (lambda a: a.__setitem__("train_x", a["train_x"][:, :5]), "kNN arrays"),
])
def test_bad_arrays_are_refused_even_with_a_matching_digest(tmp_path, change, message):
    folder, *_ = _model(tmp_path)
    _rewrite_npz(folder, change)
    with pytest.raises(ValueError, match=message):
        read_recognizer(folder)


@pytest.mark.parametrize("content", [b"", b"PK\x05\x06" + b"\x00" * 18, b"not a zip at all"])
def test_empty_header_only_and_garbage_npz_are_refused(tmp_path, content):
    import hashlib

    folder, *_ = _model(tmp_path)
    (folder / "recognizer.npz").write_bytes(content)
    doc = _doc(folder)
    doc.update(npz_sha256=hashlib.sha256(content).hexdigest(), npz_bytes=max(len(content), 1))
    _save_doc(folder, doc)
    with pytest.raises(ValueError, match="recognizer.npz"):
        read_recognizer(folder)


def test_an_npz_that_inflates_beyond_its_declared_arrays_is_refused_before_inflating(tmp_path):
    """A 256 KiB archive whose member inflates to 256 MiB: the zip's declared size gives it away."""
    import hashlib
    import time

    folder, *_ = _model(tmp_path, classifier="centroid")
    path = folder / "recognizer.npz"
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            if name != "centroids":
                zf.writestr(f"{name}.npy", _npy(value))
        info = zipfile.ZipInfo("centroids.npy", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as fh:
            zero = bytes(1 << 20)
            for _ in range(256):  # 256 MiB of zeros, about 256 KiB deflated
                fh.write(zero)
    data = bomb.read_bytes()
    assert len(data) < 8 << 20
    path.write_bytes(data)
    doc = _doc(folder)
    doc.update(npz_sha256=hashlib.sha256(data).hexdigest(), npz_bytes=len(data))
    _save_doc(folder, doc)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="more than the arrays recognizer.json declares"):
        read_recognizer(folder)  # the file alone is larger than its arrays could be
    # a JSON that declares large enough arrays for the file: the zip's declared member size still gives it away
    doc["arrays"]["centroids"]["shape"] = [4, 3_000_000]
    _save_doc(folder, doc)
    with pytest.raises(ValueError, match="member centroids.npy inflates to 268,435,456 bytes, its array holds 96,000,000"):
        read_recognizer(folder)
    assert time.perf_counter() - t0 < 5.0


def _npy(array):
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def test_a_recogniser_needs_a_finite_threshold_and_its_arrays():
    emb, *_ = _people()
    rec = fit_recognizer(emb, "centroid", 1.0, RecognitionParams())
    for bad in (float("nan"), float("-inf"), 1.5):
        with pytest.raises(ValueError, match="threshold"):
            Recognizer(classifier="centroid", names=rec.names, centroids=rec.centroids, threshold=bad, far=0.01,
                       cv_accuracy=1.0)
    with pytest.raises(ValueError, match="needs train_x, train_y"):
        Recognizer(classifier="knn", names=rec.names, centroids=rec.centroids, threshold=0.5, far=0.01, cv_accuracy=1.0)


def test_a_failed_embedding_is_unknown_not_the_first_identity():
    emb, new, _ = _people()
    rec = fit_recognizer(emb, "centroid", 1.0, RecognitionParams())
    vectors = np.vstack([new[:1], np.full((1, new.shape[1]), np.nan), np.zeros((1, new.shape[1]))])
    names, conf = predict_identities(rec, vectors)
    assert names[0] == "person-0" and list(names[1:]) == [UNKNOWN, UNKNOWN]


def test_an_identity_called_unknown_is_refused_in_a_model(tmp_path):
    folder, *_ = _model(tmp_path, names={0: "Ann", 1: "Bob", 2: "Cy", 3: "Unknown"})
    with pytest.raises(ValueError, match="named 'unknown'"):
        read_recognizer(folder)
