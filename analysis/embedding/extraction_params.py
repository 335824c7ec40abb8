"""Extraction parameters and detector choice: everything that decides an extraction's cache key.

:class:`ExtractionParams` is the ``[extraction]`` table of a study config (detection,
alignment, batching, devices). :func:`resolve_detector` turns it into a picklable
:class:`DetectorSpec` sent to the workers; :func:`detector_identity` and
:func:`extraction_key` describe every input that changes the vectors or the trace (manifest,
network, detector, face selection, decoding), so that :mod:`analysis.embedding.extract` can
reuse a finished result or its chunk checkpoints. Execution-only settings (devices, workers,
threads, backend) are not part of the key.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from analysis.embedding.faces import default_detector_path, dlib_detector_identity, insightface_detector_identity
from analysis.embedding.images import DEFAULT_MAX_PIXELS
from analysis.embedding.store import stable_hash

#: Bumped when a change of the extraction (this module, :mod:`analysis.embedding.extract`,
#: :mod:`analysis.embedding.face_worker`) changes the vectors or the trace of a run.
EXTRACT_VERSION = "3"  # 3: score-first face choice, n_valid_faces/second_score trace columns


@dataclass(frozen=True)
class ExtractionParams:
    """The ``[extraction]`` table: detection, alignment, batching, devices.

    Parameters
    ----------
    detector : {"auto", "insightface", "dlib-hog", "dlib-cnn"}, default="auto"
        ``auto``: for the dlib network without ``detector_path``, the more accurate offline
        detector, dlib's CNN (MMOD), or its HOG detector when ``detector_speed = "fast"``;
        an InsightFace detector (SCRFD) otherwise. HOG drops clean frontal faces (margins
        -0.2 to 0.0) that MMOD finds, at several times less CPU (README, "Choosing the detector").
    detector_speed : {"accurate", "fast"}, default="accurate"
        What ``detector = "auto"`` favours for the dlib network.
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
    face_selection : {"largest_central", "largest", "all"}, default="largest_central"
        Which face an image keeps when it holds several. ``all`` keeps every face passing the
        score and size thresholds, each an item ``<path>#<face index>`` (group photos,
        unlabelled datasets); in an identity dataset only the best (largest, most central)
        face keeps the image's label, the others are recorded in the trace as
        ``extra face (kept)`` and left out of the labelled embeddings.
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
        Threads decoding (and, with InsightFace on the CPU, detecting) images in each worker;
        a GPU worker uses at least its share of the cores (cores / GPUs) so that decoding keeps
        the device fed.
    det_batch : int, default=0
        Images per detector call (InsightFace SCRFD): 0 means 32 on a GPU (the graph is given a
        batch axis at load time, :mod:`analysis.embedding.scrfd_batch`) and one at a time on the
        CPU; 1 forces one at a time. The candidates are the same either way.
    recognizer_precision : {"auto", "fp32", "fp16", "bf16"}, default="auto"
        ArcFace in a reduced precision, used only when each probe embedding has a cosine of at
        least 0.999 to its float32 twin (else float32, with a log line); the precision that ran
        is in the provenance. ``auto``: float16 on GPUs, bfloat16 on CPUs whose OpenVINO reports
        native BF16 kernels (AMX, AVX-512 BF16), float32 elsewhere.
    cpu_engine : {"auto", "onnxruntime", "openvino"}, default="auto"
        What runs ArcFace on a CPU worker: OpenVINO when the ``openvino`` package is installed
        (``auto``; same ONNX file, 1.2x faster in float32 at batch 32 on the machine measured), else
        onnxruntime. Detection always runs on onnxruntime.
    devices : str, default="auto"
        ``auto`` (every visible GPU, else CPU; a loud warning when GPUs are visible but
        onnxruntime cannot use them), ``cpu``, ``cuda`` or ``cuda:0,1`` (CUDA device ids within
        ``CUDA_VISIBLE_DEVICES``; an error when CUDA cannot be used). One worker per GPU;
        pipelines with dlib (no CUDA in dlib-bin) always use CPU workers.
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
        Shards sent to the cluster, each pinned to its own worker; 0 (or more than the
        workers) means one per Dask worker.
    save_aligned : bool, default=False
        Also write the network's aligned input crops as JPEG files under
        ``<cache_dir>/aligned/<key>/`` (for inspection; never published). Galleries do not
        need them: :mod:`analysis.embedding.thumbnails` cuts the few faces they show from the trace.
    """

    detector: Literal["auto", "insightface", "dlib-hog", "dlib-cnn"] = "auto"
    detector_speed: Literal["accurate", "fast"] = "accurate"
    detector_path: Path | None = None
    model_dir: str = "~/.insightface"
    det_sizes: tuple[int, ...] = (160, 320)
    min_score: float = 0.7
    candidate_score: float = 0.5
    dlib_min_score: float = 0.0
    dlib_upsample: int = 1
    dlib_max_side: int = 800
    min_face_px: int = 40
    face_selection: Literal["largest_central", "largest", "all"] = "largest_central"
    reduced_decode: bool = True
    decode_min_side: int = 800
    max_pixels: int = DEFAULT_MAX_PIXELS
    batch_size: int = 64
    chunk_size: int = 256
    decode_threads: int = 4
    det_batch: int = 0
    recognizer_precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    cpu_engine: Literal["auto", "onnxruntime", "openvino"] = "auto"
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
        if self.detector_speed not in ("accurate", "fast"):
            raise ValueError(f"detector_speed must be 'accurate' or 'fast', got {self.detector_speed!r}")
        if not 0.0 <= self.candidate_score <= self.min_score <= 1.0:
            raise ValueError("need 0 <= candidate_score <= min_score <= 1")
        for name in ("batch_size", "chunk_size", "decode_threads", "max_pixels", "decode_min_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("min_face_px", "dlib_upsample", "cpu_workers", "intra_op_threads", "dask_shards", "dlib_max_side",
                     "det_batch"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


@dataclass(frozen=True)
class DetectorSpec:
    """A resolved detector choice (picklable, sent to the workers)."""

    kind: str  # insightface | dlib-hog | dlib-cnn
    path: str | None


def resolve_detector(params: ExtractionParams, network_options: Any) -> DetectorSpec:
    """Which detector runs, and from which file (downloading the default when needed).

    A network's own ``detector_path`` (:class:`analysis.embedding.networks.ArcFaceOptions`) comes first;
    then ``[extraction] detector`` and ``detector_path``.
    """
    from analysis.embedding.networks import DlibOptions

    own = getattr(network_options, "detector_path", None)
    if own is not None:  # a network's own detector (ArcFaceOptions.detector_path) wins over the study's
        return DetectorSpec("insightface", str(Path(own)))
    kind = params.detector
    if kind == "auto":
        if isinstance(network_options, DlibOptions) and params.detector_path is None:
            kind = "dlib-hog" if params.detector_speed == "fast" else "dlib-cnn"
        else:
            kind = "insightface"
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
