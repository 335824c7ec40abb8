"""End-to-end extraction: manifest -> detection -> alignment -> batched embeddings, cached.

Uses a small sample of the celebrity images (2 per folder of a few folders), the real SCRFD
models, a tiny ONNX recogniser built here and the real dlib network.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.embedding import extract
from analysis.config import ConfigError, build_dataclass
from analysis.embedding.datasets import FolderDatasetOptions, build_manifest
from analysis.embedding.devices import DeviceUnavailableError, cuda_device_count
from analysis.embedding.extract import TRACE_COLUMNS, ExtractionParams, extract_embeddings
from analysis.embedding.networks import ArcFaceOptions, DlibOptions
from analysis.embedding.store import EmbeddingStore
from tests.face_fixtures import (
    REPO,
    SCRFD_500M,
    build_tiny_recognizer,
    celebrity_sample,
    copy_sample,
    need_dlib,
    need_scrfd,
)

FOLDERS = ("Barack Obama", "Brad Pitt", "Dwayne Johnson", "Elsa", "Homer Simpson", "John Mayer", "Jim Carrey")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A small image dataset (copied, so tests may not touch the shared data) and a recogniser."""
    need_scrfd()
    base = tmp_path_factory.mktemp("extract")
    root = copy_sample(base / "data", celebrity_sample(2, FOLDERS))
    model = build_tiny_recognizer(base / "tiny_r.onnx")
    return root, model, build_manifest("sample", FolderDatasetOptions(root=root))


def _params(**kw) -> ExtractionParams:
    base = dict(detector_path=SCRFD_500M, chunk_size=4, batch_size=3, decode_threads=2)
    base.update(kw)
    return ExtractionParams(**base)


# --------------------------------------------------------------------------------------------
# Params
# --------------------------------------------------------------------------------------------


def test_params_from_config_table(tmp_path):
    p = build_dataclass(ExtractionParams, {"det_sizes": [320], "min_score": 0.6, "devices": "cpu"}, "[extraction]",
                        base=tmp_path)
    assert p.det_sizes == (320,) and p.min_score == 0.6
    with pytest.raises(ConfigError, match="multiples of 32"):
        build_dataclass(ExtractionParams, {"det_sizes": [100]}, "[extraction]", base=tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        build_dataclass(ExtractionParams, {"detector_path": "nope.onnx"}, "[extraction]", base=tmp_path)
    with pytest.raises(ConfigError, match="must be one of"):
        build_dataclass(ExtractionParams, {"detector": "mtcnn"}, "[extraction]", base=tmp_path)
    assert ExtractionParams().detector_path is None  # default: InsightFace's download, or dlib


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------


def test_extract_with_scrfd_and_arcface_onnx(sample, tmp_path):
    root, model, manifest = sample
    res = extract_embeddings(manifest, "sample", "tiny", ArcFaceOptions(model_path=model), _params(), tmp_path,
                             progress=False)
    emb = res.embeddings
    assert not res.reused
    assert (emb.dataset, emb.network) == ("sample", "tiny")
    assert emb.vectors.dtype == np.float32 and emb.n_dims == 512
    assert list(emb.items) == sorted(emb.items) and set(emb.items) <= set(manifest.frame["path"])
    ident_of = dict(zip(manifest.frame["path"], manifest.frame["identity"]))
    assert [ident_of[i] for i in emb.items] == list(emb.identities)
    assert emb.n_samples >= 8  # most real photographs keep a face
    assert "John Mayer" in set(emb.identities)
    assert sorted(set(emb.items) | set(res.skipped["item"])) == sorted(manifest.frame["path"])
    for key in ("model", "weights_sha256", "preprocessing", "detector", "detection_params"):
        assert emb.meta[key]
    assert emb.meta["detector"] == "insightface:scrfd_500m.onnx"
    assert list(res.trace.columns) == TRACE_COLUMNS
    kept = res.trace[res.trace["kept"]]
    assert list(kept["item"]) == list(emb.items)
    assert (kept["score"] >= 0.7).all() and (np.minimum(kept.x2 - kept.x1, kept.y2 - kept.y1) >= 40).all()
    assert kept[["lx0", "ly0", "lx4", "ly4"]].notna().all().all()
    assert set(res.skipped.columns) == {"item", "reason"}
    # The checkpoints are gone; the store holds the result with its tables.
    assert not (tmp_path / "extract" / emb.meta["extraction_key"]).exists()
    entry = EmbeddingStore(tmp_path).path(emb.meta["extraction_key"])
    assert (entry / "trace.parquet").is_file() and (entry / "skipped.parquet").is_file()

    again = extract_embeddings(manifest, "renamed", "tiny2", ArcFaceOptions(model_path=model), _params(chunk_size=7),
                               tmp_path, progress=False)
    assert again.reused and (again.embeddings.dataset, again.embeddings.network) == ("renamed", "tiny2")
    np.testing.assert_array_equal(again.embeddings.vectors, emb.vectors)
    pd.testing.assert_frame_equal(again.trace, res.trace)

    stricter = extract_embeddings(manifest, "sample", "tiny", ArcFaceOptions(model_path=model),
                                  _params(min_score=0.8), tmp_path, progress=False)
    assert not stricter.reused and stricter.embeddings.n_samples <= emb.n_samples


def test_aligned_thumbnails_only_in_the_cache(sample, tmp_path):
    root, model, manifest = sample
    res = extract_embeddings(manifest, "s", "t", ArcFaceOptions(model_path=model), _params(save_aligned=True),
                             tmp_path / "cache", progress=False)
    files = [f for f in res.trace["aligned_file"] if f]
    assert len(files) == res.embeddings.n_samples
    for f in files:
        assert (tmp_path / "cache" / f).is_file()
    assert not any(p.suffix == ".jpg" and "__face" in p.name for p in root.rglob("*"))


def test_same_vectors_with_a_different_chunking(sample, tmp_path):
    root, model, manifest = sample
    a = extract_embeddings(manifest, "s", "t", ArcFaceOptions(model_path=model), _params(chunk_size=3, batch_size=2),
                           tmp_path / "a", progress=False)
    b = extract_embeddings(manifest, "s", "t", ArcFaceOptions(model_path=model), _params(chunk_size=50, batch_size=50),
                           tmp_path / "b", progress=False)
    assert list(a.embeddings.items) == list(b.embeddings.items)
    np.testing.assert_allclose(a.embeddings.vectors, b.embeddings.vectors, rtol=1e-5, atol=1e-5)


def test_extract_with_dlib_network_offline(sample, tmp_path):
    need_dlib()
    root, _, manifest = sample
    small = manifest.frame[manifest.frame["identity"].isin(["Brad Pitt", "Homer Simpson", "John Mayer"])]
    sub = type(manifest)(small.reset_index(drop=True), manifest.root, manifest.skipped, "dlib-subset-" + manifest.content_hash)
    res = extract_embeddings(sub, "s", "dlib", DlibOptions(),
                             ExtractionParams(chunk_size=4, cpu_workers=1, detector_speed="fast"), tmp_path, progress=False)
    assert res.embeddings.n_dims == 128 and res.embeddings.n_samples >= 3
    assert res.embeddings.meta["detector"] == "dlib-hog" and res.embeddings.meta["alignment"] == "dlib-chip"
    kept = res.trace[res.trace["kept"]]
    assert (kept["landmark_scheme"] == "dlib5").all()


def test_auto_detector_prefers_accuracy_for_dlib_unless_speed_is_asked():
    from analysis.embedding.extraction_params import resolve_detector

    assert resolve_detector(ExtractionParams(), DlibOptions()).kind == "dlib-cnn"
    assert resolve_detector(ExtractionParams(detector_speed="fast"), DlibOptions()).kind == "dlib-hog"
    if SCRFD_500M.is_file():
        spec = resolve_detector(ExtractionParams(detector_path=SCRFD_500M), DlibOptions())
        assert spec.kind == "insightface" and spec.path == str(SCRFD_500M)
    assert resolve_detector(ExtractionParams(detector="dlib-hog"), DlibOptions()).kind == "dlib-hog"
    with pytest.raises(ValueError, match="detector_speed"):
        ExtractionParams(detector_speed="quick")


def test_a_network_s_own_detector_wins_over_the_study_s(tmp_path):
    # One study: dlib's ResNet on dlib's HOG boxes, an ArcFace network on its own SCRFD landmarks.
    from analysis.config import ConfigError, load_config
    from analysis.embedding.extraction_params import resolve_detector
    from analysis.embedding.networks import ArcFaceOptions

    study = ExtractionParams(detector_speed="fast")
    own = resolve_detector(study, ArcFaceOptions(model_path=tmp_path / "r.onnx", detector_path=tmp_path / "det.onnx"))
    assert own.kind == "insightface" and own.path == str(tmp_path / "det.onnx")
    assert resolve_detector(ExtractionParams(detector="dlib-hog"), ArcFaceOptions(detector_path=tmp_path / "d.onnx")).kind == "insightface"
    assert resolve_detector(study, DlibOptions()).kind == "dlib-hog"
    cfg = tmp_path / "study.toml"
    cfg.write_text('[[datasets]]\nname = "d"\nkind = "synthetic"\n[[networks]]\nname = "a"\nkind = "arcface"\n'
                   'detector_path = "missing.onnx"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="detector_path.*does not exist"):
        load_config(cfg)


def test_cuda_request_without_gpu_fails_before_any_work(sample, tmp_path):
    if cuda_device_count():
        pytest.skip("CUDA is available here")
    root, model, manifest = sample
    small = manifest.frame.iloc[:3].reset_index(drop=True)
    sub = type(manifest)(small, manifest.root, manifest.skipped, "cuda-fallback-" + manifest.content_hash)
    with pytest.raises(DeviceUnavailableError, match="make setup-gpu"):
        extract_embeddings(sub, "s", "t", ArcFaceOptions(model_path=model), _params(devices="cuda"), tmp_path,
                           progress=False)
    assert not list((tmp_path / "extract").rglob("chunk-*")), "nothing may be cached by a run that could not start"


@pytest.mark.gpu
def test_extract_on_gpu_when_available(sample, tmp_path):
    if not cuda_device_count():
        pytest.skip("no CUDA device / CUDAExecutionProvider here")
    root, model, manifest = sample
    gpu = extract_embeddings(manifest, "s", "t", ArcFaceOptions(model_path=model), _params(devices="cuda"),
                             tmp_path / "gpu", progress=False)
    cpu = extract_embeddings(manifest, "s", "t", ArcFaceOptions(model_path=model), _params(devices="cpu"),
                             tmp_path / "cpu", progress=False)
    assert list(gpu.embeddings.items) == list(cpu.embeddings.items)
    np.testing.assert_allclose(gpu.embeddings.vectors, cpu.embeddings.vectors, rtol=1e-2, atol=1e-2)
    # The provenance says where it ran: every session of the GPU run on CUDA, none on the CPU.
    assert "CUDAExecutionProvider" in gpu.embeddings.meta["execution"]
    assert "CPUExecutionProvider" not in gpu.embeddings.meta["execution"]


# --------------------------------------------------------------------------------------------
# Scale-out: several worker processes, a Dask cluster
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_worker_processes_give_identical_results(sample, tmp_path):
    root, model, manifest = sample
    one = extract_embeddings(manifest, "s", "t", ArcFaceOptions(model_path=model), _params(devices="cpu"),
                             tmp_path / "one", progress=False)
    two = extract_embeddings(manifest, "s", "t", ArcFaceOptions(model_path=model), _params(devices="cpu", cpu_workers=2),
                             tmp_path / "two", progress=False)
    assert list(one.embeddings.items) == list(two.embeddings.items)
    np.testing.assert_array_equal(one.embeddings.vectors, two.embeddings.vectors)


@pytest.mark.slow
def test_dask_backend_on_a_local_cluster(sample, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    root, model, manifest = sample
    local = extract_embeddings(manifest, "s", "t", ArcFaceOptions(model_path=model), _params(),
                               tmp_path / "local", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dask's port/resource chatter
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, distributed.Client(cluster):
            res = extract_embeddings(manifest, "s", "t", ArcFaceOptions(model_path=model), _params(backend="dask"),
                                     tmp_path / "dask", progress=False)
    assert list(res.embeddings.items) == list(local.embeddings.items)
    np.testing.assert_array_equal(res.embeddings.vectors, local.embeddings.vectors)
    # One shard pinned to each of the two workers, each on its own worker's device.
    assert res.embeddings.meta["execution"].startswith("cpu:0 x2: detector")


def test_dask_backend_without_client_is_a_clear_error(sample, tmp_path):
    pytest.importorskip("dask.distributed")
    root, model, manifest = sample
    with pytest.raises(RuntimeError, match="no dask.distributed Client"):
        extract_embeddings(manifest, "s", "t", ArcFaceOptions(model_path=model), _params(backend="dask"), tmp_path,
                           progress=False)


# --------------------------------------------------------------------------------------------
# Killed with SIGKILL, resumed: bit-identical, nothing lost or duplicated
# --------------------------------------------------------------------------------------------

_RUNNER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from analysis.embedding.datasets import FolderDatasetOptions, build_manifest
    from analysis.embedding.extract import ExtractionParams, extract_embeddings
    from analysis.embedding.networks import ArcFaceOptions
    manifest = build_manifest("k", FolderDatasetOptions(root=Path({root!r})))
    params = ExtractionParams(detector_path=Path({det!r}), det_sizes=(640,), chunk_size=2, batch_size=2,
                              decode_threads=1, devices="cpu")
    extract_embeddings(manifest, "k", "t", ArcFaceOptions(model_path=Path({model!r})), params, Path({cache!r}),
                       progress=False)
    """
)


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_is_bit_identical(tmp_path):
    need_scrfd()
    root = copy_sample(tmp_path / "data", celebrity_sample(4, ("Brad Pitt", "Tom Cruise", "Kate Winslet",
                                                                "Hugh Jackman", "Natalie Portman", "Matt Damon")))
    model = build_tiny_recognizer(tmp_path / "r.onnx")
    cache = tmp_path / "killed"
    script = _RUNNER.format(repo=str(REPO), root=str(root), det=str(SCRFD_500M), model=str(model), cache=str(cache))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    n_chunks = 12  # 24 images, 2 per chunk
    deadline = time.monotonic() + 240
    done = []
    while time.monotonic() < deadline and proc.poll() is None:
        done = list(cache.glob("extract/*/chunk-*.parquet"))
        if len(done) >= 3:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (
        f"the run was not killed mid-way (rc={proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    survivors = list(cache.glob("extract/*/chunk-*.parquet"))
    assert 3 <= len(survivors) < n_chunks
    assert not (cache / "embeddings").exists() or not any((cache / "embeddings").glob("*/meta.json"))

    manifest = build_manifest("k", FolderDatasetOptions(root=root))
    params = ExtractionParams(detector_path=SCRFD_500M, det_sizes=(640,), chunk_size=2, batch_size=2,
                              decode_threads=1, devices="cpu")
    resumed = extract_embeddings(manifest, "k", "t", ArcFaceOptions(model_path=model), params, cache, progress=False)
    fresh = extract_embeddings(manifest, "k", "t", ArcFaceOptions(model_path=model), params, tmp_path / "fresh",
                               progress=False)
    assert not resumed.reused and not fresh.reused
    items = list(resumed.embeddings.items)
    assert len(items) == len(set(items)) and items == list(fresh.embeddings.items)
    assert resumed.embeddings.vectors.tobytes() == fresh.embeddings.vectors.tobytes()
    assert sorted(items + list(resumed.skipped["item"])) == sorted(manifest.frame["path"])
    pd.testing.assert_frame_equal(resumed.trace, fresh.trace)


def test_chunk_plan_and_names():
    assert extract.plan_chunks(5, 2) == ((0, 2), (2, 4), (4, 5))
    assert extract.plan_chunks(0, 2) == ()
    assert extract.chunk_stem((0, 2), 64) == "chunk-00000000-00000002-b64"


def test_script_entry_is_importable_by_workers():
    # Worker processes import analysis.embedding.extract.run_shard by name; keep it module-level.
    assert extract.run_shard.__module__ == "analysis.embedding.extract"
    assert Path(extract.__file__).resolve().is_relative_to(REPO)
