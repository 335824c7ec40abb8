"""Synthetic demo, subsets and the embedding store."""
from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pytest

from analysis.embedding.store import EmbeddingStore, embedding_hash
from analysis.statistics.subsets import parse_subset, select_subset
from analysis.embedding.synthetic import (
    SyntheticDatasetOptions, SyntheticNetworkOptions, generate, planted_mislabels,
)
from analysis.types import EmbeddingSet, l2_normalize


def test_synthetic_demo_looks_like_face_embeddings(demo_embeddings):
    e = demo_embeddings
    counts = Counter(e.identities)
    junk = counts.pop("unknown")
    assert 60 <= len(counts) <= 100 and junk > 0
    assert min(counts.values()) >= 5 and max(counts.values()) <= 230  # mislabels move a few images
    assert max(counts.values()) > 10 * np.median(list(counts.values())) / 2  # heavy tail
    norms = np.linalg.norm(e.vectors, axis=1)
    assert 15 < np.median(norms) < 30
    x = l2_normalize(e.vectors)
    clean = ~planted_mislabels(e) & (e.identities != "unknown")
    labels = e.identities[clean]
    xs = x[clean]
    same = labels[:, None] == labels[None, :]
    sims = xs @ xs.T
    off = ~np.eye(len(xs), dtype=bool)
    intra, inter = np.median(sims[same & off]), sims[~same]
    assert 0.4 <= intra <= 0.8
    assert abs(np.median(inter)) <= 0.1 and np.std(inter) <= 0.1
    planted = planted_mislabels(e).mean()
    assert 0.01 <= planted <= 0.03


def test_synthetic_is_deterministic_and_views_share_identities():
    opts = SyntheticDatasetOptions(n_identities=10)
    nets = {"a": SyntheticNetworkOptions(dim=64), "b": SyntheticNetworkOptions(dim=16, seed=3)}
    one, two = generate(opts, nets, "d", 5), generate(opts, nets, "d", 5)
    np.testing.assert_array_equal(one["a"].vectors, two["a"].vectors)
    assert one["b"].n_dims == 16
    np.testing.assert_array_equal(one["a"].identities, one["b"].identities)
    other = generate(opts, nets, "d", 6)
    assert not np.array_equal(one["a"].vectors, other["a"].vectors)


@pytest.mark.parametrize("spec, ok", [("all", True), ("balanced-6", True), ("min-10", True), ("range-5-10", True),
                                      ("range-10-5", False), ("balanced-1", False), ("top-5", False)])
def test_parse_subset(spec, ok):
    if ok:
        assert parse_subset(spec).text == spec
    else:
        with pytest.raises(ValueError):
            parse_subset(spec)


def test_subsets_select_the_right_identities(demo_embeddings):
    e = demo_embeddings
    counts = Counter(e.identities)
    bal = select_subset(e, "balanced-6", random_state=1)
    bal_counts = Counter(bal.identities)
    assert set(bal_counts.values()) == {6}
    assert set(bal_counts) == {k for k, v in counts.items() if v >= 6}
    assert np.array_equal(select_subset(e, "balanced-6", 1).items, bal.items)  # seeded
    assert not np.array_equal(select_subset(e, "balanced-6", 2).items, bal.items)
    mn = Counter(select_subset(e, "min-20").identities)
    assert set(mn) == {k for k, v in counts.items() if v >= 20} and all(mn[k] == counts[k] for k in mn)
    rg = Counter(select_subset(e, "range-5-10").identities)
    assert set(rg) == {k for k, v in counts.items() if 5 <= v <= 10}
    assert select_subset(e, "all") is e


def test_store_roundtrip_and_content_hash(tmp_path, demo_embeddings):
    store = EmbeddingStore(tmp_path)
    assert "k" not in store
    store.save("k", demo_embeddings)
    back = store.load("k")
    np.testing.assert_array_equal(back.vectors, demo_embeddings.vectors)
    np.testing.assert_array_equal(back.identities, demo_embeddings.identities)
    assert back.synthetic and embedding_hash(back) == embedding_hash(demo_embeddings)
    calls = []
    emb, reused = store.get_or_create("k", lambda: calls.append(1))
    assert reused and not calls
    # No pickle anywhere in an entry.
    names = {p.name for p in (tmp_path / "embeddings" / "k").iterdir()}
    assert names == {"vectors.npy", "rows.parquet", "meta.json"}


def test_store_write_is_atomic(tmp_path, demo_embeddings, monkeypatch):
    store = EmbeddingStore(tmp_path)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("pandas.DataFrame.to_parquet", boom)
    with pytest.raises(OSError):
        store.save("k", demo_embeddings)
    assert "k" not in store
    assert not [p for p in (tmp_path / "embeddings").iterdir()]  # no half-written entry left


def test_embedding_set_rejects_bad_rows():
    with pytest.raises(ValueError, match="NaN or inf"):
        EmbeddingSet("d", "n", np.array([[np.nan, 1.0]], dtype=np.float32), np.array(["a"]), np.array(["x"]))
    with pytest.raises(ValueError, match="must both have shape"):
        EmbeddingSet("d", "n", np.zeros((2, 3), np.float32), np.array(["a"]), np.array(["x", "y"]))
