"""Reduced-precision recognisers (float16, bfloat16): used only where asked and only when they agree with float32."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.embedding.devices import Device
from analysis.embedding.openvino_engine import cpu_has_bf16, openvino_available
from analysis.embedding.precision import MIN_COSINE, check_fp16, min_cosine, probe_crops, reduced_precision, wants_fp16
from tests.face_fixtures import build_tiny_recognizer


def test_auto_means_fp16_on_cuda_bf16_on_native_cpus_only():
    assert wants_fp16("auto", on_cuda=True) and not wants_fp16("auto", on_cuda=False)
    assert wants_fp16("fp16", on_cuda=False) and not wants_fp16("fp32", on_cuda=True)
    assert reduced_precision("auto", on_cuda=False, openvino=True, bf16_native=True) == "bf16"
    assert reduced_precision("auto", on_cuda=False, openvino=True, bf16_native=False) is None
    assert reduced_precision("auto", on_cuda=False, openvino=False, bf16_native=True) is None  # onnxruntime: no bf16
    assert reduced_precision("bf16", on_cuda=False) == "bf16" and reduced_precision("fp32", on_cuda=True) is None
    with pytest.raises(ValueError, match="valid: auto, fp32, fp16, bf16"):
        reduced_precision("int8", on_cuda=True)


def test_fp16_kept_only_above_the_cosine_floor():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3 * 8 * 8, 16))
    run32 = lambda x: x.reshape(len(x), -1) @ w  # noqa: E731
    same = check_fp16(run32, lambda x: run32(x) * 1.0001, 8)  # a scale change keeps every cosine at 1
    assert same.precision == "fp16" and same.min_cosine > 0.9999 and same.reason == ""
    noisy = check_fp16(run32, lambda x: run32(x) + rng.normal(scale=3.0, size=(len(x), 16)), 8)
    assert noisy.precision == "fp32" and noisy.min_cosine < MIN_COSINE and "lowest cosine" in noisy.reason
    assert min_cosine(np.eye(2), np.array([[1.0, 0.0], [1.0, 0.0]])) == pytest.approx(0.0)
    assert probe_crops(8).shape == (16, 3, 8, 8)


def test_fp16_recogniser_agrees_with_fp32_and_says_so(tmp_path):
    from analysis.embedding.networks import ArcFaceEmbedder

    path = build_tiny_recognizer(tmp_path / "r.onnx")
    fp32 = ArcFaceEmbedder(path, Device("cpu"), threads=1, cpu_engine="onnxruntime")
    fp16 = ArcFaceEmbedder(path, Device("cpu"), threads=1, precision="fp16", cpu_engine="onnxruntime")
    assert fp32.precision.precision == "fp32" and fp32.what == "recogniser r.onnx"
    assert fp16.precision.precision == "fp16" and fp16.what == "recogniser r.onnx fp16"
    assert fp16.precision.min_cosine >= MIN_COSINE
    crops = np.random.default_rng(1).integers(0, 256, size=(5, 112, 112, 3), dtype=np.uint8)
    assert min_cosine(fp16.embed(crops), fp32.embed(crops)) >= MIN_COSINE
    assert fp16.identity() == fp32.identity()  # same network; the precision is in the provenance


@pytest.mark.gpu
def test_auto_precision_on_cuda_uses_fp16(tmp_path):
    from analysis.embedding.devices import cuda_device_count
    from analysis.embedding.networks import ArcFaceEmbedder

    if not cuda_device_count():
        pytest.skip("no CUDA device / CUDAExecutionProvider here")
    path = build_tiny_recognizer(tmp_path / "r.onnx")
    gpu = ArcFaceEmbedder(path, Device("cuda", 0), precision="auto")
    assert gpu.precision.precision == "fp16", gpu.precision.reason
    assert gpu.session.get_providers()[0] == "CUDAExecutionProvider"
    cpu = ArcFaceEmbedder(path, Device("cpu"), threads=1)
    crops = np.random.default_rng(1).integers(0, 256, size=(64, 112, 112, 3), dtype=np.uint8)
    assert min_cosine(gpu.embed(crops), cpu.embed(crops)) >= MIN_COSINE


def test_extraction_table_accepts_precision_and_detector_batch(tmp_path):
    from analysis.config import ConfigError, build_dataclass
    from analysis.embedding.extraction_params import ExtractionParams

    p = build_dataclass(ExtractionParams, {"recognizer_precision": "fp16", "det_batch": 8}, "[extraction]", base=tmp_path)
    assert p.recognizer_precision == "fp16" and p.det_batch == 8
    assert ExtractionParams().recognizer_precision == "auto" and ExtractionParams().det_batch == 0
    assert build_dataclass(ExtractionParams, {"recognizer_precision": "bf16", "cpu_engine": "onnxruntime"}, "[extraction]",
                           base=tmp_path).cpu_engine == "onnxruntime"
    with pytest.raises(ConfigError, match="must be one of"):
        build_dataclass(ExtractionParams, {"recognizer_precision": "int8"}, "[extraction]", base=tmp_path)
    with pytest.raises(ConfigError, match="must be one of"):
        build_dataclass(ExtractionParams, {"cpu_engine": "tensorrt"}, "[extraction]", base=tmp_path)
    with pytest.raises(ConfigError, match="det_batch must be >= 0"):
        build_dataclass(ExtractionParams, {"det_batch": -1}, "[extraction]", base=tmp_path)


needs_openvino = pytest.mark.skipif(not openvino_available(), reason="openvino not installed")


@needs_openvino
def test_openvino_float32_matches_onnxruntime_and_names_itself(tmp_path):
    """Same ONNX file on both engines: rounding-level differences only; the session report says OpenVINO."""
    from analysis.embedding.networks import ArcFaceEmbedder
    from analysis.embedding.sessions import report_session

    path = build_tiny_recognizer(tmp_path / "r.onnx")
    ort = ArcFaceEmbedder(path, Device("cpu"), threads=1, cpu_engine="onnxruntime")
    ov = ArcFaceEmbedder(path, Device("cpu"), threads=1, cpu_engine="openvino", precision="fp32")
    assert (ort.engine, ov.engine) == ("onnxruntime", "openvino")
    assert ov.what == "recogniser r.onnx (OpenVINO)" and ov.precision.precision == "fp32"
    assert [report_session(s, w).line for w, s in ov.sessions()] == ["recogniser r.onnx (OpenVINO): OpenVINO-CPU"]
    crops = np.random.default_rng(2).integers(0, 256, size=(7, 112, 112, 3), dtype=np.uint8)
    a, b = ort.embed(crops), ov.embed(crops)
    assert a.shape == b.shape == (7, 512)
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * float(np.abs(a).max()))
    np.testing.assert_array_equal(ov.embed(crops[:3]), ov.embed(crops[:3]))  # deterministic
    assert ov.identity() == ort.identity()  # the engine is provenance, not identity


@needs_openvino
def test_auto_precision_on_cpu_uses_bf16_only_where_native_and_close(tmp_path):
    from analysis.embedding.networks import ArcFaceEmbedder

    path = build_tiny_recognizer(tmp_path / "r.onnx")
    auto = ArcFaceEmbedder(path, Device("cpu"), threads=1, precision="auto", cpu_engine="openvino")
    fp32 = ArcFaceEmbedder(path, Device("cpu"), threads=1, precision="fp32", cpu_engine="openvino")
    if cpu_has_bf16():
        assert auto.precision.precision == "bf16", auto.precision.reason
        assert auto.what == "recogniser r.onnx (OpenVINO) bf16" and auto.precision.min_cosine >= MIN_COSINE
        crops = np.random.default_rng(3).integers(0, 256, size=(6, 112, 112, 3), dtype=np.uint8)
        assert min_cosine(auto.embed(crops), fp32.embed(crops)) >= MIN_COSINE
    else:
        assert auto.precision.precision == "fp32" and auto.what == fp32.what
    # bfloat16 asked on onnxruntime: float32, and the reason says where bfloat16 runs.
    ort = ArcFaceEmbedder(path, Device("cpu"), threads=1, precision="bf16", cpu_engine="onnxruntime")
    assert ort.precision.precision == "fp32" and "OpenVINO" in ort.precision.reason
