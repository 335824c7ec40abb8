"""Aligned face thumbnails for the galleries, cut on demand from the original images.

A gallery (``[study] galleries = true``) shows about a hundred faces per cell. Their thumbnails
are cut here, when the report is built, from the original images and the extraction's
traceability table, rather than saved for every image during extraction
(``ExtractionParams.save_aligned``):

* turning galleries on must not change the extraction key: that would recompute every
  embedding (hours on a large dataset) for pictures that change no vector;
* a gallery needs a few faces per cell, not every face of the dataset: re-reading those images
  takes seconds, while saving every crop writes one file per image (39,327 for FRGC) that is
  almost never looked at (the few thumbnails a gallery uses are cached with the analyses);
* the traceability table already holds what redoing the crop needs (the kept face's box and
  landmarks in original-image pixels), so the thumbnail shows exactly the face the embedding
  was computed from, with one source of truth about which face of an image was used.

Thumbnails are display crops, not the network's input: the kept face of every network is
aligned by a similarity transform onto the same 5-point ArcFace template, so that galleries
of different networks look alike. dlib's 5-point landmarks (two corners per eye and the base
of the nose) are reduced to the two eye centres and the nose; a face without landmarks is cut
as a square around its box. Images are decoded at full resolution (with their EXIF
orientation, as in extraction) and shrunk with area averaging before a large reduction, so a
face from a 2,000-pixel photograph gives a clean thumbnail.

Reading never raises for one bad image: a face that cannot be cut is listed in
:attr:`Thumbnails.missing` with the reason, and the gallery draws an empty tile instead.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.embedding.alignment import ARCFACE_TEMPLATE, estimate_similarity
from analysis.embedding.images import DEFAULT_MAX_PIXELS, ImageSkip, decode_file

#: Bumped when a change of this module changes the pixels of a thumbnail.
THUMBNAIL_VERSION = "1"

#: Trace columns a thumbnail depends on (with the image itself).
FACE_COLUMNS = ("item", "x1", "y1", "x2", "y2", *(f"{axis}{i}" for i in range(5) for axis in ("lx", "ly")),
                "landmark_scheme")

#: Box side multiplier of the crop of a face without landmarks (keeps chin and forehead).
BOX_MARGIN = 1.25


@dataclass(frozen=True, eq=False)
class Thumbnails:
    """Aligned face crops of some items of an image dataset.

    Parameters
    ----------
    size : int
        Side of every thumbnail, in pixels.
    images : mapping of str to ndarray of shape (size, size, 3), uint8
        RGB thumbnail of each item (manifest path) that could be cut.
    missing : mapping of str to str
        Why an item has no thumbnail (no kept face in the trace, unreadable image ...).
    """

    size: int
    images: Mapping[str, np.ndarray]
    missing: Mapping[str, str]


def kept_faces(trace: pd.DataFrame, items: Sequence[str]) -> pd.DataFrame:
    """The kept-face row of the traceability table for each of ``items`` that has one.

    Parameters
    ----------
    trace : DataFrame
        Traceability table of an extraction (:data:`analysis.embedding.extract.TRACE_COLUMNS`).
    items : sequence of str
        Manifest paths.

    Returns
    -------
    DataFrame
        One row per item with a kept face, in the order of ``items``.
    """
    kept = trace[trace["kept"].astype(bool)].drop_duplicates("item").set_index("item", drop=False)
    present = [i for i in dict.fromkeys(items) if i in kept.index]
    return kept.loc[present].reset_index(drop=True)


def alignment_points(landmarks: np.ndarray, scheme: str, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Source landmarks and their places on the ArcFace template scaled to ``size``.

    Parameters
    ----------
    landmarks : ndarray of shape (5, 2)
        The trace's landmarks (original-image pixels); NaN when the detector gave none.
    scheme : str
        The trace's ``landmark_scheme``: ``arcface5...`` (eye centres, nose tip, mouth
        corners) or ``dlib5`` (corners of each eye, base of the nose).
    size : int

    Returns
    -------
    (src, dst) or None
        None when the landmarks are missing or of an unknown scheme.
    """
    lmk = np.asarray(landmarks, np.float64).reshape(5, 2)
    if not np.isfinite(lmk).all():
        return None
    template = ARCFACE_TEMPLATE.astype(np.float64) * (size / 112.0)
    if scheme.startswith("arcface5"):
        return lmk, template
    if scheme == "dlib5":
        eyes = np.stack([lmk[0:2].mean(0), lmk[2:4].mean(0)])
        eyes = eyes[np.argsort(eyes[:, 0], kind="stable")]  # image-left eye first, whatever dlib's order
        return np.vstack([eyes, lmk[4:5]]), template[:3]
    return None


def crop_matrix(box: np.ndarray, landmarks: np.ndarray, scheme: str, size: int) -> np.ndarray:
    """2x3 affine matrix from original-image pixels to the thumbnail.

    A similarity transform onto the ArcFace template when the landmarks allow it, else a
    square of ``BOX_MARGIN`` times the box's longer side, centred on the box.
    """
    points = alignment_points(landmarks, scheme, size)
    if points is not None:
        try:
            return estimate_similarity(*points)
        except ValueError:
            pass  # degenerate landmarks: fall back on the box
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1, 1.0) * BOX_MARGIN
    s = size / side
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([[s, 0.0, size / 2 - s * cx], [0.0, s, size / 2 - s * cy]])


def cut_thumbnail(bgr: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Apply ``matrix`` to a BGR image; returns a ``(size, size, 3)`` RGB uint8 crop.

    Large reductions first shrink the image with area averaging: ``warpAffine`` samples with
    bilinear weights only, which aliases when a big face becomes a small thumbnail.
    """
    import cv2

    matrix = np.asarray(matrix, np.float64).copy()
    scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
    if scale < 0.5:
        h, w = bgr.shape[:2]
        sw, sh = max(1, round(w * 2 * scale)), max(1, round(h * 2 * scale))
        bgr = cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_AREA)
        matrix[:, 0] *= w / sw
        matrix[:, 1] *= h / sh
    crop = cv2.warpAffine(bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))
    return np.ascontiguousarray(crop[:, :, ::-1])


def _row_geometry(row) -> tuple[np.ndarray, np.ndarray, str]:
    box = np.array([row["x1"], row["y1"], row["x2"], row["y2"]], np.float64)
    lmk = np.array([[row[f"lx{i}"], row[f"ly{i}"]] for i in range(5)], np.float64)
    return box, lmk, str(row["landmark_scheme"])


def _one(root: Path, row, size: int, max_pixels: int) -> tuple[str, np.ndarray | None, str]:
    item = str(row["item"])
    try:
        img = decode_file(root / item, target_side=None, max_pixels=max_pixels)
    except ImageSkip as skip:
        return item, None, skip.reason
    try:
        box, lmk, scheme = _row_geometry(row)
        # Trace coordinates are in original (oriented) pixels; the decoded image may be smaller.
        matrix = crop_matrix(box * img.scale, lmk * img.scale, scheme, size)
        return item, cut_thumbnail(img.bgr, matrix, size), ""
    except Exception as exc:  # noqa: BLE001 - one odd face must not stop the report
        return item, None, f"crop failed: {type(exc).__name__}: {exc}"


def load_thumbnails(root: Path, trace: pd.DataFrame, items: Sequence[str], size: int = 112,
                    max_pixels: int = DEFAULT_MAX_PIXELS, threads: int = 4) -> Thumbnails:
    """Cut the aligned thumbnail of the kept face of each item.

    Parameters
    ----------
    root : Path
        Folder the items (manifest paths) are relative to.
    trace : DataFrame
        The extraction's traceability table (boxes and landmarks of the kept faces).
    items : sequence of str
    size : int, default=112
    max_pixels : int, default=DEFAULT_MAX_PIXELS
        Decompression bomb guard, as in extraction.
    threads : int, default=4
        Images decoded at once (OpenCV releases the GIL).

    Returns
    -------
    Thumbnails
        Keyed by item; the result does not depend on ``threads``.
    """
    faces = kept_faces(trace, items)
    missing = {i: "no kept face in the traceability table" for i in dict.fromkeys(items) if i not in set(faces["item"])}
    rows = [r for _, r in faces.iterrows()]
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="thumbs") as pool:
        done = list(pool.map(lambda r: _one(Path(root), r, size, max_pixels), rows))
    images = {item: img for item, img, _ in done if img is not None}
    missing.update({item: reason for item, img, reason in done if img is None})
    return Thumbnails(size, dict(sorted(images.items())), dict(sorted(missing.items())))
