"""Identity discovery (analysis.statistics.discovery): k range, elbow, recovery of planted identities, stability."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from analysis.statistics.discovery import (
    DiscoveryParams,
    analyze_discovery,
    elbow,
    face_index_of,
    k_range,
    photo_of,
)
from analysis.types import EmbeddingSet

UNLABELLED = "(unlabelled)"


def _faces(n_people=5, per_person=10, dims=32, spread=0.25, seed=0, group_every=3):
    """Planted identities; every ``group_every``-th face shares a photo with the next one (group photos)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, dims))
    truth = np.repeat(np.arange(n_people), per_person)
    x = centres[truth] + spread * rng.normal(size=(len(truth), dims))
    order = rng.permutation(len(truth))
    x, truth = x[order], truth[order]
    items, photo, face = [], 0, 0
    for i in range(len(truth)):
        items.append(f"photos/p{photo:03d}.jpg#{face}")
        if i % group_every == 0 and face == 0:
            face = 1
        else:
            photo, face = photo + 1, 0
    emb = EmbeddingSet("d", "n", x.astype(np.float32), np.full(len(truth), UNLABELLED), np.array(items))
    return emb, truth


def test_face_items_split_into_photo_and_face_index():
    assert photo_of("events/a#b.jpg#2") == "events/a#b.jpg" and face_index_of("events/a#b.jpg#2") == 2
    assert photo_of("plain/path.jpg") == "plain/path.jpg" and face_index_of("plain/path.jpg") == 0


def test_k_range_grows_with_the_faces_and_respects_configuration():
    assert list(k_range(48, DiscoveryParams())) == list(range(2, 15))  # ceil(2 sqrt(48)) = 14
    assert k_range(300, DiscoveryParams())[-1] == 35
    assert k_range(100_000, DiscoveryParams())[-1] == 60  # max_k cap
    assert list(k_range(5, DiscoveryParams())) == [2, 3, 4]  # at most n - 1
    assert list(k_range(100, DiscoveryParams(k_min=5, k_max=15))) == list(range(5, 16))


def test_elbow_finds_the_knee_of_a_decreasing_curve():
    k = np.arange(2, 13)
    values = np.where(k <= 5, 10.0 - 2.5 * (k - 2), 2.5 - 0.1 * (k - 5))
    assert elbow(k, values) == 5


@pytest.mark.parametrize("bad", [dict(k_min=1), dict(k_min=8, k_max=4), dict(agglomerative_threshold=3.0),
                                 dict(n_init=0), dict(hdbscan_min_cluster_size=1)])
def test_invalid_params_are_rejected(bad):
    with pytest.raises(ValueError):
        DiscoveryParams(**bad)


def test_planted_identities_are_discovered_by_every_method():
    emb, truth = _faces()
    r = analyze_discovery(emb, DiscoveryParams(), random_state=0)
    assert r.chosen_k == 5
    assert adjusted_rand_score(truth, r.clusters) == pytest.approx(1.0)
    assert [m.n_clusters for m in r.methods] == [5, 5, 5]
    assert np.allclose(r.agreement, 1.0)
    assert "highest mean silhouette" in r.reason and str(r.elbow_k) in r.reason
    # clusters are numbered by decreasing size; the table adds up to every face
    sizes = [c.size for c in r.identities]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == emb.n_samples
    assert all(c.nearest != c.cluster for c in r.identities)
    assert np.isfinite(r.silhouettes).all() and r.silhouettes.mean() > 0.5
    # group photos: photos with two faces, counted once per cluster they appear in
    assert r.n_group_photos == len({photo_of(i) for i in emb.items if face_index_of(i) == 1})
    assert sum(c.photos for c in r.identities) >= r.n_photos
    assert {d.k for d in r.diagrams} == {4, 5, 6}


def test_discovery_ignores_labels_and_is_deterministic():
    emb, _ = _faces(seed=3)
    a = analyze_discovery(emb, DiscoveryParams(), random_state=1)
    b = analyze_discovery(emb, DiscoveryParams(), random_state=1)
    assert np.array_equal(a.clusters, b.clusters) and a.chosen_k == b.chosen_k
    relabelled = EmbeddingSet("d", "n", emb.vectors, np.array([f"x{i % 3}" for i in range(emb.n_samples)]), emb.items)
    assert np.array_equal(analyze_discovery(relabelled, DiscoveryParams(), random_state=1).clusters, a.clusters)


def test_too_few_faces_is_a_clear_error():
    emb, _ = _faces(n_people=1, per_person=3)
    with pytest.raises(ValueError, match="at least 4 faces"):
        analyze_discovery(emb, DiscoveryParams())
