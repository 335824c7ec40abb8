"""Review folders follow the output ownership rules (issue 21): manifest, stale crops, user files, names, placement."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from report.review import MANIFEST, crop_name, write_review_folders

PHOTOS = ("x.jpg", "x.png", "a/b.jpg", "a__b.jpg", "c.jpg")


def _trace():
    rows = []
    for rel in PHOTOS:
        for k in range(2 if rel == "c.jpg" else 1):  # c.jpg is a group photo of two faces
            x = 20.0 + 70 * k
            rows.append({"item": rel, "face_index": k, "x1": x, "y1": 20.0, "x2": x + 50, "y2": 80.0,
                         "landmark_scheme": "", **{f"{a}{j}": np.nan for j in range(5) for a in ("lx", "ly")}})
    return pd.DataFrame(rows), np.array([f"{r['item']}#{r['face_index']}" for r in rows])


def _photos(tmp_path) -> Path:
    from PIL import Image

    root = tmp_path / "photos"
    if not root.exists():
        rng = np.random.default_rng(0)
        for rel in PHOTOS:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(root / rel)
    return root


def _write(tmp_path, clusters, review):
    trace, items = _trace()
    inp = SimpleNamespace(spec=SimpleNamespace(name="photos", options=SimpleNamespace(review_dir=review)),
                          image_root=_photos(tmp_path), trace={"net": trace}, naming=())
    warnings = []
    found = SimpleNamespace(items=items, clusters=np.asarray(clusters))
    written = write_review_folders(SimpleNamespace(inputs=[inp]), lambda name: {"net": found}, warn=warnings.append)
    return written, warnings, items


def _crops(review: Path) -> list[str]:
    return sorted(str(p.relative_to(review)) for p in review.rglob("*.jpg"))


def test_crop_names_never_collide():
    names = {crop_name(p, 0) for p in PHOTOS}
    assert len(names) == len(PHOTOS)
    assert crop_name("a/b.jpg", 0) != crop_name("a__b.jpg", 0) and crop_name("x.jpg", 0) != crop_name("x.png", 0)
    long = crop_name("d/" * 200 + "p.jpg", 3)
    assert len(long.encode()) < 255 and long.endswith(".jpg")
    assert "\ufffd" not in crop_name("bad\udcffname.jpg", 0)  # a non-UTF-8 name still gives a file name


def test_one_crop_per_face_and_stale_crops_removed_while_user_files_stay(tmp_path):
    review = tmp_path / "review"
    written, warnings, items = _write(tmp_path, [0, 0, 1, 1, 2, 2], review)
    assert written == [review / "photos-net"] and not warnings
    first = _crops(review)
    assert len(first) == len(items) == 6
    manifest = json.loads((review / MANIFEST).read_text(encoding="utf-8"))
    assert sorted(manifest["files"]) == first
    # the user's own files: a note in a cluster folder, a file where a crop of the next build goes, an edited crop
    note = review / "photos-net" / "cluster-00" / "notes.txt"
    note.write_text("Tom?\n", encoding="utf-8")
    squatted = review / "photos-net" / "cluster-03" / crop_name("c.jpg", 1)
    squatted.parent.mkdir()
    squatted.write_bytes(b"my picture")
    edited = review / first[2]  # a crop of cluster 01, which will no longer exist
    edited.write_bytes(b"edited by hand")
    # second build: other clusters (k changed): every face in exactly one cluster folder
    _, warnings, _ = _write(tmp_path, [0, 0, 0, 3, 3, 3], review)
    crops = _crops(review)
    assert note.read_text(encoding="utf-8") == "Tom?\n" and squatted.read_bytes() == b"my picture"
    assert edited.read_bytes() == b"edited by hand"
    assert sum("/cluster-02/" in c for c in crops) == 0  # stale cluster folder emptied and removed
    assert not (review / "photos-net" / "cluster-02").exists()
    ours = [c for c in crops if (review / c).read_bytes()[:2] == b"\xff\xd8"]
    assert len(ours) == 5  # the sixth face's crop would overwrite the user's file: not written
    assert any("not a file the build wrote" in w for w in warnings)
    assert any("was changed; it is kept" in w for w in warnings)
    manifest = json.loads((review / MANIFEST).read_text(encoding="utf-8"))
    assert str(squatted.relative_to(review)) not in manifest["files"] and str(edited.relative_to(review)) not in manifest["files"]
    # third build, same clusters: nothing rewritten, nothing new
    _, warnings, _ = _write(tmp_path, [0, 0, 0, 3, 3, 3], review)
    assert _crops(review) == crops


def _config(tmp_path, review: str, output_dir: str = "out") -> Path:
    (tmp_path / "photos").mkdir(exist_ok=True)
    path = tmp_path / "study.toml"
    path.write_text(f'[study]\noutput_dir = "{output_dir}"\n[[datasets]]\nname = "p"\nkind = "unlabelled"\n'
                    f'root = "photos"\nreview_dir = "{review}"\n[[networks]]\nname = "dlib"\nkind = "dlib"\n',
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("review, message", [
    ("/", "the file-system root"),
    ("~", "your home folder"),
    ("photos", "inside the root of dataset 'p'"),
    ("photos/review", "inside the root of dataset 'p'"),
    ("out/docs", "inside docs/"),
    ("out/site/review", "inside site/"),
    ("out/paper", "inside paper/"),
    ("a-file", "is a file"),
])
def test_review_folders_that_would_do_harm_are_refused_at_config_load(tmp_path, review, message):
    from analysis.config import ConfigError, load_config

    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, review))
    assert load_config(_config(tmp_path, "review")).datasets[0].options.review_dir == (tmp_path / "review").resolve()


def test_long_non_ascii_paths_and_hostile_manifest_entries(tmp_path):
    """A crop name stays under 255 bytes for a path of CJK characters, on the first and the second build; a
    manifest entry leading out of the review folder is never followed, not even to delete a file it names."""
    import hashlib

    from report.review import _sync

    photo = "名" * 60 + "/" + "照" * 60 + ".jpg"
    name = crop_name(photo, 0)
    assert len(name.encode("utf-8")) <= 255
    review = tmp_path / "review"
    rel = f"ds-net/cluster-00/{name}"
    warnings: list = []
    owned = _sync(review, {rel: b"jpeg"}, {}, ["ds-net"], warnings.append)
    again = _sync(review, {rel: b"jpeg2"}, owned, ["ds-net"], warnings.append)  # the folder exists now
    assert (review / rel).read_bytes() == b"jpeg2" and not warnings and rel in again
    victim = tmp_path / "precious.txt"
    victim.write_text("mine", encoding="utf-8")
    hostile = {"ds-net/../../precious.txt": hashlib.sha256(b"mine").hexdigest(), **again}
    after = _sync(review, {}, hostile, ["ds-net"], warnings.append)
    assert victim.read_text(encoding="utf-8") == "mine" and "ds-net/../../precious.txt" not in after
