"""Detection suspects: images whose kept face may not be the labelled person's face at all.

A suspected mislabel (:mod:`analysis.statistics.audit.audit`) is either a label error or a
detection failure (a box on a shirt, a bystander, a poster in the background); the fix differs,
so the audit keeps them apart. An image is a **detection suspect** when its kept face

* scored low: ``detection_low_z`` robust standard deviations (1.4826 x MAD) below the median
  score of the cell's kept faces. Derived from the cell, because detector scores have no common
  scale (SCRFD gives probabilities near 0.8-0.9, dlib HOG margins from 0 to about 3);
* is small: shorter box side below ``detection_small_px`` original pixels;
* is off-centre: box centre farther from the image centre than ``detection_off_centre`` of the
  half-diagonal;
* or shared the image with another valid face (``several faces``, with the runner-up's score).

Arrays in, frozen arrays out; the trace columns are read by
:func:`analysis.embedding.face_detections.face_detections`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.statistics.audit.params import AuditParams


@dataclass(frozen=True, eq=False)
class FaceDetections:
    """Facts about the kept face of each embedded image (one row per item).

    Attributes
    ----------
    items : ndarray of shape (m,), str
    score : ndarray of shape (m,)
        Detector score of the kept face.
    box_side : ndarray of shape (m,)
        Shorter side of its box, in original pixels.
    centre_offset : ndarray of shape (m,)
        Distance of the box centre to the image centre, as a share of the half-diagonal (0..1).
    n_faces : ndarray of shape (m,)
        Faces passing the score and size filters in the image (NaN when unknown).
    second_score : ndarray of shape (m,)
        Best score of the other valid faces (NaN when there is none).
    detector : str
        Name of the detector, for the page.
    """

    items: np.ndarray
    score: np.ndarray
    box_side: np.ndarray
    centre_offset: np.ndarray
    n_faces: np.ndarray
    second_score: np.ndarray
    detector: str = ""


@dataclass(frozen=True, eq=False)
class DetectionSuspects:
    """Detection flags of the audited rows (aligned with ``AuditResult.images.rows``).

    ``found`` is False for rows without a detection record (embedding files, synthetic data).
    """

    found: np.ndarray
    score: np.ndarray
    box_side: np.ndarray
    centre_offset: np.ndarray
    second_score: np.ndarray
    low_score: np.ndarray
    small: np.ndarray
    off_centre: np.ndarray
    several: np.ndarray
    suspect: np.ndarray
    score_median: float
    score_robust_std: float
    low_score_threshold: float
    detector: str


def detection_suspects(items: np.ndarray, faces: FaceDetections, params: AuditParams) -> DetectionSuspects:
    """Flag the detection doubts of the images ``items`` (the audited rows).

    Parameters
    ----------
    items : ndarray of shape (m,), str
        Items of the audited rows.
    faces : FaceDetections
        Kept-face facts of the dataset (items not found there get no flag).
    params : AuditParams

    Returns
    -------
    DetectionSuspects
    """
    index = {str(item): i for i, item in enumerate(faces.items.astype(str))}
    pos = np.array([index.get(str(item), -1) for item in items], dtype=np.int64)
    found = pos >= 0

    def column(values: np.ndarray) -> np.ndarray:
        out = np.full(len(items), np.nan)
        out[found] = np.asarray(values, dtype=np.float64)[pos[found]]
        return out

    score, side, offset = column(faces.score), column(faces.box_side), column(faces.centre_offset)
    n_faces, second = column(faces.n_faces), column(faces.second_score)
    ok = found & np.isfinite(score)
    median = float(np.median(score[ok])) if ok.any() else float("nan")
    robust_std = float(1.4826 * np.median(np.abs(score[ok] - median))) if ok.any() else float("nan")
    low_threshold = median - params.detection_low_z * robust_std
    with np.errstate(invalid="ignore"):
        low = found & (score < low_threshold)
        small = found & (side < params.detection_small_px)
        off = found & (offset > params.detection_off_centre)
        several = found & (n_faces >= 2)
    return DetectionSuspects(
        found=found, score=score, box_side=side, centre_offset=offset, second_score=second,
        low_score=low, small=small, off_centre=off, several=several, suspect=low | small | off | several,
        score_median=median, score_robust_std=robust_std, low_score_threshold=float(low_threshold),
        detector=faces.detector,
    )
