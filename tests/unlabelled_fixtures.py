"""Unlabelled test photos built at test time from ``../shared/data/celebrity-faces`` (never committed).

:func:`make_unlabelled_photos` writes, into one folder:

* ``photos/photo-NN.jpg``: 40 single-face photos of 4 people, shuffled under neutral names (the
  truth is returned, not written);
* ``events/group-N.jpg``: 4 "group photos", 2-3 faces of different people side by side on one
  canvas;
* ``held-back/``: 3 more photos of each of the 4 people and 3 of a fifth person, for ``predict``.

The source files are fixed lists: photos in which dlib's HOG detector finds exactly one face
of at least 60 px (checked once by hand), so that the truth of every face is known.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.face_fixtures import CELEBRITY

PEOPLE = ("Tom Cruise", "Angelina Jolie", "Denzel Washington", "Natalie Portman")
STRANGER = "Hugh Jackman"
SINGLES = {
    "Tom Cruise": ("001", "002", "003", "004", "005", "006", "007", "008", "009", "010"),
    "Angelina Jolie": ("001", "002", "003", "005", "007", "008", "009", "010", "011", "012"),
    "Denzel Washington": ("001", "002", "003", "004", "005", "006", "007", "008", "010", "012"),
    "Natalie Portman": ("001", "002", "003", "004", "005", "006", "007", "008", "009", "010"),
}
GROUPS = (
    (("Tom Cruise", "011"), ("Angelina Jolie", "013")),
    (("Denzel Washington", "013"), ("Natalie Portman", "011")),
    (("Tom Cruise", "012"), ("Denzel Washington", "014"), ("Natalie Portman", "012")),
    (("Angelina Jolie", "014"), ("Natalie Portman", "013"), ("Tom Cruise", "013")),
)
#: Photos added after naming (issue 21): 15 more of two people, so that they become the largest
#: clusters and every cluster id is renumbered (HOG finds exactly one face in each, checked by hand).
ADDED = {
    "Denzel Washington": ("019", "021", "022", "023", "024", "025", "027", "028"),
    "Angelina Jolie": ("019", "020", "021", "022", "023", "025", "026"),
}
HELD_BACK = {
    "Tom Cruise": ("016", "017", "018"),
    "Angelina Jolie": ("015", "016", "017"),
    "Denzel Washington": ("016", "017", "018"),
    "Natalie Portman": ("015", "016", "017"),
    STRANGER: ("001", "002", "003"),
}


@dataclass(frozen=True)
class UnlabelledPhotos:
    """Where the photos are and who is in them."""

    root: Path  # the unlabelled dataset (photos/ and events/)
    held_back: Path
    singles: dict  # "photos/photo-NN.jpg" -> person
    groups: dict  # "events/group-N.jpg" -> people left to right
    held_back_truth: dict  # file name -> person


def _source(person: str, prefix: str) -> Path:
    matches = sorted((CELEBRITY / person).glob(f"{prefix}_*.jpg"))
    if not matches:
        pytest.skip(f"celebrity photo {person}/{prefix}_* missing from the shared data")
    return matches[0]


def _canvas(paths: list[Path], height: int = 320, gap: int = 40):
    from PIL import Image

    tiles = []
    for p in paths:
        im = Image.open(p).convert("RGB")
        tiles.append(im.resize((round(im.width * height / im.height), height), Image.LANCZOS))
    width = sum(t.width for t in tiles) + gap * (len(tiles) + 1)
    canvas = Image.new("RGB", (width, height + 2 * gap), (128, 128, 128))
    x = gap
    for t in tiles:
        canvas.paste(t, (x, gap))
        x += t.width + gap
    return canvas


def make_unlabelled_photos(folder: Path, seed: int = 0) -> UnlabelledPhotos:
    """Write the test photos under ``folder`` (see module docstring)."""
    if not CELEBRITY.is_dir():
        pytest.skip("../shared/data/celebrity-faces is not available")
    root, held = folder / "unlabelled", folder / "held-back"
    (root / "photos").mkdir(parents=True)
    (root / "events").mkdir()
    held.mkdir()
    singles = [(person, prefix) for person in PEOPLE for prefix in SINGLES[person]]
    order = np.random.default_rng(seed).permutation(len(singles))
    truth = {}
    for n, i in enumerate(order):
        person, prefix = singles[i]
        rel = f"photos/photo-{n:02d}.jpg"
        shutil.copyfile(_source(person, prefix), root / rel)
        truth[rel] = person
    groups = {}
    for n, members in enumerate(GROUPS, start=1):
        rel = f"events/group-{n}.jpg"
        _canvas([_source(p, prefix) for p, prefix in members]).save(root / rel, quality=92)
        groups[rel] = tuple(p for p, _ in members)
    held_truth = {}
    for person, prefixes in sorted(HELD_BACK.items()):
        for prefix in prefixes:
            name = f"{person.split()[0].lower()}-{prefix}.jpg"
            shutil.copyfile(_source(person, prefix), held / name)
            held_truth[name] = person
    return UnlabelledPhotos(root, held, truth, groups, held_truth)


def add_photos(photos: UnlabelledPhotos, seed: int = 1) -> dict:
    """The photos of :data:`ADDED` under ``added/new-NN.jpg`` (shuffled); returns ``path -> person``."""
    added = [(person, prefix) for person, prefixes in sorted(ADDED.items()) for prefix in prefixes]
    (photos.root / "added").mkdir()
    truth = {}
    for n, i in enumerate(np.random.default_rng(seed).permutation(len(added))):
        person, prefix = added[i]
        rel = f"added/new-{n:02d}.jpg"
        shutil.copyfile(_source(person, prefix), photos.root / rel)
        truth[rel] = person
    return truth


def rename_photos(photos: UnlabelledPhotos, rels: list[str]) -> dict:
    """Move photos into ``renamed/`` under new names (same content); returns ``old path -> new path``."""
    (photos.root / "renamed").mkdir(exist_ok=True)
    moved = {}
    for n, rel in enumerate(rels):
        new = f"renamed/moved-{n:02d}.jpg"
        (photos.root / rel).rename(photos.root / new)
        moved[rel] = new
    return moved


UNLABELLED_STUDY = """
subsets = ["all"]

[study]
title = "Unlabelled photos"
output_dir = "out"
cache_dir = "{cache}"
build_site = false
build_paper = false

[[datasets]]
name = "archive"
kind = "unlabelled"
root = "{root}"
{names}

[[networks]]
name = "dlib"
kind = "dlib"

[extraction]
face_selection = "all"
detector_speed = "fast"    # dlib HOG, as measured for this workflow (the CNN default costs ~50x per photo)

[manifold]
umap = false
tsne = false
"""


def write_unlabelled_config(folder: Path, root: Path, cache: Path, names_file: Path | None = None) -> Path:
    """A study config of the unlabelled photos (dlib), optionally with a naming file."""
    folder.mkdir(parents=True, exist_ok=True)
    names = f'names_file = "{names_file}"' if names_file else ""
    path = folder / "study.toml"
    path.write_text(UNLABELLED_STUDY.format(root=root, cache=cache, names=names), encoding="utf-8")
    return path
