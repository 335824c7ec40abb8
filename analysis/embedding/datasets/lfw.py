"""The LFW image adapter (``kind = "lfw"``): locating or downloading LFW and its pairs protocol.

Holds :class:`LfwOptions`, :func:`resolve_lfw` (``lfw_home`` and the per-person image folder,
downloaded through scikit-learn on request), :func:`lfw_image_path` and
:func:`read_lfw_pairs` for the verification pairs files.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd


@dataclass(frozen=True)
class LfwOptions:
    """``kind = "lfw"``: Labeled Faces in the Wild, with its pairs protocol.

    Parameters
    ----------
    root : Path, optional
        Either scikit-learn's ``lfw_home`` folder (or its parent, the scikit-learn data home),
        or directly the folder holding one sub-folder per person. Required unless
        ``download`` is true.
    download : bool, default=False
        Download LFW with :func:`sklearn.datasets.fetch_lfw_people` (``color=True``) into
        ``data_home`` when ``root`` is not given (needs internet, about 230 MB).
    data_home : str, default=""
        scikit-learn data home for the download; empty means scikit-learn's default
        (``~/scikit_learn_data``).
    funneled : bool, default=True
        Use the funneled (roughly aligned) images, as scikit-learn does by default.
    pairs_file : Path, optional
        LFW pairs file (``pairs.txt``, ``pairsDevTest.txt`` ...); default: ``pairs.txt`` in
        ``lfw_home`` when present.
    hash_threads : int, default=4
    """

    FAMILY: ClassVar[str] = "images"

    root: Path | None = None
    download: bool = False
    data_home: str = ""
    funneled: bool = True
    pairs_file: Path | None = None
    hash_threads: int = 4


# --------------------------------------------------------------------------------------------
# LFW
# --------------------------------------------------------------------------------------------


def resolve_lfw(options: LfwOptions) -> tuple[Path | None, Path]:
    """(``lfw_home`` or None, folder of per-person folders) for LFW options.

    Downloads through scikit-learn when ``download`` is true and ``root`` is not given.
    """
    sub = "lfw_funneled" if options.funneled else "lfw"
    if options.root is not None:
        root = Path(options.root).expanduser().resolve()
        for home in (root / "lfw_home", root):
            if (home / sub).is_dir():
                return home, home / sub
        if root.is_dir():
            return (root.parent if (root.parent / "pairs.txt").is_file() else None), root
        raise FileNotFoundError(f"LFW root {str(root)!r} does not exist; point root at lfw_home or set download = true")
    if not options.download:
        raise ValueError("LFW needs either root = <lfw_home or image folder> or download = true (internet access)")
    try:
        from sklearn.datasets import fetch_lfw_people, get_data_home
    except ImportError as exc:
        raise ImportError("downloading LFW needs scikit-learn: pip install scikit-learn") from exc
    data_home = options.data_home or None
    # fetch_lfw_people downloads and unpacks the JPEG archive and the pairs files into
    # <data_home>/lfw_home; the pipeline then detects and aligns the original JPEGs itself.
    fetch_lfw_people(data_home=data_home, funneled=options.funneled, color=True, download_if_missing=True)
    home = Path(get_data_home(data_home)) / "lfw_home"
    return home, home / sub


def _default_pairs_file(lfw_home: Path | None) -> Path | None:
    if lfw_home is None:
        return None
    candidate = Path(lfw_home) / "pairs.txt"
    return candidate if candidate.is_file() else None


def lfw_image_path(person: str, number: int) -> str:
    """Relative path of LFW image ``number`` of ``person`` (``Name/Name_0001.jpg``)."""
    return f"{person}/{person}_{int(number):04d}.jpg"


def read_lfw_pairs(path: Path) -> pd.DataFrame:
    """Parse an LFW pairs file (``pairs.txt``, ``pairsDevTrain.txt``, ``pairsDevTest.txt``).

    Lines with 3 fields are matched pairs (``name n1 n2``), lines with 4 fields mismatched
    pairs (``name1 n1 name2 n2``). In ``pairs.txt`` (header ``10 300``) the pairs come in 10
    folds of ``300`` matched then ``300`` mismatched pairs; dev files are a single fold.

    Returns
    -------
    DataFrame
        Columns ``path_a``, ``path_b``, ``same`` (bool), ``fold`` (int).
    """
    lines = [ln.split() for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    per_fold = None
    if lines and all(tok.isdigit() for tok in lines[0]):
        header = [int(t) for t in lines[0]]
        lines = lines[1:]
        # "10 300": 10 folds of 300 matched + 300 mismatched; "1100": a single fold.
        per_fold = 2 * header[1] if len(header) == 2 else None
    rows = []
    for i, tok in enumerate(lines):
        fold = i // per_fold if per_fold else 0
        if len(tok) == 3:
            rows.append((lfw_image_path(tok[0], tok[1]), lfw_image_path(tok[0], tok[2]), True, fold))
        elif len(tok) == 4:
            rows.append((lfw_image_path(tok[0], tok[1]), lfw_image_path(tok[2], tok[3]), False, fold))
        else:
            raise ValueError(f"{path}: line {i + 2} has {len(tok)} fields; expected 3 (matched) or 4 (mismatched)")
    return pd.DataFrame(rows, columns=["path_a", "path_b", "same", "fold"])

