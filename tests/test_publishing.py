"""What a published site carries: no embedding vector unless asked, a size any static host accepts.

The default demo build (the shared ``demo_build`` fixture) must hold no vector anywhere under
``site/`` (Parquet columns, Projector TSVs, the zip) and weigh at most 25 MB; a small study with
``publish_vectors = true`` must publish each (dataset, network)'s vectors once, with subsets as
row selections of that one file, and a rebuild with it switched off must remove them.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_small_config

#: The demo site's budget (issue 24): small enough for any static host and a quick clone.
DEMO_SITE_BUDGET = 25 * 1024 * 1024


def _parquet_columns(data: bytes) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_schema(io.BytesIO(data)).names


def vector_files(site: Path) -> list[str]:
    """Every file under ``site`` that carries embedding vectors (Parquet ``vector`` column, Projector vectors TSV)."""
    found = []
    for f in sorted(site.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(site).as_posix()
        if f.suffix == ".parquet" and "vector" in _parquet_columns(f.read_bytes()):
            found.append(rel)
        elif f.name.endswith("-vectors.tsv"):
            found.append(rel)
        elif f.suffix == ".zip":
            with zipfile.ZipFile(f) as z:
                for name in z.namelist():
                    if name.endswith(".parquet") and "vector" in _parquet_columns(z.read(name)):
                        found.append(f"{rel}:{name}")
                    elif name.endswith("-vectors.tsv"):
                        found.append(f"{rel}:{name}")
    return found


@pytest.mark.slow
def test_the_default_site_publishes_no_vector(demo_build):
    out, _, cfg, _ = demo_build
    assert cfg.study.publish_vectors is False
    site = out / "site"
    assert vector_files(site) == []
    assert not (site / "downloads" / "vectors").exists() and not (site / "downloads" / "projector").exists()
    cells = sorted((site / "downloads").glob("*-explorer.parquet"))
    assert len(cells) == 8  # one per cell, coordinates and labels only
    assert {"row", "identity", "item", "cluster", "flags", "embedding norm", "PCA x"} <= set(_parquet_columns(cells[0].read_bytes()))
    downloads = (site / "downloads.html").read_text(encoding="utf-8")
    assert "No embedding vector is published" in downloads and "biometric templates" in downloads
    index = (site / "index.html").read_text(encoding="utf-8")
    assert index.count("No embedding vector is published") == 1  # the Overview says it once
    assert "No embedding vector is published" in (site / "data" / "demo.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_demo_site_fits_its_size_budget(demo_build):
    site = demo_build[0] / "site"
    sizes: dict[str, int] = {}
    for f in site.rglob("*"):
        if f.is_file():
            top = f.relative_to(site).parts[0]
            sizes[top] = sizes.get(top, 0) + f.stat().st_size
    total = sum(sizes.values())
    breakdown = ", ".join(f"{k} {v / 2**20:.1f} MB" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:6])
    assert total <= DEMO_SITE_BUDGET, f"site is {total / 2**20:.1f} MB > 25 MB: {breakdown}"


@pytest.mark.slow
def test_publish_vectors_writes_each_vector_set_once(tmp_path):
    import pyarrow.parquet as pq

    from analysis.config import load_config
    from report.driver import run

    config = write_small_config(tmp_path, site=True, subsets='["all", "balanced-6", "min-10"]')
    results, _, _ = run(load_config(config, overrides={"publish_vectors": True}), progress=False)
    site = tmp_path / "out" / "site"
    found = vector_files(site)
    # One vectors Parquet and one Projector vectors TSV per (dataset, network); nothing per subset, nothing in the zip.
    assert sorted(found) == ["downloads/projector/mini-net-32-vectors.tsv", "downloads/projector/mini-net-64-vectors.tsv",
                             "downloads/vectors/mini-net-32.parquet", "downloads/vectors/mini-net-64.parquet"], found
    inp = results.inputs[0]
    for net in ("net-32", "net-64"):
        emb = inp.embeddings[net]
        table = pq.read_table(site / "downloads" / "vectors" / f"mini-{net}.parquet")
        assert table.num_rows == emb.n_samples
        assert table.column("item").to_pylist() == emb.items.tolist()
        vectors = np.array(table.column("vector").to_pylist(), np.float32)
        np.testing.assert_array_equal(vectors, emb.vectors)
        subsets = [c.subset for c in results.cells if c.network == net]
        assert len(subsets) == 3
        for subset in subsets:
            cell = pq.read_table(site / "downloads" / f"mini-{net}-{subset}-explorer.parquet")
            assert "vector" not in cell.column_names
            rows = np.array(cell.column("row").to_pylist())
            # A subset is a row selection of the one vectors file.
            assert table.column("item").take(rows).to_pylist() == cell.column("item").to_pylist()
        meta = (site / "downloads" / "projector" / f"mini-{net}-metadata.tsv").read_text(encoding="utf-8").splitlines()
        vec = (site / "downloads" / "projector" / f"mini-{net}-vectors.tsv").read_text(encoding="utf-8").splitlines()
        assert len(meta) == len(vec) + 1 and meta[0].split("\t")[-1] == "subsets"
        assert any("balanced-6" in line for line in meta[1:])
    downloads = (site / "downloads.html").read_text(encoding="utf-8")
    assert "publish_vectors = true" in downloads and "vectors/mini-net-64.parquet" in downloads

    # Switched off again, the next build leaves no vector anywhere in the site.
    run(load_config(config, overrides={"publish_vectors": False}), progress=False)
    assert vector_files(site) == [] and not (site / "downloads" / "vectors").exists()


@pytest.mark.parametrize("value", ['"yes"', "1", "[true]"])
def test_publish_vectors_must_be_a_boolean(tmp_path, value):
    from analysis.config import ConfigError, load_config

    config = write_small_config(tmp_path)
    text = config.read_text(encoding="utf-8").replace('cache_dir = "cache"', f'cache_dir = "cache"\npublish_vectors = {value}')
    config.write_text(text, encoding="utf-8")
    with pytest.raises((ConfigError, ValueError), match="publish_vectors"):
        load_config(config)
    assert load_config(write_small_config(tmp_path / "ok")).study.publish_vectors is False
