"""Tests of analysis.statistics.audit.audit and its page (report.pages.audit)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.metrics import silhouette_samples

from analysis.statistics.audit.audit import AuditParams, analyze_audit
from analysis.statistics.audit.image_audit import centroid_scores, near_duplicate_pairs
from analysis.embedding.synthetic import SyntheticDatasetOptions, SyntheticNetworkOptions, generate, planted_mislabels
from analysis.types import Cell, EmbeddingSet, l2_normalize
from report.model import Figure, Table
from report.pages import audit as section
from report.contexts import CellContext


@pytest.fixture(scope="module")
def demo() -> EmbeddingSet:
    return generate(SyntheticDatasetOptions(), {"a": SyntheticNetworkOptions()}, "demo", 0)["a"]


@pytest.fixture(scope="module")
def demo_result(demo):
    return analyze_audit(demo, AuditParams(), random_state=0)


def _with(emb: EmbeddingSet, vectors=None, identities=None, items=None, synthetic=False) -> EmbeddingSet:
    return EmbeddingSet(
        dataset=emb.dataset, network=emb.network,
        vectors=emb.vectors if vectors is None else vectors,
        identities=emb.identities if identities is None else identities,
        items=emb.items if items is None else items,
        synthetic=synthetic,
    )


def test_planted_mislabels_are_found(demo, demo_result):
    score = demo_result.planted
    assert score is not None and score.n_planted == int(planted_mislabels(demo).sum()) > 0
    assert score.recall > 0.8
    assert score.precision > 0.5
    assert demo_result.truth.shape == demo_result.images.rows.shape


def test_silhouette_equals_sklearn_cosine_silhouette(demo):
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(demo.n_samples, 600, replace=False))
    x = demo.normalized()[rows]
    labels = np.unique(demo.identities[rows], return_inverse=True)[1]
    _, _, _, sil = centroid_scores(x, labels, labels.max() + 1)
    assert np.allclose(sil, silhouette_samples(x, labels, metric="cosine"), atol=1e-5)


def test_margin_is_leave_one_out(demo):
    x = demo.normalized()[:40].astype(np.float64)
    labels = np.r_[np.zeros(20, int), np.ones(20, int)]
    own, nearest, other, _ = centroid_scores(x, labels, 2)
    loo = (x[:20].sum(axis=0) - x[0]) / 19
    assert own[0] == pytest.approx(x[0] @ loo / np.linalg.norm(loo))
    c1 = x[20:].mean(axis=0)
    assert nearest[0] == 1 and other[0] == pytest.approx(x[0] @ c1 / np.linalg.norm(c1))


def test_single_image_identity_has_no_margin_and_zero_silhouette(demo):
    sub = demo.take(np.isin(demo.identities, demo.identity_names[:3]))
    ids = sub.identities.copy()
    ids[0] = "Lonely_Person"
    r = analyze_audit(_with(sub, identities=ids), AuditParams(), random_state=0)
    pos = int(np.flatnonzero(r.images.rows == 0)[0])
    assert np.isnan(r.images.margin[pos]) and r.images.silhouette[pos] == 0.0
    assert r.planted is None and r.truth is None


def test_junk_identity_is_left_out_of_the_mislabel_audit(demo, demo_result):
    junk = np.flatnonzero(demo.identities == "unknown")
    assert len(junk) > 0 and demo_result.n_ignored == len(junk)
    assert not np.isin(junk, demo_result.images.rows).any()


def test_near_duplicates_match_brute_force_across_blocks(demo):
    x = demo.normalized()[:300].copy()
    x[250] = x[3]  # exact copy across a block boundary
    x[120] = l2_normalize(x[7:8] + 1e-3)[0]  # near copy
    d = near_duplicate_pairs(x, 0.99, max_pairs=100, block_size=64)
    sim = x @ x.T
    i, j = np.nonzero(np.triu(sim >= 0.99, k=1))
    assert set(zip(d.first.tolist(), d.second.tolist())) == set(zip(i.tolist(), j.tolist()))
    assert (3, 250) in set(zip(d.first.tolist(), d.second.tolist()))
    assert np.all(np.diff(d.cosine) <= 0) and not d.truncated
    capped = near_duplicate_pairs(x, 0.99, max_pairs=1, block_size=64)
    assert capped.truncated and capped.n_found == d.n_found and len(capped.cosine) == 1


def test_duplicated_image_with_another_label_is_reported(demo):
    vectors = np.concatenate([demo.vectors, demo.vectors[:1]])
    ids = np.concatenate([demo.identities, demo.identity_names[5:6]])
    items = np.concatenate([demo.items, np.array(["copy_of_first.jpg"])])
    r = analyze_audit(_with(demo, vectors, ids, items), AuditParams(), random_state=0)
    d = r.duplicates
    assert d.n_found >= 1 and (0, demo.n_samples) == (int(d.first[0]), int(d.second[0]))
    assert section.duplicate_frame(r)["same identity"].iloc[0] == "no"


def test_an_identity_under_two_names_is_a_suspected_merge(demo):
    name = demo.identity_names[np.argmax(np.bincount(demo.labels))]
    rows = np.flatnonzero(demo.identities == name)
    ids = demo.identities.copy()
    ids[rows[::2]] = "Zz_Alias"
    r = analyze_audit(_with(demo, identities=ids), AuditParams(), random_state=0)
    top = {r.names[r.merged.first[0]], r.names[r.merged.second[0]]}
    assert top == {name, "Zz_Alias"} and r.merged.flagged[0]
    assert r.merged.cosine[0] > r.merged.threshold


def test_two_people_under_one_name_is_a_suspected_split(demo):
    counts = np.bincount(demo.labels)
    a, b = demo.identity_names[np.argsort(-counts)[2:4]]
    ids = np.where(demo.identities == b, a, demo.identities)
    r = analyze_audit(_with(demo, identities=ids), AuditParams(), random_state=0)
    s = r.split
    flagged = set(r.names[s.identity[s.flagged]])
    assert a in flagged
    row = int(np.flatnonzero(r.names[s.identity] == a)[0])
    assert s.n_parts[row] >= 2 and s.parts_cosine[row] < 0.5


def test_two_identities_only_and_errors(demo):
    two = demo.take(np.isin(demo.identities, demo.identity_names[:2]))
    r = analyze_audit(two, AuditParams(), random_state=0)
    assert len(r.merged.cosine) == 1
    one = demo.take(demo.identities == demo.identity_names[0])
    with pytest.raises(ValueError, match="at least 2 identities"):
        analyze_audit(one, AuditParams())
    with pytest.raises(ValueError, match="truth must have shape"):
        analyze_audit(two, AuditParams(), truth=np.zeros(3, bool))


def test_split_audit_skipped_when_identities_are_small(demo):
    r = analyze_audit(demo, AuditParams(split_min_images=10_000), random_state=0)
    assert r.split is None and any("split audit skipped" in s for s in r.skipped)
    ctx = CellContext(cell=Cell("demo", "a", "all"), subset_description="all", synthetic=True, n_dims=512)
    assert section.page(ctx, r).title == "Label audit"


@pytest.mark.parametrize("kwargs", [{"merge_threshold": 1.5}, {"split_min_share": 0.7}, {"duplicate_threshold": 0}, {"block_size": 0}])
def test_invalid_params_raise(kwargs):
    with pytest.raises(ValueError):
        AuditParams(**kwargs)


def test_page_renders_and_ranks_by_margin(demo_result):
    ctx = CellContext(cell=Cell("demo", "a", "all"), subset_description="all", synthetic=True, n_dims=512)
    page = section.page(ctx, demo_result)
    assert page.path == ("demo", "a", "all", "audit")
    for block in page.blocks():
        if isinstance(block, Figure):
            plt.close(block.plot(block.data))
        if isinstance(block, Table):
            assert block.frame.columns.is_unique
    mis = section.mislabel_frame(demo_result)
    assert len(mis) == int(demo_result.images.suspected.sum())
    assert np.all(np.diff(mis["margin"].to_numpy()) >= 0)
    assert set(mis["planted mislabel"]) <= {"yes", "no"}
    planted = section.planted_frame(demo_result)
    assert planted["recall"].iloc[0] == demo_result.planted.recall
    (cmp,) = section.compare({ctx.cell: demo_result}, {ctx.cell: ctx})
    assert len(cmp.blocks[-1].frame) == 1


@pytest.mark.parametrize("threshold", [0.995, 0.9, 0.5])
def test_near_duplicates_match_brute_force(threshold):
    # The projected screen must never lose a pair: compare with every pair's exact cosine.
    from analysis.statistics.audit.image_audit import near_duplicate_pairs

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(30, 64))
    x = np.repeat(centres, 20, axis=0) + 0.3 * rng.normal(size=(600, 64))
    x[::7] = x[1::7][: len(x[::7])] + 1e-3 * rng.normal(size=(len(x[::7]), 64))  # planted near-copies
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    got = near_duplicate_pairs(x, threshold, max_pairs=10**6, block_size=128, prefilter_dims=8)
    cos = x.astype(np.float64) @ x.T.astype(np.float64)
    i, j = np.nonzero(np.triu(cos >= threshold, k=1))
    assert got.n_found == len(i) > 0
    assert set(zip(got.first.tolist(), got.second.tolist())) == set(zip(i.tolist(), j.tolist()))


def test_split_audit_on_worker_processes_equals_the_serial_run(monkeypatch):
    """Many identities: the 2-means run on loky workers by chunks; every field equals the serial run's."""
    import analysis.blocks
    from analysis.statistics.audit import split as audit_split

    rng = np.random.default_rng(31)
    sizes = rng.integers(4, 30, size=70)
    labels = np.repeat(np.arange(70), sizes)[rng.permutation(sizes.sum())]
    x = l2_normalize(rng.normal(size=(len(labels), 16))).astype(np.float32)
    codes = np.arange(70)
    # One identity is two people: its images come from two far directions.
    big = int(np.argmax(sizes))
    two = np.flatnonzero(labels == big)
    x[two[: len(two) // 2]] = l2_normalize(x[two[: len(two) // 2]] * 0.2 + 1.0)
    x[two[len(two) // 2 :]] = l2_normalize(x[two[len(two) // 2 :]] * 0.2 - 1.0)
    params = AuditParams()
    serial = audit_split._split_identities(x, labels, codes, params, 0.5, 0)
    monkeypatch.setattr(audit_split, "PARALLEL_SPLIT_IDENTITIES", 10)
    monkeypatch.setattr(analysis.blocks, "usable_cores", lambda: 2)
    parallel = audit_split._split_identities(x, labels, codes, params, 0.5, 0)
    for field in ("identity", "images", "n_parts", "largest_share", "second_share", "parts_cosine", "separation",
                  "flagged"):
        np.testing.assert_array_equal(getattr(parallel, field), getattr(serial, field))
    # A row mask instead of a copy of the kept rows: the same result.
    mask = rng.random(len(labels)) < 0.8
    copied = audit_split._split_identities(x[mask], labels[mask], codes, params, 0.5, 0)
    masked = audit_split._split_identities(x, labels, codes, params, 0.5, 0, keep=mask)
    np.testing.assert_array_equal(copied.separation, masked.separation)
    np.testing.assert_array_equal(copied.identity, masked.identity)
    assert big in serial.identity[serial.flagged] and len(serial.identity) == int((sizes >= params.split_min_images).sum())
