"""Study stage of the explorer: the nearest neighbours of every mapped point, cached by content.

Runs after the analyses (it needs the manifold analysis' sample of each cell) and before the
page model; the search itself is the pure :func:`analysis.statistics.neighbours.nearest_neighbours`.
Cached in the analysis cache on the mapped rows' vectors and ``k``, so a rebuild with nothing
changed only hashes them.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import joblib
import numpy as np

from analysis.statistics.neighbours import NeighbourParams, nearest_neighbours
from analysis.statistics.subsets import parse_subset, select_subset

#: Neighbours listed for a clicked point.
EXPLORER_NEIGHBOURS = 10


def _neighbours(x: np.ndarray, k: int):
    """Cached body of :func:`add_neighbours` (joblib keys it on ``x``, ``k`` and this code)."""
    return nearest_neighbours(x, NeighbourParams(k=k))


def add_neighbours(config, results, build):
    """``results`` with the explorer neighbours of every cell that has a manifold result."""
    cached = joblib.Memory(Path(config.study.cache_dir) / "analyses", verbose=0).cache(_neighbours)
    seed = config.study.seed
    found = {}
    manifold = results.cell_results.get("manifold", {})
    for cell in results.cells:
        m = manifold.get(cell)
        if m is None:
            continue
        inp = next(i for i in results.inputs if i.spec.name == cell.dataset)
        part = select_subset(inp.embeddings[cell.network], parse_subset(cell.subset), random_state=seed)
        x = np.ascontiguousarray(part.vectors[m.sample_index], dtype=np.float32)
        hit = cached.check_call_in_cache(x, EXPLORER_NEIGHBOURS)
        found[cell] = cached(x, EXPLORER_NEIGHBOURS)
        build.record(f"neighbours {cell.dataset}/{cell.network}/{cell.subset}", hit)
    return dataclasses.replace(results, neighbours=found)
