"""Across networks: the same images embedded by several networks of one dataset.

Rows are aligned by item id (the intersection of the networks' items, in sorted order), so every
network is measured on exactly the same images. For each network:

* per identity, the leave-one-out kNN accuracy (share of the identity's images whose ``k``
  nearest other images, by cosine, vote for the right identity) and the mean cosine silhouette;
  an identity is *hard* for a network when it falls in the bottom ``hard_fraction`` of that
  network's identities (ranked by kNN accuracy, ties by silhouette). The result separates
  identities hard for every network (probably the data: few, poor or mislabelled images) from
  identities hard for one network only (a weakness of that network);
* the dispersion of each identity (standard deviation of the distances of its unit vectors to
  their centroid, as in :mod:`analysis.statistics.geometry`).

For each pair of networks: the mean Jaccard index of the ``k`` nearest neighbours of every item
(do the networks see the same neighbourhoods?), the Spearman rank correlation of the cosine
similarities of ``n_pairs`` seeded random image pairs (do they rank pairs alike, whatever their
dimension, e.g. 128-D against 512-D?) and the Spearman correlation of per-identity dispersions.

Large datasets are first reduced to a seeded sample of ``max_samples`` aligned items so that the
exact kNN searches (``O(n^2 d)``, chunked by scikit-learn) stay bounded.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Mapping

import numpy as np

from analysis.statistics.audit.image_audit import centroid_scores
from analysis.types import EmbeddingSet, l2_normalize


@dataclass(frozen=True)
class CrossNetworkParams:
    """The ``[crossnet]`` table.

    Parameters
    ----------
    enabled : bool, default=True
    knn_k : int, default=10
        Neighbours of the per-identity kNN accuracy and of the neighbourhood Jaccard index.
    hard_fraction : float, default=0.1
        Share of a network's identities counted as hard for it.
    n_pairs : int, default=20000
        Seeded random image pairs of the similarity rank correlation.
    max_samples : int, default=20000
        Aligned items kept (seeded sample) before the kNN searches.
    """

    enabled: bool = True
    knn_k: int = 10
    hard_fraction: float = 0.1
    n_pairs: int = 20000
    max_samples: int = 20000

    def __post_init__(self) -> None:
        if self.knn_k < 1:
            raise ValueError(f"knn_k must be at least 1, got {self.knn_k}")
        if not 0 < self.hard_fraction < 1:
            raise ValueError(f"hard_fraction must be in (0, 1), got {self.hard_fraction}")
        if self.n_pairs < 10 or self.max_samples < 10:
            raise ValueError("n_pairs and max_samples must be at least 10")


@dataclass(frozen=True, eq=False)
class NetworkIdentityScores:
    """Per-identity scores of one network, arrays aligned with :attr:`CrossNetworkResult.names`."""

    network: str
    n_dims: int
    knn_accuracy: np.ndarray  # NaN for single-image identities
    silhouette: np.ndarray
    dispersion: np.ndarray
    hard: np.ndarray  # bool
    mean_knn_accuracy: float  # over images


@dataclass(frozen=True, eq=False)
class NetworkPair:
    """Agreement of two networks on the aligned items."""

    first: str
    second: str
    neighbour_jaccard: float  # mean over items of |kNN_a & kNN_b| / |kNN_a | kNN_b|
    similarity_spearman: float  # over sampled image pairs
    dispersion_spearman: float  # over identities


@dataclass(frozen=True, eq=False)
class CrossNetworkResult:
    """Result of :func:`analyze_crossnet`.

    Attributes
    ----------
    dataset : str
    networks : tuple of str
        Sorted network names.
    n_items : int
        Aligned items used (after the intersection and the ``max_samples`` cap).
    n_intersection : int
        Items common to every network before the cap.
    n_items_per_network : tuple of int
        Items of each network before alignment.
    names : ndarray of shape (n_identities,)
        Sorted identity names of the aligned items.
    counts : ndarray of shape (n_identities,)
        Aligned images per identity.
    per_network : tuple of NetworkIdentityScores
    pairs : tuple of NetworkPair
        Empty with a single network.
    hard_for_all, hard_for_one : ndarray of bool, shape (n_identities,)
        Hard for every network / for exactly one network (only with 2 or more networks).
    skipped : tuple of str
        Why a part was not computed (e.g. a single network: nothing to compare).
    params : CrossNetworkParams
    """

    dataset: str
    networks: tuple[str, ...]
    n_items: int
    n_intersection: int
    n_items_per_network: tuple[int, ...]
    names: np.ndarray
    counts: np.ndarray
    per_network: tuple[NetworkIdentityScores, ...]
    pairs: tuple[NetworkPair, ...]
    hard_for_all: np.ndarray
    hard_for_one: np.ndarray
    skipped: tuple[str, ...]
    params: CrossNetworkParams

    @property
    def comparable(self) -> bool:
        """Whether there are at least two networks to compare."""
        return len(self.networks) >= 2


def align(embs: Mapping[str, EmbeddingSet]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Rows of every network aligned on their common items.

    Returns
    -------
    items : ndarray of shape (m,)
        Sorted common items.
    identities : ndarray of shape (m,)
    vectors : dict of network -> ndarray of shape (m, d_network)
        Raw vectors of the common items in ``items`` order.

    Raises
    ------
    ValueError
        When an item's identity differs between networks, or items are not unique.
    """
    common = None
    for name in sorted(embs):
        items = embs[name].items.astype(str)
        if len(np.unique(items)) != len(items):
            raise ValueError(f"network {name!r}: item ids are not unique; de-duplicate the manifest before the analysis")
        common = items if common is None else np.intersect1d(common, items)
    common = np.unique(common)
    identities = None
    vectors = {}
    for name in sorted(embs):
        e = embs[name]
        items = e.items.astype(str)
        order = np.argsort(items, kind="stable")
        pos = order[np.searchsorted(items[order], common)]
        ids = e.identities.astype(str)[pos]
        if identities is None:
            identities = ids
        elif not np.array_equal(identities, ids):
            bad = int(np.flatnonzero(identities != ids)[0])
            raise ValueError(
                f"item {common[bad]!r} has identity {identities[bad]!r} in one network and {ids[bad]!r} in "
                f"network {name!r}; all networks of a dataset must share the labels (re-extract from the same manifest)"
            )
        vectors[name] = e.vectors[pos]
    if identities is None:
        identities = np.zeros(0, dtype=str)
    return common, identities, vectors


def _knn(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` nearest other rows (cosine on unit rows), ties broken by index."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="euclidean").fit(x)
    dist, idx = nn.kneighbors(x)
    # Drop the row itself (duplicates may put it second, so remove by identity, not by column).
    rows = np.arange(len(x))[:, None]
    not_self = idx != rows
    # Keep the first k non-self neighbours of each row.
    order = np.argsort(~not_self, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(idx, order, axis=1)


def _per_network(name, x, labels, n_labels, params, counts) -> tuple[NetworkIdentityScores, np.ndarray]:
    k = params.knn_k
    neigh = _knn(x, k)
    votes = labels[neigh]  # (n, k)
    # Majority vote, ties to the nearest neighbour's label: weight k, k-1, ... 1 breaks ties by rank.
    weights = np.arange(k, 0, -1, dtype=np.float64) * 1e-6 + 1.0
    scores = np.zeros((len(x), n_labels))
    np.add.at(scores, (np.repeat(np.arange(len(x)), k), votes.ravel()), np.tile(weights, len(x)))
    correct = (scores.argmax(axis=1) == labels).astype(np.float64)
    single = counts[labels] < 2
    acc = np.bincount(labels, weights=np.where(single, 0.0, correct), minlength=n_labels)
    n_scored = np.bincount(labels, weights=(~single).astype(np.float64), minlength=n_labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        knn_accuracy = np.where(n_scored > 0, acc / n_scored, np.nan)
    _, _, _, sil = centroid_scores(x, labels, n_labels)
    silhouette = np.bincount(labels, weights=sil, minlength=n_labels) / np.maximum(counts, 1)
    # Dispersion: std of the distances of an identity's unit vectors to its centroid.
    sums = np.zeros((n_labels, x.shape[1]))
    np.add.at(sums, labels, x)
    centroids = sums / np.maximum(counts, 1)[:, None]
    dist = np.linalg.norm(x - centroids[labels], axis=1)
    mean_d = np.bincount(labels, weights=dist, minlength=n_labels) / np.maximum(counts, 1)
    var_d = np.bincount(labels, weights=dist**2, minlength=n_labels) / np.maximum(counts, 1) - mean_d**2
    dispersion = np.sqrt(np.maximum(var_d, 0.0))
    # Hard: bottom hard_fraction by kNN accuracy, ties by silhouette (NaN accuracies never hard).
    scored = np.flatnonzero(np.isfinite(knn_accuracy))
    order = scored[np.lexsort((scored, silhouette[scored], knn_accuracy[scored]))]
    n_hard = int(np.ceil(params.hard_fraction * len(scored))) if len(scored) else 0
    hard = np.zeros(n_labels, dtype=bool)
    hard[order[:n_hard]] = True
    scores_obj = NetworkIdentityScores(
        network=name,
        n_dims=int(x.shape[1]),
        knn_accuracy=knn_accuracy,
        silhouette=silhouette,
        dispersion=dispersion,
        hard=hard,
        mean_knn_accuracy=float(correct[~single].mean()) if (~single).any() else float("nan"),
    )
    return scores_obj, neigh


def neighbour_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over rows of the Jaccard index of two (n, k) neighbour index arrays."""
    k = a.shape[1]
    inter = np.array([len(np.intersect1d(ra, rb, assume_unique=True)) for ra, rb in zip(a, b)], dtype=np.float64)
    return float(np.mean(inter / (2 * k - inter))) if len(a) else float("nan")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    return float(spearmanr(a[ok], b[ok]).statistic)


def analyze_crossnet(
    embs: Mapping[str, EmbeddingSet], params: CrossNetworkParams, random_state: int = 0
) -> CrossNetworkResult:
    """Compare the networks of one dataset on their common items.

    Parameters
    ----------
    embs : mapping of network name -> EmbeddingSet
        The dataset's embeddings under each network (at least one).
    params : CrossNetworkParams
    random_state : int, default=0
        Seed of the item sample and of the sampled image pairs.

    Returns
    -------
    CrossNetworkResult
        With a single network the per-identity scores are computed, ``pairs`` is empty and
        ``skipped`` says there is nothing to compare.

    Raises
    ------
    ValueError
        With no network, with fewer than 2 identities or ``knn_k + 2`` common items, or when the
        networks disagree on an item's identity.
    """
    if not embs:
        raise ValueError("analyze_crossnet needs at least one network's embeddings")
    networks = tuple(sorted(embs))
    dataset = embs[networks[0]].dataset
    items, identities, vectors = align(embs)
    n_intersection = len(items)
    if n_intersection < params.knn_k + 2:
        raise ValueError(
            f"only {n_intersection} items are common to networks {', '.join(networks)}; at least knn_k + 2 = "
            f"{params.knn_k + 2} are needed (do the networks embed the same images?)"
        )
    rng = np.random.default_rng(random_state)
    if n_intersection > params.max_samples:
        keep = np.sort(rng.choice(n_intersection, size=params.max_samples, replace=False))
        items, identities = items[keep], identities[keep]
        vectors = {k: v[keep] for k, v in vectors.items()}
    names, labels = np.unique(identities, return_inverse=True)
    if len(names) < 2:
        raise ValueError(f"the common items hold {len(names)} identity; at least 2 are needed")
    n_labels = len(names)
    counts = np.bincount(labels, minlength=n_labels)
    unit = {k: l2_normalize(v).astype(np.float64) for k, v in vectors.items()}
    per_network, neighbours = [], {}
    for name in networks:
        scores, neigh = _per_network(name, unit[name], labels, n_labels, params, counts)
        per_network.append(scores)
        neighbours[name] = neigh

    skipped = []
    pairs = []
    n = len(items)
    i = rng.integers(0, n, size=params.n_pairs)
    j = (i + rng.integers(1, n, size=params.n_pairs)) % n  # j != i
    for a, b in combinations(networks, 2):
        sa = np.einsum("ij,ij->i", unit[a][i], unit[a][j])
        sb = np.einsum("ij,ij->i", unit[b][i], unit[b][j])
        da = per_network[networks.index(a)].dispersion
        db = per_network[networks.index(b)].dispersion
        multi = counts >= 2
        pairs.append(
            NetworkPair(
                first=a,
                second=b,
                neighbour_jaccard=neighbour_jaccard(neighbours[a], neighbours[b]),
                similarity_spearman=_spearman(sa, sb),
                dispersion_spearman=_spearman(da[multi], db[multi]),
            )
        )
    hard = np.array([s.hard for s in per_network])
    if len(networks) >= 2:
        hard_for_all = hard.all(axis=0)
        hard_for_one = hard.sum(axis=0) == 1
    else:
        skipped.append(f"only one network ({networks[0]}) embeds dataset {dataset!r}: nothing to compare")
        hard_for_all = np.zeros(n_labels, dtype=bool)
        hard_for_one = np.zeros(n_labels, dtype=bool)
    return CrossNetworkResult(
        dataset=dataset,
        networks=networks,
        n_items=n,
        n_intersection=n_intersection,
        n_items_per_network=tuple(embs[k].n_samples for k in networks),
        names=names,
        counts=counts,
        per_network=tuple(per_network),
        pairs=tuple(pairs),
        hard_for_all=hard_for_all,
        hard_for_one=hard_for_one,
        skipped=tuple(skipped),
        params=params,
    )
