"""Listing dataset folders (analysis/embedding/datasets/walk.py): links, loops, special files, odd names.

Every case here used to go wrong: a symlink loop counted 2 photos as 82 and two loops hung, a FIFO
or a link to /dev/zero named *.jpg hung the hashing for ever, a linked identity folder vanished
without a row, file links outside the root were used by the folder adapters but refused by the
csv adapter, and a file name that is not UTF-8 stopped the whole build.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.embedding import images
from analysis.embedding.datasets import (
    CsvManifestOptions,
    FilenameDatasetOptions,
    FolderDatasetOptions,
    UnlabelledDatasetOptions,
    build_manifest,
)
from analysis.embedding.datasets.manifest import _hash_rows
from analysis.embedding.datasets.walk import (
    BROKEN_LINK,
    LINK_LISTED,
    LINK_OUTSIDE_ROOT,
    LINKED_FOLDER,
    NOT_UTF8,
    list_tree,
    printable,
)
from tests.conftest import CELEBS, ROOT

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="FIFOs, /dev/zero and bytes names")


def _jpeg(path: Path, seed: int) -> Path:
    """A small real JPEG (distinct bytes per seed)."""
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(path, "JPEG")
    return path


def _skips(manifest) -> dict[str, str]:
    return dict(zip(manifest.skipped["item"], manifest.skipped["reason"]))


# --------------------------------------------------------------------------- loops and aliases
@pytest.mark.timeout(60)
def test_symlink_loops_count_each_file_once_and_never_hang(tmp_path):
    root = tmp_path / "data"
    _jpeg(root / "Ann" / "1.jpg", 1)
    _jpeg(root / "Bob" / "1.jpg", 2)
    (root / "Ann" / "up").symlink_to("..")            # a loop to the root
    (root / "Bob" / "side").symlink_to("../Ann")      # a second loop, through the other folder
    (root / "Cy").symlink_to("Ann")                   # an alias of a listed folder
    for options in (FolderDatasetOptions(root=root, follow_symlinks=True),
                    UnlabelledDatasetOptions(root=root, follow_symlinks=True)):
        m = build_manifest("loops", options)
        assert list(m.frame["path"]) == ["Ann/1.jpg", "Bob/1.jpg"], type(options).__name__
        skips = _skips(m)
        assert {k: skips[k] for k in ("Ann/up/", "Bob/side/", "Cy/")} == dict.fromkeys(
            ("Ann/up/", "Bob/side/", "Cy/"), LINK_LISTED)


@pytest.mark.timeout(60)
def test_followed_folder_link_is_listed_once_under_its_link_and_a_self_link_is_broken(tmp_path):
    outside = tmp_path / "elsewhere" / "Dee"
    _jpeg(outside / "1.jpg", 3)
    root = tmp_path / "data"
    _jpeg(root / "Ann" / "1.jpg", 1)
    (root / "Dee").symlink_to(outside)
    (root / "Dee2").symlink_to(outside)  # the same folder twice: its first (sorted) link wins
    (root / "Ann" / "self.jpg").symlink_to("self.jpg")  # ELOOP
    m = build_manifest("links", FolderDatasetOptions(root=root, follow_symlinks=True))
    assert list(m.frame["path"]) == ["Ann/1.jpg", "Dee/1.jpg"]
    assert list(m.frame["identity"]) == ["Ann", "Dee"]
    assert _skips(m) == {"Dee2/": LINK_LISTED, "Ann/self.jpg": BROKEN_LINK}


# --------------------------------------------------------------------------- special files
@linux_only
@pytest.mark.timeout(30)
def test_fifo_and_device_named_like_images_are_skipped_without_being_read(tmp_path):
    root = tmp_path / "data"
    _jpeg(root / "Ann" / "1.jpg", 1)
    os.mkfifo(root / "Ann" / "pipe.jpg")                   # open() would wait for a writer for ever
    (root / "Ann" / "zero.jpg").symlink_to("/dev/zero")   # read() would never end
    (root / "Ann" / "null.png").symlink_to("/dev/null")
    m = build_manifest("special", FolderDatasetOptions(root=root))
    assert list(m.frame["path"]) == ["Ann/1.jpg"]
    assert _skips(m) == {"Ann/pipe.jpg": "not a regular file (FIFO)",
                         "Ann/zero.jpg": "not a regular file (character device)",
                         "Ann/null.png": "not a regular file (character device)"}
    # The hashing and the decoding check again on the open file: a path that turned into a FIFO
    # after the listing is a skip too, at once.
    frame, skipped = _hash_rows(root, [("Ann/pipe.jpg", "Ann"), ("Ann/zero.jpg", "Ann")], threads=2)
    assert frame.empty and dict(skipped) == {"Ann/pipe.jpg": "not a regular file (FIFO)",
                                             "Ann/zero.jpg": "not a regular file (character device)"}
    with pytest.raises(images.ImageSkip) as info:
        images.decode_file(root / "Ann" / "pipe.jpg")
    assert (info.value.reason, info.value.detail) == (images.NOT_REGULAR, "FIFO")


@linux_only
@pytest.mark.timeout(30)
def test_csv_manifest_naming_a_fifo_or_a_folder_skips_them(tmp_path):
    _jpeg(tmp_path / "img" / "a.jpg", 1)
    os.mkfifo(tmp_path / "img" / "pipe.jpg")
    (tmp_path / "img" / "dir.jpg").mkdir()
    pd.DataFrame({"path": ["img/a.jpg", "img/pipe.jpg", "img/dir.jpg"], "identity": ["Ann", "Ann", "Bob"]}).to_csv(
        tmp_path / "list.csv", index=False)
    m = build_manifest("c", CsvManifestOptions(manifest_file=tmp_path / "list.csv"))
    assert list(m.frame["path"]) == ["img/a.jpg"]
    assert _skips(m) == {"img/pipe.jpg": "not a regular file (FIFO)", "img/dir.jpg": "not a regular file (folder)"}


# --------------------------------------------------------------------------- one rule for links
def test_symlinked_identity_folder_is_a_stated_skip_naming_the_option(tmp_path):
    outside = tmp_path / "elsewhere" / "Bob"
    _jpeg(outside / "1.jpg", 2)
    root = tmp_path / "data"
    _jpeg(root / "Ann" / "1.jpg", 1)
    (root / "Bob").symlink_to(outside)
    default = build_manifest("d", FolderDatasetOptions(root=root))
    assert list(default.frame["identity"]) == ["Ann"]
    assert _skips(default) == {"Bob/": LINKED_FOLDER} and "follow_symlinks = true" in LINKED_FOLDER
    followed = build_manifest("d", FolderDatasetOptions(root=root, follow_symlinks=True))
    assert list(followed.frame["identity"]) == ["Ann", "Bob"] and followed.skipped.empty


def _link_tree(tmp_path: Path) -> tuple[Path, Path]:
    """02463/02463d1.jpg (a file), 02463d2.jpg -> a file outside root, 02463d3.jpg -> 02463d1.jpg (inside root)."""
    outside = _jpeg(tmp_path / "elsewhere" / "x.jpg", 9)
    root = tmp_path / "data"
    _jpeg(root / "02463" / "02463d1.jpg", 1)
    (root / "02463" / "02463d2.jpg").symlink_to(outside)
    (root / "02463" / "02463d3.jpg").symlink_to("02463d1.jpg")
    return root, outside


def _options(kind: str, root: Path, follow: bool):
    if kind == "folder":
        return FolderDatasetOptions(root=root, follow_symlinks=follow)
    if kind == "filename":
        return FilenameDatasetOptions(root=root, follow_symlinks=follow)
    if kind == "unlabelled":
        return UnlabelledDatasetOptions(root=root, follow_symlinks=follow)
    files = ["02463/02463d1.jpg", "02463/02463d2.jpg", "02463/02463d3.jpg"]
    pd.DataFrame({"path": files, "identity": ["02463"] * 3}).to_csv(root / "list.csv", index=False)
    return CsvManifestOptions(manifest_file=root / "list.csv", follow_symlinks=follow)


@pytest.mark.parametrize("kind", ["folder", "filename", "unlabelled", "csv"])
def test_file_links_follow_one_rule_in_every_image_adapter(tmp_path, kind):
    root, _ = _link_tree(tmp_path)
    default = build_manifest(kind, _options(kind, root, follow=False))
    assert list(default.frame["path"]) == ["02463/02463d1.jpg", "02463/02463d3.jpg"], kind  # a link inside root
    assert _skips(default) == {"02463/02463d2.jpg": LINK_OUTSIDE_ROOT}, kind
    followed = build_manifest(kind, _options(kind, root, follow=True))
    assert list(followed.frame["path"]) == ["02463/02463d1.jpg", "02463/02463d2.jpg", "02463/02463d3.jpg"], kind
    assert followed.skipped.empty, kind


def test_csv_paths_written_outside_root_stay_refused_even_when_following_links(tmp_path):
    root, outside = _link_tree(tmp_path)
    pd.DataFrame({"path": ["../elsewhere/x.jpg", str(outside), "02463/../02463/02463d1.jpg"],
                  "identity": ["a", "b", "c"]}).to_csv(root / "list.csv", index=False)
    m = build_manifest("c", CsvManifestOptions(manifest_file=root / "list.csv", follow_symlinks=True))
    assert list(m.frame["path"]) == ["02463/02463d1.jpg"]  # written with "..", but inside root
    assert sorted(m.skipped["reason"]) == ["path outside root", "path outside root"]


# --------------------------------------------------------------------------- names that are not UTF-8
@linux_only
def test_name_that_is_not_utf8_is_a_skip_with_a_printable_name(tmp_path):
    root = tmp_path / "data"
    _jpeg(root / "Ann" / "1.jpg", 1)
    _jpeg(root / "Bob" / "1.jpg", 2)
    raw = bytes(root)
    with open(raw + b"/Ann/caf\xe9.jpg", "wb") as fh:  # Latin-1 bytes: no UTF-8 decoding exists
        fh.write((root / "Ann" / "1.jpg").read_bytes())
    os.mkdir(raw + b"/Jos\xe9")
    with open(raw + b"/Jos\xe9/1.jpg", "wb") as fh:
        fh.write((root / "Bob" / "1.jpg").read_bytes())
    m = build_manifest("names", FolderDatasetOptions(root=root))
    assert list(m.frame["path"]) == ["Ann/1.jpg", "Bob/1.jpg"]
    assert _skips(m) == {"Ann/caf\\xe9.jpg": NOT_UTF8, "Jos\\xe9/": NOT_UTF8}
    assert printable(os.fsdecode(b"caf\xe9")) == "caf\\xe9"
    m.skipped.to_csv(tmp_path / "skips.csv")  # the rows are plain UTF-8 text now (this raised before)
    m.skipped.to_parquet(tmp_path / "skips.parquet")
    listing = list_tree(root, False, (".jpg",))
    assert all(rel.encode("utf-8") for rel, _ in listing.files)


# --------------------------------------------------------------------------- a whole build
@linux_only
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_build_over_hostile_entries_finishes_and_lists_every_skip(tmp_path):
    """FIFO, /dev/zero, a non-UTF-8 name, a linked identity folder: the build ends (exit 0) and says why."""
    pytest.importorskip("dlib")
    pytest.importorskip("face_recognition_models")
    if not CELEBS.is_dir():
        pytest.skip("celebrity photos absent (../shared/data)")
    from tests.conftest import write_dlib_study

    write_dlib_study(tmp_path, per_person=3)
    faces = tmp_path / "faces"
    os.mkfifo(faces / "Tom Cruise" / "pipe.jpg")
    (faces / "Tom Cruise" / "zero.jpg").symlink_to("/dev/zero")
    with open(bytes(faces) + b"/Angelina Jolie/caf\xe9.jpg", "wb") as fh:
        fh.write(next((faces / "Angelina Jolie").glob("*.jpg")).read_bytes())
    elsewhere = tmp_path / "elsewhere" / "Brad Pitt"
    elsewhere.mkdir(parents=True)
    for src in sorted((CELEBS / "Brad Pitt").glob("*.jpg"))[:3]:
        (elsewhere / src.name).write_bytes(src.read_bytes())
    (faces / "Brad Pitt").symlink_to(elsewhere)
    study = tmp_path / "study.toml"
    proc = subprocess.run([sys.executable, str(ROOT / "build_report.py"), "--config", str(study), "--no-site",
                           "--no-paper", "--quiet"], capture_output=True, text=True, timeout=540, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = (tmp_path / "out" / "docs" / "data" / "faces.md").read_text(encoding="utf-8")
    skipped = pd.read_csv(tmp_path / "out" / "docs" / "tables" / "data-faces-skipped.csv")
    reasons = dict(zip(skipped["item"], skipped["reason"]))
    assert reasons["Tom Cruise/pipe.jpg"] == "not a regular file (FIFO)"
    assert reasons["Tom Cruise/zero.jpg"] == "not a regular file (character device)"
    assert reasons["Angelina Jolie/caf\\xe9.jpg"] == NOT_UTF8
    assert reasons["Brad Pitt/"] == LINKED_FOLDER
    assert "follow&#95;symlinks" in data or "follow_symlinks" in data
