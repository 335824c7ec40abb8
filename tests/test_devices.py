"""GPU handling on any machine: device plans, fallbacks, provider options, session locking, failures.

No GPU is needed: ``nvidia-smi``'s answer and onnxruntime's provider list are replaced by
fakes, so the logic a GPU run depends on is checked on every CI machine.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from analysis.embedding import devices, gpus
from analysis.embedding.datasets import FolderDatasetOptions, build_manifest
from analysis.embedding.devices import Device, DeviceFallbackWarning, DeviceUnavailableError
from analysis.embedding.sessions import (
    BoundRunner,
    InferenceFailure,
    SessionReport,
    is_inference_failure,
    lock_session,
    verify_sessions,
)
from analysis.embedding.shard_reports import ShardReport, execution_summary
from tests.face_fixtures import SCRFD_500M, build_tiny_recognizer, celebrity_sample, copy_sample, need_scrfd

SMI = """0, NVIDIA H100 80GB HBM3, GPU-aaaa1111-0000, 81559
1, NVIDIA H100 80GB HBM3, GPU-bbbb2222-0000, 81559
2, NVIDIA H100 80GB HBM3, GPU-cccc3333-0000, 81559
3, NVIDIA H100 80GB HBM3, GPU-dddd4444-0000, 81559
"""
CUDA_BUILD = ["CUDAExecutionProvider", "CPUExecutionProvider"]
CPU_BUILD = ["AzureExecutionProvider", "CPUExecutionProvider"]


@pytest.fixture
def four_gpus(monkeypatch):
    """A machine whose nvidia-smi lists four GPUs; CUDA_VISIBLE_DEVICES unset."""
    found = gpus.parse_nvidia_smi(SMI)
    monkeypatch.setattr(gpus, "machine_gpus", lambda: found)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return found


def _providers(monkeypatch, names):
    monkeypatch.setattr(devices, "onnx_providers", lambda: list(names))


# --------------------------------------------------------------------------------------------
# Which GPUs, which ids
# --------------------------------------------------------------------------------------------


def test_parse_nvidia_smi_ignores_noise():
    found = gpus.parse_nvidia_smi("WARNING: infoROM is corrupted\n" + SMI)
    assert [g.index for g in found] == [0, 1, 2, 3]
    assert found[2].uuid == "GPU-cccc3333-0000" and found[2].memory_mib == 81559
    assert found[2].label == "NVIDIA H100 80GB HBM3 (GPU 2, 81559 MiB)"


def test_cuda_visible_devices_rules(four_gpus):
    idx = lambda visible: [g.index for g in gpus.apply_visible_devices(four_gpus, visible)]  # noqa: E731
    assert idx(None) == [0, 1, 2, 3]
    assert idx("2,3") == [2, 3]
    assert idx("3,1") == [3, 1]  # CUDA ordinal 0 is the machine's GPU 3
    assert idx("GPU-cccc") == [2]  # UUID prefix
    assert idx("1,-1,2") == [1]  # the list stops at the first invalid entry
    assert idx("") == [] and idx("-1") == []
    assert idx("1,1") == [1]


def test_device_ids_are_ordinals_within_cuda_visible_devices(four_gpus, monkeypatch):
    _providers(monkeypatch, CUDA_BUILD)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert devices.plan_devices("auto") == (Device("cuda", 0), Device("cuda", 1))
    assert devices.plan_devices("cuda:1") == (Device("cuda", 1),)
    assert "GPU 3" in gpus.gpu_label(1) and "GPU 2" in gpus.gpu_label(0)
    with pytest.raises(ValueError, match="not visible.*CUDA_VISIBLE_DEVICES=2,3"):
        devices.plan_devices("cuda:2")


def test_without_nvidia_smi_the_variable_counts(monkeypatch):
    monkeypatch.setattr(gpus, "machine_gpus", lambda: ())
    _providers(monkeypatch, CUDA_BUILD)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3,5")
    assert devices.cuda_device_count() == 3
    assert devices.plan_devices("auto") == (Device("cuda", 0), Device("cuda", 1), Device("cuda", 2))


# --------------------------------------------------------------------------------------------
# Loud and safe
# --------------------------------------------------------------------------------------------


def test_auto_warns_when_gpus_are_visible_but_onnxruntime_is_the_cpu_build(four_gpus, monkeypatch):
    _providers(monkeypatch, CPU_BUILD)
    with pytest.warns(DeviceFallbackWarning, match=r"4 GPU\(s\) are visible.*RUNNING ON THE CPU.*make setup-gpu"):
        assert devices.plan_devices("auto", cpu_workers=2) == (Device("cpu", 0), Device("cpu", 1))


def test_auto_is_quiet_without_gpus_or_when_they_are_hidden(monkeypatch, four_gpus):
    _providers(monkeypatch, CPU_BUILD)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert devices.plan_devices("auto") == (Device("cpu", 0),)
    monkeypatch.setattr(gpus, "machine_gpus", lambda: ())
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert devices.plan_devices("auto") == (Device("cpu", 0),)
        assert devices.plan_devices("cpu", cpu_workers=3)[-1] == Device("cpu", 2)


def test_cuda_request_without_cuda_provider_fails_with_the_fix(monkeypatch, four_gpus):
    _providers(monkeypatch, CPU_BUILD)
    for request in ("cuda", "cuda:0,1"):
        with pytest.raises(DeviceUnavailableError, match="no CUDAExecutionProvider.*make setup-gpu.*--check-devices"):
            devices.plan_devices(request)
    with pytest.raises(ValueError, match="use 'auto', 'cpu', 'cuda' or 'cuda:0,1'"):
        devices.plan_devices("gpu")


def test_dlib_pipelines_keep_one_cpu_worker_per_core(four_gpus, monkeypatch):
    _providers(monkeypatch, CUDA_BUILD)
    assert devices.plan_devices("auto", cpu_workers=2) == (Device("cuda", 0), Device("cuda", 1), Device("cuda", 2),
                                                           Device("cuda", 3))
    assert devices.plan_devices("auto", cpu_workers=2, cuda_capable=False) == (Device("cpu", 0), Device("cpu", 1))
    assert devices.plan_devices("cuda", cpu_workers=2, cuda_capable=False) == (Device("cpu", 0), Device("cpu", 1))


def test_provider_options_keep_the_device_id():
    providers, options = devices.onnx_provider_config(Device("cuda", 3))
    assert providers == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert options[0] == {"device_id": "3", "cudnn_conv_algo_search": "HEURISTIC"}
    assert devices.onnx_provider_config(Device("cpu", 0)) == (["CPUExecutionProvider"], [{}])
    # A user's explicit list (ArcFaceOptions.providers) used to put every worker on GPU 0.
    providers, options = devices.providers_for(("CUDAExecutionProvider", "CPUExecutionProvider"), Device("cuda", 2))
    assert options[0]["device_id"] == "2" and options[1] == {}
    assert devices.providers_for(("CPUExecutionProvider",), Device("cuda", 2)) == (["CPUExecutionProvider"], [{}])


def test_cuda_sessions_get_one_thread_and_no_spinning():
    so = devices.session_options(0, cuda=True)
    assert so.intra_op_num_threads == 1 and so.inter_op_num_threads == 1
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert so.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    cpu = devices.session_options(2)
    assert cpu.intra_op_num_threads == 2


class _FakeSession:
    def __init__(self, providers):
        self.providers, self.fallback_disabled = providers, False

    def get_providers(self):
        return self.providers

    def disable_fallback(self):
        self.fallback_disabled = True


def test_gpu_session_on_the_cpu_is_an_error_and_cuda_sessions_are_locked():
    with pytest.raises(DeviceUnavailableError, match="recogniser x.onnx: CUDA device 1.*CPUExecutionProvider"):
        lock_session(_FakeSession(["CPUExecutionProvider"]), Device("cuda", 1), "recogniser x.onnx")
    ok = _FakeSession(CUDA_BUILD)
    lock_session(ok, Device("cuda", 1), "recogniser x.onnx")
    assert ok.fallback_disabled
    lock_session(_FakeSession(["CPUExecutionProvider"]), Device("cpu", 0), "recogniser x.onnx")  # fine on a CPU worker
    # Re-checked per chunk: a session that moved to the CPU mid-run stops the worker.
    moved = _FakeSession(CUDA_BUILD)
    assert verify_sessions([("det", moved)], Device("cuda", 0))[0].on_cuda
    moved.providers = ["CPUExecutionProvider"]
    with pytest.raises(DeviceUnavailableError):
        verify_sessions([("det", moved)], Device("cuda", 0))


def _ort_error(tmp_path) -> Exception:
    """A genuine onnxruntime exception (wrong input shape for a real session)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(build_tiny_recognizer(tmp_path / "r.onnx")),
                                           providers=["CPUExecutionProvider"])
    try:
        session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, 7, 7), np.float32)})
    except Exception as exc:  # noqa: BLE001 - the point is to capture it
        return exc
    raise AssertionError("onnxruntime accepted a wrong input shape")


def test_inference_failures_are_told_apart_from_bad_images(tmp_path):
    assert is_inference_failure(_ort_error(tmp_path))
    assert is_inference_failure(InferenceFailure("x")) and is_inference_failure(DeviceUnavailableError("x"))
    assert not is_inference_failure(ValueError("cv2 could not read this image"))


def test_bound_runner_matches_plain_run(tmp_path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(build_tiny_recognizer(tmp_path / "r.onnx")),
                                           providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(3, 3, 112, 112)).astype(np.float32)
    ref = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_array_equal(BoundRunner(session, Device("cpu"))(x), ref)


def test_detector_per_size_sessions_are_created_and_locked():
    need_scrfd()
    from analysis.embedding.faces import InsightFaceDetector

    det = InsightFaceDetector(SCRFD_500M, [(160, 160), (320, 320)], device=Device("cpu"), threads=1)
    names = [what for what, _ in det.sessions()]
    assert names == ["detector scrfd_500m.onnx", "detector scrfd_500m.onnx 160x160", "detector scrfd_500m.onnx 320x320"]
    assert all(r.providers[0] == "CPUExecutionProvider" for r in verify_sessions(det.sessions(), Device("cpu")))


# --------------------------------------------------------------------------------------------
# Errors abort the chunk; provenance says where it ran
# --------------------------------------------------------------------------------------------


def test_engine_failure_aborts_the_chunk_and_is_never_cached(tmp_path, monkeypatch):
    need_scrfd()
    from analysis.embedding import faces
    from analysis.embedding.extract import ExtractionParams, extract_embeddings
    from analysis.embedding.networks import ArcFaceOptions

    root = copy_sample(tmp_path / "data", celebrity_sample(2, ("Brad Pitt", "Elsa")))
    manifest = build_manifest("m", FolderDatasetOptions(root=root))
    net = ArcFaceOptions(model_path=build_tiny_recognizer(tmp_path / "r.onnx"))
    params = ExtractionParams(detector_path=SCRFD_500M, det_sizes=(320,), chunk_size=2, batch_size=2,
                              decode_threads=1, devices="cpu", cpu_workers=1)
    cache = tmp_path / "cache"
    error = _ort_error(tmp_path)
    real_detect = faces.InsightFaceDetector.detect
    calls = []

    def flaky(self, bgr):
        calls.append(1)
        if len(calls) == 3:  # the first image of the second chunk
            raise error
        return real_detect(self, bgr)

    monkeypatch.setattr(faces.InsightFaceDetector, "detect", flaky)
    with pytest.raises(InferenceFailure, match=r"cpu:0: the inference engine failed on images 2\.\.3(?s:.*)resumes"):
        extract_embeddings(manifest, "m", "n", net, params, cache, progress=False)
    chunks = sorted(p.name for p in (cache / "extract").rglob("chunk-*.parquet"))
    assert chunks == ["chunk-00000000-00000002-b2.parquet"]  # the first chunk kept, the failed one absent

    # A bad image (not the engine) is still a recorded skip, and the rerun resumes.
    calls.clear()

    def odd_image(self, bgr):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("odd image")
        return real_detect(self, bgr)

    monkeypatch.setattr(faces.InsightFaceDetector, "detect", odd_image)
    res = extract_embeddings(manifest, "m", "n", net, params, cache, progress=False)
    assert list(res.trace["status"]).count("detection failed") == 1
    assert res.embeddings.n_samples + len(res.skipped) == 4
    execution = res.embeddings.meta["execution"]
    assert execution.startswith("cpu:0: detector scrfd_500m.onnx 320x320: CPUExecutionProvider; "
                                "detector scrfd_500m.onnx: CPUExecutionProvider")
    # The recogniser's line names the engine that ran it (OpenVINO where installed, bfloat16 on AMX CPUs).
    assert re.search(r"recogniser r\.onnx( \(OpenVINO\))?( bf16)?: (CPUExecutionProvider|OpenVINO-CPU(-bf16)?)\b", execution)
    assert "1 chunk(s) resumed" in execution


def test_execution_summary_groups_workers_deterministically():
    cuda = (SessionReport("detector d.onnx", tuple(CUDA_BUILD)), SessionReport("recogniser r.onnx", tuple(CUDA_BUILD)))
    reports = [ShardReport("cuda:1", "H100 (GPU 3)", cuda, 2), ShardReport("cuda:0", "H100 (GPU 2)", cuda, 2),
               ShardReport("cpu:0", "", (), 0)]
    line = execution_summary(reports)
    assert line == ("cuda:0 H100 (GPU 2): detector d.onnx: CUDAExecutionProvider; recogniser r.onnx: "
                    "CUDAExecutionProvider | cuda:1 H100 (GPU 3): detector d.onnx: CUDAExecutionProvider; "
                    "recogniser r.onnx: CUDAExecutionProvider")
    assert execution_summary(list(reversed(reports))) == line
    cpu = [ShardReport("cpu:1", "", (), 1), ShardReport("cpu:0", "", (), 1)]
    assert execution_summary(cpu) == "cpu:0, cpu:1: no onnxruntime session (dlib on the CPU)"
    assert execution_summary([], n_resumed=3) == "3 chunk(s) resumed from an earlier run's checkpoints"
    dask = [ShardReport("cpu:0", "", (), 1), ShardReport("cpu:0", "", (), 2)]
    assert execution_summary(dask) == "cpu:0 x2: no onnxruntime session (dlib on the CPU)"


def test_dask_shards_are_pinned_one_per_worker():
    from analysis.embedding.dask_shards import pin_shards

    pinned = pin_shards(list(range(7)), ["tcp://b:2", "tcp://a:1"])
    assert pinned == [("tcp://a:1", [0, 2, 4, 6]), ("tcp://b:2", [1, 3, 5])]
    assert [a for a, _ in pin_shards([5, 9], ["w3", "w1", "w2"], n_shards=8)] == ["w1", "w2"]
    with pytest.raises(RuntimeError, match="no workers"):
        pin_shards([1], [])


def test_check_devices_reports_providers_and_flags_unusable_gpus(monkeypatch, four_gpus):
    from analysis.embedding.device_check import check_devices

    lines: list[str] = []
    _providers(monkeypatch, CPU_BUILD)
    assert check_devices("auto", out=lines.append, batch=4) == 1  # GPUs there, CPU build installed: exit 1
    text = "\n".join(lines)
    assert "nvidia-smi: 4 GPU(s)" in text and "cuda:1 = GPU 1" in text and "WARNING" in text and "make setup-gpu" in text
    assert "recogniser (built-in probe network): CPUExecutionProvider" in text and "img/s" in text
    lines.clear()
    assert check_devices("cuda:0", out=lines.append) == 1 and "ERROR" in lines[-1]
    monkeypatch.setattr(gpus, "machine_gpus", lambda: ())
    lines.clear()
    assert check_devices("auto", out=lines.append, batch=4) == 0
    assert "cpu:0: ok" in lines


@pytest.mark.gpu
def test_every_session_of_a_gpu_worker_is_on_cuda():
    if not devices.cuda_device_count():
        pytest.skip("no CUDA device / CUDAExecutionProvider here")
    need_scrfd()
    import onnxruntime

    from analysis.embedding.faces import InsightFaceDetector

    det = InsightFaceDetector(SCRFD_500M, [(160, 160), (320, 320)], device=Device("cuda", 0))
    reports = verify_sessions(det.sessions(), Device("cuda", 0))
    assert len(reports) == 3 and all(r.on_cuda for r in reports)
    from analysis.embedding.device_check import probe_network_bytes

    net = probe_network_bytes()
    providers, options = devices.onnx_provider_config(Device("cuda", 0))
    gpu = onnxruntime.InferenceSession(net, devices.session_options(0, cuda=True), providers=providers,
                                       provider_options=options)
    cpu = onnxruntime.InferenceSession(net, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(8, 3, 112, 112)).astype(np.float32)
    np.testing.assert_allclose(BoundRunner(gpu, Device("cuda", 0))(x), BoundRunner(cpu, Device("cpu"))(x),
                               rtol=1e-2, atol=1e-3)


def test_atlas_check_devices_command(capsys, monkeypatch):
    from report.cli import main

    monkeypatch.setattr(gpus, "machine_gpus", lambda: ())
    assert main(["check-devices", "--devices", "cpu"], prog="atlas") == 0
    out = capsys.readouterr().out
    assert "devices = 'cpu' -> cpu:0" in out and "recogniser (built-in probe network): CPUExecutionProvider" in out
