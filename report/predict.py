"""``build_report.py predict``: who is in new photos, with a recogniser exported by a study build.

    python build_report.py predict --model out/models/archive-dlib --output who.csv photos/ new.jpg

Every face of every photo (folders are searched recursively) is detected and aligned with the
study's own detector and settings (``face_selection = "all"``), embedded with the study's network,
and named by the recogniser (:func:`analysis.statistics.recognizer.predict_identities`):
``unknown`` when its similarity to the predicted identity is below the threshold calibrated on
the study's impostor distribution. The CSV has one row per face: ``original_file, face_index,
x1, y1, x2, y2, identity, confidence``; a photo without a usable face gets one row with
``face_index = -1`` and the reason as its identity.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.statistics.recognizer import predict_identities

PREDICT_COLUMNS = ["original_file", "face_index", "x1", "y1", "x2", "y2", "identity", "confidence"]


def list_photos(paths: list[Path]) -> list[Path]:
    """Image files of ``paths`` (files as given, folders searched recursively), sorted, without duplicates."""
    from analysis.embedding.images import IMAGE_EXTENSIONS

    exts = {e.lower() for e in IMAGE_EXTENSIONS}
    found: set[Path] = set()
    for p in map(Path, paths):
        if p.is_dir():
            found.update(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in exts
                         and not any(part.startswith(".") for part in f.relative_to(p).parts))
        elif p.is_file():
            found.add(p)
        else:
            raise FileNotFoundError(f"{str(p)!r} is neither a photo nor a folder")
    return sorted(found, key=lambda f: str(f))


def _pipeline(doc: dict):
    """Network options and extraction params of the study, rebuilt from the recogniser's JSON."""
    from analysis.config import build_dataclass
    from analysis.embedding import networks
    from analysis.embedding.extraction_params import ExtractionParams

    net = build_dataclass(networks.options_type(doc["network_kind"]), doc["network_options"], "recognizer network")
    params = build_dataclass(ExtractionParams, doc["extraction"], "recognizer extraction")
    return net, dataclasses.replace(params, face_selection="all", save_aligned=False)


def predict_photos(model_dir: Path, photos: list[Path]) -> pd.DataFrame:
    """One row per face of ``photos`` (see module docstring)."""
    from analysis.embedding import devices as dev
    from analysis.embedding.extraction_params import resolve_detector
    from analysis.embedding.face_worker import _Job, _Worker
    from report.recognizer_files import read_recognizer

    rec, doc = read_recognizer(model_dir)
    files = list_photos(photos)
    if not files:
        return pd.DataFrame(columns=PREDICT_COLUMNS)
    net_options, params = _pipeline(doc)
    paths = tuple(str(f.resolve()) for f in files)  # absolute: the job root "/" joins them unchanged
    job = _Job("/", paths, ((0, len(paths)),), "", None, net_options, resolve_detector(params, net_options), params)
    device = dev.plan_devices(params.devices)[0]
    worker = _Worker(job, device, 0 if device.is_cuda else dev.cpu_count())
    try:
        vectors, trace = worker.process((0, len(paths)))
    finally:
        worker.close()
    if vectors.shape[0] and vectors.shape[1] != int(doc["embedding_dims"]):
        raise ValueError(f"the network gives {vectors.shape[1]}-D vectors, the recogniser expects {doc['embedding_dims']}")
    names, confidence = predict_identities(rec, vectors)
    shown = {p: str(f) for p, f in zip(paths, files)}
    kept = trace[trace["kept"].astype(bool)]
    rows = [{"original_file": shown[str(r.item)], "face_index": int(r.face_index), "x1": float(r.x1), "y1": float(r.y1),
             "x2": float(r.x2), "y2": float(r.y2), "identity": names[i], "confidence": float(confidence[i])}
            for i, r in enumerate(kept.itertuples())]
    faceless = trace[trace["face_index"] < 0]
    rows += [{"original_file": shown[str(r.item)], "face_index": -1, "x1": np.nan, "y1": np.nan, "x2": np.nan,
              "y2": np.nan, "identity": str(r.status), "confidence": np.nan}
             for r in faceless.itertuples() if str(r.item) not in set(kept["item"].astype(str))]
    out = pd.DataFrame(rows, columns=PREDICT_COLUMNS)
    return out.sort_values(["original_file", "face_index"], kind="mergesort").reset_index(drop=True)
