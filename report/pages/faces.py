"""Face-level downloads of the Data page: the traceability CSV and the discovered clusters CSV.

* :func:`face_trace_frame`: every detected face of an image dataset with the columns of the
  hand workflow's log (``aligned_file, original_file, face_index, x1, y1, x2, y2,
  confidence``), its status, the five landmarks and the row of its embedding (``-1`` when the
  face was not embedded);
* :func:`clusters_frame`: every face of an unlabelled dataset with its discovered cluster
  (``original_file, face_index, cluster``, score, box, silhouette), the input of naming.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from analysis.embedding.face_worker import LANDMARK_COLUMNS
from analysis.embedding.faces import KEPT
from analysis.statistics.discovery import DiscoveryResult, face_index_of, photo_of
from analysis.types import EmbeddingSet
from report.escape import slugify
from report.model import P, Section, Table

TRACE_COLUMNS = ["aligned_file", "original_file", "face_index", "x1", "y1", "x2", "y2", "confidence", "status",
                 *LANDMARK_COLUMNS, "embedding_row"]
CLUSTER_COLUMNS = ["original_file", "face_index", "cluster", "score", "x1", "y1", "x2", "y2", "silhouette"]


def face_trace_frame(trace: pd.DataFrame, emb: EmbeddingSet) -> pd.DataFrame:
    """Every detected face (rows with ``face_index >= 0``) with the row of its embedding in ``emb``."""
    faces = trace[trace["face_index"] >= 0]
    row_of = {str(item): i for i, item in enumerate(emb.items)}
    rows = []
    for item, k, status in zip(faces["item"].astype(str), faces["face_index"].astype(int), faces["status"].astype(str)):
        # face_selection = "all" names faces "<path>#<k>"; one face per image names them by path
        rows.append(row_of.get(f"{item}#{k}", row_of.get(item, -1) if status == KEPT else -1))
    out = pd.DataFrame({
        "aligned_file": faces["aligned_file"].astype(str).to_numpy(),
        "original_file": faces["item"].astype(str).to_numpy(),
        "face_index": faces["face_index"].astype(int).to_numpy(),
        **{c: faces[c].to_numpy(dtype=float) for c in ("x1", "y1", "x2", "y2")},
        "confidence": faces["score"].to_numpy(dtype=float),
        "status": faces["status"].astype(str).to_numpy(),
        **{c: faces[c].to_numpy(dtype=float) for c in LANDMARK_COLUMNS},
        "embedding_row": np.asarray(rows, dtype=np.int64),
    }, columns=TRACE_COLUMNS)
    return out.reset_index(drop=True)


def clusters_frame(result: DiscoveryResult, trace: pd.DataFrame) -> pd.DataFrame:
    """Every clustered face with its cluster, detector score, box and silhouette (sorted by file, face)."""
    faces = trace[trace["face_index"] >= 0].set_index(["item", "face_index"])
    keys = [(photo_of(i), face_index_of(i)) for i in result.items]
    found = faces.reindex(keys)
    out = pd.DataFrame({
        "original_file": [k[0] for k in keys],
        "face_index": np.array([k[1] for k in keys], dtype=np.int64),
        "cluster": result.clusters.astype(np.int64),
        "score": found["score"].to_numpy(dtype=float),
        **{c: found[c].to_numpy(dtype=float) for c in ("x1", "y1", "x2", "y2")},
        "silhouette": result.silhouettes,
    }, columns=CLUSTER_COLUMNS)
    return out.sort_values(["original_file", "face_index"], kind="mergesort").reset_index(drop=True)


def face_sections(inp, key: str, discovery: Mapping[str, DiscoveryResult]) -> list[Section]:
    """Data-page sections of an image dataset: face traceability per network, clusters when discovered."""
    sections = []
    for net, trace in sorted(inp.trace.items()):
        if not len(trace) or net not in inp.embeddings:
            continue
        blocks = [
            P("Every detected face: the original file, face index, box and confidence of the detector, the five "
              "landmarks, its status and the row of its embedding (-1: not embedded). The full table is the CSV."),
            Table(f"{key}-{slugify(net)}-faces", f"Traceability of every face of dataset {inp.spec.name} for network {net}.",
                  face_trace_frame(trace, inp.embeddings[net]), max_rows=10,
                  formats={c: ".1f" for c in ("x1", "y1", "x2", "y2", *LANDMARK_COLUMNS)}),
        ]
        if net in discovery:
            blocks += [
                P("Every face with its discovered cluster: copy the CSV, write a name per cluster, and set ",
                  "names_file in the dataset config (see the Identity discovery page)."),
                Table(f"{key}-{slugify(net)}-clusters", f"Discovered cluster of every face of dataset {inp.spec.name} "
                      f"for network {net}.", clusters_frame(discovery[net], trace), max_rows=10,
                      formats={"score": ".3f", "silhouette": ".3f", **{c: ".1f" for c in ("x1", "y1", "x2", "y2")}}),
            ]
        sections.append(Section(f"Faces: {net}", tuple(blocks)))
    return sections
