"""Dataset adapters: manifests of image datasets, precomputed embedding files, config wiring."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.embedding import datasets
from analysis.config import ConfigError, load_config, parse_config
from analysis.embedding.datasets import (
    ADAPTERS,
    CsvEmbeddingsOptions,
    CsvManifestOptions,
    FilenameDatasetOptions,
    FolderDatasetOptions,
    LfwOptions,
    NpyEmbeddingsOptions,
    ParquetEmbeddingsOptions,
    build_manifest,
    load_embeddings,
    read_lfw_pairs,
)
from analysis.embedding.synthetic import SyntheticDatasetOptions
from tests.face_fixtures import REPO, need_celebrity


def _touch_jpeg(path: Path, value: int = 0) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value % 256, np.uint8)).save(path, "JPEG")
    return path


# --------------------------------------------------------------------------------------------
# Registry and families
# --------------------------------------------------------------------------------------------


def test_every_adapter_declares_its_family():
    for kind, cls in ADAPTERS.items():
        assert cls.FAMILY in ("synthetic", "images", "embeddings"), kind
        assert "FAMILY" not in {f.name for f in dataclasses.fields(cls)}, f"{kind}: FAMILY must not be a field"
    assert SyntheticDatasetOptions.FAMILY == "synthetic"
    assert FolderDatasetOptions.FAMILY == "images"
    assert CsvEmbeddingsOptions.FAMILY == "embeddings"


def test_unknown_kind_lists_valid_ones():
    with pytest.raises(ValueError, match="valid kinds: .*folder.*"):
        datasets.options_type("folders")


def test_wrong_family_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not an image dataset"):
        build_manifest("x", SyntheticDatasetOptions())
    with pytest.raises(ValueError, match="not an embeddings file"):
        load_embeddings("x", FolderDatasetOptions(root=tmp_path))


# --------------------------------------------------------------------------------------------
# Folder per identity
# --------------------------------------------------------------------------------------------


def test_celebrity_folder_manifest():
    root = need_celebrity()
    m = build_manifest("celebrity", FolderDatasetOptions(root=root))
    frame = m.frame
    assert list(frame.columns) == ["path", "identity", "sha256", "bytes"]
    assert frame["path"].is_unique and list(frame["path"]) == sorted(frame["path"])
    assert frame["identity"].nunique() == 26
    assert "John Mayer" in set(frame["identity"]) and (frame["identity"] == "John Mayer").sum() == 1
    assert {"Homer Simpson", "Elsa", "Robert Downey Jr"} <= set(frame["identity"])
    assert len(frame) == 1307
    assert (frame["bytes"] > 0).all() and frame["sha256"].str.len().eq(64).all()
    suffixes = {Path(p).suffix.lower() for p in frame["path"]}
    assert {".jpg", ".png", ".webp", ".avif"} <= suffixes
    # Stable: same content, same hash.
    assert build_manifest("celebrity", FolderDatasetOptions(root=root)).content_hash == m.content_hash


def test_folder_manifest_records_what_it_leaves_out(tmp_path):
    _touch_jpeg(tmp_path / "Ann Lee" / "1.jpg", 1)
    _touch_jpeg(tmp_path / "Ann Lee" / "2.JPG", 2)
    _touch_jpeg(tmp_path / "Bo" / "1.png", 3)
    (tmp_path / "Bo" / "zero.jpg").write_bytes(b"")
    (tmp_path / "Bo" / "readme.txt").write_text("x")
    (tmp_path / "Bo" / ".DS_Store").write_bytes(b"junk")
    _touch_jpeg(tmp_path / "loose.jpg", 4)
    m = build_manifest("t", FolderDatasetOptions(root=tmp_path))
    assert list(m.frame["path"]) == ["Ann Lee/1.jpg", "Ann Lee/2.JPG", "Bo/1.png"]
    assert list(m.frame["identity"]) == ["Ann Lee", "Ann Lee", "Bo"]
    reasons = dict(zip(m.skipped["item"], m.skipped["reason"]))
    assert reasons == {
        "Bo/zero.jpg": "empty file",
        "Bo/readme.txt": "not an image file (extension)",
        "Bo/.DS_Store": "hidden file",
        "loose.jpg": "not inside an identity folder",
    }


def test_content_hash_changes_with_content(tmp_path):
    p = _touch_jpeg(tmp_path / "A" / "1.jpg", 1)
    h1 = build_manifest("t", FolderDatasetOptions(root=tmp_path)).content_hash
    _touch_jpeg(p, 200)
    assert build_manifest("t", FolderDatasetOptions(root=tmp_path)).content_hash != h1


def test_missing_root_and_empty_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="fix 'root'"):
        build_manifest("t", FolderDatasetOptions(root=tmp_path / "nope"))
    (tmp_path / "A").mkdir()
    with pytest.raises(ValueError, match="no usable image"):
        build_manifest("t", FolderDatasetOptions(root=tmp_path))


# --------------------------------------------------------------------------------------------
# FRGC-style file names, CSV manifests
# --------------------------------------------------------------------------------------------


def test_frgc_identity_from_file_name_prefix(tmp_path):
    for i, name in enumerate(["02463d452.jpg", "02463d454.jpg", "04201d12.jpg", "sub/04202d01.jpg"]):
        _touch_jpeg(tmp_path / name, i)
    m = build_manifest("frgc", FilenameDatasetOptions(root=tmp_path))
    assert dict(zip(m.frame["path"], m.frame["identity"])) == {
        "02463d452.jpg": "02463", "02463d454.jpg": "02463", "04201d12.jpg": "04201", "sub/04202d01.jpg": "04202",
    }


def test_identity_regex_and_non_matching_files(tmp_path):
    _touch_jpeg(tmp_path / "subj-017_take3.jpg", 1)
    _touch_jpeg(tmp_path / "subj-018_take1.jpg", 2)
    _touch_jpeg(tmp_path / "calibration.jpg", 3)
    opts = FilenameDatasetOptions(root=tmp_path, identity_regex=r"subj-(?P<identity>\d+)_")
    m = build_manifest("r", opts)
    assert list(m.frame["identity"]) == ["017", "018"]
    assert list(m.skipped["reason"]) == ["file name does not match identity_regex"]
    with pytest.raises(ValueError, match="not a valid regular expression"):
        FilenameDatasetOptions(root=tmp_path, identity_regex="(")


def test_csv_manifest(tmp_path):
    _touch_jpeg(tmp_path / "img" / "a.jpg", 1)
    _touch_jpeg(tmp_path / "img" / "b.jpg", 2)
    outside = _touch_jpeg(tmp_path.parent / f"{tmp_path.name}-outside.jpg", 3)
    pd.DataFrame({
        "file": ["img/b.jpg", "img/a.jpg", "img/a.jpg", "img/missing.jpg", str(outside), "img/b.jpg"],
        "who": ["Bob", "Ann", "Ann", "Cy", "Dee", ""],
    }).to_csv(tmp_path / "list.csv", index=False)
    m = build_manifest("c", CsvManifestOptions(manifest_file=tmp_path / "list.csv", path_column="file",
                                               identity_column="who"))
    assert list(m.frame["path"]) == ["img/a.jpg", "img/b.jpg"]
    assert list(m.frame["identity"]) == ["Ann", "Bob"]
    assert sorted(m.skipped["reason"]) == sorted(["duplicate path", "missing file", "path outside root",
                                                  "missing path or identity"])
    with pytest.raises(ValueError, match="no column 'path'"):
        build_manifest("c", CsvManifestOptions(manifest_file=tmp_path / "list.csv"))


# --------------------------------------------------------------------------------------------
# LFW (layout built here: the real download needs internet)
# --------------------------------------------------------------------------------------------


def _fake_lfw_home(base: Path) -> Path:
    home = base / "lfw_home"
    people = {"Aaron_Eckhart": 1, "Abel_Pacheco": 2, "Zico": 3}
    for i, (name, n) in enumerate(people.items()):
        for k in range(1, n + 1):
            _touch_jpeg(home / "lfw_funneled" / name / f"{name}_{k:04d}.jpg", 10 * i + k)
    (home / "pairs.txt").write_text("2\t1\nAbel_Pacheco\t1\t2\nAaron_Eckhart\t1\tZico\t3\n"
                                    "Zico\t1\t2\nAbel_Pacheco\t2\tZico\t1\n")
    return home


def test_lfw_from_lfw_home_with_pairs(tmp_path):
    home = _fake_lfw_home(tmp_path)
    for root in (tmp_path, home):
        m = build_manifest("lfw", LfwOptions(root=root))
        assert m.root == (home / "lfw_funneled").resolve()
        assert m.frame["identity"].tolist() == ["Aaron_Eckhart", "Abel_Pacheco", "Abel_Pacheco", "Zico", "Zico", "Zico"]
        pairs = m.pairs
        assert list(pairs.columns) == ["path_a", "path_b", "same", "fold"]
        assert pairs["same"].tolist() == [True, False, True, False]
        assert pairs["fold"].tolist() == [0, 0, 1, 1]
        assert set(pairs["path_a"]) | set(pairs["path_b"]) <= set(m.frame["path"])


def test_lfw_image_folder_and_dev_pairs(tmp_path):
    home = _fake_lfw_home(tmp_path)
    dev = tmp_path / "pairsDevTest.txt"
    dev.write_text("1\nZico\t2\t3\n")
    m = build_manifest("lfw", LfwOptions(root=home / "lfw_funneled", pairs_file=dev))
    assert m.pairs.to_dict("records") == [
        {"path_a": "Zico/Zico_0002.jpg", "path_b": "Zico/Zico_0003.jpg", "same": True, "fold": 0}]
    with pytest.raises(ValueError, match="download = true"):
        datasets.resolve_lfw(LfwOptions())


def test_read_lfw_pairs_rejects_bad_lines(tmp_path):
    (tmp_path / "p.txt").write_text("1\t1\nA\t1\n")
    with pytest.raises(ValueError, match="expected 3"):
        read_lfw_pairs(tmp_path / "p.txt")


# --------------------------------------------------------------------------------------------
# Precomputed embeddings
# --------------------------------------------------------------------------------------------


def test_frgc_style_csv_with_list_strings(tmp_path):
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(6, 8)).astype(np.float32)
    frame = pd.DataFrame({
        "embedding": [str(list(map(float, v))) for v in vecs],
        "label": [0, 0, 0, 1, 1, 1],
        "image_file": [f"{i:05d}.jpg" for i in range(6)],
        "person_id": ["02463"] * 3 + ["04201"] * 3,
    })
    frame.to_csv(tmp_path / "frgc_face_embeddings.csv", index=False)
    loaded = load_embeddings("frgc", CsvEmbeddingsOptions(embeddings_file=tmp_path / "frgc_face_embeddings.csv",
                                                          network="arcface-r100"))
    emb = loaded.embeddings
    np.testing.assert_allclose(emb.vectors, vecs, rtol=1e-6)
    assert emb.network == "arcface-r100" and emb.identities.tolist()[0] == "02463"
    assert loaded.skipped.empty and list(loaded.skipped.columns) == ["item", "reason"]
    assert len(loaded.content_hash) == 24
    by_label = load_embeddings("frgc", CsvEmbeddingsOptions(embeddings_file=tmp_path / "frgc_face_embeddings.csv",
                                                            network="n", identity_column="label"))
    assert by_label.embeddings.identities.tolist() == ["0", "0", "0", "1", "1", "1"]


def test_csv_one_column_per_dimension(tmp_path):
    frame = pd.DataFrame({"identity": ["a", "b"], "dim_1": [1.0, 2.0], "dim_0": [0.5, 0.25], "dim_2": [3.0, 4.0]})
    frame.to_csv(tmp_path / "wide.csv", index=False)
    loaded = load_embeddings("w", CsvEmbeddingsOptions(embeddings_file=tmp_path / "wide.csv", network="n",
                                                       identity_column="identity"))
    np.testing.assert_array_equal(loaded.embeddings.vectors, np.array([[0.5, 1, 3], [0.25, 2, 4]], np.float32))
    assert loaded.embeddings.items.tolist() == ["row-000000", "row-000001"]
    with pytest.raises(ValueError, match="set embedding_column or dimension_regex"):
        load_embeddings("w", CsvEmbeddingsOptions(embeddings_file=tmp_path / "wide.csv", network="n",
                                                  identity_column="identity", dimension_regex=r"^z(\d+)$"))


def test_parquet_list_column_and_npy_with_label_table(tmp_path):
    vecs = np.arange(12, dtype=np.float32).reshape(3, 4)
    pd.DataFrame({"embedding": list(vecs), "person_id": ["x", "y", "y"], "image_file": ["1", "2", "3"]}).to_parquet(
        tmp_path / "e.parquet")
    loaded = load_embeddings("p", ParquetEmbeddingsOptions(embeddings_file=tmp_path / "e.parquet", network="n"))
    np.testing.assert_array_equal(loaded.embeddings.vectors, vecs)
    np.save(tmp_path / "v.npy", vecs)
    pd.DataFrame({"identity": ["x", "y", "y"], "item": ["a", "b", "c"]}).to_csv(tmp_path / "labels.csv", index=False)
    loaded = load_embeddings("n", NpyEmbeddingsOptions(vectors_file=tmp_path / "v.npy",
                                                       labels_file=tmp_path / "labels.csv", network="n"))
    assert loaded.embeddings.items.tolist() == ["a", "b", "c"]
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):  # pickled arrays are refused (allow_pickle=False)
        load_embeddings("n", NpyEmbeddingsOptions(vectors_file=tmp_path / "obj.npy",
                                                  labels_file=tmp_path / "labels.csv", network="n"))


# --------------------------------------------------------------------------------------------
# Config wiring
# --------------------------------------------------------------------------------------------


def test_config_resolves_and_checks_paths(tmp_path):
    _touch_jpeg(tmp_path / "data" / "A" / "1.jpg")
    (tmp_path / "cfg").mkdir()
    raw = {"datasets": [{"name": "d", "kind": "folder", "root": "../data"}]}
    cfg = parse_config(raw, source=tmp_path / "cfg" / "study.toml")
    assert cfg.datasets[0].options.root == (tmp_path / "data").resolve()
    bad = {"datasets": [{"name": "d", "kind": "folder", "root": "../nowhere"}]}
    with pytest.raises(ConfigError, match="does not exist"):
        parse_config(bad, source=tmp_path / "cfg" / "study.toml")
    typo = {"datasets": [{"name": "d", "kind": "csv-embeddings", "embeddings_file": "../data/A/1.jpg",
                          "network": "n", "identity_colum": "x"}]}
    with pytest.raises(ConfigError, match="did you mean 'identity_column'"):
        parse_config(typo, source=tmp_path / "cfg" / "study.toml")


def test_celebrity_config_loads():
    need_celebrity()
    cfg = load_config(REPO / "configs" / "celebrity-faces.toml")
    (spec,) = cfg.datasets
    assert spec.kind == "folder" and spec.options.root.name == "celebrity-faces"
    # Two real networks (issue 23): dlib's ResNet on dlib's detector, mobileface through the ArcFace
    # path on its own SCRFD detector.
    assert [(n.name, n.kind) for n in cfg.networks] == [("dlib-resnet", "dlib"), ("mobileface", "arcface")]
    mobile = cfg.networks[1].options
    assert mobile.model_path.name == "mobileface-raw.onnx" and mobile.detector_path.name == "scrfd_2.5g.onnx"
    assert cfg.subsets == ("all", "min-5")
    assert cfg.study.cache_dir == (REPO / ".cache").resolve()
