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
"""
from __future__ import annotations

import dataclasses
import io
import logging
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import pandas as pd

from analysis.embedding import devices as dev
from analysis.embedding.faces import (
    KEPT,
    DlibDetector,
    InsightFaceDetector,
    choose_face,
    default_detector_path,
    dlib_detector_identity,
    insightface_detector_identity,
)
from analysis.embedding.images import DEFAULT_MAX_PIXELS, ImageSkip, decode_file, encode_jpeg
from analysis.embedding.store import EmbeddingStore, atomic_write_bytes, stable_hash
from analysis.types import EmbeddingSet

logger = logging.getLogger(__name__)

#: Bumped when a change of this module changes the vectors or the trace of a run.
EXTRACT_VERSION = "2"

DETECTION_FAILED = "detection failed"
ALIGNMENT_FAILED = "alignment failed"

LANDMARK_COLUMNS = [f"{axis}{i}" for i in range(5) for axis in ("lx", "ly")]
TRACE_COLUMNS = [
    "item", "face_index", "status", "kept", "x1", "y1", "x2", "y2", "score", *LANDMARK_COLUMNS,
    "landmark_scheme", "aligned_file", "image_width", "image_height", "decoder", "detail",
]


@dataclass(frozen=True)
class ExtractionParams:
    """The ``[extraction]`` table: detection, alignment, batching, devices.

    Parameters
    ----------
    detector : {"auto", "insightface", "dlib-hog", "dlib-cnn"}, default="auto"
        ``auto``: dlib's HOG detector for the dlib network when no ``detector_path`` is given
        (all offline), an InsightFace detector otherwise.
    detector_path : Path, optional
        SCRFD/RetinaFace ONNX file; None means InsightFace's ``buffalo_l/det_10g.onnx``,
        downloaded into ``model_dir`` on first use.
    model_dir : str, default="~/.insightface"
        InsightFace model root for that download.
    det_sizes : tuple of int, default=(160, 320)
        InsightFace detector input sides (square, letterboxed). Several sizes run the detector
        at each and merge the boxes by NMS (InsightFace 2.x's own default is (128, 640)):
        the small size finds faces that fill a portrait (SCRFD misses them at 640), the larger
        one smaller faces. Use (640,) for crowd photographs.
    min_score : float, default=0.7
        Minimum InsightFace detection confidence.
    candidate_score : float, default=0.5
        InsightFace detections kept as candidates; those between this and ``min_score`` are
        reported as ``low score`` rather than ``no face``.
    dlib_min_score : float, default=0.0
        Minimum dlib detection margin (HOG/MMOD scores are margins, not probabilities).
    dlib_upsample : int, default=1
        dlib upsampling (1 finds faces down to about 40 px).
    dlib_max_side : int, default=800
        Images are shrunk to this long side before dlib detection (speed).
    min_face_px : int, default=40
        Minimum box side, in original image pixels.
    face_selection : {"largest_central", "largest"}, default="largest_central"
        Which face an image keeps when it holds several.
    reduced_decode : bool, default=True
        Decode large JPEGs at 1/2, 1/4 or 1/8 scale when the result keeps a long side of at
        least ``decode_min_side`` (and of the largest detector size).
    decode_min_side : int, default=800
        Long side kept by reduced decoding: the aligned crop is cut from the decoded image, so
        it must keep the face at about its original resolution, not only what the detector
        needs.
    max_pixels : int, default=89478485
        Larger images are skipped (decompression bomb guard).
    batch_size : int, default=64
        Aligned crops per network call.
    chunk_size : int, default=256
        Images per checkpoint chunk.
    decode_threads : int, default=4
        Threads decoding (and, with InsightFace, detecting) images in each worker.
    devices : str, default="auto"
        ``auto`` (every visible GPU, else CPU), ``cpu``, ``cuda`` or ``cuda:0,1``; asking
        for CUDA without it falls back to the CPU with a loud warning.
    cpu_workers : int, default=0
        CPU worker processes; 0 picks one per core for dlib (which holds the GIL) and one
        multi-threaded worker for onnxruntime pipelines.
    intra_op_threads : int, default=0
        onnxruntime threads of the recogniser session (0: cores per worker).
    backend : {"local", "dask"}, default="local"
        ``dask`` runs the shards on a Dask cluster through joblib's Dask backend; the cache
        folder must then be on a file system shared with the workers.
    dask_scheduler : str, default=""
        Scheduler address (``tcp://host:8786``); empty uses the current ``dask.distributed``
        client.
    dask_shards : int, default=0
        Shards sent to the cluster; 0 means one per Dask worker.
    save_aligned : bool, default=False
        Also write the network's aligned input crops as JPEG files under
        ``<cache_dir>/aligned/<key>/`` (for inspection; never published). Galleries do not
        need them: :mod:`analysis.embedding.thumbnails` cuts the few faces they show from the trace.
    """

    detector: Literal["auto", "insightface", "dlib-hog", "dlib-cnn"] = "auto"
    detector_path: Path | None = None
    model_dir: str = "~/.insightface"
    det_sizes: tuple[int, ...] = (160, 320)
    min_score: float = 0.7
    candidate_score: float = 0.5
    dlib_min_score: float = 0.0
    dlib_upsample: int = 1
    dlib_max_side: int = 800
    min_face_px: int = 40
    face_selection: Literal["largest_central", "largest"] = "largest_central"
    reduced_decode: bool = True
    decode_min_side: int = 800
    max_pixels: int = DEFAULT_MAX_PIXELS
    batch_size: int = 64
    chunk_size: int = 256
    decode_threads: int = 4
    devices: str = "auto"
    cpu_workers: int = 0
    intra_op_threads: int = 0
    backend: Literal["local", "dask"] = "local"
    dask_scheduler: str = ""
    dask_shards: int = 0
    save_aligned: bool = False

    def __post_init__(self) -> None:
        if not self.det_sizes or min(self.det_sizes) < 32 or any(s % 32 for s in self.det_sizes):
            raise ValueError(f"det_sizes must be a non-empty list of multiples of 32 such as [160, 320], got {list(self.det_sizes)}")
        if not 0.0 <= self.candidate_score <= self.min_score <= 1.0:
            raise ValueError("need 0 <= candidate_score <= min_score <= 1")
        for name in ("batch_size", "chunk_size", "decode_threads", "max_pixels", "decode_min_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("min_face_px", "dlib_upsample", "cpu_workers", "intra_op_threads", "dask_shards", "dlib_max_side"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


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


@dataclass(frozen=True)
class DetectorSpec:
    """A resolved detector choice (picklable, sent to the workers)."""

    kind: str  # insightface | dlib-hog | dlib-cnn
    path: str | None


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs (picklable; no models, no frames)."""

    root: str
    paths: tuple[str, ...]
    chunks: tuple[tuple[int, int], ...]
    chunk_dir: str
    aligned_dir: str | None
    network_options: Any
    detector: DetectorSpec
    params: ExtractionParams


def resolve_detector(params: ExtractionParams, network_options: Any) -> DetectorSpec:
    """Which detector runs, and from which file (downloading the default when needed)."""
    from analysis.embedding.networks import DlibOptions

    kind = params.detector
    if kind == "auto":
        kind = "dlib-hog" if isinstance(network_options, DlibOptions) and params.detector_path is None else "insightface"
    if kind == "insightface":
        path = Path(params.detector_path) if params.detector_path else default_detector_path(params.model_dir)
        return DetectorSpec("insightface", str(path))
    return DetectorSpec(kind, None)


def detector_identity(spec: DetectorSpec, params: ExtractionParams) -> dict[str, Any]:
    """Cache-key description of a detector plus every selection/decoding parameter."""
    if spec.kind == "insightface":
        ident = insightface_detector_identity(Path(spec.path), _square_sizes(params), params.candidate_score)
        min_score = params.min_score
    else:
        ident = dlib_detector_identity(spec.kind.split("-", 1)[1], params.dlib_upsample, params.dlib_max_side,
                                       _dlib_candidate(params))
        min_score = params.dlib_min_score
    ident.update({
        "min_score": float(min_score),
        "min_face_px": int(params.min_face_px),
        "face_selection": params.face_selection,
        "reduced_decode": bool(params.reduced_decode),
        "decode_min_side": int(params.decode_min_side),
        "max_pixels": int(params.max_pixels),
    })
    return ident


def _square_sizes(params: ExtractionParams) -> list[tuple[int, int]]:
    return [(int(s), int(s)) for s in params.det_sizes]


def _dlib_candidate(params: ExtractionParams) -> float:
    # HOG margins below the threshold are still reported (as "low score") down to 0.5 below.
    return params.dlib_min_score - 0.5


def extraction_key(manifest_hash: str, network: dict[str, Any], detector: dict[str, Any]) -> str:
    """Store key of an extraction result."""
    return stable_hash({"extract": EXTRACT_VERSION, "manifest": manifest_hash, "network": network, "detector": detector})


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
    if pending:
        _run(job, pending, progress)

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


def _run(job: _Job, pending: list[int], progress: bool) -> None:
    params = job.params
    pending_set = set(pending)
    n_done_images = sum(b - a for i, (a, b) in enumerate(job.chunks) if i not in pending_set)
    bar = _progress_bar(len(job.paths), n_done_images, progress)
    try:
        if params.backend == "dask":
            _run_dask(job, pending, bar)
            return
        from analysis.embedding.networks import DlibOptions

        # dlib holds the GIL: its pipelines scale with processes, onnxruntime's with threads.
        uses_dlib = job.detector.kind.startswith("dlib") or isinstance(job.network_options, DlibOptions)
        cpu_workers = params.cpu_workers or (dev.cpu_count() if uses_dlib else 1)
        devices = dev.plan_devices(params.devices, cpu_workers=cpu_workers)
        shards = [s for s in dev.balanced_shards(len(pending), len(devices)) if s]
        cores = dev.cpu_count()
        if len(shards) == 1:
            threads = 0 if devices[0].is_cuda else cores
            run_shard(job, [pending[i] for i in shards[0]], devices[0], threads, on_chunk=bar.update)
            return
        threads = max(1, cores // len(shards))
        calls = [(job, [pending[i] for i in shard], devices[k], 0 if devices[k].is_cuda else threads)
                 for k, shard in enumerate(shards)]
        _run_parallel(calls, job, bar, backend="loky")
    finally:
        bar.close()


def _run_dask(job: _Job, pending: list[int], bar) -> None:
    try:
        from dask.distributed import Client, get_client
    except ImportError as exc:
        raise ImportError("backend = 'dask' needs dask.distributed: pip install 'dask[distributed]'") from exc
    if job.params.dask_scheduler:
        client = Client(job.params.dask_scheduler)
    else:
        try:
            client = get_client()
        except ValueError:
            raise RuntimeError(
                "backend = 'dask' but no dask.distributed Client is running; start one "
                "(dask.distributed.Client(...)) or set extraction.dask_scheduler = 'tcp://host:8786'"
            ) from None
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    n_shards = job.params.dask_shards or n_workers
    shards = [s for s in dev.balanced_shards(len(pending), n_shards) if s]
    # Each shard decides its device on the worker that runs it (its own GPUs, else CPU).
    calls = [(job, [pending[i] for i in shard], None, 0) for shard in shards]
    _run_parallel(calls, job, bar, backend="dask")


def _run_parallel(calls, job: _Job, bar, backend: str) -> None:
    """Run shards with joblib in a background thread; the bar follows the chunk files."""
    from joblib import Parallel, delayed, parallel_config

    errors: list[BaseException] = []

    def target():
        try:
            with parallel_config(backend=backend):
                Parallel(n_jobs=len(calls))(delayed(run_shard)(*c) for c in calls)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="extract-shards", daemon=True)
    thread.start()
    chunk_dir = Path(job.chunk_dir)
    reported = {i for i, c in enumerate(job.chunks) if chunk_done(chunk_dir, c, job.params.batch_size)}
    while thread.is_alive() or len(reported) < len(job.chunks):
        for i, c in enumerate(job.chunks):
            if i not in reported and chunk_done(chunk_dir, c, job.params.batch_size):
                reported.add(i)
                bar.update(c[1] - c[0])
        if not thread.is_alive():
            break
        thread.join(timeout=0.5)
    if errors:
        raise errors[0]


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, initial: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="img", desc="faces", dynamic_ncols=True, smoothing=0.1)


# --------------------------------------------------------------------------------------------
# Worker
# --------------------------------------------------------------------------------------------


def run_shard(job: _Job, chunk_ids: list[int], device: dev.Device | None, threads: int,
              on_chunk: Callable[[int], None] | None = None) -> int:
    """Compute the chunks ``chunk_ids`` of ``job`` on ``device`` (a worker's whole life).

    Models are built once per shard; finished chunks (from an earlier, interrupted run or
    another worker) are skipped. Returns the number of chunks computed.
    """
    if device is None:  # on a Dask worker: its own GPU when it has one
        devices = dev.plan_devices(job.params.devices)
        device = devices[chunk_ids[0] % len(devices)] if chunk_ids else devices[0]
        threads = 0 if device.is_cuda else dev.cpu_count()
    params = job.params
    chunk_dir = Path(job.chunk_dir)
    todo = [i for i in chunk_ids if not chunk_done(chunk_dir, job.chunks[i], params.batch_size)]
    if not todo:
        return 0
    worker = _Worker(job, device, threads)
    try:
        for i in todo:
            chunk = job.chunks[i]
            if chunk_done(chunk_dir, chunk, params.batch_size):
                continue
            vectors, trace = worker.process(chunk)
            _write_chunk(chunk_dir, chunk, params.batch_size, vectors, trace)
            if on_chunk is not None:
                on_chunk(chunk[1] - chunk[0])
    finally:
        worker.close()
    return len(todo)


def _bounded_map(pool: ThreadPoolExecutor, fn, items, window: int):
    """``pool.map`` in order with at most ``window`` results in flight.

    ``Executor.map`` submits everything at once; when the consumer (dlib detection in the
    worker thread) is slower than decoding, every decoded image of a chunk would sit in memory.
    """
    from collections import deque

    items = list(items)
    futures: deque = deque()
    nxt = 0
    while nxt < len(items) or futures:
        while nxt < len(items) and len(futures) < max(1, window):
            futures.append(pool.submit(fn, items[nxt]))
            nxt += 1
        yield futures.popleft().result()


@dataclass
class _ImageOutcome:
    """Everything known about one image after the per-image stage."""

    item: str
    rows: list[dict]
    crop: np.ndarray | None = None


class _Worker:
    """Models and thread pool of one shard."""

    def __init__(self, job: _Job, device: dev.Device, threads: int) -> None:
        from analysis.embedding.networks import create_embedder

        self.job, self.params = job, job.params
        p = job.params
        n_threads = max(1, p.decode_threads)
        cores = threads or dev.cpu_count()
        if job.detector.kind == "insightface":
            # Several images are detected at once from the thread pool: one onnxruntime thread
            # each scales better than many threads on one small letterboxed image.
            det_threads = 0 if device.is_cuda else max(1, cores // n_threads)
            self.detector = InsightFaceDetector(Path(job.detector.path), _square_sizes(p), p.candidate_score,
                                                device=device, threads=det_threads)
            self.min_score = p.min_score
            self.target_side = max(max(p.det_sizes), p.decode_min_side)
        else:
            self.detector = DlibDetector(job.detector.kind.split("-", 1)[1], p.dlib_upsample, p.dlib_max_side,
                                         _dlib_candidate(p))
            self.min_score = p.dlib_min_score
            self.target_side = max(p.dlib_max_side, p.decode_min_side)
        self.embedder = create_embedder(job.network_options, device=device,
                                        threads=p.intra_op_threads or (0 if device.is_cuda else cores))
        self.aligner = self.embedder.make_aligner()
        self.n_threads = n_threads
        self.pool = ThreadPoolExecutor(n_threads, thread_name_prefix="decode")
        # dlib objects are neither thread-safe nor GIL-free: detect them in this thread.
        self.detect_in_pool = self.detector.thread_safe

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # stage A: in the pool
    def _decode_detect(self, rel: str):
        p = self.params
        try:
            img = decode_file(Path(self.job.root) / rel, target_side=self.target_side if p.reduced_decode else None,
                              max_pixels=p.max_pixels)
        except ImageSkip as skip:
            return None, None, skip
        if not self.detect_in_pool:
            return img, None, None
        try:
            return img, self.detector.detect(img.bgr), None
        except Exception as exc:  # noqa: BLE001 - one odd image must not stop the run
            return img, None, ImageSkip(DETECTION_FAILED, f"{type(exc).__name__}: {exc}")

    def process(self, chunk: tuple[int, int]) -> tuple[np.ndarray, pd.DataFrame]:
        rels = self.job.paths[chunk[0]:chunk[1]]
        staged = _bounded_map(self.pool, self._decode_detect, rels, window=4 * self.n_threads)
        outcomes = [self._finish(rel, *st) for rel, st in zip(rels, staged)]
        crops = [o.crop for o in outcomes if o.crop is not None]
        vectors = self._embed(crops)
        rows = [row for o in outcomes for row in o.rows]
        trace = pd.DataFrame(rows, columns=TRACE_COLUMNS)
        return vectors, trace

    def _embed(self, crops: list[np.ndarray]) -> np.ndarray:
        bs = self.params.batch_size
        parts = [self.embedder.embed(np.stack(crops[i:i + bs])) for i in range(0, len(crops), bs)]
        if not parts:
            return np.zeros((0, self.embedder.dim), np.float32)
        out = np.concatenate(parts).astype(np.float32, copy=False)
        return out

    # stage B: in order, in the worker's thread
    def _finish(self, rel: str, img, faces, skip: ImageSkip | None) -> _ImageOutcome:
        p = self.params
        if skip is not None:
            return _ImageOutcome(rel, [_skip_row(rel, skip.reason, skip.detail, img)])
        if faces is None:
            try:
                faces = self.detector.detect(img.bgr)
            except Exception as exc:  # noqa: BLE001 - one odd image must not stop the run
                return _ImageOutcome(rel, [_skip_row(rel, DETECTION_FAILED, f"{type(exc).__name__}: {exc}", img)])
        h, w = img.bgr.shape[:2]
        choice = choose_face(faces, (w, h), self.min_score, p.min_face_px * img.scale, p.face_selection)
        inv = 1.0 / img.scale
        rows = []
        crop = None
        for k in range(faces.n_faces):
            status = choice.statuses[k]
            lmk = faces.landmarks[k] if faces.landmarks is not None else None
            scheme = "arcface5" if lmk is not None else ""
            aligned_file = ""
            if status == KEPT:
                try:
                    aligned = self.aligner.align(img.bgr, faces.boxes[k], lmk)
                except Exception as exc:  # noqa: BLE001 - a failed alignment is a recorded skip
                    rows.append(_skip_row(rel, ALIGNMENT_FAILED, f"{type(exc).__name__}: {exc}", img))
                    crop = None
                    continue
                crop, lmk, scheme = aligned.rgb, aligned.landmarks, aligned.scheme
                aligned_file = self._save_thumbnail(rel, k, crop)
            rows.append(_face_row(rel, k, status, faces.boxes[k] * inv, float(faces.scores[k]),
                                  None if lmk is None else np.asarray(lmk) * inv, scheme, aligned_file, img))
        if choice.kept is None:
            rows.append(_skip_row(rel, choice.reason, f"{faces.n_faces} candidate(s)", img))
        return _ImageOutcome(rel, rows, crop)

    def _save_thumbnail(self, rel: str, k: int, crop: np.ndarray) -> str:
        if not self.job.aligned_dir:
            return ""
        name = f"{rel.rsplit('.', 1)[0]}__face{k}.jpg"
        atomic_write_bytes(Path(self.job.aligned_dir) / name, encode_jpeg(crop))
        return f"aligned/{Path(self.job.aligned_dir).name}/{name}"


def _base_row(rel: str, img=None) -> dict:
    row = {c: np.nan for c in TRACE_COLUMNS}
    row.update(item=rel, landmark_scheme="", aligned_file="", decoder="", detail="", kept=False,
               image_width=-1, image_height=-1)
    if img is not None:
        row.update(image_width=int(img.original_size[0]), image_height=int(img.original_size[1]), decoder=img.decoder)
    return row


def _skip_row(rel: str, reason: str, detail: str = "", img=None) -> dict:
    row = _base_row(rel, img)
    row.update(face_index=-1, status=reason, detail=detail)
    return row


def _face_row(rel, k, status, box, score, lmk, scheme, aligned_file, img) -> dict:
    row = _base_row(rel, img)
    row.update(face_index=k, status=status, kept=status == KEPT, x1=float(box[0]), y1=float(box[1]),
               x2=float(box[2]), y2=float(box[3]), score=score, landmark_scheme=scheme, aligned_file=aligned_file)
    if lmk is not None:
        for i in range(5):
            row[f"lx{i}"], row[f"ly{i}"] = float(lmk[i][0]), float(lmk[i][1])
    return row


def _normalise_trace(trace: pd.DataFrame) -> pd.DataFrame:
    trace = trace.reindex(columns=TRACE_COLUMNS)
    types = {"item": str, "status": str, "landmark_scheme": str, "aligned_file": str, "decoder": str, "detail": str,
             "face_index": np.int64, "kept": bool, "image_width": np.int64, "image_height": np.int64}
    for col in ["x1", "y1", "x2", "y2", "score", *LANDMARK_COLUMNS]:
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
    items = kept["item"].to_numpy(dtype=str)
    if len(set(items)) != len(items):
        raise RuntimeError("an image produced two embeddings; this is a bug, please report it")
    ident_of = dict(zip(manifest.frame["path"].astype(str), manifest.frame["identity"].astype(str)))
    identities = np.array([ident_of[i] for i in items], dtype=str)
    if vec_parts:
        vectors = np.concatenate(vec_parts).astype(np.float32, copy=False)
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
