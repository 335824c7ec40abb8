"""The naming stage of the pipeline: an unlabelled dataset's faces labelled by the user's names file.

:func:`name_clusters` runs between extraction and the analyses (:func:`report.study.load_inputs`).
It re-derives the discovered clusters exactly as the first build's identity discovery page did
(same embeddings, ``[discovery]`` params and seed, so the same cluster ids; cached), applies the
naming table (:func:`analysis.statistics.naming.apply_names`) and returns labelled embedding
sets: every labelled analysis then runs on them. What was done is returned as
:class:`~analysis.statistics.naming.NamingRecord` objects for the Reproducibility page.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import joblib

from analysis.config import ConfigError
from analysis.embedding.datasets import UNLABELLED, read_names_file
from analysis.embedding.store import stable_hash
from analysis.statistics.discovery import analyze_discovery
from analysis.statistics.naming import NamingRecord, apply_names
from analysis.types import EmbeddingSet


def name_clusters(embeddings: dict[str, EmbeddingSet], names_file: Path, discovery_params, seed: int,
                  cache_dir: Path) -> tuple[dict[str, EmbeddingSet], tuple[NamingRecord, ...]]:
    """Label the faces of every network's embeddings with the names of their discovered clusters.

    Raises
    ------
    ConfigError
        A malformed names file, one naming clusters that were not discovered, or one leaving a
        single identity (the CLI prints it as one ``error:`` line).
    """
    try:
        table = read_names_file(names_file)
    except ValueError as exc:  # a user-edited file: one clear line, not a traceback
        raise ConfigError(str(exc)) from None
    discover = joblib.Memory(Path(cache_dir) / "naming", verbose=0).cache(analyze_discovery)
    named, records = {}, []
    for net, emb in sorted(embeddings.items()):
        if emb.n_samples == 0 or not (emb.identities == UNLABELLED).all():
            named[net] = emb
            continue
        found = discover(emb, discovery_params, seed)
        try:
            identities, keep, record = apply_names(found.clusters, table, net)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if len(set(identities[keep])) < 2:
            raise ConfigError(f"names_file {str(names_file)!r} leaves {len(set(identities[keep]))} identity for network "
                             f"{net!r}; name at least two clusters differently")
        meta = {**dict(emb.meta), "naming": f"{table.source} sha256/24={stable_hash(table.content)[:24]}"}
        named[net] = dataclasses.replace(emb, vectors=emb.vectors[keep], identities=identities[keep],
                                         items=emb.items[keep], meta=meta)
        records.append(record)
    return named, tuple(records)
