#!/usr/bin/env python
"""Make the unlabelled-photos demo from ../shared/data/celebrity-faces (nothing is committed).

    python scripts/make_unlabelled_demo.py [FOLDER]      # default: build/unlabelled-photos

Writes FOLDER/unlabelled/ (40 single-face photos of 4 people under neutral names in photos/,
4 group photos of 2-3 of them in events/) and FOLDER/held-back/ (3 new photos of each person and
3 of a fifth one, for ``predict``), plus FOLDER/truth.csv, the hidden identities, for checking.
Then follow the "Unlabelled photos" section of the README with configs/unlabelled-photos.toml.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.unlabelled_fixtures import make_unlabelled_photos  # noqa: E402


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else ROOT / "build" / "unlabelled-photos"
    if (folder / "unlabelled").exists():
        print(f"{folder / 'unlabelled'} exists; delete it to make the photos again")
        return 1
    photos = make_unlabelled_photos(folder)
    with open(folder / "truth.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["file", "people (left to right)"])
        for rel, person in sorted({**photos.singles, **{k: " + ".join(v) for k, v in photos.groups.items()}}.items()):
            out.writerow([rel, person])
        for name, person in sorted(photos.held_back_truth.items()):
            out.writerow([f"held-back/{name}", person])
    print(f"photos: {photos.root}\nheld back: {photos.held_back}\ntruth: {folder / 'truth.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
