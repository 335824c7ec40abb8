"""Per-image work of one extraction shard: decode, detect, choose a face, align, embed.

:class:`_Worker` holds the models (detector, aligner, recogniser) and the decoding thread pool
of one shard; :func:`analysis.embedding.extract.run_shard` builds it once per shard and asks it
for one chunk of images at a time. Decoding (and thread-safe detection) runs in the thread pool,
at most a few images ahead (:func:`_bounded_map`); dlib detection, the choice of one face per
image, alignment and the batched network calls run in order in the worker's own thread. Each
image gives traceability rows (:data:`TRACE_COLUMNS`, built by :func:`_face_row` and
:func:`_skip_row`). :class:`_Job` is the picklable description of an extraction that every
worker receives.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.embedding import devices as dev
from analysis.embedding.extraction_params import DetectorSpec, ExtractionParams, _dlib_candidate, _square_sizes
from analysis.embedding.faces import KEPT, OTHER_FACE, DlibDetector, choose_face
from analysis.embedding.images import ImageSkip, decode_file, encode_jpeg
from analysis.embedding.scrfd_batch import insightface_detector
from analysis.embedding.sessions import is_inference_failure, verify_sessions
from analysis.embedding.store import atomic_write_bytes

DETECTION_FAILED = "detection failed"
ALIGNMENT_FAILED = "alignment failed"
#: ``face_selection = "all"``: a valid face other than the image's best one, embedded too.
EXTRA_FACE = "extra face (kept)"
KEPT_STATUSES = (KEPT, EXTRA_FACE)

LANDMARK_COLUMNS = [f"{axis}{i}" for i in range(5) for axis in ("lx", "ly")]
TRACE_COLUMNS = [
    "item", "face_index", "status", "kept", "x1", "y1", "x2", "y2", "score", *LANDMARK_COLUMNS,
    "landmark_scheme", "aligned_file", "image_width", "image_height", "decoder", "detail",
    "n_valid_faces", "second_score",
]


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
    crops: list[np.ndarray] = field(default_factory=list)  # aligned crops of the kept faces, in face order


class _Worker:
    """Models and thread pool of one shard."""

    def __init__(self, job: _Job, device: dev.Device, threads: int) -> None:
        from analysis.embedding.networks import create_embedder

        self.job, self.params = job, job.params
        p = job.params
        cores = threads or dev.cpu_count()
        # A GPU consumes images faster than a few threads decode them: use the worker's cores.
        n_threads = max(1, p.decode_threads, cores if device.is_cuda else 0)
        if job.detector.kind == "insightface":
            # Several images are detected at once from the thread pool: one onnxruntime thread
            # each scales better than many threads on one small letterboxed image.
            det_threads = 0 if device.is_cuda else max(1, cores // n_threads)
            self.detector, self.det_batch = insightface_detector(Path(job.detector.path), _square_sizes(p),
                                                                 p.candidate_score, device, det_threads, p.det_batch)
            self.min_score = p.min_score
            self.target_side = max(max(p.det_sizes), p.decode_min_side)
        else:
            self.detector = DlibDetector(job.detector.kind.split("-", 1)[1], p.dlib_upsample, p.dlib_max_side,
                                         _dlib_candidate(p))
            self.det_batch = 1
            self.min_score = p.dlib_min_score
            self.target_side = max(p.dlib_max_side, p.decode_min_side)
        self.embedder = create_embedder(job.network_options, device=device,
                                        threads=p.intra_op_threads or (0 if device.is_cuda else cores),
                                        precision=p.recognizer_precision, cpu_engine=p.cpu_engine)
        self.aligner = self.embedder.make_aligner()
        self.n_threads = n_threads
        self.pool = ThreadPoolExecutor(n_threads, thread_name_prefix="decode")
        # dlib objects are neither thread-safe nor GIL-free: detect them in this thread.
        # Batched (GPU) detection runs here on groups of decoded images instead.
        self.detect_in_pool = self.detector.thread_safe and self.det_batch <= 1
        self.device = device
        self.check_sessions()  # fail at start-up, before any image, when a session is off its device

    def check_sessions(self):
        """Every session still on this worker's device (raises otherwise); their reports."""
        return verify_sessions(self.detector.sessions() + self.embedder.sessions(), self.device)

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
            if is_inference_failure(exc):  # a CUDA/onnxruntime failure is not this image's fault
                raise
            return img, None, ImageSkip(DETECTION_FAILED, f"{type(exc).__name__}: {exc}")

    def process(self, chunk: tuple[int, int]) -> tuple[np.ndarray, pd.DataFrame]:
        # Re-checked per chunk: a session that left its GPU must stop the run before a chunk
        # computed on the wrong device (or not at all) is written.
        self.check_sessions()
        rels = self.job.paths[chunk[0]:chunk[1]]
        bs = self.params.batch_size
        # The window lets the pool decode and detect the next batch while this thread runs the
        # recogniser on the current one (onnxruntime releases the GIL): decoding overlaps inference.
        staged = _bounded_map(self.pool, self._decode_detect, rels, window=max(4 * self.n_threads, bs))
        rows, crops, parts = [], [], []
        for rel, st in self._detected(rels, staged):
            outcome = self._finish(rel, *st)
            rows.extend(outcome.rows)
            crops.extend(outcome.crops)  # several with face_selection = "all"
            while len(crops) >= bs:  # same batch boundaries as one call on the whole chunk
                parts.append(self._embed(crops[:bs]))
                crops = crops[bs:]
        parts.append(self._embed(crops))
        trace = pd.DataFrame(rows, columns=TRACE_COLUMNS)
        return np.concatenate(parts).astype(np.float32, copy=False), trace

    def _detected(self, rels, staged):
        """``(rel, (img, faces, skip))`` in order; with a batched detector, ``det_batch`` images per call."""
        if self.det_batch <= 1:
            yield from zip(rels, staged)
            return
        group: list = []
        for rel, st in zip(rels, staged):
            group.append((rel, st))
            if len(group) == self.det_batch:
                yield from self._detect_group(group)
                group = []
        yield from self._detect_group(group)

    def _detect_group(self, group):
        todo = [k for k, (_, (img, _, skip)) in enumerate(group) if skip is None]
        try:
            found = dict(zip(todo, self.detector.detect_batch([group[k][1][0].bgr for k in todo])))
        except Exception as exc:  # noqa: BLE001 - retried per image, where one bad image is a recorded skip
            if is_inference_failure(exc):
                raise
            found = {}
        for k, (rel, (img, _, skip)) in enumerate(group):
            yield rel, (img, found.get(k), skip)

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
                if is_inference_failure(exc):
                    raise
                return _ImageOutcome(rel, [_skip_row(rel, DETECTION_FAILED, f"{type(exc).__name__}: {exc}", img)])
        h, w = img.bgr.shape[:2]
        every_face = p.face_selection == "all"
        # "all" still ranks the faces: the best one keeps the label of an identity dataset.
        selection = "largest_central" if every_face else p.face_selection
        choice = choose_face(faces, (w, h), self.min_score, p.min_face_px * img.scale, selection)
        statuses = [EXTRA_FACE if every_face and s == OTHER_FACE else s for s in choice.statuses]
        inv = 1.0 / img.scale
        rows = []
        crops = []
        for k in range(faces.n_faces):
            status = statuses[k]
            lmk = faces.landmarks[k] if faces.landmarks is not None else None
            scheme = "arcface5" if lmk is not None else ""
            aligned_file = ""
            if status in KEPT_STATUSES:
                try:
                    aligned = self.aligner.align(img.bgr, faces.boxes[k], lmk)
                except Exception as exc:  # noqa: BLE001 - a failed alignment is a recorded skip
                    rows.append(_skip_row(rel, ALIGNMENT_FAILED, f"{type(exc).__name__}: {exc}", img))
                    continue
                crop, lmk, scheme = aligned.rgb, aligned.landmarks, aligned.scheme
                crops.append(crop)
                aligned_file = self._save_thumbnail(rel, k, crop)
            row = _face_row(rel, k, status, faces.boxes[k] * inv, float(faces.scores[k]),
                            None if lmk is None else np.asarray(lmk) * inv, scheme, aligned_file, img)
            if status == KEPT:
                # The audit tells detection doubts from label doubts with these two columns.
                row.update(n_valid_faces=choice.n_valid, second_score=choice.second_score)
                if choice.n_valid > 1:
                    row["detail"] = f"several faces (second score {choice.second_score:.3f})"
            rows.append(row)
        if choice.kept is None:
            rows.append(_skip_row(rel, choice.reason, f"{faces.n_faces} candidate(s)", img))
        return _ImageOutcome(rel, rows, crops)

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
    row.update(face_index=k, status=status, kept=status in KEPT_STATUSES, x1=float(box[0]), y1=float(box[1]),
               x2=float(box[2]), y2=float(box[3]), score=score, landmark_scheme=scheme, aligned_file=aligned_file)
    if lmk is not None:
        for i in range(5):
            row[f"lx{i}"], row[f"ly{i}"] = float(lmk[i][0]), float(lmk[i][1])
    return row
