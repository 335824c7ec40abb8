"""Group columns: config keys, every source (data file, manifest, regexes, metadata file), hostile files, caching."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config import ConfigError, load_config
from analysis.embedding.datasets import groups as gc
from analysis.embedding.datasets import build_manifest, load_embeddings
from analysis.embedding.datasets.groups import GroupOptions, attach_groups, group_data
from analysis.embedding.store import EmbeddingStore, embedding_hash
from analysis.types import EmbeddingSet
from tests.conftest import write_small_config


def _emb(n_ids=4, per=5, dim=8, seed=0) -> EmbeddingSet:
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"p{i}" for i in range(n_ids)], per)
    items = np.array([f"{p}/img{j}.jpg" for p in [f"p{i}" for i in range(n_ids)] for j in range(per)])
    return EmbeddingSet("d", "n", rng.standard_normal((len(ids), dim)).astype(np.float32), ids, items)


def _write(path: Path, text: str | bytes) -> Path:
    (path.write_bytes if isinstance(text, bytes) else lambda t: path.write_text(t, encoding="utf-8"))(text)
    return path


# --------------------------------------------------------------------------- EmbeddingSet and store
def test_groups_are_typed_carried_by_take_and_hashed(tmp_path):
    emb = _emb()
    sex = np.array(["f", "m"] * 10)
    g = dataclasses.replace(emb, groups=(("sex", sex),))
    assert g.take(np.arange(4)).group("sex").tolist() == ["f", "m", "f", "m"]
    assert embedding_hash(emb) != embedding_hash(g)  # groups are content
    assert embedding_hash(emb) == embedding_hash(dataclasses.replace(g, groups=()))  # none: the old hash
    with pytest.raises(ValueError, match="unicode"):
        dataclasses.replace(emb, groups=(("sex", sex.astype(object)),))
    with pytest.raises(ValueError, match="shape"):
        dataclasses.replace(emb, groups=(("sex", sex[:3]),))
    with pytest.raises(ValueError, match="unique"):
        dataclasses.replace(emb, groups=(("sex", sex), ("sex", sex)))
    store = EmbeddingStore(tmp_path)
    store.save("k", g)
    back = store.load("k")
    assert back.group_columns == ("sex",) and back.group("sex").tolist() == sex.tolist()
    assert embedding_hash(back) == embedding_hash(g)


# --------------------------------------------------------------------------- config
def _config(tmp_path, extra_dataset: str, extra: str = ""):
    path = write_small_config(tmp_path, extra=extra)
    text = path.read_text().replace('kind = "synthetic"\nn_identities', f'kind = "synthetic"\n{extra_dataset}\nn_identities', 1)
    path.write_text(text)
    return path


def test_config_reads_group_keys_for_any_kind_and_rejects_bad_ones(tmp_path):
    cfg = load_config(_config(tmp_path, 'planted_groups = true\ngroup_columns = ["cohort"]'))
    assert cfg.datasets[0].groups.group_columns == ("cohort",)
    assert cfg.differentials.fmr_levels == (1e-2, 1e-3, 1e-4)
    for bad, match in (('group_columns = "sex"', "must be a list"),
                       ('group_columns = ["sex", "sex"]', "twice"),
                       ('group_columns = [" sex"]', "surrounding spaces"),
                       ('group_colums = ["sex"]', "did you mean 'group_columns'"),
                       ('metadata_file = "nope.csv"\ngroup_columns = ["sex"]', "does not exist"),
                       ('covariate_regex = "(?P<s>["\ngroup_columns = ["s"]', "not a valid regular expression"),
                       ('covariate_regex = "\\\\d+"\ngroup_columns = ["s"]', "named groups"),
                       ('metadata_key = "person"\ngroup_columns = ["s"]', "must be one of")):
        with pytest.raises(ConfigError, match=match):
            load_config(_config(tmp_path / str(abs(hash(bad))), bad))
    (tmp_path / "m.csv").write_text("identity,sex\n")
    with pytest.raises(ConfigError, match="group_columns"):
        load_config(_config(tmp_path / "nocols", 'metadata_file = "../m.csv"'))
    with pytest.raises(ConfigError, match="fmr_levels"):
        load_config(_config(tmp_path / "levels", "", "[differentials]\nfmr_levels = [0.5, 2.0]\n"))
    with pytest.raises(ConfigError, match="missing"):
        load_config(_config(tmp_path / "missing", "", '[differentials]\nmissing = "drop"\n'))


# --------------------------------------------------------------------------- metadata files
def test_metadata_keyed_by_identity_and_by_item(tmp_path):
    emb = _emb()
    meta = _write(tmp_path / "people.csv", "identity,sex,age_band\np0,f,18-30\np1,m,31-50\np2,f,NA\np9,m,18-30\n")
    out = attach_groups("d", GroupOptions(("sex", "age_band"), meta), emb)
    assert out.group("sex").tolist() == ["f"] * 5 + ["m"] * 5 + ["f"] * 5 + [""] * 5  # p3 has no row
    assert set(out.group("age_band")) == {"18-30", "31-50", ""}  # NA is missing
    assert "1 identity(s) of the metadata file match no identity" in out.meta["group_sources"]
    items = _write(tmp_path / "items.csv", "item,light\n" + "".join(f"{i},{'dark' if k % 2 else 'lit'}\n"
                                                                    for k, i in enumerate(emb.items[:6])))
    out = attach_groups("d", GroupOptions(("light",), items), emb)
    assert out.group("light")[:6].tolist() == ["lit", "dark"] * 3 and (out.group("light")[6:] == "").all()
    tsv = _write(tmp_path / "people.tsv", "identity\tsex\n\ufeffp0\tf\n")
    assert attach_groups("d", GroupOptions(("sex",), tsv), emb).group("sex")[0] == ""  # BOM inside a key is data
    bom = _write(tmp_path / "bom.csv", "\ufeffidentity,sex\np0,f\n")
    assert attach_groups("d", GroupOptions(("sex",), bom), emb).group("sex")[0] == "f"  # a leading BOM is not


@pytest.mark.parametrize("content, match", [
    ("name,sex\np0,f\n", "no 'identity' column"),
    ("identity,sex\np0,f\np0,m\n", "conflicting values"),
    ("identity,sex\n,f\n", "empty identity"),
    ("identity,sex,sex\np0,f,m\n", "twice in its header"),
    ("identity,sex\np0," + "x" * 500 + "\n", "more than 100"),
    (b"identity,sex\np0,\xff\xfe\n", "not UTF-8"),
    (b"identity,sex\x00\np0,f\n", "NUL"),
    ("", "is empty"),
    ('identity,sex\np0,"unclosed\n', "cannot read"),
])
def test_hostile_metadata_files_are_one_clear_error(tmp_path, content, match):
    meta = _write(tmp_path / "m.csv", content)
    with pytest.raises(ValueError, match=match):
        attach_groups("d", GroupOptions(("sex",), meta), _emb())


def test_repeated_identical_rows_are_merged_and_huge_files_refused(tmp_path, monkeypatch):
    meta = _write(tmp_path / "m.csv", "identity,sex\np0,f\np0,f\np1,m\n")
    assert attach_groups("d", GroupOptions(("sex",), meta), _emb()).group("sex")[0] == "f"
    monkeypatch.setattr(gc, "MAX_METADATA_BYTES", 10)
    with pytest.raises(ValueError, match="GiB read"):
        attach_groups("d", GroupOptions(("sex",), meta), _emb())


def test_unknown_or_doubled_column_names_the_available_ones(tmp_path):
    meta = _write(tmp_path / "m.csv", "identity,sex,age\np0,f,3\n")
    with pytest.raises(ValueError, match=r"'ethnicity' is in none of its sources; available columns: 'age', 'sex'"):
        attach_groups("d", GroupOptions(("ethnicity",), meta), _emb())
    data, sources = group_data(GroupOptions(("sex",)), _emb().items,
                               extra=pd.DataFrame({"sex": ["f"] * 20}, index=_emb().items), extra_source="emb.csv")
    with pytest.raises(ValueError, match="both in emb.csv and in metadata_file"):
        attach_groups("d", GroupOptions(("sex",), meta), _emb(), data, sources)


# --------------------------------------------------------------------------- data-file sources
def test_embedding_csv_extra_columns_are_groups(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"person_id": f"p{i}", "image_file": f"p{i}_{j}.jpg", "sex": "mf"[i % 2], "session": f"s{j % 2}",
             "embedding": "[" + ", ".join(f"{v:.4f}" for v in rng.standard_normal(6)) + "]"}
            for i in range(4) for j in range(3)]
    rows[1]["embedding"] = "[nan, 1, 2, 3, 4, 5]"  # dropped row: its group value must go with it
    pd.DataFrame(rows).to_csv(tmp_path / "e.csv", index=False)
    from analysis.embedding.datasets import CsvEmbeddingsOptions

    loaded = load_embeddings("d", CsvEmbeddingsOptions(tmp_path / "e.csv", "net"))
    assert list(loaded.columns.columns) == ["sex", "session"] and len(loaded.columns) == 11
    opts = GroupOptions(("session", "sex"))
    emb = attach_groups("d", opts, loaded.embeddings, *group_data(opts, loaded.embeddings.items, extra=loaded.columns))
    assert emb.group("sex").tolist() == [("mf"[int(i[1]) % 2]) for i in loaded.embeddings.items]
    assert emb.group("session").tolist() == [f"s{int(i.split('_')[1][0]) % 2}" for i in loaded.embeddings.items]
    assert "p0_1.jpg" not in loaded.embeddings.items  # the dropped row's values left with it


def test_csv_manifest_filename_regex_and_covariate_regex(tmp_path):
    from analysis.embedding.datasets import CsvManifestOptions, FilenameDatasetOptions

    root = tmp_path / "img"
    for name in ("02463d452.jpg", "02463d460.jpg", "04201d12.jpg", "04201d13.jpg"):
        (root / "Fall2003").mkdir(parents=True, exist_ok=True)
        (root / "Fall2003" / name).write_bytes(b"x" + name.encode())
    (root / "Spring2004").mkdir()
    (root / "Spring2004" / "04201d99.jpg").write_bytes(b"y")
    opts = FilenameDatasetOptions(root, identity_regex=r"(?P<identity>\d{5})d(?P<shot>\d+)")
    manifest = build_manifest("frgc", opts)
    g = GroupOptions(("shot", "semester"), covariate_regex=r"^(?P<semester>[A-Za-z]+)\d{4}/")
    data, sources = gc.manifest_group_data(g, opts, manifest)
    assert sources == {"shot": "identity_regex", "semester": "covariate_regex"}
    assert data.loc["Spring2004/04201d99.jpg", "semester"] == "Spring" and data.loc["Fall2003/02463d452.jpg", "shot"] == "452"
    gc.check_group_columns("frgc", g, sources)
    with pytest.raises(ValueError, match="'lighting' is in none"):
        gc.check_group_columns("frgc", GroupOptions(("lighting",)), sources)
    # A CSV manifest's other columns, by normalised path; faces "<photo>#<k>" find their photo's row.
    (tmp_path / "m.csv").write_text("path,identity,lighting\nFall2003/02463d452.jpg,a,controlled\n"
                                    "./Fall2003/04201d12.jpg,b,uncontrolled\nFall2003/04201d12.jpg,b,other\n")
    copts = CsvManifestOptions(tmp_path / "m.csv", root=root)
    cm = build_manifest("m", copts)
    g = GroupOptions(("lighting",))
    data, sources = gc.manifest_group_data(g, copts, cm)
    emb = EmbeddingSet("m", "n", np.ones((3, 2), np.float32), np.array(["a", "b", "b"]),
                       np.array(["Fall2003/02463d452.jpg", "Fall2003/04201d12.jpg#0", "Fall2003/04201d12.jpg#1"]))
    # The first row of a path listed twice wins, as in the manifest itself.
    assert attach_groups("m", g, emb, data, sources).group("lighting").tolist() == ["controlled", "uncontrolled",
                                                                                  "uncontrolled"]


def test_study_fails_before_extraction_on_an_unknown_column(tmp_path):
    from report.study import BuildLog, load_inputs

    root = tmp_path / "faces" / "Ann"
    root.mkdir(parents=True)
    (root / "a.jpg").write_bytes(b"not decoded before the check")
    (tmp_path / "study.toml").write_text(
        '[study]\noutput_dir = "out"\ncache_dir = "cache"\n[[datasets]]\nname = "f"\nkind = "folder"\nroot = "faces"\n'
        'group_columns = ["sex"]\n[[networks]]\nname = "dlib"\nkind = "dlib"\n')
    cfg = load_config(tmp_path / "study.toml")
    with pytest.raises(ValueError, match="group column 'sex' is in none of its sources; available columns: none"):
        load_inputs(cfg, EmbeddingStore(tmp_path / "cache"), BuildLog(), progress=False)
    assert not (tmp_path / "cache" / "extract").exists()


# --------------------------------------------------------------------------- the build, run after run
@pytest.mark.slow
def test_second_and_third_run_follow_the_metadata_file(tmp_path):
    """Changing a metadata file recomputes the differentials (and only them); an unchanged rerun reuses them."""
    from report.driver import run

    rng = np.random.default_rng(1)
    rows = []
    for i in range(24):
        centre = rng.standard_normal(16)
        rows += [{"person_id": f"p{i:02d}", "image_file": f"p{i:02d}_{j}.jpg",
                  "embedding": "[" + ", ".join(f"{v:.5f}" for v in centre + 0.6 * rng.standard_normal(16)) + "]"}
                 for j in range(8)]
    pd.DataFrame(rows).to_csv(tmp_path / "e.csv", index=False)
    meta = tmp_path / "people.csv"
    meta.write_text("identity,sex\n" + "".join(f"p{i:02d},{'fm'[i % 2]}\n" for i in range(24)))
    (tmp_path / "study.toml").write_text(
        '[study]\noutput_dir = "out"\ncache_dir = "cache"\nbuild_site = false\nbuild_paper = false\n'
        '[[datasets]]\nname = "e"\nkind = "csv-embeddings"\nembeddings_file = "e.csv"\nnetwork = "net"\n'
        'metadata_file = "people.csv"\ngroup_columns = ["sex"]\n[manifold]\numap = false\ntsne = false\n'
        '[differentials]\nmin_identities = 5\nbootstrap_reps = 20\n')
    page = tmp_path / "out" / "docs" / "e" / "net" / "all" / "differentials.md"
    first = run(load_config(tmp_path / "study.toml"), progress=False)
    before = page.read_text(encoding="utf-8")
    assert "By sex" in before and "2 groups (f, m)" in before
    meta.write_text("identity,sex\n" + "".join(f"p{i:02d},{'abc'[i % 3]}\n" for i in range(24)))
    second = run(load_config(tmp_path / "study.toml"), progress=False)
    after = page.read_text(encoding="utf-8")
    assert "3 groups (a, b, c)" in after
    assert any("differentials" in c for c in second[2].computed)
    assert not any("similarity" in c for c in second[2].computed)  # vectors unchanged: similarity reused
    third = run(load_config(tmp_path / "study.toml"), progress=False)
    assert page.read_text(encoding="utf-8") == after and not any("differentials" in c for c in third[2].computed)
    meta.write_text("identity,sex\np00,f\np00,m\n")
    with pytest.raises(ValueError, match="conflicting values"):
        run(load_config(tmp_path / "study.toml"), progress=False)
    assert page.read_text(encoding="utf-8") == after  # nothing already published was lost
    del first


def test_item_keys_in_decomposed_unicode_or_with_spaces_find_their_rows(tmp_path):
    """macOS writes file names decomposed (NFD); the metadata file's keys are read as NFC and trimmed: both sides
    must be read the same way, or those rows silently left every group."""
    import dataclasses
    import unicodedata

    emb = _emb()
    items = emb.items.astype(object).copy()
    items[0] = unicodedata.normalize("NFD", "Jos\u00e9/1.jpg")
    items[1] = " Ann/1.jpg"
    emb = dataclasses.replace(emb, items=items.astype(str))
    meta = _write(tmp_path / "items.csv", f"item,light\n{items[0]},dark\n\" Ann/1.jpg\",lit\n")
    out = attach_groups("d", GroupOptions(("light",), meta), emb)
    assert out.group("light")[:2].tolist() == ["dark", "lit"]
    assert "match no row" not in out.meta["group_sources"]
