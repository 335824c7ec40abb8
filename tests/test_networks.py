"""Embedders behind one interface; devices and provider options."""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util

import numpy as np
import pytest

from analysis.embedding import devices, networks
from analysis.embedding.devices import Device
from analysis.embedding.networks import (
    NETWORKS,
    ArcFaceOptions,
    DlibOptions,
    FaceNetOptions,
    create_embedder,
    network_identity,
)
from analysis.embedding.synthetic import SyntheticNetworkOptions
from tests.face_fixtures import build_tiny_recognizer, celebrity_sample, need_dlib


def _crops(n: int, size: int = 112, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_every_network_declares_its_family():
    for kind, cls in NETWORKS.items():
        assert cls.FAMILY in ("synthetic", "images"), kind
        assert "FAMILY" not in {f.name for f in dataclasses.fields(cls)}
    assert SyntheticNetworkOptions.FAMILY == "synthetic"
    assert ArcFaceOptions.FAMILY == DlibOptions.FAMILY == FaceNetOptions.FAMILY == "images"


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="valid kinds: arcface, dlib, facenet, synthetic"):
        networks.options_type("resnet")
    with pytest.raises(ValueError, match="valid names: antelopev2, buffalo_l, buffalo_s"):
        ArcFaceOptions(model="buffalo_xl")
    with pytest.raises(ValueError, match="valid image network kinds: arcface, dlib, facenet"):
        create_embedder(SyntheticNetworkOptions())


# --------------------------------------------------------------------------------------------
# ArcFace ONNX (a recogniser built here with the onnx package: same signature as buffalo_l)
# --------------------------------------------------------------------------------------------


def test_arcface_embedder_batched_raw_float32(tmp_path):
    path = build_tiny_recognizer(tmp_path / "w600k_tiny.onnx")
    emb = create_embedder(ArcFaceOptions(model_path=path), threads=1)
    assert (emb.dim, emb.input_size, emb.alignment) == (512, 112, "similarity")
    crops = _crops(5)
    out = emb.embed(crops)
    assert out.shape == (5, 512) and out.dtype == np.float32
    norms = np.linalg.norm(out, axis=1)
    assert not np.allclose(norms, 1.0)  # raw vectors: never normalised here
    one_by_one = np.concatenate([emb.embed(crops[i:i + 1]) for i in range(5)])
    np.testing.assert_allclose(out, one_by_one, rtol=1e-5, atol=1e-5)
    assert emb.embed(crops[:0]).shape == (0, 512)
    with pytest.raises(ValueError, match=r"uint8 RGB crops of shape \(n, 112, 112, 3\)"):
        emb.embed(crops.astype(np.float32))


def test_arcface_matches_insightface_get_feat(tmp_path):
    """Our RGB batch preprocessing equals InsightFace's own ArcFaceONNX.get_feat on BGR crops."""
    path = build_tiny_recognizer(tmp_path / "r.onnx")
    emb = create_embedder(ArcFaceOptions(model_path=path), threads=1)
    crops = _crops(3, seed=1)
    ref = emb.model.get_feat([np.ascontiguousarray(c[:, :, ::-1]) for c in crops])
    np.testing.assert_allclose(emb.embed(crops), ref, rtol=1e-5, atol=1e-5)


def test_identity_records_weights_hash_and_preprocessing(tmp_path):
    path = build_tiny_recognizer(tmp_path / "r.onnx")
    opts = ArcFaceOptions(model_path=path)
    ident = network_identity(opts)
    assert ident == create_embedder(opts, threads=1).identity()
    assert ident["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ident["preprocessing"] == "rgb,(x-127.5)/127.5,nchw-float32"
    other = build_tiny_recognizer(tmp_path / "r2.onnx", seed=1)
    assert network_identity(ArcFaceOptions(model_path=other))["weights_sha256"] != ident["weights_sha256"]


def test_arcface_pack_download_path(tmp_path, monkeypatch):
    """The real InsightFace download is called for a named pack; offline, the error says what to do."""
    import insightface.utils

    calls = []

    def fake_ensure_available(sub_dir, name, root):
        calls.append((sub_dir, name, root))
        folder = tmp_path / "models" / name / name  # antelopev2 unzips into a nested folder
        folder.mkdir(parents=True)
        build_tiny_recognizer(folder / "glintr100.onnx")
        return str(tmp_path / "models" / name)

    monkeypatch.setattr(insightface.utils, "ensure_available", fake_ensure_available)
    path = networks.arcface_model_path(ArcFaceOptions(model="antelopev2", model_dir=str(tmp_path)))
    assert path.name == "glintr100.onnx" and calls == [("models", "antelopev2", str(tmp_path))]

    def offline(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(insightface.utils, "ensure_available", offline)
    with pytest.raises(RuntimeError, match="w600k_r50.onnx.*model_path"):
        networks.arcface_model_path(ArcFaceOptions(model="buffalo_l", model_dir=str(tmp_path)))


@pytest.mark.gpu
def test_arcface_on_cuda_when_available(tmp_path):
    if "CUDAExecutionProvider" not in devices.onnx_providers():
        pytest.skip("no CUDAExecutionProvider in this onnxruntime build")
    path = build_tiny_recognizer(tmp_path / "r.onnx")
    emb = create_embedder(ArcFaceOptions(model_path=path), device=Device("cuda", 0))
    assert "CUDAExecutionProvider" in emb.session.get_providers()
    cpu = create_embedder(ArcFaceOptions(model_path=path), threads=1)
    crops = _crops(4)
    np.testing.assert_allclose(emb.embed(crops), cpu.embed(crops), rtol=1e-3, atol=1e-3)


# --------------------------------------------------------------------------------------------
# dlib ResNet (real weights)
# --------------------------------------------------------------------------------------------


def test_dlib_embedder_matches_dlib_reference():
    need_dlib()
    import dlib

    from analysis.embedding.faces import DlibDetector, dlib_model_file
    from analysis.embedding.images import decode_file

    (path,) = celebrity_sample(1, ("Tom Cruise",))
    bgr = decode_file(path).bgr
    box = DlibDetector("hog", upsample=0, max_side=0).detect(bgr).boxes[0]
    emb = create_embedder(DlibOptions())
    chip = emb.make_aligner().align(bgr, box, None)
    vec = emb.embed(chip.rgb[None])
    assert vec.shape == (1, 128) and vec.dtype == np.float32
    # dlib's own one-call API (detection rectangle -> shape -> descriptor) gives the same vector.
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    sp = dlib.shape_predictor(str(dlib_model_file("pose_predictor_five_point_model_location")))
    rect = dlib.rectangle(int(round(box[0])), int(round(box[1])), int(round(box[2])) - 1, int(round(box[3])) - 1)
    ref = np.array(emb.model.compute_face_descriptor(rgb, sp(rgb, rect)), np.float32)
    np.testing.assert_allclose(vec[0], ref, atol=2e-3)
    assert network_identity(DlibOptions()) == emb.identity()


# --------------------------------------------------------------------------------------------
# FaceNet (optional dependency)
# --------------------------------------------------------------------------------------------


def test_facenet_missing_dependency_says_what_to_install():
    if importlib.util.find_spec("facenet_pytorch") is not None:
        pytest.skip("facenet-pytorch is installed; the import error path cannot be shown")
    with pytest.raises(ImportError, match="pip install facenet-pytorch"):
        create_embedder(FaceNetOptions())


# --------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------


def test_balanced_shards():
    shards = devices.balanced_shards(10, 3)
    assert shards == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert sorted(i for s in shards for i in s) == list(range(10))
    assert devices.balanced_shards(2, 4) == [[0], [1]]
    assert devices.balanced_shards(0, 4) == [[]]
