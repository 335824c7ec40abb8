"""Config validation: every mistake names the key and the fix."""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis.config import ConfigError, load_config, parse_config
from tests.conftest import ROOT

BASE = {"datasets": [{"name": "d", "kind": "synthetic"}], "networks": [{"name": "n", "kind": "synthetic"}]}


def parse(extra: dict, tmp_path: Path):
    raw = {**BASE, **extra}
    return parse_config(raw, source=tmp_path / "study.toml")


def test_demo_config_loads():
    cfg = load_config(ROOT / "configs" / "demo.toml")
    assert cfg.datasets[0].kind == "synthetic"
    assert {n.name for n in cfg.networks} == {"arcface-like-512", "dlib-like-128"}
    assert cfg.study.output_dir == ROOT  # relative to the config folder: the project root (docs/, site/ at the top level)
    assert cfg.subsets[0] == "all"


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"study": {"titel": "x"}}, "unknown key 'titel' in [study]; did you mean 'title'?"),
        ({"study": {"seed": "7"}}, "[study] seed must be an integer, got '7'"),
        ({"study": {"seed": True}}, "[study] seed must be an integer"),
        ({"study": {"build_site": "yes"}}, "[study] build_site must be true or false"),
        ({"study": {"galleries": "yes"}}, "[study] galleries must be true or false"),
        ({"geometry": {"top_n": 2.5}}, "[geometry] top_n must be an integer"),
        ({"geometry": {"variance_threshold": 2.0}}, "variance_threshold must be in (0, 1)"),
        ({"geometry": {"varianceThreshold": 0.1}}, "unknown key 'varianceThreshold' in [geometry]"),
        ({"subsets": ["all", "balanced-1"]}, "balanced-N needs N >= 2"),
        ({"subsets": ["everything"]}, "unknown subset 'everything'"),
        ({"subsets": "all"}, "'subsets' must be a non-empty list"),
        ({"subsets": ["all", "all"]}, "the name 'all' is used twice"),
        ({"clustring": {}}, "unknown key 'clustring' in the top level; did you mean 'clustering'?"),
        ({"datasets": [{"name": "d", "kind": "imagenet"}]}, "unknown dataset kind 'imagenet'; valid kinds:"),
        ({"datasets": [{"kind": "synthetic"}]}, "needs a non-empty string 'name'"),
        ({"datasets": []}, "no [[datasets]] entry"),
        ({"datasets": [{"name": "d", "kind": "synthetic", "n_identities": 1}]}, "n_identities must be at least 2"),
        ({"datasets": [{"name": "d", "kind": "synthetic", "n_identity": 5}]}, "did you mean 'n_identities'?"),
        ({"networks": [{"name": "n", "kind": "synthetic", "dim": "512"}]}, "[[networks]] 'n' dim must be an integer"),
        ({"networks": [{"name": "n", "kind": "resnet"}]}, "unknown network kind 'resnet'"),
    ],
)
def test_invalid_configs_name_the_key(extra, message, tmp_path):
    with pytest.raises(ConfigError) as err:
        parse(extra, tmp_path)
    assert message in str(err.value)


def test_galleries_switch_is_off_by_default_and_accepted(tmp_path):
    assert parse({}, tmp_path).study.galleries is False
    # Accepted even on a synthetic-only study: the report notes that it has no face images.
    assert parse({"study": {"galleries": True}}, tmp_path).study.galleries is True


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found; pass --config"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)


def test_missing_input_path_is_reported(tmp_path):
    from dataclasses import dataclass

    from analysis.config import build_dataclass

    @dataclass(frozen=True)
    class Opts:
        root: Path

    with pytest.raises(ConfigError, match="does not exist; relative paths are taken from the config file's folder"):
        build_dataclass(Opts, {"root": "no/such/folder"}, where="[[datasets]] 'x'", base=tmp_path)
    (tmp_path / "here").mkdir()
    assert build_dataclass(Opts, {"root": "here"}, where="w", base=tmp_path).root == tmp_path / "here"


def test_overrides_replace_study_paths(tmp_path):
    cfg = load_config(ROOT / "configs" / "demo.toml", overrides={"output_dir": tmp_path / "o", "cache_dir": None})
    assert cfg.study.output_dir == (tmp_path / "o").resolve()
    assert cfg.study.cache_dir == ROOT / ".cache"
