"""``face_selection = "all"`` and the ``unlabelled`` dataset kind: items, labels, config, listing."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.config import ConfigError, parse_config
from analysis.embedding.datasets import UNLABELLED, UnlabelledDatasetOptions, build_manifest
from analysis.embedding.extract import face_items


def _kept(rows):
    return pd.DataFrame(rows, columns=["item", "face_index", "status"])


def test_every_face_of_an_unlabelled_photo_is_an_item():
    kept = _kept([("g.jpg", 0, "extra face (kept)"), ("g.jpg", 1, "kept"), ("s.jpg", 0, "kept")])
    items, identities, rows = face_items(kept, {"g.jpg": UNLABELLED, "s.jpg": UNLABELLED}, every_face=True)
    assert list(items) == ["g.jpg#0", "g.jpg#1", "s.jpg#0"] and list(rows) == [0, 1, 2]
    assert set(identities) == {UNLABELLED}


def test_in_an_identity_dataset_only_the_best_face_keeps_the_label():
    kept = _kept([("Ann/g.jpg", 0, "extra face (kept)"), ("Ann/g.jpg", 1, "kept"), ("Bob/s.jpg", 0, "kept")])
    items, identities, rows = face_items(kept, {"Ann/g.jpg": "Ann", "Bob/s.jpg": "Bob"}, every_face=True)
    assert list(items) == ["Ann/g.jpg#1", "Bob/s.jpg#0"] and list(identities) == ["Ann", "Bob"]
    assert list(rows) == [1, 2]  # vector rows of the labelled faces; the extra face stays in the trace only


def test_one_face_per_image_keeps_paths_as_items():
    kept = _kept([("Ann/a.jpg", 0, "kept")])
    items, identities, rows = face_items(kept, {"Ann/a.jpg": "Ann"}, every_face=False)
    assert list(items) == ["Ann/a.jpg"] and list(identities) == ["Ann"] and list(rows) == [0]


def test_unlabelled_root_is_listed_recursively_without_identities(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for rel in ("top.jpg", "a/b/deep.png", "a/notes.txt", ".hidden.jpg"):
        (tmp_path / rel).write_bytes(b"x")
    m = build_manifest("archive", UnlabelledDatasetOptions(root=tmp_path))
    assert list(m.frame["path"]) == ["a/b/deep.png", "top.jpg"]
    assert set(m.frame["identity"]) == {UNLABELLED}
    assert set(m.skipped["item"]) == {"a/notes.txt", ".hidden.jpg"}


def test_config_accepts_the_workflow_and_rejects_typos(tmp_path):
    raw = {"datasets": [{"name": "archive", "kind": "unlabelled", "root": str(tmp_path)}],
           "networks": [{"name": "dlib", "kind": "dlib"}],
           "extraction": {"face_selection": "all"}, "discovery": {"k_min": 3, "k_max": 20},
           "recognition": {"far": 0.001}}
    cfg = parse_config(raw, source=tmp_path / "study.toml")
    assert cfg.extraction.face_selection == "all" and cfg.discovery.k_max == 20 and cfg.recognition.far == 0.001
    assert isinstance(cfg.datasets[0].options, UnlabelledDatasetOptions)
    with pytest.raises(ConfigError, match="names_file"):
        parse_config({**raw, "datasets": [{**raw["datasets"][0], "names_file": "missing.csv"}]}, source=tmp_path / "s.toml")
    with pytest.raises(ConfigError, match="k_maxx"):
        parse_config({**raw, "discovery": {"k_maxx": 3}}, source=tmp_path / "s.toml")


def test_scrfd_keeps_every_face_of_a_group_photo_and_labels_only_the_best(tmp_path):
    """Real detector (SCRFD) on a 3-person canvas: unlabelled keeps 3 faces, an identity folder labels one."""
    from analysis.embedding.datasets import FolderDatasetOptions
    from analysis.embedding.extract import ExtractionParams, extract_embeddings
    from analysis.embedding.networks import ArcFaceOptions
    from tests.face_fixtures import SCRFD_500M, build_tiny_recognizer, need_scrfd
    from tests.unlabelled_fixtures import GROUPS, _canvas, _source

    need_scrfd()
    model = build_tiny_recognizer(tmp_path / "tiny.onnx")
    canvas = _canvas([_source(p, prefix) for p, prefix in GROUPS[2]])
    (tmp_path / "flat").mkdir()
    canvas.save(tmp_path / "flat" / "group.jpg", quality=92)
    (tmp_path / "ids" / "Tom").mkdir(parents=True)
    canvas.save(tmp_path / "ids" / "Tom" / "group.jpg", quality=92)
    params = ExtractionParams(detector_path=SCRFD_500M, face_selection="all", decode_threads=1)
    net = ArcFaceOptions(model_path=model)

    flat = extract_embeddings(build_manifest("flat", UnlabelledDatasetOptions(root=tmp_path / "flat")), "flat", "tiny",
                              net, params, tmp_path / "cache", progress=False)
    assert sorted(flat.embeddings.items) == ["group.jpg#0", "group.jpg#1", "group.jpg#2"]
    assert set(flat.embeddings.identities) == {UNLABELLED}
    assert flat.trace["kept"].sum() == 3 and (flat.trace["status"] == "kept").sum() == 1

    ids = extract_embeddings(build_manifest("ids", FolderDatasetOptions(root=tmp_path / "ids")), "ids", "tiny",
                             net, params, tmp_path / "cache", progress=False)
    assert ids.embeddings.n_samples == 1 and list(ids.embeddings.identities) == ["Tom"]
    assert (ids.trace["status"] == "extra face (kept)").sum() == 2  # recorded, not labelled
