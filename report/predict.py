"""``build_report.py predict``: who is in new photos, with a recogniser exported by a study build.

    python build_report.py predict --model out/models/archive-dlib --output who.csv photos/ new.jpg

Every face of every photo (folders are searched recursively) is detected and aligned with the
study's own detector and settings (``face_selection = "all"``), embedded with the study's network,
and named by the recogniser (:func:`analysis.statistics.recognizer.predict_identities`):
``unknown`` when its similarity to the predicted identity is below the threshold calibrated on
the study's impostor distribution. The CSV has one row per face: ``original_file, face_index,
x1, y1, x2, y2, identity, confidence``; a photo without a usable face, and a file of a folder
that is not read (hidden, not named like an image, not a regular file), gets one row with
``face_index = -1`` and the reason as its identity. A file given twice (a symlink, a relative
and an absolute path) is read once.

As careful as the build: the model folder is checked as one unit before use
(:func:`report.recognizer_files.read_recognizer`), the output may not be an input photo, a file
of the model folder or a folder, and is replaced only with ``--force``
(:func:`check_output`); the CLI writes it atomically.
"""
from __future__ import annotations

import dataclasses
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.statistics.recognizer import predict_identities

PREDICT_COLUMNS = ["original_file", "face_index", "x1", "y1", "x2", "y2", "identity", "confidence"]
HIDDEN = "hidden file (not read from a folder; pass it by name to include it)"
HIDDEN_FOLDER = "hidden folder (not searched; pass it by name to include it)"
LINKED_FOLDER = "symlinked folder (not followed; pass it by name to include it)"
NOT_IMAGE = "not named like an image file ({ext}; not read from a folder; pass it by name if it is a photo)"
NOT_REGULAR = "not a regular file (a FIFO, socket or device is never read)"


@dataclass(frozen=True)
class Inputs:
    """The photos to read (real path, shown name) and the files left out with their reason."""

    photos: tuple[tuple[str, str], ...]
    skipped: tuple[tuple[str, str], ...]  # (shown name, reason)

    @property
    def real_paths(self) -> set[str]:
        """Every file named or found, read or not (none of them may be overwritten by the output)."""
        return {real for real, _ in self.photos} | {os.path.realpath(shown) for shown, _ in self.skipped}


def shown_name(path: str) -> str:
    """A path as printable text (bytes of a non-UTF-8 name become U+FFFD)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _extensions() -> set[str]:
    from analysis.embedding.images import IMAGE_EXTENSIONS

    return {e.lower() for e in IMAGE_EXTENSIONS}


def _walk(folder: Path, exts: set[str]):
    """(path, reason or None) of every entry under ``folder``, sorted; hidden and symlinked folders not entered."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        keep = []
        for d in sorted(dirnames):
            full = os.path.join(dirpath, d)
            if d.startswith("."):
                yield full, HIDDEN_FOLDER
            elif os.path.islink(full):
                yield full, LINKED_FOLDER
            else:
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            full = os.path.join(dirpath, f)
            ext = os.path.splitext(f)[1].lower()
            if f.startswith("."):
                yield full, HIDDEN
            elif ext not in exts:
                yield full, NOT_IMAGE.format(ext=repr(ext) if ext else "no extension")
            else:
                yield full, None


def collect_inputs(paths: list[Path]) -> Inputs:
    """The photos of ``paths``: files as given, folders searched recursively (see module docstring).

    Raises
    ------
    FileNotFoundError
        A path that does not exist.
    """
    exts = _extensions()
    candidates: list[tuple[str, str | None]] = []
    for p in map(Path, paths):
        if p.is_dir():
            candidates.extend(_walk(p, exts))
        elif p.exists():
            candidates.append((str(p), None))  # named explicitly: read whatever its name
        else:
            raise FileNotFoundError(f"{str(p)!r} is neither a photo nor a folder")
    photos: dict[str, str] = {}
    skipped: list[tuple[str, str]] = []
    for path, reason in sorted(candidates, key=lambda c: shown_name(c[0])):
        shown = shown_name(path)
        if reason is None:
            try:
                mode = os.stat(path).st_mode
            except OSError as exc:
                skipped.append((shown, f"unreadable file ({type(exc).__name__})"))
                continue
            if not stat.S_ISREG(mode):
                skipped.append((shown, NOT_REGULAR))
                continue
            real = os.path.realpath(path)
            if real in photos:
                continue  # one file, one row: the first of its names (sorted) is shown
            photos[real] = shown
        else:
            skipped.append((shown, reason))
    return Inputs(tuple(sorted(((r, s) for r, s in photos.items()), key=lambda t: t[1])), tuple(skipped))


def list_photos(paths: list[Path]) -> list[Path]:
    """Image files of ``paths`` that would be read, sorted by shown name, each file once."""
    return [Path(real) for real, _ in collect_inputs(paths).photos]


def check_output(output: Path, inputs: Inputs, model_dir: Path, force: bool) -> None:
    """Refuse an output that would destroy something: ValueError naming the path and the fix.

    Checked before any photo is read: an input photo or any file named or found among the inputs,
    a file of the model folder, a folder, a missing or read-only parent folder, and an existing
    file unless ``force``.
    """
    out = Path(output)
    where = f"--output {str(out)!r}"
    if out.is_dir():
        raise ValueError(f"{where} is a folder; give a file name such as who.csv")
    real = os.path.realpath(out)
    model = os.path.realpath(model_dir)
    if real == model or real.startswith(model.rstrip(os.sep) + os.sep) \
            or os.path.abspath(out).startswith(os.path.abspath(model_dir).rstrip(os.sep) + os.sep):
        raise ValueError(f"{where} is inside the model folder {str(model_dir)!r}; write the CSV elsewhere")
    if real in inputs.real_paths:
        raise ValueError(f"{where} is one of the input files; write the CSV elsewhere (--force never replaces a photo)")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{where}: folder {str(parent)!r} does not exist; create it first")
    if (out.exists() or out.is_symlink()) and not force:
        raise ValueError(f"{where} exists; pass --force to replace it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{where}: folder {str(parent)!r} is not writable")


def _pipeline(doc: dict):
    """Network options and extraction params of the study, rebuilt from the recogniser's JSON."""
    from analysis.config import build_dataclass
    from analysis.embedding import networks
    from analysis.embedding.extraction_params import ExtractionParams

    net = build_dataclass(networks.options_type(doc["network_kind"]), doc["network_options"], "recognizer network")
    params = build_dataclass(ExtractionParams, doc["extraction"], "recognizer extraction")
    return net, dataclasses.replace(params, face_selection="all", save_aligned=False)


def plan_device(requested: str, override: str | None, warn, cuda_capable: bool = True):
    """The device ``predict`` runs on: ``override``, else the study's setting, else (unusable here) the CPU with a warning.

    ``cuda_capable`` is False for a dlib pipeline (dlib-bin has no CUDA): a CUDA request then runs
    on the CPU with the same warning.
    """
    from analysis.embedding import devices as dev

    if override is not None:
        return dev.plan_devices(override, cuda_capable=cuda_capable)[0]
    try:
        if not cuda_capable and requested.strip().lower().startswith("cuda"):
            raise dev.DeviceUnavailableError("the study's dlib detector or network has no CUDA build here")
        return dev.plan_devices(requested)[0]
    except (dev.DeviceUnavailableError, ValueError) as exc:
        warn(f"the model was exported with devices = {requested!r}, which this machine cannot use "
             f"({' '.join(str(exc).split()).split('. ')[0]}); running on the CPU (pass --devices to choose)")
        return dev.cpu_devices(1)[0]


def predict_photos(model_dir: Path, photos: list[Path] | Inputs, devices: str | None = None, warn=None) -> pd.DataFrame:
    """One row per face of ``photos`` (see module docstring).

    Raises
    ------
    ValueError
        An unusable model folder, a network that cannot run here, or embeddings of another size.
    """
    from analysis.embedding import devices as dev
    from analysis.embedding.extract import uses_dlib
    from analysis.embedding.extraction_params import resolve_detector
    from analysis.embedding.face_worker import _Job, _Worker
    from report.recognizer_files import read_recognizer

    warn = warn or (lambda _text: None)
    rec, doc = read_recognizer(model_dir)
    inputs = photos if isinstance(photos, Inputs) else collect_inputs(photos)
    rows = [_reason_row(shown, reason) for shown, reason in inputs.skipped]
    if inputs.photos:
        net_options, params = _pipeline(doc)
        paths = tuple(real for real, _ in inputs.photos)  # absolute: the job root "/" joins them unchanged
        try:
            job = _Job("/", paths, ((0, len(paths)),), "", None, net_options, resolve_detector(params, net_options), params)
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"the study's detector cannot be set up here ({' '.join(str(exc).split())[:300]})") from None
        device = plan_device(params.devices, devices, warn, cuda_capable=not uses_dlib(job))
        try:
            worker = _Worker(job, device, 0 if device.is_cuda else dev.cpu_count())
        except Exception as exc:  # noqa: BLE001 - a model file that cannot be loaded here is the user's to fix
            raise ValueError(f"the study's detector or network cannot be loaded ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:300]}); check network_options in "
                             f"{str(Path(model_dir) / 'recognizer.json')!r} (model_path) on this machine") from None
        try:
            vectors, trace = worker.process((0, len(paths)))
        finally:
            worker.close()
        if vectors.shape[0] and vectors.shape[1] != int(doc["embedding_dims"]):
            raise ValueError(f"the network gives {vectors.shape[1]}-D vectors, the recogniser expects "
                             f"{doc['embedding_dims']}: the model folder's network_options name another network")
        names, confidence = predict_identities(rec, vectors)
        shown = dict(inputs.photos)
        kept = trace[trace["kept"].astype(bool)]
        rows += [{"original_file": shown[str(r.item)], "face_index": int(r.face_index), "x1": float(r.x1),
                  "y1": float(r.y1), "x2": float(r.x2), "y2": float(r.y2), "identity": names[i],
                  "confidence": float(confidence[i])} for i, r in enumerate(kept.itertuples())]
        with_face = set(kept["item"].astype(str))
        faceless = trace[trace["face_index"] < 0]
        rows += [_reason_row(shown[str(r.item)], str(r.status)) for r in faceless.itertuples()
                 if str(r.item) not in with_face]
    out = pd.DataFrame(rows, columns=PREDICT_COLUMNS).astype({"face_index": np.int64})
    return out.sort_values(["original_file", "face_index"], kind="mergesort").reset_index(drop=True)


def _reason_row(shown: str, reason: str) -> dict:
    return {"original_file": shown, "face_index": -1, "x1": np.nan, "y1": np.nan, "x2": np.nan, "y2": np.nan,
            "identity": reason, "confidence": np.nan}


def predictions_csv(table: pd.DataFrame) -> str:
    """The CSV text of ``who.csv``: text cells guarded against spreadsheet formulas like the build's tables."""
    from report.escape import csv_frame

    return csv_frame(table).to_csv(index=False, float_format="%.4f", lineterminator="\n")
