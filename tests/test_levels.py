"""Error-rate levels get one exact label: in keys, tables and figures, 0.015 is never called 1e-2."""
from __future__ import annotations

import pytest

from analysis.statistics.levels import check_levels, level_slug, level_text


def test_labels_are_exact_and_keys_have_no_dot():
    assert [level_text(x) for x in (0.1, 0.01, 1e-3, 1e-6, 0.015, 0.0025, 0.25)] == [
        "1e-1", "1e-2", "1e-3", "1e-6", "1.5e-2", "2.5e-3", "2.5e-1"]
    assert level_slug(0.0015) == "1-5e-3" and level_slug(0.002) == "2e-3"


@pytest.mark.parametrize("levels, match", [
    ([0.0123], "more than 2 significant digits"), ([0.01, 0.01], "repeat"), ([0.01, 0.0100000001], "digits"),
    ([0], r"\(0, 1\)"), ([1.0], r"\(0, 1\)"), ([float("nan")], r"\(0, 1\)"), ([float("inf")], r"\(0, 1\)"),
    (["a"], "list of rates"), ([], "non-empty"), ([-1e-3], r"\(0, 1\)"), ([1e-300], None)])
def test_bad_levels_are_refused_with_the_setting_named(levels, match):
    if match is None:  # tiny but valid: labelled exactly
        assert check_levels("fmr_levels", levels) == (1e-300,) and level_text(1e-300) == "1e-300"
        return
    with pytest.raises(ValueError, match=match):
        check_levels("fmr_levels", levels)


@pytest.mark.parametrize("table, key, value", [
    ("similarity", "far_levels", "[0.0123]"), ("similarity", "fmr_levels", "[0.001, 0.001]"),
    ("identification", "fpir_levels", "[0.01, 0.01]"), ("differentials", "fmr_levels", "[0.015, 0.0151]")])
def test_the_config_refuses_levels_that_would_share_a_label(tmp_path, table, key, value):
    from analysis.config import ConfigError, load_config
    from tests.conftest import write_small_config

    config = write_small_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8") + f"\n[{table}]\n{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=key):
        load_config(config)


def test_a_level_with_two_digits_gets_its_own_keys_and_labels():
    """``fmr_levels = [0.015]`` beside the 1e-2 that FMR100 adds: two rows, two keys (the build stopped before)."""
    import numpy as np

    from analysis.statistics.verification.similarity import SimilarityParams, analyze_similarity
    from analysis.types import EmbeddingSet
    from report.pages.operating_points import fmr_label
    from report.value_sources import similarity_values

    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(40), 6)
    x = rng.normal(size=(40, 32))[ids] + 0.9 * rng.normal(size=(240, 32))
    emb = EmbeddingSet(dataset="d", network="net", vectors=x.astype(np.float32), identities=ids.astype(str).astype(object),
                       items=np.array([f"{i}.jpg" for i in range(240)], dtype=object))
    r = analyze_similarity(emb, SimilarityParams(fmr_levels=(0.015,), bootstrap_reps=10), 0)
    names = [e.name for e in similarity_values(r)]
    assert len(names) == len(set(names))
    assert "fnmr-at-fmr-1-5e-2" in names and "fnmr-at-fmr-1e-2" in names
    assert fmr_label(0.015) == "FNMR at FMR 1.5e-2"
