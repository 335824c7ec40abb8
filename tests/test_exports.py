"""The site's data files: explorer script, cell Parquet, published vectors, Projector TSV, zip.

Fast unit tests of report.exports and report.publishing on hand-made explorers; the browser
tests (tests/test_browser.py) check the same files as a reader's browser reads them.
"""
from __future__ import annotations

import base64
import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from analysis.statistics.neighbours import nearest_neighbours
from report.exports import (COSINE_SCALE, VectorSet, explorer_data, explorer_data_js, neighbour_data,
                            neighbour_data_js, parquet_bytes, projector_files,
                            projector_tsv, vectors_file, vectors_parquet, write_data_zip, write_explorer_files,
                            write_vector_files, ZIP_NAME)
from report.model import Explorer

HOSTILE = ["</script><script>alert(1)</script>", "=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "a\tb"]


def _points(n: int = 6) -> pd.DataFrame:
    ids = (HOSTILE * 2)[:n]
    return pd.DataFrame({
        "row": np.arange(10, 10 + n), "identity": ids, "item": [f"{i}/{k}.jpg" for k, i in enumerate(ids)],
        "cluster": np.arange(n) % 3, "flags": ["", "near-duplicate", "suspected mislabel", "", "", ""][:n],
        "embedding norm": np.linspace(1, 2, n), "detection score": [0.9, np.nan, 0.8, 0.7, 0.95, 0.99][:n],
        "PCA x": np.linspace(-1, 1, n).round(4), "PCA y": np.linspace(2, 3, n).round(4),
    })


def _explorer(n: int = 6, neighbours=True) -> Explorer:
    p = _points(n)
    x = np.random.default_rng(0).standard_normal((n, 5)).astype(np.float32)
    return Explorer("demo-net-all-explorer", "c", p,
                    colour_by=(("identity", "identity"), ("KMeans cluster", "cluster"), ("audit status", "flags"),
                               ("embedding norm", "embedding norm"), ("detection score", "detection score")),
                    neighbours=nearest_neighbours(x) if neighbours else None, source=("demo", "net", "all"),
                    links={"audit": "audit.html", "audit#near-duplicate": "demo-net-all-audit-duplicates"})


def _unpack(p: dict) -> np.ndarray:
    dtype = {"u1": "<u1", "u2": "<u2", "u4": "<u4", "i2": "<i2", "f4": "<f4"}[p["dtype"]]
    return np.frombuffer(base64.b64decode(p["b64"]), dtype=dtype)


def test_cell_parquet_has_coordinates_and_labels_but_no_vector():
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(parquet_bytes(_explorer())))
    assert set(table.column_names) == set(_points().columns)
    assert "vector" not in table.column_names
    assert table.column("row").to_pylist() == list(range(10, 16))
    assert parquet_bytes(_explorer()) == parquet_bytes(_explorer())


def test_explorer_script_packs_every_column_and_decodes_back():
    e = _explorer()
    data = explorer_data(e)
    p = e.points
    assert data["n"] == 6 and data["items"] == p["item"].tolist()
    np.testing.assert_allclose(_unpack(data["maps"]["PCA"]["x"]), p["PCA x"], atol=1e-6)
    cols = {c["name"]: c for c in data["columns"]}
    assert list(cols) == ["identity", "KMeans cluster", "audit status", "embedding norm", "detection score"]
    ident = cols["identity"]
    assert [ident["labels"][c] for c in _unpack(ident["codes"])] == p["identity"].tolist()
    assert cols["KMeans cluster"]["labels"] == ["cluster 0", "cluster 1", "cluster 2"]
    audit = cols["audit status"]
    assert [audit["labels"][c] for c in _unpack(audit["codes"])][:3] == ["no flag", "near-duplicate", "suspected mislabel"]
    score = _unpack(cols["detection score"]["values"])
    assert np.isnan(score[1]) and score[0] == pytest.approx(0.9)
    nb = neighbour_data(e)
    index = _unpack(nb["index"]).reshape(6, nb["k"])
    assert nb["k"] == 10 and (index[:, :5] < 6).all() and (index[:, 5:] == nb["none"]).all()  # 5 others, then none
    cos = _unpack(nb["cosine"]).reshape(6, nb["k"])[:, :5] / COSINE_SCALE
    np.testing.assert_allclose(cos, e.neighbours.cosine[:, :5], atol=1 / COSINE_SCALE)
    assert data["links"]["audit"] == "audit.html"


def test_explorer_script_cannot_close_its_tag_and_is_deterministic():
    js = explorer_data_js(_explorer())
    assert js.startswith("window.ATLAS_EXPLORER")
    assert "<" not in js and ">" not in js and "&" not in js
    assert neighbour_data_js(_explorer()).startswith("window.ATLAS_NEIGHBOURS")
    payload = js.split("] = ", 1)[1].rstrip(";\n")
    assert "</script><script>alert(1)</script>" in json.loads(payload)["items"][0]  # kept as a string
    assert explorer_data_js(_explorer()) == js


def test_large_explorers_use_wide_codes():
    n = 70_000
    p = pd.DataFrame({"row": np.arange(n), "identity": [f"id{i}" for i in range(n)], "item": [f"i{i}" for i in range(n)],
                      "cluster": np.zeros(n, int), "flags": [""] * n, "PCA x": np.zeros(n), "PCA y": np.zeros(n)})
    data = explorer_data(Explorer("k", "c", p))
    ident = next(c for c in data["columns"] if c["name"] == "identity")
    assert ident["codes"]["dtype"] == "u4" and len(_unpack(ident["codes"])) == n
    assert neighbour_data(Explorer("k", "c", p)) is None


def _vector_set(explorer=True) -> VectorSet:
    n = 16
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((n, 4)).astype(np.float32)
    ids = np.array((HOSTILE * 3)[:n])
    items = np.array([f"{i}/{k}.jpg" for k, i in enumerate(ids)])
    e = _explorer() if explorer else None
    return VectorSet("demo", "net", vectors, ids, items, e, {"all": np.arange(n), "min-2": np.array([10, 12, 15])})


def test_vectors_file_holds_every_row_once():
    import pyarrow.parquet as pq

    v = _vector_set()
    table = pq.read_table(io.BytesIO(vectors_parquet(v)))
    assert table.column_names == ["row", "identity", "item", "vector"]
    assert table.num_rows == 16 and table.column("row").to_pylist() == list(range(16))
    np.testing.assert_array_equal(np.array(table.column("vector").to_pylist(), np.float32), v.vectors)
    assert vectors_parquet(v) == vectors_parquet(v)


def test_projector_files_are_the_explorer_points_with_defused_metadata():
    v = _vector_set()
    vec, meta = projector_tsv(v)
    rows = v.explorer.points["row"].to_numpy()
    got = np.array([[float(c) for c in line.split("\t")] for line in vec.splitlines()], np.float32)
    np.testing.assert_allclose(got, v.vectors[rows], rtol=1e-5)  # the explorer's rows, in its order
    lines = meta.splitlines()
    header = lines[0].split("\t")
    assert header == ["identity", "item", "cluster", "flags", "embedding norm", "detection score", "subsets"]
    assert len(lines) == 1 + len(rows) and all(len(line.split("\t")) == len(header) for line in lines)
    for line in lines[1:]:
        for cell in line.split("\t"):
            assert cell[:1] not in ("=", "+", "@", "\t", "\r"), cell  # CSV injection guard, as in docs/tables
            if cell.startswith("-"):
                float(cell)  # a negative number, never "-2+3"
    first = dict(zip(header, lines[1].split("\t")))
    assert first["identity"] == "</script><script>alert(1)</script>"
    assert dict(zip(header, lines[2].split("\t")))["identity"] == "'=HYPERLINK(\"http://x\")"
    assert dict(zip(header, lines[3].split("\t")))["subsets"] == "all; min-2"  # row 12
    assert dict(zip(header, lines[2].split("\t")))["detection score"] == ""  # no score
    assert projector_tsv(_vector_set(explorer=False)) is None


def test_vector_files_and_zip(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "t.csv").write_text("a\n1\n")
    write_explorer_files([_explorer()], tmp_path)
    write_vector_files([_vector_set()], tmp_path)
    assert (tmp_path / vectors_file("demo", "net")).is_file()
    assert all((tmp_path / f).is_file() for f in projector_files("demo", "net"))
    write_data_zip(tmp_path)
    first = (tmp_path / ZIP_NAME).read_bytes()
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == ["tables/t.csv", "downloads/demo-net-all-explorer.parquet"]  # no copy of the vectors
    write_data_zip(tmp_path)
    assert (tmp_path / ZIP_NAME).read_bytes() == first


def test_published_paragraph_says_what_and_why():
    from report.publishing import published_paragraph

    off = " ".join(getattr(s, "text", "") for s in published_paragraph(False).parts)
    on = " ".join(getattr(s, "text", "") for s in published_paragraph(True).parts)
    assert "No embedding vector is published" in off and "biometric templates" in off and "publish_vectors = true" in off
    assert "one vectors file" in on and "biometric templates" in on


def test_projector_metadata_carries_text_group_columns():
    """A study's group columns (pandas' string dtype) are text cells of the Projector metadata, guarded like the rest.

    Before, any column that was not of object dtype was formatted as a number: with publish_vectors = true the
    demo's ``cohort`` column stopped the build (``ufunc 'isfinite' not supported``).
    """
    import dataclasses

    v = _vector_set()
    points = v.explorer.points.copy()
    points["cohort"] = pd.array(["A", "B", "=C", "", "B", "A"], dtype="string")
    v = dataclasses.replace(v, explorer=dataclasses.replace(v.explorer, points=points))
    _, meta = projector_tsv(v)
    lines = meta.splitlines()
    header = lines[0].split("\t")
    assert "cohort" in header
    col = [line.split("\t")[header.index("cohort")] for line in lines[1:]]
    assert col[:3] == ["A", "B", "'=C"]
