"""Shared fixtures: small study configs and one full demo build reused by the end-to-end tests."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

SMALL_CONFIG = """
subsets = {subsets}

[study]
title = {title}
seed = 3
output_dir = "out"
cache_dir = "cache"
build_site = {site}
build_paper = {paper}

[[datasets]]
name = "mini"
kind = "synthetic"
n_identities = {n_identities}
min_images = 6
max_images = 40

[[networks]]
name = "net-64"
kind = "synthetic"
dim = 64
seed = 1

[[networks]]
name = "net-32"
kind = "synthetic"
dim = 32
norm_mean = 1.0
norm_std = 0.1
seed = 2
{extra}
"""


def write_small_config(folder: Path, *, site=False, paper=False, subsets='["all", "balanced-6"]', title='"Mini study"',
                       n_identities=12, extra="") -> Path:
    """A fast synthetic study config in ``folder`` (outputs under folder/out, cache under folder/cache)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.toml"
    path.write_text(SMALL_CONFIG.format(site=str(site).lower(), paper=str(paper).lower(), subsets=subsets, title=title,
                                        n_identities=n_identities, extra=extra), encoding="utf-8")
    return path

CELEBS = SHARED / "data" / "celebrity-faces"

DLIB_STUDY = """
subsets = {subsets}

[study]
output_dir = "out"
cache_dir = "cache"
galleries = {galleries}

[[datasets]]
name = "faces"
kind = "folder"
root = "faces"

[[networks]]
name = "dlib"
kind = "dlib"

[manifold]
umap = false

[extraction]
detector_speed = "fast"    # dlib HOG: these tests check privacy and galleries, not detection
"""


def write_dlib_study(folder: Path, per_person: int, *, subsets='["all"]', galleries=False,
                     people=("Barack Obama", "Angelina Jolie", "Tom Cruise")) -> list[bytes]:
    """A small real-face dlib study in ``folder``: the first ``per_person`` celebrity images of
    each person copied to folder/faces/<person>/ and folder/study.toml. Returns the copied bytes."""
    images = folder / "faces"
    copied = []
    for person in people:
        (images / person).mkdir(parents=True)
        for src in sorted((CELEBS / person).glob("*.jpg"))[:per_person]:
            shutil.copyfile(src, images / person / src.name)
            copied.append(src.read_bytes())
    (folder / "study.toml").write_text(
        DLIB_STUDY.format(subsets=subsets, galleries=str(galleries).lower()), encoding="utf-8")
    return copied


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """The default demo study built once (site + paper) into a temporary folder.

    Returns (output_dir, cache_dir, first run's (results, outputs, build log)).
    """
    from analysis.config import load_config
    from report.driver import run

    base = tmp_path_factory.mktemp("demo")
    cfg = load_config(ROOT / "configs" / "demo.toml", overrides={"output_dir": base / "out", "cache_dir": base / "cache"})
    first = run(cfg, progress=False)
    return base / "out", base / "cache", cfg, first


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def demo_embeddings():
    """The 512-D view of the default synthetic demo (about 2,400 x 512)."""
    from analysis.embedding.synthetic import SyntheticDatasetOptions, SyntheticNetworkOptions, generate

    return generate(SyntheticDatasetOptions(), {"net": SyntheticNetworkOptions()}, "demo", 0)["net"]
