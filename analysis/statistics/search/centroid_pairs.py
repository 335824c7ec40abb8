"""Identity-centroid comparisons that stay within memory when there are tens of thousands of identities.

The similarity and geometry analyses keep ``k x k`` centroid matrices for their heatmaps and pair
distributions: 12.8 GB per float64 matrix at 40,000 identities (a million images). Above
``matrix_max_identities`` identities the matrices cover a seeded sample of identities
(:func:`matrix_identities`; the pages say so), while every identity's nearest other centroid is
still found exactly among *all* identities, by blocks of centroids
(:func:`nearest_other_centroids`, ``O(k^2 d)`` time, ``O(block x k)`` memory).
"""
from __future__ import annotations

import numpy as np

from analysis.types import l2_normalize


def matrix_identities(k: int, max_identities: int, random_state: int) -> np.ndarray | None:
    """Sorted seeded sample of ``max_identities`` identity codes, or None when all ``k`` fit."""
    if k <= max_identities:
        return None
    return np.sort(np.random.default_rng([random_state, 0xCE17]).choice(k, size=max_identities, replace=False))


def nearest_other_centroids(centroids: np.ndarray, exclude: np.ndarray | None = None, block: int = 1024,
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every centroid, the most cosine-similar other one (exact, all pairs by blocks).

    Parameters
    ----------
    centroids : ndarray of shape (k, d)
    exclude : ndarray of bool, shape (k,), optional
        Centroids never chosen as a neighbour (junk labels).

    Returns
    -------
    neighbor, cosine, distance : ndarrays of shape (k,)
        Index of the nearest other centroid, its cosine and the Euclidean distance between the two.
    """
    c = np.asarray(centroids, dtype=np.float64)
    unit = l2_normalize(c).astype(np.float64)
    unit32 = unit.astype(np.float32)
    k = len(c)
    neighbor = np.zeros(k, dtype=np.int64)
    for start in range(0, k, block):
        stop = min(k, start + block)
        # float32 products (twice as fast) for the two best, then the better of them in float64.
        sim = unit32[start:stop] @ unit32.T
        sim[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        if exclude is not None:
            sim[:, exclude] = -np.inf
        two = np.argpartition(-sim, 1, axis=1)[:, :2] if k > 2 else np.argsort(-sim, axis=1)[:, :2]
        exact = np.einsum("ij,ikj->ik", unit[start:stop], unit[two])
        exact[np.take_along_axis(sim, two, axis=1) == -np.inf] = -np.inf
        neighbor[start:stop] = np.take_along_axis(two, np.argmax(exact, axis=1)[:, None], axis=1)[:, 0]
    cosine = np.clip(np.einsum("ij,ij->i", unit, unit[neighbor]), -1.0, 1.0)
    distance = np.linalg.norm(c - c[neighbor], axis=1)
    return neighbor, cosine, distance


def paired_cosine_distance(centroids: np.ndarray, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine and Euclidean distance of the centroid pairs ``(first[i], second[i])``."""
    c = np.asarray(centroids, dtype=np.float64)
    unit = l2_normalize(c).astype(np.float64)
    cosine = np.clip(np.einsum("ij,ij->i", unit[first], unit[second]), -1.0, 1.0)
    return cosine, np.linalg.norm(c[first] - c[second], axis=1)
