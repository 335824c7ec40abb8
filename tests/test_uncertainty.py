"""Intervals (bootstrap over identities, Wilson), TAR@FAR estimability and comparison sentences."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.statistics.verification.similarity import SimilarityParams, analyze_similarity
from analysis.statistics.uncertainty import (
    Interval, bootstrap_verification, compare_intervals, tar_estimability, wilson_interval,
)
from analysis.types import Cell, EmbeddingSet
from report.pages import paper_findings as pf
from report.pages.verification_table import verification_frame


def _embeddings(noise: float, k: int = 20, per: int = 8, dim: int = 32, seed: int = 0, centres_seed: int = 0) -> EmbeddingSet:
    """``k`` identities of ``per`` images around shared random centres; ``noise`` sets how well they separate."""
    centres = np.random.default_rng(centres_seed).normal(size=(k, dim))
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(k), per)
    x = centres[labels] / np.sqrt(dim) + rng.normal(scale=noise / np.sqrt(dim), size=(len(labels), dim))
    names = np.array([f"id{i:02d}" for i in labels])
    return EmbeddingSet("d", "n", x.astype(np.float32), names, np.array([f"i{j}" for j in range(len(labels))]))


def _text(paragraph) -> str:
    return "".join(getattr(p, "text", "") for p in paragraph.parts)


def test_interval_overlap_and_comparison_claims_winner_only_when_separate():
    a, b = Interval(0.01, 0.008, 0.012), Interval(0.03, 0.025, 0.035)
    c = compare_intervals("a", a, "b", b, higher_is_better=False)
    assert (c.better, c.worse, c.within_intervals) == ("a", "b", False)
    assert compare_intervals("a", a, "b", b, higher_is_better=True).better == "b"
    close = Interval(0.011, 0.009, 0.02)
    assert compare_intervals("a", a, "c", close, higher_is_better=False) == compare_intervals(
        "c", close, "a", a, higher_is_better=False)
    assert compare_intervals("a", a, "c", close, higher_is_better=False).better is None
    # Unknown bounds: nothing can be claimed.
    assert compare_intervals("a", a, "n", Interval(0.5, float("nan"), float("nan")), False).better is None


def test_wilson_interval_matches_the_closed_form():
    i = wilson_interval(50, 100)
    assert i.estimate == 0.5
    assert i.low == pytest.approx(0.4038, abs=1e-4) and i.high == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(100, 100).high == 1.0 and wilson_interval(100, 100).low < 1.0
    assert np.isnan(wilson_interval(0, 0).low)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.97])
def test_z_quantiles_equal_scipy_to_the_last_bit(confidence):
    from scipy.stats import norm

    from analysis.statistics.uncertainty import two_sided_z

    assert two_sided_z(confidence) == float(norm.ppf(1 - (1 - confidence) / 2))


def test_tar_is_not_estimable_with_few_impostor_pairs_above_the_threshold():
    far = np.array([0.0, 0.005, 0.01, 0.2, 1.0])
    tar = np.array([0.0, 0.6, 0.8, 0.95, 1.0])
    thr = np.array([np.inf, 0.5, 0.4, 0.2, -1.0])
    t, _, accepted, reason = tar_estimability(far, tar, thr, 1000, 0.01, 100)
    assert np.isnan(t) and accepted == 10 and "only 10 of 1,000" in reason and "100" in reason
    t, _, accepted, reason = tar_estimability(far, tar, thr, 100_000, 0.01, 100)
    assert t == 0.8 and accepted == 1000 and reason == ""


def test_bootstrap_is_seeded_contains_the_estimate_and_narrows_with_more_identities():
    def widths(k, seed):
        emb = _embeddings(1.2, k=k)
        r = analyze_similarity(emb, SimilarityParams(n_bins=1000, bootstrap_reps=100, far_levels=(1e-2,)), seed)
        u = r.uncertainty
        assert u.eer.low <= r.verification.eer <= u.eer.high
        assert u.d_prime.low <= r.verification.d_prime <= u.d_prime.high
        return u

    a, b = widths(12, 0), widths(12, 0)
    assert a == b  # same seed, same intervals
    assert widths(12, 1) != a
    small, large = widths(8, 0), widths(60, 0)
    assert (large.d_prime.high - large.d_prime.low) < (small.d_prime.high - small.d_prime.low)


def test_bootstrap_subsamples_large_sets_and_says_so():
    emb = _embeddings(1.0, k=30, per=10)
    x = emb.normalized()
    labels = emb.labels
    u = bootstrap_verification(x, labels, eer=0.1, d_prime=2.0, roc=(np.array([0.0, 1.0]), np.array([0.0, 1.0]),
                               np.array([1.0, -1.0])), n_impostor=40000, far_levels=(0.01,), n_boot=20,
                               max_embeddings=100, random_state=0)
    assert u.subsampled and u.n_embeddings_used == 100 and u.n_embeddings == 300


def test_site_table_marks_an_unestimable_tar_with_its_reason():
    # 20 identities x 8 images: 12,160 impostor pairs, so FAR 1e-3 leaves about 12 pairs above the threshold.
    r = analyze_similarity(_embeddings(1.0), SimilarityParams(n_bins=1000, bootstrap_reps=20, far_levels=(1e-1, 1e-3)), 0)
    frame = verification_frame(r).set_index("metric")
    assert "not estimable" in frame.loc["TAR@FAR=1e-3", "note"] and np.isnan(frame.loc["TAR@FAR=1e-3", "value"])
    assert frame.loc["TAR@FAR=1e-1", "note"] == "" and frame.loc["TAR@FAR=1e-1", "95% interval"].startswith("[")
    assert frame.loc["EER", "95% interval"].startswith("[")


def _rows(noise_a: float, noise_b: float, seed_b: int) -> list:
    params = SimilarityParams(n_bins=1000, bootstrap_reps=100, far_levels=(1e-2,))
    out = {}
    for net, noise, seed in (("clean-net", noise_a, 0), ("noisy-net", noise_b, seed_b)):
        out[Cell("d", net, "all")] = analyze_similarity(_embeddings(noise, k=25, seed=seed), params, 0)
    return pf.verification_rows(out)


def test_comparison_sentence_names_the_better_network_when_they_clearly_differ():
    rows = _rows(0.9, 1.8, 1)
    assert rows[0].eer.high < rows[1].eer.low  # the premise: clearly separated intervals
    (para,) = pf.comparison_paragraphs(rows)
    text = _text(para)
    assert "clean-net separates identities better than noisy-net" in text
    assert any(getattr(p, "key", None) == pf.VERIFICATION_TABLE for p in para.parts)


def test_comparison_sentence_claims_no_winner_when_intervals_overlap():
    rows = _rows(1.2, 1.2, 1)  # same noise, different draws
    assert rows[0].eer.overlaps(rows[1].eer)
    (para,) = pf.comparison_paragraphs(rows)
    text = _text(para)
    assert "better than" not in text and "do not differ beyond their intervals" in text


def test_bibliography_one_source_with_protected_capitals_and_complete_fields():
    import re

    from report.references import REFERENCES, bibtex

    text = bibtex()
    assert "{ArcFace}" in text and "{UMAP}" in text and "{t-SNE}" in text
    for key, (label, entry) in REFERENCES.items():
        year = re.search(r"year=\{(\d{4})\}", entry).group(1)
        assert label.endswith(year), f"{key}: site label {label!r} and BibTeX year {year} differ"
        assert re.search(r"\bauthor=\{", entry) and re.search(r"\btitle=\{", entry), key
        assert re.search(r"\b(journal|booktitle|publisher|institution|howpublished)=\{", entry), key
        assert "and others" not in entry, key
        if entry.startswith("@article"):
            assert re.search(r"\bvolume=\{", entry) and re.search(r"\bpages=\{", entry), key


def test_data_flow_counts_inputs_embedded_and_skipped_by_reason():
    from types import SimpleNamespace

    import pandas as pd

    from report.pages.paper_methods import data_flow_frame

    emb = _embeddings(1.0, k=3, per=4)
    skipped = pd.DataFrame({"network": ["n", "n", "n", "other"], "item": ["a", "b", "c", "d"],
                            "reason": ["no face", "no face", "unreadable", "no face"]})
    inp = SimpleNamespace(spec=SimpleNamespace(name="d"), embeddings={"n": emb}, skipped=skipped)
    (row,) = data_flow_frame(SimpleNamespace(inputs=(inp,))).to_dict("records")
    assert (row["inputs"], row["embedded"], row["skipped"], row["identities"]) == (15, 12, 3, 3)
    assert row["skipped by reason"] == "no face (2); unreadable (1)"
