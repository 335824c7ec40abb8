"""Photos and detections for the detection-overlay pages (``[study] galleries = true`` only).

The overlay page draws, on a sample of an image dataset's photos, every candidate face of the
extraction's traceability table (:data:`analysis.embedding.face_worker.TRACE_COLUMNS`): box,
score, five landmarks and status (kept, a valid face not chosen, low score, too small). This
module reads what that needs and nothing more:

* :func:`photo_facts`: per photo, how many valid, rejected and kept faces its trace rows hold
  (what :mod:`analysis.statistics.detection_sample` stratifies on);
* :func:`photo_detections`: the trace rows of some photos, one per candidate face;
* :func:`load_photos`: the photos, decoded as in extraction (EXIF orientation, bomb guard) and
  shrunk to a long side of ``max_side`` pixels with area averaging; ``scale`` maps trace pixels
  (original, oriented) to the shrunk photo.

Reading never raises for one bad photo: it is listed in :attr:`Photos.missing` with the reason.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.embedding.face_worker import EXTRA_FACE
from analysis.embedding.faces import KEPT, LOW_SCORE, OTHER_FACE, TOO_SMALL
from analysis.embedding.images import DEFAULT_MAX_PIXELS, ImageSkip, decode_file

#: Bumped when a change here changes the pixels of an overlay photo.
OVERLAY_VERSION = "1"
VALID = (KEPT, EXTRA_FACE, OTHER_FACE)
REJECTED = (LOW_SCORE, TOO_SMALL)
#: Trace columns an overlay draws.
DETECTION_COLUMNS = ("item", "face_index", "status", "kept", "score", "x1", "y1", "x2", "y2",
                     *(f"{axis}{i}" for i in range(5) for axis in ("lx", "ly")))


def photo_facts(trace: pd.DataFrame) -> pd.DataFrame:
    """One row per photo of ``trace``: ``item``, ``n_valid``, ``n_rejected``, ``n_kept`` (sorted by item)."""
    status = trace["status"].astype(str)
    faces = trace["face_index"].astype(np.int64) >= 0
    frame = pd.DataFrame({
        "item": trace["item"].astype(str),
        "n_valid": (faces & status.isin(VALID)).astype(np.int64),
        "n_rejected": (faces & status.isin(REJECTED)).astype(np.int64),
        "n_kept": (faces & trace["kept"].astype(bool)).astype(np.int64),
    })
    return frame.groupby("item", sort=True).sum().reset_index()


def photo_detections(trace: pd.DataFrame, items: Sequence[str]) -> pd.DataFrame:
    """Every candidate face (``face_index >= 0``) of ``items``, by item then face index."""
    rows = trace[trace["item"].astype(str).isin(set(map(str, items))) & (trace["face_index"].astype(np.int64) >= 0)]
    cols = [c for c in DETECTION_COLUMNS if c in rows.columns]
    out = rows[cols].copy()
    out["item"] = out["item"].astype(str)
    return out.sort_values(["item", "face_index"], kind="mergesort").reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class Photos:
    """Shrunk RGB photos of some items, with the factor from trace pixels to photo pixels.

    Parameters
    ----------
    images : mapping of str to ndarray of shape (h, w, 3), uint8
    scale : mapping of str to float
        Multiply a trace coordinate by it to get a pixel of ``images[item]``.
    missing : mapping of str to str
        Why an item could not be read.
    """

    images: Mapping[str, np.ndarray]
    scale: Mapping[str, float]
    missing: Mapping[str, str]


def _one(root: Path, item: str, max_side: int, max_pixels: int):
    import cv2

    try:
        img = decode_file(root / item, target_side=max_side, max_pixels=max_pixels)
    except ImageSkip as skip:
        return item, None, 0.0, skip.reason
    except OSError as exc:
        return item, None, 0.0, f"unreadable: {exc.strerror or exc}"
    h, w = img.bgr.shape[:2]
    shrink = min(1.0, max_side / max(h, w))
    bgr = img.bgr
    if shrink < 1.0:
        bgr = cv2.resize(bgr, (max(1, round(w * shrink)), max(1, round(h * shrink))), interpolation=cv2.INTER_AREA)
    # img.scale maps original pixels to the decoded image; the shrink maps those to this one.
    scale = img.scale * bgr.shape[1] / w
    return item, np.ascontiguousarray(bgr[:, :, ::-1]), float(scale), ""


def load_photos(root: Path, items: Sequence[str], max_side: int = 600, max_pixels: int = DEFAULT_MAX_PIXELS,
                threads: int = 4) -> Photos:
    """Decode and shrink ``items`` (paths relative to ``root``); see the module docstring."""
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="overlay") as pool:
        done = list(pool.map(lambda i: _one(Path(root), str(i), max_side, max_pixels), list(dict.fromkeys(items))))
    images = {i: im for i, im, _, _ in done if im is not None}
    scale = {i: s for i, im, s, _ in done if im is not None}
    missing = {i: why for i, im, _, why in done if im is None}
    return Photos(dict(sorted(images.items())), dict(sorted(scale.items())), dict(sorted(missing.items())))
