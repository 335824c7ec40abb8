"""Face detection and face selection.

Detectors (one small interface, :class:`Detector`):

* :class:`InsightFaceDetector`: SCRFD / RetinaFace ONNX models loaded with
  ``insightface.model_zoo.get_model(path)``; boxes, scores and the five ArcFace landmarks
  (eye centres, nose tip, mouth corners). ``detect`` runs SCRFD at one fixed input size
  (letterboxed), set once with ``prepare(ctx_id, input_size=..., det_thresh=...)``; passing
  no size would make insightface 2.x run every size of its default list.
* :class:`DlibDetector`: dlib's HOG (``get_frontal_face_detector``) or CNN (MMOD) detector,
  from the ``face_recognition_models`` weights. Scores are SVM/MMOD margins, not
  probabilities, hence their own threshold (``dlib_min_score``).

Identity datasets keep one face per image: :func:`choose_face` filters the candidates (score,
minimum box side in original pixels), keeps the confident ones (a large low-score box on a
shirt must not beat the real face) and among those the largest, most central one, recording
what happened to every other candidate and, when several faces passed, the runner-up's score.

Alignment of the kept face (the crop a network expects) lives in
:mod:`analysis.embedding.alignment`.

dlib objects are not thread-safe (concurrent calls on one detector return wrong boxes or crash)
and hold the GIL, so every worker builds its own and calls them from a single thread;
``Detector.thread_safe`` says whether ``detect`` may be called from several threads.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from analysis.embedding.devices import Device, onnx_provider_config, session_options
from analysis.embedding.sessions import lock_session

# Candidate statuses and no-face reasons (stable strings: reports count them).
KEPT = "kept"
OTHER_FACE = "other face (not kept)"
LOW_SCORE = "low score"
TOO_SMALL = "face too small"
NO_FACE = "no face"

# InsightFace model packs holding the default detector (``det_10g.onnx`` is an SCRFD-10G).
DEFAULT_DETECTOR_PACK = ("buffalo_l", "det_10g.onnx")


@dataclass(frozen=True, eq=False)
class FaceCandidates:
    """Detections in one image, in the pixel coordinates of the image given to the detector.

    Parameters
    ----------
    boxes : ndarray of shape (k, 4), float32
        ``x1, y1, x2, y2``.
    scores : ndarray of shape (k,), float32
    landmarks : ndarray of shape (k, 5, 2), float32, or None
        ArcFace-order landmarks when the detector predicts them.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None = None

    @property
    def n_faces(self) -> int:
        return int(self.boxes.shape[0])

    @staticmethod
    def empty() -> "FaceCandidates":
        return FaceCandidates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), None)


@dataclass(frozen=True)
class FaceChoice:
    """Outcome of :func:`choose_face`.

    Parameters
    ----------
    kept : int or None
        Index of the kept candidate.
    statuses : tuple of str
        Per candidate: ``kept``, ``other face (not kept)``, ``low score`` or ``face too small``.
    reason : str or None
        Why no face was kept (``no face``, ``low score``, ``face too small``); None otherwise.
    n_valid : int
        Candidates passing both the score and the size filters (2 or more: "several faces").
    second_score : float
        Best score among the valid candidates other than the kept one; NaN when there is none.
    """

    kept: int | None
    statuses: tuple[str, ...]
    reason: str | None
    n_valid: int = 0
    second_score: float = float("nan")


def choose_face(
    faces: FaceCandidates,
    image_size: tuple[int, int],
    min_score: float,
    min_size: float,
    selection: str = "largest_central",
    confident_share: float = 0.5,
) -> FaceChoice:
    """Filter candidates and keep one face per image.

    Parameters
    ----------
    faces : FaceCandidates
    image_size : tuple of int
        ``(width, height)`` of the image the boxes refer to.
    min_score : float
        Candidates scoring below are ``low score``.
    min_size : float
        Minimum of box width and height, in the same pixels as the boxes.
    selection : {"largest_central", "largest"}
        ``largest_central`` ranks by area minus twice the squared distance to the image centre
        (InsightFace's ``metric='default'``), so that a large face at the border loses against
        the portrait's subject; ``largest`` ranks by area only.
    confident_share : float, default=0.5
        Score first: only valid candidates scoring at least
        ``min_score + confident_share * (best score - min_score)`` compete on size and
        position. With dlib HOG (threshold 0) a face at 0.92 and a chest box at 0.002 leave the
        face alone; two confident faces (0.93 and 0.90) still compete on size. The rule uses
        the detector's own score range, so it holds for SCRFD probabilities and dlib margins.

    Returns
    -------
    FaceChoice
    """
    k = faces.n_faces
    if k == 0:
        return FaceChoice(None, (), NO_FACE)
    boxes = faces.boxes.astype(np.float64)
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    score_ok = faces.scores >= min_score
    size_ok = np.minimum(w, h) >= min_size
    statuses = np.where(~score_ok, LOW_SCORE, np.where(~size_ok, TOO_SMALL, OTHER_FACE)).astype(object)
    valid = np.flatnonzero(score_ok & size_ok)
    if valid.size == 0:
        # "too small" only when some face was confident enough: a small low-score blob is
        # most likely no face at all.
        reason = TOO_SMALL if score_ok.any() else LOW_SCORE
        return FaceChoice(None, tuple(statuses), reason)
    if not 0.0 <= confident_share <= 1.0:
        raise ValueError(f"confident_share must be in [0, 1], got {confident_share}")
    scores = faces.scores.astype(np.float64)
    best_score = float(scores[valid].max())
    confident = valid[scores[valid] >= min_score + confident_share * (best_score - min_score)]
    area = w * h
    if selection == "largest":
        value = area
    elif selection == "largest_central":
        cx, cy = image_size[0] / 2.0, image_size[1] / 2.0
        off = ((boxes[:, 0] + boxes[:, 2]) / 2 - cx) ** 2 + ((boxes[:, 1] + boxes[:, 3]) / 2 - cy) ** 2
        value = area - 2.0 * off
    else:
        raise ValueError(f"unknown face_selection {selection!r}; valid: largest_central, largest")
    best = int(confident[np.argmax(value[confident])])  # argmax: first of equals, deterministic
    statuses[best] = KEPT
    others = valid[valid != best]
    second = float(scores[others].max()) if others.size else float("nan")
    return FaceChoice(best, tuple(statuses), None, int(valid.size), second)


# --------------------------------------------------------------------------------------------
# Detectors
# --------------------------------------------------------------------------------------------


class Detector:
    """Base class: ``detect(bgr) -> FaceCandidates``; ``identity()`` for cache keys."""

    name = "detector"
    thread_safe = False
    #: True when ``detect`` returns ArcFace-order landmarks.
    has_landmarks = False

    def detect(self, bgr: np.ndarray) -> FaceCandidates:  # pragma: no cover - interface
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def sessions(self) -> list[tuple[str, Any]]:
        """onnxruntime sessions as ``(what, session)``; none for dlib."""
        return []


class InsightFaceDetector(Detector):
    """SCRFD or RetinaFace ONNX detector through InsightFace's model zoo.

    Parameters
    ----------
    model_path : Path
        ONNX file (``scrfd_500m.onnx``, ``det_10g.onnx`` ...).
    input_size : list of (width, height), default=[(640, 640)]
        Detector input size(s); images are letterboxed into each, and the detections of all
        sizes are merged by NMS (InsightFace 2.x multi-scale detection).
    candidate_score : float, default=0.5
        Scores kept by the detector (NMS runs on them). Lower than the acceptance threshold so
        that rejected low-score faces can be reported as such instead of "no face".
    device : Device
    threads : int, default=0
        onnxruntime intra-op threads (0: onnxruntime's default).
    """

    name = "insightface"
    thread_safe = True  # onnxruntime sessions accept concurrent run() calls
    has_landmarks = True

    def __init__(self, model_path: Path, input_size=((640, 640),), candidate_score: float = 0.5,
                 device: Device = Device("cpu"), threads: int = 0) -> None:
        insightface = _import_insightface()
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"detector model {str(self.model_path)!r} not found; set extraction.detector_path")
        self.input_size = _size_list(input_size)
        self.candidate_score = float(candidate_score)
        providers, provider_options = onnx_provider_config(device)
        model = insightface.model_zoo.get_model(
            str(self.model_path), providers=providers, provider_options=provider_options,
            sess_options=session_options(threads, cuda=device.is_cuda),
        )
        if model is None or getattr(model, "taskname", None) != "detection":
            raise ValueError(
                f"{str(self.model_path)!r} is not an InsightFace detection model "
                f"(got {type(model).__name__}); use an SCRFD/RetinaFace ONNX file"
            )
        model.prepare(device.index if device.is_cuda else -1, input_size=self.input_size, det_thresh=self.candidate_score)
        self.model = model
        self.device = device
        self.weights_sha256 = file_sha256(self.model_path)
        for what, session in self.sessions():
            lock_session(session, device, what)

    def sessions(self) -> list[tuple[str, Any]]:
        """``(what, session)`` of the main session and of each input size's session.

        InsightFace 2.x builds one fixed-shape session per detector size, lazily on first use
        and with onnxruntime's default CPU fallback; they are created here, up front, so that
        each is checked and locked to the device before any image goes through it.
        """
        out = [(f"detector {self.model_path.name}", self.model.session)]
        session_for = getattr(self.model, "_session_for_input_size", None)
        if callable(session_for):
            for size in self.input_size:
                session = session_for(size)
                if session is not self.model.session:
                    out.append((f"detector {self.model_path.name} {size[0]}x{size[1]}", session))
        return out

    def detect(self, bgr: np.ndarray) -> FaceCandidates:
        det, kps = self.model.detect(bgr, input_size=self.input_size, max_num=0)
        if det is None or det.shape[0] == 0:
            return FaceCandidates.empty()
        lmk = None if kps is None else np.asarray(kps, np.float32).reshape(-1, 5, 2)
        return FaceCandidates(np.asarray(det[:, :4], np.float32), np.asarray(det[:, 4], np.float32), lmk)

    def identity(self) -> dict[str, Any]:
        return insightface_detector_identity(self.model_path, self.input_size, self.candidate_score)


def insightface_detector_identity(model_path: Path, input_size, candidate_score: float) -> dict[str, Any]:
    """What determines an InsightFace detector's output (for cache keys)."""
    return {
        "kind": "insightface",
        "model": Path(model_path).name,
        "weights_sha256": file_sha256(Path(model_path)),
        "input_size": [list(s) for s in _size_list(input_size)],
        "candidate_score": float(candidate_score),
        "nms": 0.4,
    }


class DlibDetector(Detector):
    """dlib's HOG or CNN (MMOD) face detector.

    Parameters
    ----------
    kind : {"hog", "cnn"}
    upsample : int, default=1
        Times the image is doubled before detection: HOG finds faces down to about 80 px at
        0 and 40 px at 1.
    max_side : int, default=800
        Images with a longer side are shrunk first (detection cost grows with the area; faces
        of identity datasets are large).
    candidate_score : float, default=-0.5
        HOG margin kept as candidates (the acceptance threshold is applied later, so that
        rejected faces are reported as ``low score``). The CNN detector has no such knob.
    """

    name = "dlib"
    thread_safe = False

    def __init__(self, kind: str = "hog", upsample: int = 1, max_side: int = 800, candidate_score: float = -0.5) -> None:
        dlib = _import_dlib()
        if kind not in ("hog", "cnn"):
            raise ValueError(f"unknown dlib detector {kind!r}; valid: hog, cnn")
        self.kind, self.upsample, self.max_side = kind, int(upsample), int(max_side)
        self.candidate_score = float(candidate_score)
        if kind == "hog":
            self._hog = dlib.get_frontal_face_detector()
            self.weights_sha256 = "dlib-frontal-face-hog-" + dlib.__version__
        else:
            path = dlib_model_file("cnn_face_detector_model_location")
            self._cnn = dlib.cnn_face_detection_model_v1(str(path))
            self.weights_sha256 = file_sha256(path)
        self.name = f"dlib-{kind}"

    def detect(self, bgr: np.ndarray) -> FaceCandidates:
        import cv2

        h, w = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w)) if self.max_side > 0 else 1.0
        small = bgr if scale >= 1.0 else cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        rgb = np.ascontiguousarray(small[:, :, ::-1])
        if self.kind == "hog":
            rects, scores, _ = self._hog.run(rgb, self.upsample, self.candidate_score)
            scores = list(scores)
        else:
            found = self._cnn(rgb, self.upsample)
            rects, scores = [d.rect for d in found], [d.confidence for d in found]
        if not rects:
            return FaceCandidates.empty()
        boxes = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float32) / scale
        # Clip to the image: dlib boxes may extend past the border.
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
        return FaceCandidates(boxes[order], np.asarray(scores, np.float32)[order], None)

    def identity(self) -> dict[str, Any]:
        return dlib_detector_identity(self.kind, self.upsample, self.max_side, self.candidate_score)


def _size_list(input_size) -> list[tuple[int, int]]:
    """``(w, h)`` or a list of them, as a list of int pairs."""
    sizes = list(input_size)
    if len(sizes) == 2 and all(isinstance(v, (int, np.integer)) for v in sizes):
        sizes = [sizes]
    return [(int(w), int(h)) for w, h in sizes]


def dlib_detector_identity(kind: str, upsample: int, max_side: int, candidate_score: float) -> dict[str, Any]:
    """What determines a dlib detector's output (for cache keys)."""
    dlib = _import_dlib()
    weights = ("dlib-frontal-face-hog-" + dlib.__version__ if kind == "hog"
               else file_sha256(dlib_model_file("cnn_face_detector_model_location")))
    return {"kind": f"dlib-{kind}", "weights_sha256": weights, "upsample": int(upsample),
            "max_side": int(max_side), "candidate_score": float(candidate_score)}


def default_detector_path(model_dir: str = "~/.insightface") -> Path:
    """InsightFace's default detector, ``buffalo_l/det_10g.onnx``, downloaded when missing.

    Raises
    ------
    RuntimeError
        When the pack is absent and cannot be downloaded (offline machine), naming the fixes.
    """
    pack, fname = DEFAULT_DETECTOR_PACK
    root = Path(os.path.expanduser(model_dir))
    local = _find_file(root / "models" / pack, fname)
    if local is not None:
        return local
    insightface = _import_insightface()
    try:
        folder = Path(insightface.utils.ensure_available("models", pack, root=str(root)))
    except Exception as exc:  # noqa: BLE001 - any download failure gets the same advice
        raise RuntimeError(
            f"the default face detector ({pack}/{fname}) is not in {root / 'models' / pack} and could not be "
            f"downloaded ({type(exc).__name__}: {exc}). Set extraction.detector_path to a local SCRFD/RetinaFace "
            f"ONNX file, or extraction.detector = 'dlib-hog' (offline, from PyPI)"
        ) from exc
    found = _find_file(folder, fname)
    if found is None:
        raise RuntimeError(f"{pack} was downloaded into {folder} but holds no {fname}; delete the folder and retry")
    return found


def _find_file(folder: Path, fname: str) -> Path | None:
    if not folder.is_dir():
        return None
    # Some packs unzip into a nested folder of the same name (antelopev2/antelopev2/...).
    matches = sorted(folder.rglob(fname))
    return matches[0] if matches else None


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, cached by (path, size, mtime) so large weights are hashed once."""
    p = Path(path).expanduser().resolve()
    st = p.stat()
    return _sha256_cached(str(p), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def dlib_model_file(locator: str) -> Path:
    """Path of a dlib weights file shipped by ``face_recognition_models``."""
    try:
        import face_recognition_models
    except ImportError as exc:
        raise ImportError("dlib's weights come from PyPI: pip install face-recognition-models") from exc
    return Path(getattr(face_recognition_models, locator)())


def _import_dlib():
    try:
        import dlib
    except ImportError as exc:
        raise ImportError("the dlib detector/network needs dlib: pip install dlib-bin face-recognition-models") from exc
    return dlib


def _import_insightface():
    try:
        import insightface
        import insightface.model_zoo  # noqa: F401
        import insightface.utils  # noqa: F401
    except ImportError as exc:
        raise ImportError("InsightFace detectors need insightface and onnxruntime: pip install insightface onnxruntime") from exc
    return insightface
