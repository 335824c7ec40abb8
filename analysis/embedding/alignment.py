"""5-point face alignment: the crop a network expects, cut around a detected face.

Aligners (one small interface, :class:`Aligner`: ``align(bgr, box, landmarks) -> AlignedFace``):

* :class:`SimilarityAligner`: 5-point similarity transform onto the ArcFace template
  (``insightface.utils.face_align``; 112x112 for ArcFace, template scaled for other sizes).
  Landmarks come from the detector, or from dlib's 68-point predictor for dlib boxes.
* :class:`DlibChipAligner`: dlib's 5-point shape predictor and ``dlib.get_face_chip``
  (150x150, padding 0.25), exactly what dlib's ResNet was trained on.

:data:`ARCFACE_TEMPLATE`, :func:`similarity_matrix` and :func:`estimate_similarity` (the
least-squares similarity fit) are also used to cut gallery thumbnails
(:mod:`analysis.embedding.thumbnails`). Detection and face choice live in
:mod:`analysis.embedding.faces`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.embedding.faces import _import_dlib, dlib_model_file

#: ArcFace 5-point template for 112x112 crops (left eye, right eye, nose, left and right mouth
#: corners, as seen in the image).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


@dataclass(frozen=True, eq=False)
class AlignedFace:
    """An aligned crop and the landmarks it was aligned with (image coordinates)."""

    rgb: np.ndarray
    landmarks: np.ndarray
    scheme: str


class Aligner:
    """Base class: ``align(bgr, box, landmarks) -> AlignedFace``."""

    name = "aligner"
    size = 112

    def align(self, bgr: np.ndarray, box: np.ndarray, landmarks: np.ndarray | None) -> AlignedFace:  # pragma: no cover
        raise NotImplementedError


class SimilarityAligner(Aligner):
    """5-point similarity alignment onto the ArcFace template.

    The crop is pixel-identical to ``insightface.utils.face_align.norm_crop`` (same matrix,
    same ``cv2.warpAffine``; checked by the tests) without its deprecated scikit-image call,
    which warns once per face.

    Parameters
    ----------
    size : int, default=112
        Output side; the 112-pixel template is scaled for other sizes (160 for FaceNet).
    """

    def __init__(self, size: int = 112) -> None:
        self.size = int(size)
        self.name = f"arcface-similarity-{self.size}"
        self._predictor68 = None

    def align(self, bgr, box, landmarks):
        import cv2

        scheme = "arcface5"
        if landmarks is None:
            landmarks = self._landmarks_from_dlib68(bgr, box)
            scheme = "arcface5-from-dlib68"
        matrix = similarity_matrix(np.asarray(landmarks, np.float64), self.size)
        crop = cv2.warpAffine(bgr, matrix, (self.size, self.size), borderValue=0.0)
        return AlignedFace(np.ascontiguousarray(crop[:, :, ::-1]), np.asarray(landmarks, np.float32), scheme)

    def _landmarks_from_dlib68(self, bgr, box) -> np.ndarray:
        """ArcFace's five points from dlib's 68: eye centres, nose tip, mouth corners."""
        dlib = _import_dlib()
        if self._predictor68 is None:
            self._predictor68 = dlib.shape_predictor(str(dlib_model_file("pose_predictor_model_location")))
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        shape = self._predictor68(rgb, _dlib_rect(box))
        pts = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
        return np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]]).astype(np.float32)


def similarity_matrix(landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """2x3 similarity transform mapping the 5 landmarks onto the ArcFace template.

    The template is scaled exactly as ``insightface.utils.face_align.estimate_norm`` does (and
    simply by ``size / 112`` for other sizes, such as FaceNet's 160); the transform is the same
    least-squares (Umeyama) estimate, through scikit-image's non-deprecated constructor.
    """
    if size % 112 == 0:
        dst = ARCFACE_TEMPLATE * (size / 112.0)
    elif size % 128 == 0:
        ratio = size / 128.0
        dst = ARCFACE_TEMPLATE * ratio
        dst[:, 0] += 8.0 * ratio
    else:
        dst = ARCFACE_TEMPLATE * (size / 112.0)
    return estimate_similarity(np.asarray(landmarks).reshape(5, 2), dst)


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares (Umeyama) similarity transform mapping the points ``src`` onto ``dst``.

    Parameters
    ----------
    src, dst : ndarray of shape (k, 2)
        Corresponding points, ``k >= 2``.

    Raises
    ------
    ValueError
        For degenerate points (all equal), where no similarity transform exists.
    """
    from skimage.transform import SimilarityTransform

    # float32 in, as InsightFace passes them: the matrix is then identical to estimate_norm's.
    src = np.asarray(src, np.float32).reshape(-1, 2)
    dst = np.asarray(dst, np.float32).reshape(-1, 2)
    if hasattr(SimilarityTransform, "from_estimate"):
        tform = SimilarityTransform.from_estimate(src, dst)
        if not tform:
            raise ValueError("degenerate landmarks: no similarity transform")
    else:  # scikit-image < 0.26
        tform = SimilarityTransform()
        if not tform.estimate(src, dst):
            raise ValueError("degenerate landmarks: no similarity transform")
    return tform.params[0:2, :]


class DlibChipAligner(Aligner):
    """dlib's own alignment: 5-point shape predictor + ``dlib.get_face_chip``.

    Parameters
    ----------
    size : int, default=150
    padding : float, default=0.25
        As used when dlib's ResNet was trained.
    """

    def __init__(self, size: int = 150, padding: float = 0.25) -> None:
        dlib = _import_dlib()
        self.size, self.padding = int(size), float(padding)
        self.name = f"dlib-chip-{self.size}-pad{self.padding:g}"
        self._dlib = dlib
        self._predictor5 = dlib.shape_predictor(str(dlib_model_file("pose_predictor_five_point_model_location")))

    def align(self, bgr, box, landmarks):
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        shape = self._predictor5(rgb, _dlib_rect(box))
        chip = self._dlib.get_face_chip(rgb, shape, size=self.size, padding=self.padding)
        pts = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
        return AlignedFace(np.ascontiguousarray(chip), pts, "dlib5")


def _dlib_rect(box: np.ndarray):
    dlib = _import_dlib()
    x1, y1, x2, y2 = (int(round(float(v))) for v in box[:4])
    return dlib.rectangle(x1, y1, max(x1 + 1, x2 - 1), max(y1 + 1, y2 - 1))
