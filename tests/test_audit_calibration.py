"""The audit's thresholds follow the network: planted errors found, clean data quiet.

Three spaces: the synthetic ArcFace-like and dlib-like demo networks (impostor cosines near 0)
and a dlib-like cone (the same data with a shared direction that puts impostor cosines near
0.8, as dlib's ResNet does). Real dlib embeddings of the celebrity photos are in
``test_audit_real_faces.py``.
"""
from __future__ import annotations

import numpy as np
import pytest

from analysis.embedding.synthetic import SyntheticDatasetOptions, SyntheticNetworkOptions, generate
from analysis.statistics.audit.audit import AuditParams, analyze_audit
from analysis.statistics.audit.thresholds import derive_thresholds, genuine_pair_cosines
from tests.audit_planting import dlib_like, plant_errors, relabel

NETS = {
    "arcface-like": SyntheticNetworkOptions(dim=512, noise=0.1, seed=1),
    "dlib-like": SyntheticNetworkOptions(dim=128, norm_mean=1.0, norm_std=0.08, noise=0.35, seed=2),
}


@pytest.fixture(scope="module")
def spaces():
    embs = generate(SyntheticDatasetOptions(n_identities=30, max_images=80, mislabel_fraction=0.0, junk_fraction=0.0), NETS, "clean", 3)
    out = {name: relabel(e, e.identities) for name, e in embs.items()}
    out["dlib-cone"] = dlib_like(out["dlib-like"])
    return out


def _impostor_pair_cosine(emb) -> float:
    x = emb.normalized().astype(np.float64)
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, len(x), 4000), rng.integers(0, len(x), 4000)
    other = emb.identities[i] != emb.identities[j]
    return float(np.mean(np.einsum("ij,ij->i", x[i[other]], x[j[other]])))


def test_the_cone_is_dlib_like(spaces):
    # The premise of the cone test: impostor cosines near 0.8 (dlib), not near 0 (ArcFace).
    assert abs(_impostor_pair_cosine(spaces["arcface-like"])) < 0.2
    assert _impostor_pair_cosine(spaces["dlib-cone"]) > 0.75


@pytest.mark.parametrize("space", ["arcface-like", "dlib-like", "dlib-cone"])
def test_clean_data_flags_at_most_one_merge_and_no_split(spaces, space):
    r = analyze_audit(spaces[space], AuditParams(), random_state=0)
    assert int(r.merged.flagged.sum()) <= 1
    assert r.split is not None and len(r.split.identity) > 10 and not r.split.flagged.any()
    th = r.merged.thresholds
    assert th.merge_source == th.split_source == "derived"
    # Thresholds sit between the populations they separate.
    assert th.impostor_median < th.split <= th.merge


@pytest.mark.parametrize("space", ["arcface-like", "dlib-like", "dlib-cone"])
def test_every_planted_error_is_found(spaces, space):
    planted, info = plant_errors(spaces[space])
    r = analyze_audit(planted, AuditParams(), random_state=0)
    m = r.merged
    flagged_pairs = {frozenset((str(r.names[a]), str(r.names[b]))) for a, b in zip(m.first[m.flagged], m.second[m.flagged])}
    assert frozenset(info["alias"]) in flagged_pairs
    assert info["mixed"] in set(r.names[r.split.identity[r.split.flagged]].astype(str))
    suspected_rows = set(r.images.rows[r.images.suspected].tolist())
    assert set(info["swapped"].tolist()) <= suspected_rows


def test_absolute_overrides_are_used_and_recorded(spaces):
    r = analyze_audit(spaces["dlib-cone"], AuditParams(merge_threshold=-1.0, split_max_cosine=1.0), random_state=0)
    th = r.merged.thresholds
    assert (th.merge, th.merge_source, th.split, th.split_source) == (-1.0, "override", 1.0, "override")
    assert r.merged.flagged.all()  # every pair reaches a cosine of -1


def test_an_absolute_threshold_of_0_7_would_flag_every_pair_of_a_dlib_like_space(spaces):
    # The reported failure, reproduced: on uncentred dlib-like cosines a fixed 0.7 says nothing.
    x = spaces["dlib-cone"].normalized().astype(np.float64)
    labels = spaces["dlib-cone"].labels
    centroids = np.stack([x[labels == c].mean(axis=0) for c in np.unique(labels)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    cos = centroids @ centroids.T
    assert cos[np.triu_indices(len(cos), 1)].min() > 0.7


def test_derived_thresholds_follow_quantiles_and_handle_no_genuine_pairs():
    genuine = np.linspace(0.5, 0.9, 101)
    impostor = np.linspace(-0.1, 0.3, 101)
    th = derive_thresholds(genuine, impostor, merge_quantile=0.75, split_quantile=0.9)
    assert th.merge == pytest.approx(0.8) and th.split == pytest.approx(0.26)
    capped = derive_thresholds(genuine, impostor + 0.6, merge_quantile=0.75, split_quantile=0.9)
    assert capped.split == pytest.approx(capped.merge)  # split capped at the merge threshold
    none = derive_thresholds(np.zeros(0), impostor, merge_quantile=0.75, split_quantile=0.9)
    assert np.isnan(none.merge) and none.n_genuine_pairs == 0


def test_genuine_pairs_are_within_identity_and_sampled():
    x = np.eye(4)[[0, 0, 1, 1, 1, 2]].astype(np.float64)
    labels = np.array([0, 0, 1, 1, 1, 2])
    cos = genuine_pair_cosines(x, labels, np.array([0, 1, 2]))
    assert len(cos) == 1 + 3 and np.all(cos == 1.0)
    many = genuine_pair_cosines(np.tile(x[:1], (300, 1)), np.zeros(300, int), np.array([0]), max_images=50)
    assert len(many) == 50 * 49 // 2


def test_audit_without_any_genuine_pair_says_why(spaces):
    emb = spaces["arcface-like"]
    first = np.unique(emb.identities, return_index=True)[1]
    r = analyze_audit(emb.take(np.sort(first)), AuditParams(), random_state=0)
    assert not r.merged.flagged.any() and any("merge_threshold" in s for s in r.skipped)
