"""Synthetic unlabelled photo collections for the naming stage (no image, no network: a second each).

A photo is ``(path, person)``, ``(path, person, shot)`` or ``(path, [(person, shot), ...])`` for a
group photo. A face's vector depends on ``(person, shot)`` only, and a photo's content hash on its
faces only, so the same shot under another path is a renamed photo (same content, same faces).
People are well apart (12 seeded centres in 16 dimensions, spread 0.12), so KMeans finds them.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.embedding.datasets import UNLABELLED
from analysis.types import EmbeddingSet

CENTRES = np.random.default_rng(42).normal(size=(12, 16))


def _faces_of(photo) -> list[tuple[int, str]]:
    path, who = photo[0], photo[1]
    if isinstance(who, (list, tuple)):
        return [(int(p), str(s)) for p, s in who]
    return [(int(who), str(photo[2]) if len(photo) > 2 else path)]


def face_world(photos) -> tuple[EmbeddingSet, pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Embeddings, manifest frame, trace and ``item -> person`` of ``photos`` (see module docstring)."""
    x, items, manifest, trace, truth = [], [], [], [], {}
    for photo in photos:
        path, faces = photo[0], _faces_of(photo)
        content = "|".join(f"{p}/{s}" for p, s in faces)
        manifest.append((path, UNLABELLED, hashlib.sha256(content.encode()).hexdigest(), 100))
        for k, (person, shot) in enumerate(faces):
            seed = int(hashlib.sha256(f"{person}/{shot}".encode()).hexdigest()[:8], 16)
            x.append(CENTRES[person] + 0.12 * np.random.default_rng(seed).normal(size=CENTRES.shape[1]))
            items.append(f"{path}#{k}")
            truth[f"{path}#{k}"] = person
            trace.append({"item": path, "face_index": k, "kept": True, "status": "kept",
                          "x1": 10.0 + 100 * k, "y1": 10.0, "x2": 70.0 + 100 * k, "y2": 80.0})
    emb = EmbeddingSet("d", "net", np.array(x, np.float32), np.full(len(x), UNLABELLED), np.array(items))
    frame = pd.DataFrame(manifest, columns=["path", "identity", "sha256", "bytes"]).sort_values("path")
    return emb, frame.reset_index(drop=True), pd.DataFrame(trace), truth


def run_naming(folder: Path, photos, names: str | None = None, params=None, output_dir: Path | None = None,
               names_file: str = "names.csv"):
    """The naming stage on ``photos`` with ``folder/names.csv`` (written from ``names`` when given)."""
    from analysis.statistics.discovery import DiscoveryParams
    from report.naming import name_clusters

    path = Path(folder) / names_file
    if names is not None:
        path.write_text(names, encoding="utf-8")
    emb, manifest, trace, _ = face_world(photos)
    return name_clusters({"net": emb}, path, params or DiscoveryParams(), 0, Path(folder) / "cache", dataset="d",
                         manifest=manifest, traces={"net": trace}, output_dir=output_dir, networks=["net"],
                         junk_labels=("unknown",))


def discovered(photos, params=None) -> dict[str, int]:
    """``item -> discovered cluster`` of a discovery build of ``photos``."""
    from analysis.statistics.discovery import DiscoveryParams, analyze_discovery

    emb, *_ = face_world(photos)
    found = analyze_discovery(emb, params or DiscoveryParams(), 0)
    return dict(zip(found.items, found.clusters.tolist()))


def names_for(photos, people: dict[int, str], params=None) -> str:
    """The names file a user writes after a discovery build of ``photos``: each cluster named after its majority person."""
    _, _, _, truth = face_world(photos)
    clusters = discovered(photos, params)
    by_cluster: dict[int, list[int]] = {}
    for item, c in clusters.items():
        by_cluster.setdefault(c, []).append(truth[item])
    rows = [f"{c},{people[max(set(v), key=v.count)]}" for c, v in sorted(by_cluster.items())
            if max(set(v), key=v.count) in people]
    return "cluster,name\n" + "\n".join(rows) + "\n"


def singles(person: int, n: int, prefix: str = "p", start: int = 0) -> list[tuple[str, int, str]]:
    """``n`` single-face photos of ``person``, named ``<prefix>-<person>-<i>.jpg``, shots ``s<i>``."""
    return [(f"{prefix}-{person}-{i:02d}.jpg", person, f"s{i}") for i in range(start, start + n)]
