"""What the site publishes of the embeddings, and the words the pages use to say so.

Embedding vectors are biometric templates: with ``[study] publish_vectors = false`` (the
default) no vector reaches the site, its zip or the paper, only what the maps and tables are
made of (2-D coordinates, identities, items, clusters, audit flags, scores and group columns). With ``true``
each (dataset, network) gets one vectors file (every row once; subsets select rows of it) and
one TensorBoard Projector pair (:mod:`report.exports`). Recogniser models (``models/``) and
review folders stay beside the outputs in either case, never in the site.
"""
from __future__ import annotations

import numpy as np

from report.exports import VectorSet, projector_files, vectors_file
from report.model import Code, Explorer, P

WHY = ("Face embeddings are biometric templates (like the recogniser centroids, which never reach the site), and "
       "datasets such as FRGC forbid redistributing derived biometric data.")


def published_paragraph(publish_vectors: bool, galleries: bool = False) -> P:
    """One paragraph: what of the embeddings (and faces) this site publishes, and why."""
    faces = (" Face images appear only in the figures of the gallery and detection pages (galleries = true), never as "
             "files to download." if galleries else " No face image is published.")
    if publish_vectors:
        return P("The config sets ", Code("publish_vectors = true"), ": each (dataset, network) has one vectors file (every "
                 "embedding once, raw float32; a subset's rows are the ", Code("row"), " column of its cell files, never a "
                 "copy) and one TensorBoard Projector pair for its explorer's points. " + WHY + " Publish this site only "
                 "if you may redistribute them. Recogniser models and review folders are never published." + faces)
    return P("No embedding vector is published: the site and its zip carry the 2-D coordinates, identities, items, "
             "clusters, audit flags, scores and group columns (where the study has them) of each cell, not the vectors. " + WHY + " Set ",
             Code("[study] publish_vectors = true"), " to publish one vectors file per (dataset, network). Recogniser "
             "models and review folders are never published." + faces)


def vector_sets(results, pages) -> list[VectorSet]:
    """The (dataset, network) vector sets to publish (empty unless ``publish_vectors = true``)."""
    if not getattr(results.config.study, "publish_vectors", False):
        return []
    from analysis.statistics.subsets import parse_subset, select_subset

    explorers = {b.source: b for page in pages for b in page.blocks() if isinstance(b, Explorer)}
    seed = results.config.study.seed
    out = []
    for inp in results.inputs:
        for net, emb in sorted(inp.embeddings.items()):
            position = {item: i for i, item in enumerate(emb.items.tolist())}
            subsets, first = {}, None
            for subset in results.config.subsets:
                part = select_subset(emb, parse_subset(subset), random_state=seed)
                subsets[subset] = np.array([position[i] for i in part.items.tolist()], dtype=np.int64)
                if first is None:
                    first = explorers.get((inp.spec.name, net, subset))
            out.append(VectorSet(inp.spec.name, net, emb.vectors, emb.identities, emb.items, first, subsets))
    return out


def vector_links(sets: list[VectorSet]) -> list[tuple[str, str]]:
    """Downloads entries of the published vectors files."""
    links = []
    for v in sets:
        links.append((f"Vectors: {v.dataset} / {v.network}, every embedding (Parquet)", vectors_file(v.dataset, v.network)))
        if v.explorer is not None:
            vec, meta = projector_files(v.dataset, v.network)
            links += [(f"TensorBoard Projector: {v.dataset} / {v.network}, vectors of the explorer's points (TSV)", vec),
                      (f"TensorBoard Projector: {v.dataset} / {v.network}, metadata (TSV)", meta)]
    return links
