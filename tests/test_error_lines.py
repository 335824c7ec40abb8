"""Error lines that say what is wrong: one line naming the file (or folder, or key) and the fix.

Before: no face in any image was ``zero-size array to reduction operation minimum``; a TOML file
with a UTF-8 byte-order mark was "Invalid statement (at line 1, column 1)"; an empty or Latin-1
CSV manifest named no file; a full disk named no path (inside mkdocs: a 3 KB line of mkdocs'
traceback); ``cache_dir`` inside ``docs/`` was blamed on the lock file the build itself made; two
(dataset, network) pairs with one slug failed after every analysis; a subset selecting nothing
put its reason into the overview grid's ``synthetic`` column.
"""
from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config import ConfigError, load_config
from tests.conftest import ROOT, write_small_config

PY = sys.executable


def _cli(config: Path, *extra: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([PY, str(ROOT / "build_report.py"), "--config", str(config), "--quiet", *extra],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd or config.parent)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return lines[0]


# --------------------------------------------------------------------------- no face anywhere
@pytest.mark.timeout(300)
def test_no_face_in_any_image_names_the_folder_and_the_detection_settings(tmp_path):
    pytest.importorskip("dlib")
    pytest.importorskip("face_recognition_models")
    from PIL import Image

    for person in ("Ann", "Bob"):
        (tmp_path / "faces" / person).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((160, 160, 3), 90 + 40 * i, np.uint8)).save(tmp_path / "faces" / person / f"{i}.jpg")
    (tmp_path / "study.toml").write_text(
        '[study]\noutput_dir = "out"\ncache_dir = "cache"\nbuild_site = false\nbuild_paper = false\n'
        '[[datasets]]\nname = "faces"\nkind = "folder"\nroot = "faces"\n'
        '[[networks]]\nname = "dlib"\nkind = "dlib"\n[extraction]\ndetector_speed = "fast"\n', encoding="utf-8")
    line = _one_error_line(_cli(tmp_path / "study.toml"))
    assert "zero-size array" not in line
    assert f"'{tmp_path / 'faces'}'" in line and "no face in any of the 4 images" in line
    assert "(4 no face)" in line and "[extraction]" in line and "dlib_min_score" in line


# --------------------------------------------------------------------------- config files
def test_toml_with_a_byte_order_mark_is_read(tmp_path):
    plain = write_small_config(tmp_path / "plain")
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes().replace(b'"out"', b'"out-bom"'))
    config = load_config(bom)
    assert config.study.title == "Mini study" and [d.name for d in config.datasets] == ["mini"]


def test_toml_that_is_not_utf8_names_the_file_the_byte_and_the_fix(tmp_path):
    latin = tmp_path / "latin.toml"
    latin.write_bytes(write_small_config(tmp_path).read_bytes().replace(b'"Mini study"', b'"Caf\xe9 study"'))
    with pytest.raises(ConfigError) as info:
        load_config(latin)
    message = str(info.value)
    assert "latin.toml" in message and "not UTF-8" in message and "byte 0xe9 on line" in message
    assert "iconv -f latin1 -t utf-8" in message


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty; it needs a header row ('path' and 'identity')"),
    (b"path,identity\nimg/a.jpg,Jos\xe9\n", "is not UTF-8 text (byte 0xe9 on line 2)"),
    (b'path,identity\n"img/a.jpg,Ann\n', "is not a valid CSV file"),
], ids=["empty", "latin-1", "unclosed-quote"])
def test_csv_manifest_errors_name_the_file_and_the_fix(tmp_path, content, expected):
    from analysis.embedding.datasets import CsvManifestOptions, build_manifest

    (tmp_path / "list.csv").write_bytes(content)
    with pytest.raises(ValueError) as info:
        build_manifest("c", CsvManifestOptions(manifest_file=tmp_path / "list.csv"))
    message = str(info.value)
    assert message.startswith(f"dataset 'c': manifest_file '{tmp_path / 'list.csv'}'") and expected in message
    assert "\n" not in message


def test_csv_manifest_with_a_byte_order_mark_is_read(tmp_path):
    from analysis.embedding.datasets import CsvManifestOptions, build_manifest
    from PIL import Image

    (tmp_path / "img").mkdir()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "img" / "a.jpg")
    (tmp_path / "list.csv").write_bytes("\ufeffpath,identity\nimg/a.jpg,José\n".encode("utf-8"))
    m = build_manifest("c", CsvManifestOptions(manifest_file=tmp_path / "list.csv"))
    assert m.frame[["path", "identity"]].values.tolist() == [["img/a.jpg", "José"]]


def test_latin1_embedding_and_label_files_name_the_file(tmp_path):
    from analysis.embedding.datasets import CsvEmbeddingsOptions, NpyEmbeddingsOptions, load_embeddings

    (tmp_path / "e.csv").write_bytes(b"person_id,image_file,embedding\nJos\xe9,a.jpg,\"[1, 2]\"\n")
    with pytest.raises(ValueError, match=r"embeddings_file '.*e\.csv' is not UTF-8 text \(byte 0xe9 on line 2\)"):
        load_embeddings("e", CsvEmbeddingsOptions(embeddings_file=tmp_path / "e.csv", network="n"))
    np.save(tmp_path / "v.npy", np.ones((1, 2), np.float32))
    (tmp_path / "labels.txt").write_bytes(b"Jos\xe9\n")
    with pytest.raises(ValueError, match=r"labels_file '.*labels\.txt' is not UTF-8 text"):
        load_embeddings("n", NpyEmbeddingsOptions(vectors_file=tmp_path / "v.npy", labels_file=tmp_path / "labels.txt",
                                                  network="n"))


# --------------------------------------------------------------------------- refused at load
def test_cache_dir_inside_a_published_folder_is_refused_at_load_with_the_reason(tmp_path):
    config = write_small_config(tmp_path)
    config.write_text(config.read_text().replace('cache_dir = "cache"', 'cache_dir = "out/docs/cache"'))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    message = str(info.value)
    assert f"cache_dir '{tmp_path / 'out' / 'docs' / 'cache'}' lies inside '{tmp_path / 'out' / 'docs'}'" in message
    assert ".atlas.lock" not in message and "outside docs/" in message
    line = _one_error_line(_cli(config))
    assert "lies inside" in line and not (tmp_path / "out").exists()  # refused before anything was written
    other = write_small_config(tmp_path / "other")
    for name in ("site", "paper"):  # the flag too, and the other published folders
        with pytest.raises(ConfigError, match=f"outside {name}/"):
            load_config(other, overrides={"cache_dir": tmp_path / "other" / "out" / name / "c"})


COLLIDING = """
[study]
output_dir = "out"
cache_dir = "cache"

[[datasets]]
name = "celeb"
kind = "folder"
root = "photos"

[[datasets]]
name = "celeb-a"
kind = "folder"
root = "photos"

[[networks]]
name = "a-dlib"
kind = "dlib"

[[networks]]
name = "dlib"
kind = "dlib"
"""


def test_dataset_network_pairs_sharing_a_slug_are_refused_at_load(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "study.toml").write_text(COLLIDING, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "study.toml")
    message = str(info.value)
    assert "('celeb', 'a-dlib')" in message and "('celeb-a', 'dlib')" in message and "'celeb-a-dlib'" in message
    assert "rename" in message
    # Precomputed embeddings carry their own network name: the same rule.
    from analysis.config_checks import colliding_pairs, pair_key_error

    assert pair_key_error([("a", "b-c"), ("a-b", "c")]) is not None
    assert colliding_pairs([("A B", "c"), ("A_B", "c")]) == []  # slugify keeps these apart (hash suffix)
    assert pair_key_error([("x", "y"), ("x", "y")]) is None  # one pair named twice is not a clash


def test_every_pair_key_of_the_build_is_the_one_checked():
    """The recogniser and review folders, and the cell keys, are built as config_checks.pair_key builds them."""
    import inspect

    from analysis.config_checks import pair_key
    from report import recognizer_files
    from report.contexts import CellContext

    assert pair_key("celeb", "a-dlib") == pair_key("celeb-a", "dlib") == "celeb-a-dlib"
    assert 'f"{slugify(inp.spec.name)}-{slugify(net)}"' in inspect.getsource(recognizer_files)
    assert '"-".join(slugify(p) for p in (*self.path, name))' in inspect.getsource(CellContext)


# --------------------------------------------------------------------------- full disk
def test_full_disk_errors_become_one_line_naming_the_folder_and_the_setting(tmp_path):
    from report.disk import DiskFullError, writing_into

    out = tmp_path / "out"
    out.mkdir()
    cases = [
        (OSError(errno.ENOSPC, "No space left on device"), None),  # write(): no file name at all
        (OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "cache/x.png"),
                 None, str(out / ".atlas-staging-docs-abc123/figures/x.png")), str(out / "docs/figures/x.png")),
        (shutil.Error([(str(tmp_path / "a.js"), str(out / ".atlas-staging-site-q1/a.js"),
                        "[Errno 28] No space left on device: 'a.js'")]), str(out / "site/a.js")),
        (RuntimeError("latexmk"), None),
    ]
    cases[3][0].__cause__ = OSError(errno.EDQUOT, "Disk quota exceeded")
    for exc, path in cases:
        with pytest.raises(DiskFullError) as info:
            with writing_into(out, "output folder", "[study] output_dir (--output-dir)"):
                raise exc
        message = str(info.value)
        assert message.startswith(f"no space left on the disk of the output folder '{out}'")
        assert "free of" in message and "set [study] output_dir (--output-dir)" in message
        assert (f"(writing {path})" in message) if path else "(writing" not in message
        assert "\n" not in message and ".atlas-staging" not in message
    with pytest.raises(PermissionError):  # other errors pass through untouched
        with writing_into(out, "output folder", "x"):
            raise PermissionError(errno.EACCES, "denied", str(out))


def test_mkdocs_on_a_full_disk_is_one_line_not_its_traceback(tmp_path, monkeypatch):
    from report import render
    from report.disk import DiskFullError, writing_into

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# x\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: x\n")
    traceback = "Traceback (most recent call last):\n" + "  File \"mkdocs/x.py\", line 1\n" * 60 + (
        "OSError: [Errno 28] No space left on device: '/x/site/figures/a.png'\n")

    def fake_run(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, stdout="", stderr=traceback)

    monkeypatch.setattr(render.subprocess, "run", fake_run)
    with pytest.raises(DiskFullError) as info:
        with writing_into(tmp_path, "output folder", "[study] output_dir (--output-dir)"):
            render.build_site(tmp_path)
    message = str(info.value)
    assert f"(writing {tmp_path / 'site'})" in message and "Traceback" not in message and len(message) < 400
    assert not list(tmp_path.glob(".atlas-staging-*"))


def _can_mount_tmpfs() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m none /mnt"],
                           capture_output=True, timeout=30)
    if probe.returncode != 0:
        probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m none /mnt"],
                               capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_real_full_disk_names_the_output_folder_and_keeps_nothing_half_written(tmp_path):
    """The build writing docs/ onto a 1 MB tmpfs (its own mount namespace: nothing is mounted for others)."""
    if not _can_mount_tmpfs():
        pytest.skip("cannot mount a tmpfs here (needs unshare -m)")
    config = write_small_config(tmp_path, n_identities=6, subsets='["all"]',
                                extra="[manifold]\ntsne = false\numap = false\n")
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    config.write_text(config.read_text().replace('output_dir = "out"', f'output_dir = "{tiny / "out"}"'))
    script = (f"mount -t tmpfs -o size=1m none {tiny} && {PY} {ROOT / 'build_report.py'} --config {config} --quiet; "
              f"echo rc=$?; ls -A {tiny / 'out'}")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=280)
    if "rc=" not in proc.stdout:
        proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=280)
    assert "rc=2" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith(f"error: no space left on the disk of the output folder '{tiny / 'out'}'")
    assert "free of 1.0 MB" in lines[0] and "--output-dir" in lines[0]
    left = proc.stdout.split("rc=2", 1)[1].split()
    assert not [name for name in left if name.startswith(".atlas-staging")]  # nothing half-written stays


# --------------------------------------------------------------------------- a subset selecting nothing
def test_subset_selecting_nothing_is_a_stated_skip_not_a_grid_value(tmp_path):
    import dataclasses

    from analysis.embedding.store import EmbeddingStore
    from report.pages.overview import overview_page, skipped_cells, study_grid
    from report.study import BuildLog, compute_all, load_inputs

    cfg = load_config(write_small_config(tmp_path, n_identities=6, subsets='["all", "min-500"]'))
    cfg = dataclasses.replace(cfg, study=dataclasses.replace(cfg.study, backend="serial"),
                              manifold=dataclasses.replace(cfg.manifold, tsne=False, umap=False))
    build = BuildLog()
    results = compute_all(cfg, load_inputs(cfg, EmbeddingStore(cfg.study.cache_dir), build, False), build, False)
    grid = study_grid(results)
    assert set(grid["synthetic"]) == {"yes"} and set(grid["subset"]) == {"all"}
    skipped = skipped_cells(results)
    assert skipped[["network", "subset"]].values.tolist() == [["net-32", "min-500"], ["net-64", "min-500"]]
    reason = skipped["reason"].iloc[0]
    assert reason.startswith("subset 'min-500' leaves 0 identities of ") and "remove it from subsets" in reason
    assert any("net-32/min-500 not analysed: subset 'min-500'" in w for w in build.warnings)
    page = overview_page(results, has_pdf=False)
    keys = [b.key for s in page.sections for b in s.blocks if hasattr(b, "key")]
    assert "overview-skipped-cells" in keys


def test_a_dataset_named_after_another_ones_detection_page_is_refused():
    """``celeb-detections``'s Data page is ``celeb``'s detection page (data/celeb-detections.md): one overwrote the other."""
    from analysis.config_checks import page_name_error

    assert "data/celeb-detections.md" in page_name_error(["celeb", "celeb-detections"])
    assert page_name_error(["celeb-detections", "celeb"]) is not None
    assert page_name_error(["celeb", "Celeb-detections", "other"]) is None  # slugs with a hash: apart
    assert page_name_error(["celeb"]) is None and page_name_error([]) is None
