"""Tables of each identity's nearest other identity (Similarity page), junk labels left out."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.statistics.verification.similarity import SimilarityResult
from report.pages.junk import is_junk


def nearest_frame(r: SimilarityResult, junk_labels: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per identity: its nearest other identity by centroid cosine, and the margin to its radius.

    Junk labels (``junk_labels``) are neither rows nor candidate neighbours: the nearest other
    identity is searched among real identities in the centroid cosine matrix.
    """
    nn = r.nearest
    junk = is_junk(nn.names, junk_labels)
    neighbor, cosine, distance = nn.neighbor.copy(), nn.cosine.copy(), nn.distance.copy()
    if junk.any() and (~junk).sum() > 1 and getattr(r, "centroids", None) is not None:
        # Matrices of a sample of identities only (large sets): search all centroids, junk excluded.
        from analysis.statistics.search.centroid_pairs import nearest_other_centroids

        neighbor, cosine, distance = nearest_other_centroids(r.centroids, exclude=junk)
    elif junk.any() and (~junk).sum() > 1:
        sim = np.array(r.centroid_cosine, dtype=np.float64)
        sim[:, junk] = -np.inf
        np.fill_diagonal(sim, -np.inf)
        neighbor = np.argmax(sim, axis=1)
        rows = np.arange(len(neighbor))
        cosine = r.centroid_cosine[rows, neighbor]
        distance = r.centroid_euclidean[rows, neighbor]
    frame = pd.DataFrame(
        {
            "identity": nn.names.astype(str),
            "images": nn.count,
            "nearest other identity": nn.names[neighbor].astype(str),
            "centroid cosine": cosine,
            "centroid distance": distance,
            "radius": nn.radius,
            "margin (distance - radius)": distance - nn.radius,
        }
    )
    return frame[~junk].reset_index(drop=True) if (~junk).sum() > 1 else frame


def nearest_extremes_frame(r: SimilarityResult, n: int, junk_labels: tuple[str, ...] = ()) -> pd.DataFrame:
    """The ``n`` identities closest to another one and the ``n`` most isolated."""
    frame = nearest_frame(r, junk_labels).sort_values(["centroid cosine", "identity"], ascending=[False, True], kind="mergesort")
    n = min(n, len(frame))
    top = frame.head(n).assign(rank=[f"closest {i + 1}" for i in range(n)])
    bottom = frame.tail(n).iloc[::-1].assign(rank=[f"most isolated {i + 1}" for i in range(n)])
    out = pd.concat([top, bottom], ignore_index=True)
    return out[["rank", *frame.columns]]
