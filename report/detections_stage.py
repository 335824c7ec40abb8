"""Study stage of the detection-overlay pages (``[study] galleries = true``, image datasets only).

Per image dataset: a seeded, stratified sample of its photos
(:func:`analysis.statistics.detection_sample.choose_photos`, drawn on the first network's
trace), the photos decoded and shrunk once (cached like the gallery thumbnails, keyed by the
extraction that read them, not by the folder), and for every network the candidate faces its
detector reported on them. Datasets without photos (synthetic, precomputed embeddings) get no
page; the galleries' note on the Overview page already says why.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from analysis.statistics.detection_sample import DetectionSampleParams, PhotoChoice, choose_photos


@dataclass(frozen=True, eq=False)
class NetworkDetections:
    """What one network's detector found on the sampled photos."""

    network: str
    detector: str
    rows: pd.DataFrame  # analysis.embedding.overlay_photos.photo_detections of the sample
    min_score: float
    min_face_px: float


@dataclass(frozen=True, eq=False)
class DatasetDetections:
    """The detection-overlay page's data of one image dataset."""

    dataset: str
    choice: PhotoChoice
    photos: Any  # analysis.embedding.overlay_photos.Photos
    networks: tuple[NetworkDetections, ...]
    params: DetectionSampleParams


def _load(root: Path, items: tuple[str, ...], max_side: int, source_key: str, version: str):
    """Cached body of :func:`add_detections`; the cache ignores ``root``."""
    from analysis.embedding.overlay_photos import load_photos

    return load_photos(root, items, max_side=max_side)


def add_detections(config, results, build):
    """``results`` with the detection overlays of every image dataset."""
    from analysis.embedding.overlay_photos import OVERLAY_VERSION, photo_detections, photo_facts

    params = DetectionSampleParams()
    load = joblib.Memory(Path(config.study.cache_dir) / "galleries", verbose=0).cache(_load, ignore=["root"])
    found = {}
    for inp in results.inputs:
        traces = {net: t for net, t in sorted(inp.trace.items()) if len(t)}
        if inp.family != "images" or inp.image_root is None or not traces:
            continue
        first = next(iter(traces))
        facts = photo_facts(traces[first])
        choice = choose_photos(facts["item"], facts["n_valid"], facts["n_rejected"], facts["n_kept"], params,
                               random_state=config.study.seed)
        args = (inp.image_root, choice.items, params.max_side,
                str(inp.embeddings[first].meta.get("extraction_key", "")), OVERLAY_VERSION)
        hit = load.check_call_in_cache(*args)
        photos = load(*args)
        build.record(f"detections {inp.spec.name}", hit)
        ext = config.extraction
        networks = []
        for net, trace in traces.items():
            detector = str(inp.embeddings[net].meta.get("detector", "")) if net in inp.embeddings else ""
            min_score = ext.dlib_min_score if detector.startswith("dlib") else ext.min_score
            networks.append(NetworkDetections(net, detector, photo_detections(trace, choice.items), float(min_score),
                                              float(ext.min_face_px)))
        found[inp.spec.name] = DatasetDetections(inp.spec.name, choice, photos, tuple(networks), params)
    return dataclasses.replace(results, detections=found)
