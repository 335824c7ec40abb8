"""Kept-face facts of an extraction's traceability table, for the audit's detection suspects.

The trace (:data:`analysis.embedding.face_worker.TRACE_COLUMNS`) has one row per candidate
face; the audit (:mod:`analysis.statistics.audit.detection`) needs one row per embedded image:
the kept face's score, box size, distance to the image centre and the several-faces columns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.embedding.faces import OTHER_FACE
from analysis.statistics.audit.detection import FaceDetections


def face_detections(trace: pd.DataFrame, detector: str = "") -> FaceDetections:
    """One :class:`FaceDetections` row per kept face of ``trace`` (sorted by item).

    Traces written before the several-faces columns existed (extraction version 2) have the
    same facts in their rows: the valid faces of an image are its ``kept`` row and its
    ``other face (not kept)`` rows, so they are counted there.
    """
    kept = trace[trace["kept"].astype(bool)].drop_duplicates("item").sort_values("item", kind="mergesort")
    x1, y1, x2, y2 = (kept[c].to_numpy(np.float64) for c in ("x1", "y1", "x2", "y2"))
    w, h = kept["image_width"].to_numpy(np.float64), kept["image_height"].to_numpy(np.float64)
    half_diag = np.hypot(w, h) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.hypot((x1 + x2) / 2 - w / 2, (y1 + y2) / 2 - h / 2) / np.where(half_diag > 0, half_diag, np.nan)

    n_faces, second = _several_faces(trace, kept)

    return FaceDetections(
        items=kept["item"].astype(str).to_numpy(),
        score=kept["score"].to_numpy(np.float64),
        box_side=np.minimum(x2 - x1, y2 - y1),
        centre_offset=offset,
        n_faces=n_faces,
        second_score=second,
        detector=detector,
    )


def _several_faces(trace: pd.DataFrame, kept: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Valid faces per kept image and the best other valid face's score (from the columns, or the rows)."""
    if "n_valid_faces" in kept and kept["n_valid_faces"].notna().all():
        return kept["n_valid_faces"].to_numpy(np.float64), kept["second_score"].to_numpy(np.float64)
    others = trace[trace["status"].astype(str) == OTHER_FACE]
    n_other = others.groupby("item")["score"].size()
    best_other = others.groupby("item")["score"].max()
    items = kept["item"].astype(str)
    n_faces = 1.0 + items.map(n_other).fillna(0).to_numpy(np.float64)
    return n_faces, items.map(best_other).to_numpy(np.float64)


def kept_scores(trace: pd.DataFrame, items) -> np.ndarray:
    """The detector score of the face each embedding item was computed from (NaN when unknown).

    An item is an image path (one face per image) or ``<path>#<face index>``
    (``face_selection = "all"``); the score is that of the trace row the face was kept from.
    """
    from analysis.embedding.face_worker import KEPT_STATUSES

    kept = trace[trace["status"].astype(str).isin(KEPT_STATUSES)]
    paths = kept["item"].astype(str).tolist()
    faces = kept["face_index"].astype(np.int64).tolist()
    scores = kept["score"].astype(np.float64).tolist()
    by_face = {f"{p}#{f}": s for p, f, s in zip(paths, faces, scores)}
    best = {p: s for p, s, st in zip(paths, scores, kept["status"].astype(str)) if st == "kept"}
    return np.array([by_face.get(str(i), best.get(str(i), np.nan)) for i in items], dtype=np.float64)
