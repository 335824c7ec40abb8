"""``predict`` as careful as the build (issue 21): inputs, outputs, model checks, CPU fallback, escaping.

Most cases need no network: the output is checked and the inputs listed before any photo is read.
The two that run one (dlib HOG + ResNet on one or two real photos) take a few seconds.
"""
from __future__ import annotations

import errno
import os
import shutil

import numpy as np
import pytest

from report.cli import main
from report.predict import HIDDEN, HIDDEN_FOLDER, LINKED_FOLDER, NOT_REGULAR, collect_inputs
from tests.face_fixtures import CELEBRITY, need_celebrity, need_dlib


def dlib_model(folder, names=("=HYPERLINK(\"http://x\")", "+SUM(1)"), threshold=-1.0, devices="auto", network_options=None):
    """A recogniser folder for dlib's network with random centroids (threshold -1: every face gets a name)."""
    from analysis.embedding.extraction_params import ExtractionParams
    from analysis.statistics.recognizer import Recognizer
    from report.recognizer_files import _options_dict, write_recognizer

    rng = np.random.default_rng(0)
    c = rng.normal(size=(len(names), 128))
    rec = Recognizer("centroid", tuple(names), c / np.linalg.norm(c, axis=1, keepdims=True), threshold, 0.01, 1.0)
    params = ExtractionParams(face_selection="all", detector_speed="fast", devices=devices)
    write_recognizer(folder, rec, {"network": "dlib", "network_kind": "dlib", "network_options": network_options or {},
                                   "extraction": _options_dict(params), "embedding_dims": 128})
    return folder


def _photo(person="Tom Cruise", prefix="016"):
    need_celebrity()
    return sorted((CELEBRITY / person).glob(f"{prefix}_*.jpg"))[0]


def test_folders_list_hidden_misnamed_and_special_files_with_a_reason_and_each_file_once(tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    (photos / ".git").mkdir()
    (photos / ".git" / "a.jpg").write_bytes(b"x")
    (photos / "a.jpg").write_bytes(b"jpeg")
    (photos / ".hidden.jpg").write_bytes(b"jpeg")
    (photos / "misnamed.jpeg.txt").write_bytes(b"jpeg")
    (photos / "noext").write_bytes(b"jpeg")
    os.symlink(photos / "a.jpg", photos / "sub" / "link.jpg")
    os.mkfifo(photos / "pipe.jpg")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, photos / "linked")
    os.chdir(tmp_path)
    inputs = collect_inputs([photos, tmp_path / "photos" / "a.jpg", "photos/a.jpg", photos / "sub" / "link.jpg"])
    assert [shown for _, shown in inputs.photos] == [str(photos / "a.jpg")]  # one file, one row
    reasons = dict(inputs.skipped)
    assert reasons[str(photos / ".hidden.jpg")] == HIDDEN
    assert reasons[str(photos / ".git")] == HIDDEN_FOLDER
    assert reasons[str(photos / "linked")] == LINKED_FOLDER
    assert reasons[str(photos / "pipe.jpg")] == NOT_REGULAR
    assert "'.txt'" in reasons[str(photos / "misnamed.jpeg.txt")] and "no extension" in reasons[str(photos / "noext")]
    # named explicitly, a hidden or misnamed file is read
    assert len(collect_inputs([photos / ".hidden.jpg", photos / "noext"]).photos) == 2
    with pytest.raises(FileNotFoundError, match="neither a photo nor a folder"):
        collect_inputs([tmp_path / "missing.jpg"])


@pytest.mark.parametrize("case", ["photo", "photo-force", "model-json", "model-npz", "folder", "exists", "no-parent"])
def test_outputs_that_would_destroy_something_are_refused_before_anything_is_read(tmp_path, capsys, case):
    model = dlib_model(tmp_path / "model")
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = photos / "a.jpg"
    photo.write_bytes(b"my photo")
    (tmp_path / "who.csv").write_text("mine\n", encoding="utf-8")
    output, extra = {
        "photo": (photo, []), "photo-force": (photo, ["--force"]), "model-json": (model / "recognizer.json", ["--force"]),
        "model-npz": (model / "recognizer.npz", []), "folder": (photos, []), "exists": (tmp_path / "who.csv", []),
        "no-parent": (tmp_path / "missing" / "who.csv", []),
    }[case]
    before = {p: p.read_bytes() for p in (photo, model / "recognizer.json", model / "recognizer.npz", tmp_path / "who.csv")}
    assert main(["predict", "--model", str(model), "--output", str(output), *extra, str(photos)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --output") and str(output) in err[0]
    assert {p: p.read_bytes() for p in before} == before
    assert not (tmp_path / "missing").exists()


def test_a_failed_write_is_one_error_line_and_the_old_file_stays(tmp_path, capsys, monkeypatch):
    from analysis.embedding import store

    model = dlib_model(tmp_path / "model")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "=1+1.txt").write_bytes(b"not a photo")  # listed with its reason: no network needed
    out = tmp_path / "who.csv"
    out.write_text("previous\n", encoding="utf-8")

    def full_disk(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "atomic_write_text", full_disk)
    assert main(["predict", "--model", str(model), "--output", str(out), "--force", str(photos)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and str(out) in err[0]
    assert out.read_text(encoding="utf-8") == "previous\n"
    monkeypatch.undo()
    assert main(["predict", "--model", str(model), "--output", str(out), "--force", str(photos)]) == 0
    assert "=1+1.txt,-1," in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("damage", ["json-key", "digest", "threshold"])
def test_a_damaged_model_is_one_error_line(tmp_path, capsys, damage):
    import json

    model = dlib_model(tmp_path / "model")
    doc = json.loads((model / "recognizer.json").read_text(encoding="utf-8"))
    if damage == "json-key":
        doc.pop("network_kind")
    elif damage == "digest":
        doc["npz_sha256"] = "0" * 64
    else:
        doc["threshold"] = float("nan")
    (model / "recognizer.json").write_text(json.dumps(doc), encoding="utf-8")
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert main(["predict", "--model", str(model), str(tmp_path / "a.jpg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: recogniser") and "recognizer" in err[0]


def test_an_unusable_model_path_is_one_error_line(tmp_path, capsys):
    need_dlib()
    missing = dlib_model(tmp_path / "m1", network_options={"model_path": str(tmp_path / "gone.dat")})
    garbage = tmp_path / "garbage.dat"
    garbage.write_bytes(b"not dlib weights")
    broken = dlib_model(tmp_path / "m2", network_options={"model_path": str(garbage)})
    photo = shutil.copyfile(_photo(), tmp_path / "a.jpg")
    for model, message in ((missing, "does not exist"), (broken, "cannot be loaded")):
        assert main(["predict", "--model", str(model), str(photo)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err


def test_a_cuda_model_runs_on_the_cpu_with_a_warning_and_its_csv_is_escaped(tmp_path, capsys):
    need_dlib()  # dlib-bin has no CUDA: a CUDA request always falls back to the CPU
    model = dlib_model(tmp_path / "model", devices="cuda")
    shutil.copyfile(_photo(), tmp_path / "=cmd.jpg")
    os.symlink(tmp_path / "=cmd.jpg", tmp_path / "zz-link.jpg")
    os.chdir(tmp_path)
    out = tmp_path / "who.csv"
    assert main(["predict", "--model", str(model), "--output", str(out), "=cmd.jpg", "zz-link.jpg", "./=cmd.jpg"]) == 0
    err = capsys.readouterr().err
    assert "warning: the model was exported with devices = 'cuda'" in err and "running on the CPU" in err
    import pandas as pd

    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(table) == 1, table  # three names of one file: one row
    row = table.iloc[0]
    assert row["original_file"] == "'=cmd.jpg" and row["identity"] in ("'=HYPERLINK(\"http://x\")", "'+SUM(1)")
    assert int(row["face_index"]) == 0 and float(row["confidence"]) > -1


def test_an_arcface_model_exported_for_cuda_runs_on_a_cpu_machine_with_a_warning(tmp_path, capsys):
    """The onnxruntime path: devices = 'cuda' where onnxruntime has no CUDA provider (the issue's traceback)."""
    from analysis.embedding import devices as dev
    from analysis.embedding.extraction_params import ExtractionParams
    from analysis.embedding.networks import ArcFaceOptions
    from analysis.statistics.recognizer import Recognizer
    from report.recognizer_files import _options_dict, write_recognizer
    from tests.face_fixtures import SCRFD_500M, build_tiny_recognizer, need_scrfd

    need_scrfd()
    if dev.cuda_device_count():
        pytest.skip("CUDA is usable here: nothing to fall back from")
    net = ArcFaceOptions(model_path=build_tiny_recognizer(tmp_path / "tiny.onnx"))
    params = ExtractionParams(face_selection="all", detector_path=SCRFD_500M, devices="cuda")
    c = np.random.default_rng(0).normal(size=(2, 512))
    rec = Recognizer("centroid", ("Ann", "Bob"), c / np.linalg.norm(c, axis=1, keepdims=True), -1.0, 0.01, 1.0)
    write_recognizer(tmp_path / "model", rec, {"network": "arc", "network_kind": "arcface",
                                               "network_options": _options_dict(net), "extraction": _options_dict(params),
                                               "embedding_dims": 512})
    photo = shutil.copyfile(_photo(), tmp_path / "a.jpg")
    assert main(["predict", "--model", str(tmp_path / "model"), str(photo)]) == 0
    captured = capsys.readouterr()
    assert "warning: the model was exported with devices = 'cuda'" in captured.err and "CUDAExecutionProvider" in captured.err
    assert captured.out.splitlines()[1].startswith(str(photo) + ",0,")
