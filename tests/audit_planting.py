"""Plant label errors into an embedding set, for the audit's calibration tests.

Nothing here is a pytest fixture; tests call these functions on an :class:`EmbeddingSet`.
Every function returns a new set and leaves its input untouched.
"""
from __future__ import annotations

import numpy as np

from analysis.types import EmbeddingSet, l2_normalize

ALIAS = "Zz planted alias"


def relabel(emb: EmbeddingSet, identities: np.ndarray) -> EmbeddingSet:
    """The same vectors and items under new identity labels, marked non-synthetic (no automatic truth)."""
    return EmbeddingSet(emb.dataset, emb.network, emb.vectors, np.asarray(identities).astype(str), emb.items,
                        synthetic=False, meta=emb.meta)


def by_size(emb: EmbeddingSet) -> np.ndarray:
    """Identity names, most images first (ties by name)."""
    names, counts = np.unique(emb.identities, return_counts=True)
    return names[np.lexsort((names, -counts))]


def plant_errors(emb: EmbeddingSet) -> tuple[EmbeddingSet, dict]:
    """Plant one identity under two names, two identities under one name and three swapped pairs.

    Returns the planted set and what was planted: ``alias`` (the pair of names of one person),
    ``mixed`` (the name now holding two people), ``swapped`` (row positions whose label changed).
    """
    order = by_size(emb)
    ids = emb.identities.astype(str).copy()
    # (a) the largest identity: every second image filed under an alias.
    a = order[0]
    rows_a = np.flatnonzero(ids == a)
    ids[rows_a[1::2]] = ALIAS
    # (b) the 2nd and 3rd largest identities under one name.
    b, c = order[1], order[2]
    ids[ids == c] = b
    # (c) three swaps between the 4th and 5th, 6th and 7th, 8th and 9th identities.
    swapped = []
    for p, q in ((order[3], order[4]), (order[5], order[6]), (order[7], order[8])):
        i, j = int(np.flatnonzero(ids == p)[0]), int(np.flatnonzero(ids == q)[0])
        ids[i], ids[j] = q, p
        swapped += [i, j]
    return relabel(emb, ids), {"alias": {a, ALIAS}, "mixed": b, "swapped": np.array(sorted(swapped))}


def dlib_like(emb: EmbeddingSet, impostor_cosine: float = 0.8) -> EmbeddingSet:
    """A view of ``emb`` whose impostor cosines sit near ``impostor_cosine``, like dlib's ResNet.

    Adds one shared direction to every unit vector with the weight that brings the mean cosine
    between two identities' centroids to about ``impostor_cosine``: the cloud becomes a narrow
    cone, as in dlib's space, while the structure inside the cone is kept.
    """
    x = emb.normalized().astype(np.float64)
    rng = np.random.default_rng(0)
    shared = l2_normalize(rng.standard_normal((1, x.shape[1])))[0].astype(np.float64)
    # cos(u + w s, v + w s) ~ (c + w^2) / (1 + w^2) for unit u, v with cosine c ~ 0 and s orthogonal
    w = np.sqrt(impostor_cosine / (1.0 - impostor_cosine))
    y = l2_normalize(x + w * shared).astype(np.float32)
    return EmbeddingSet(emb.dataset, emb.network + "-cone", y, emb.identities, emb.items, synthetic=False, meta=emb.meta)
