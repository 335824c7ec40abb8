"""Batched, device-sharded, resumable extraction of embeddings from face images.

:func:`extract_embeddings` turns a :class:`~analysis.embedding.datasets.Manifest` into an
:class:`~analysis.types.EmbeddingSet` for one network:

1. **plan**: the manifest (sorted by path) is cut into chunks of ``chunk_size`` images; the
   chunks are dealt round-robin to the workers: one process per visible GPU (each with its own
   ``CUDAExecutionProvider`` ``device_id``), CPU worker processes otherwise, or the workers of
   a Dask cluster through joblib's Dask backend;
2. **per image** (a thread pool, because OpenCV/Pillow decoding and onnxruntime release the
   GIL): robust decoding (:mod:`analysis.embedding.images`, reduced-size JPEG decoding when the image is
   much larger than the detector input), detection, choice of one face per image
   (:func:`analysis.embedding.faces.choose_face`) and alignment;
3. **per batch**: the aligned crops of a chunk go through the network ``batch_size`` at a time;
4. **checkpoint**: each finished chunk is written atomically as ``chunk-...npy`` (vectors)
   then ``chunk-...parquet`` (traceability rows; its presence marks the chunk complete) under
   ``<cache_dir>/extract/<key>/``. A run killed at any moment (even ``kill -9``) resumes from
   the finished chunks. Chunk composition and batch boundaries depend only on the plan, so
   the final vectors are bit-identical to those of an uninterrupted run;
5. **final**: the chunks are concatenated in manifest order and saved in the
   :class:`~analysis.embedding.store.EmbeddingStore` under the same key, with the traceability table
   (``trace``) and the skips (``skipped``); a later run with the same inputs loads it without
   computing anything.

The key is a hash of the manifest content hash, the network identity (model id, weights
sha256, preprocessing, alignment), the detector identity and every parameter changing which
face is kept or how pixels are decoded; execution-only settings (devices, workers, threads,
backend) are not part of it.

The parameters and the cache key live in :mod:`analysis.embedding.extraction_params`, the
per-image work of a worker in :mod:`analysis.embedding.face_worker`; this module plans,
checkpoints, runs the shards and assembles the result.
"""
from __future__ import annotations

import dataclasses
import io
import logging
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from analysis.embedding import devices as dev
from analysis.embedding import lifeline
from analysis.embedding.extraction_params import (  # noqa: F401 - also re-exported (callers import them from here)
    EXTRACT_VERSION,
    DetectorSpec,
    ExtractionParams,
    detector_identity,
    extraction_key,
    resolve_detector,
)
from analysis.embedding.face_worker import (  # noqa: F401 - also re-exported (callers import them from here)
    ALIGNMENT_FAILED,
    DETECTION_FAILED,
    LANDMARK_COLUMNS,
    KEPT_STATUSES,
    TRACE_COLUMNS,
    _Job,
    _Worker,
)
from analysis.embedding.faces import KEPT
from analysis.embedding.sessions import InferenceFailure, is_inference_failure
from analysis.embedding.shard_reports import ShardReport, execution_summary
from analysis.embedding.store import EmbeddingStore, atomic_write_bytes, stable_hash
from analysis.types import EmbeddingSet

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ExtractionResult:
    """Embeddings of one (dataset, network) pair and how each image was handled.

    Parameters
    ----------
    embeddings : EmbeddingSet
        One row per image that kept a face, in manifest order; ``items`` are manifest paths.
    trace : DataFrame
        Traceability: one row per detected face (kept or not, with box, score, landmarks in
        original-image pixels, aligned thumbnail path when saved) and one row with
        ``face_index = -1`` per image that produced no embedding. Columns :data:`TRACE_COLUMNS`.
    skipped : DataFrame
        ``item`` and ``reason`` of every image without an embedding.
    reused : bool
        True when the result came from the cache without computing anything.
    """

    embeddings: EmbeddingSet
    trace: pd.DataFrame
    skipped: pd.DataFrame
    reused: bool


# --------------------------------------------------------------------------------------------
# Plan
# --------------------------------------------------------------------------------------------


def plan_chunks(n_images: int, chunk_size: int) -> tuple[tuple[int, int], ...]:
    """``(start, stop)`` ranges covering ``range(n_images)`` in order."""
    return tuple((s, min(s + chunk_size, n_images)) for s in range(0, n_images, chunk_size))


def chunk_stem(chunk: tuple[int, int], batch_size: int) -> str:
    # The batch size is in the name: batch boundaries can change the last bits of some
    # vectors, and a resumed run must reuse only chunks computed exactly as it would.
    return f"chunk-{chunk[0]:08d}-{chunk[1]:08d}-b{batch_size}"


def chunk_done(chunk_dir: Path, chunk: tuple[int, int], batch_size: int) -> bool:
    stem = chunk_stem(chunk, batch_size)
    return (chunk_dir / f"{stem}.parquet").is_file() and (chunk_dir / f"{stem}.npy").is_file()


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def extract_embeddings(
    manifest,
    dataset: str,
    network: str,
    network_options: Any,
    params: ExtractionParams,
    cache_dir: Path,
    progress: bool = True,
) -> ExtractionResult:
    """Embeddings of every image of ``manifest`` under one network, cached and resumable.

    Parameters
    ----------
    manifest : analysis.embedding.datasets.Manifest
    dataset, network : str
        Names recorded in the embedding set.
    network_options : ArcFaceOptions, DlibOptions or FaceNetOptions
    params : ExtractionParams
    cache_dir : Path
        Cache root: the final result goes to ``EmbeddingStore(cache_dir)``, chunk checkpoints
        to ``cache_dir / "extract" / <key>``.
    progress : bool, default=True
        Show a tqdm progress bar (images, rate, ETA) on stderr.

    Returns
    -------
    ExtractionResult
    """
    from analysis.embedding.networks import network_identity

    cache_dir = Path(cache_dir)
    store = EmbeddingStore(cache_dir)
    det_spec = resolve_detector(params, network_options)
    net_ident = network_identity(network_options)
    det_ident = detector_identity(det_spec, params)
    key = extraction_key(manifest.content_hash, net_ident, det_ident)
    meta = _provenance(net_ident, det_ident, manifest, key)
    if key in store:
        return _load_result(store, key, dataset, network, meta)

    paths = tuple(manifest.frame["path"].astype(str))
    chunks = plan_chunks(len(paths), params.chunk_size)
    chunk_dir = cache_dir / "extract" / key
    chunk_dir.mkdir(parents=True, exist_ok=True)
    aligned_dir = str(cache_dir / "aligned" / key) if params.save_aligned else None
    job = _Job(str(Path(manifest.root)), paths, chunks, str(chunk_dir), aligned_dir, network_options, det_spec, params)

    pending = [i for i, c in enumerate(chunks) if not chunk_done(chunk_dir, c, params.batch_size)]
    reports = _run(job, pending, progress) if pending else []
    # Where the vectors were computed (provider and GPU of every session), stored with them and
    # shown on the Reproducibility page; a run that only resumed finished chunks says so.
    meta["execution"] = execution_summary(reports, n_resumed=len(chunks) - len(pending))

    result = _assemble(job, manifest, dataset, network, meta)
    store.save(key, result.embeddings, extra_files={"trace": result.trace, "skipped": result.skipped})
    # The store entry is now the durable copy: the checkpoints have served their purpose.
    shutil.rmtree(chunk_dir, ignore_errors=True)
    return result


def _provenance(net_ident, det_ident, manifest, key) -> dict[str, str]:
    return {
        "model": str(net_ident["model"]),
        "weights_sha256": str(net_ident["weights_sha256"]),
        "preprocessing": str(net_ident["preprocessing"]),
        "alignment": str(net_ident["alignment"]),
        "input_size": str(net_ident["input_size"]),
        "detector": str(det_ident["kind"]) + (f":{det_ident['model']}" if "model" in det_ident else ""),
        "detector_weights_sha256": str(det_ident["weights_sha256"]),
        "detection_params": stable_hash(det_ident) + " " + _compact(det_ident),
        "manifest_hash": manifest.content_hash,
        "extraction_key": key,
        "extract_version": EXTRACT_VERSION,
    }


def _compact(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(d.items()) if k not in ("weights_sha256",))


def _load_result(store: EmbeddingStore, key: str, dataset: str, network: str, meta) -> ExtractionResult:
    emb = store.load(key)
    emb = dataclasses.replace(emb, dataset=dataset, network=network, meta={**dict(emb.meta), **meta})
    folder = store.path(key)
    trace = pd.read_parquet(folder / "trace.parquet")
    skipped = pd.read_parquet(folder / "skipped.parquet")
    return ExtractionResult(emb, trace, skipped, reused=True)


# --------------------------------------------------------------------------------------------
# Running the shards
# --------------------------------------------------------------------------------------------


def uses_dlib(job: _Job) -> bool:
    """dlib in the pipeline: no CUDA in dlib-bin, and it holds the GIL (scales with processes)."""
    from analysis.embedding.networks import DlibOptions

    return job.detector.kind.startswith("dlib") or isinstance(job.network_options, DlibOptions)


def _run(job: _Job, pending: list[int], progress: bool) -> list[ShardReport]:
    params = job.params
    pending_set = set(pending)
    n_done_images = sum(b - a for i, (a, b) in enumerate(job.chunks) if i not in pending_set)
    bar = _progress_bar(len(job.paths), n_done_images, progress)
    try:
        if params.backend == "dask":
            from analysis.embedding.dask_shards import run_on_dask

            return run_on_dask(job, pending, bar, run_shard, _follow_chunks)
        dlib = uses_dlib(job)
        cpu_workers = params.cpu_workers or (dev.cpu_count() if dlib else 1)
        devices = dev.plan_devices(params.devices, cpu_workers=cpu_workers, cuda_capable=not dlib)
        shards = [s for s in dev.balanced_shards(len(pending), len(devices)) if s]
        cores = dev.cpu_count()
        # ``threads``: the worker's share of the cores (onnxruntime threads on the CPU; on a GPU,
        # where sessions run one thread, the decode threads that keep the device fed).
        if len(shards) == 1:
            return [run_shard(job, [pending[i] for i in shards[0]], devices[0], cores, on_chunk=bar.update)]
        threads = max(1, cores // len(shards))
        calls = [(job, [pending[i] for i in shard], devices[k], threads) for k, shard in enumerate(shards)]
        return _run_parallel(calls, job, bar, backend="loky")
    finally:
        bar.close()


def _run_parallel(calls, job: _Job, bar, backend: str) -> list[ShardReport]:
    """Run shards with joblib in a background thread; the bar follows the chunk files."""
    from joblib import Parallel, delayed, parallel_config

    errors: list[BaseException] = []
    reports: list[ShardReport] = []
    lifeline.mark_parent()  # workers exit when this process dies (kill -9 included)

    def target():
        try:
            with parallel_config(backend=backend):
                reports.extend(Parallel(n_jobs=len(calls))(delayed(run_shard)(*c) for c in calls))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="extract-shards", daemon=True)
    thread.start()
    _follow_chunks(job, bar, thread.is_alive, lambda: thread.join(timeout=0.5))
    if errors:
        raise errors[0]
    return reports


def _follow_chunks(job: _Job, bar, running: Callable[[], bool], wait: Callable[[], None]) -> None:
    """Advance ``bar`` as chunk files appear until ``running()`` turns false."""
    chunk_dir = Path(job.chunk_dir)
    reported = {i for i, c in enumerate(job.chunks) if chunk_done(chunk_dir, c, job.params.batch_size)}
    while running() or len(reported) < len(job.chunks):
        for i, c in enumerate(job.chunks):
            if i not in reported and chunk_done(chunk_dir, c, job.params.batch_size):
                reported.add(i)
                bar.update(c[1] - c[0])
        if not running():
            break
        wait()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, initial: int, enabled: bool):
    # Without a terminal (CI, a log file) tqdm's redrawn frames would flood the log; the driver
    # prints one line when the embeddings stage ends instead (report.progress.stage).
    if not enabled or not sys.stderr.isatty():
        return _NoBar()
    from analysis.progress import progress_bar

    return progress_bar(total, "faces", "img", initial)  # tqdm on a terminal, a line every 30 s otherwise


# --------------------------------------------------------------------------------------------
# One shard (a worker's whole life)
# --------------------------------------------------------------------------------------------


def run_shard(job: _Job, chunk_ids: list[int], device: dev.Device | None, threads: int,
              on_chunk: Callable[[int], None] | None = None) -> ShardReport:
    """Compute the chunks ``chunk_ids`` of ``job`` on ``device`` (a worker's whole life).

    Models are built once per shard; finished chunks (from an earlier, interrupted run or
    another worker) are skipped. ``device=None`` (a Dask worker) runs on the worker's own
    GPU: CUDA device 0 of its ``CUDA_VISIBLE_DEVICES``, which dask-cuda sets per worker.

    Returns
    -------
    ShardReport
        The device, its GPU and the providers each session really used.

    Raises
    ------
    InferenceFailure
        onnxruntime or CUDA failed on a chunk; that chunk is not written, so the next run
        retries it (finished chunks are kept).
    """
    lifeline.die_with_parent()  # a no-op in the build's own process
    if device is None:
        devices = dev.plan_devices(job.params.devices, cuda_capable=not uses_dlib(job))
        device = devices[0]
        threads = dev.cpu_count()
    params = job.params
    chunk_dir = Path(job.chunk_dir)
    todo = [i for i in chunk_ids if not chunk_done(chunk_dir, job.chunks[i], params.batch_size)]
    if not todo:
        return ShardReport.for_device(device, (), 0)
    worker = _Worker(job, device, threads)
    try:
        for i in todo:
            chunk = job.chunks[i]
            if chunk_done(chunk_dir, chunk, params.batch_size):
                continue
            try:
                vectors, trace = worker.process(chunk)
            except Exception as exc:
                if not is_inference_failure(exc) or isinstance(exc, InferenceFailure):
                    raise
                raise InferenceFailure(
                    f"{device.label}: the inference engine failed on images {chunk[0]}..{chunk[1] - 1} "
                    f"({type(exc).__name__}: {exc}). Nothing was cached for this chunk; finished chunks are kept "
                    f"and the next run resumes from them."
                ) from exc
            _write_chunk(chunk_dir, chunk, params.batch_size, vectors, trace)
            if on_chunk is not None:
                on_chunk(chunk[1] - chunk[0])
        return ShardReport.for_device(device, worker.check_sessions(), len(todo))
    finally:
        worker.close()


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def _normalise_trace(trace: pd.DataFrame) -> pd.DataFrame:
    trace = trace.reindex(columns=TRACE_COLUMNS)
    types = {"item": str, "status": str, "landmark_scheme": str, "aligned_file": str, "decoder": str, "detail": str,
             "face_index": np.int64, "kept": bool, "image_width": np.int64, "image_height": np.int64,
             "n_valid_faces": np.float64}  # float: NaN on rows of faces not kept and skips
    for col in ["x1", "y1", "x2", "y2", "score", *LANDMARK_COLUMNS, "second_score"]:
        types[col] = np.float64
    return trace.astype(types)


def _write_chunk(chunk_dir: Path, chunk, batch_size: int, vectors: np.ndarray, trace: pd.DataFrame) -> None:
    """Vectors first, trace last: the trace file's presence marks a complete chunk."""
    stem = chunk_stem(chunk, batch_size)
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
    atomic_write_bytes(chunk_dir / f"{stem}.npy", buf.getvalue())
    buf = io.BytesIO()
    _normalise_trace(trace).to_parquet(buf, index=False)
    atomic_write_bytes(chunk_dir / f"{stem}.parquet", buf.getvalue())


# --------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------


def face_items(kept: pd.DataFrame, identity_of: dict[str, str], every_face: bool):
    """Items, identities and vector rows of the kept faces (trace rows in vector order).

    One face per image: the item is the image path. ``face_selection = "all"``: the item is
    ``<path>#<face index>``; faces of unlabelled images all stay (identity
    :data:`~analysis.embedding.datasets.UNLABELLED`), while in an identity dataset only the
    best face of an image carries its label and the extra faces stay in the trace only.
    """
    from analysis.embedding.datasets import UNLABELLED

    paths = kept["item"].to_numpy(dtype=str)
    if not every_face:
        return paths, np.array([identity_of[i] for i in paths], dtype=str), np.arange(len(paths))
    faces = kept["face_index"].to_numpy(dtype=np.int64)
    best = kept["status"].to_numpy(dtype=str) == KEPT
    rows = np.array([i for i, p in enumerate(paths) if best[i] or identity_of[p] == UNLABELLED], dtype=np.int64)
    items = np.array([f"{paths[i]}#{faces[i]}" for i in rows], dtype=str)
    identities = np.array([identity_of[paths[i]] for i in rows], dtype=str)
    return items, identities, rows


def _assemble(job: _Job, manifest, dataset: str, network: str, meta: dict[str, str]) -> ExtractionResult:
    chunk_dir = Path(job.chunk_dir)
    vec_parts, traces = [], []
    dim = None
    for chunk in job.chunks:
        stem = chunk_stem(chunk, job.params.batch_size)
        vectors = np.load(chunk_dir / f"{stem}.npy", allow_pickle=False)
        trace = pd.read_parquet(chunk_dir / f"{stem}.parquet")
        n_kept = int(trace["kept"].sum())
        if vectors.shape[0] != n_kept:
            raise RuntimeError(
                f"checkpoint {stem} holds {vectors.shape[0]} vectors for {n_kept} kept faces; "
                f"delete {chunk_dir} and run again"
            )
        if vectors.shape[0]:
            dim = vectors.shape[1]
            vec_parts.append(vectors)
        traces.append(trace)
    trace = _normalise_trace(pd.concat(traces, ignore_index=True)) if traces else pd.DataFrame(columns=TRACE_COLUMNS)
    kept = trace[trace["kept"]]
    ident_of = dict(zip(manifest.frame["path"].astype(str), manifest.frame["identity"].astype(str)))
    items, identities, rows = face_items(kept, ident_of, job.params.face_selection == "all")
    if len(set(items)) != len(items):
        raise RuntimeError("an image produced two embeddings; this is a bug, please report it")
    if vec_parts:
        vectors = np.concatenate(vec_parts).astype(np.float32, copy=False)[rows]
    else:
        from analysis.embedding.networks import network_identity

        dim = int(network_identity(job.network_options)["dim"])
        vectors = np.zeros((0, dim), np.float32)
    emb = EmbeddingSet(dataset=dataset, network=network, vectors=vectors, identities=identities,
                       items=items, synthetic=False, meta=meta)
    no_emb = trace[trace["face_index"] == -1]
    skipped = pd.DataFrame({"item": no_emb["item"].astype(str).to_numpy(), "reason": no_emb["status"].astype(str).to_numpy()},
                           columns=["item", "reason"]).reset_index(drop=True)
    return ExtractionResult(emb, trace, skipped, reused=False)
