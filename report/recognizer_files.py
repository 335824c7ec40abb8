"""Recogniser files: the study's best classifier saved as ``recognizer.npz`` + ``recognizer.json`` (no pickle).

:func:`export_recognizers` (called by :mod:`report.driver`) fits
:func:`analysis.statistics.recognizer.fit_recognizer` on the first analysed subset of every
labelled image dataset and network that has classifier results, and writes
``<output_dir>/models/<dataset>-<network>/``. The JSON holds what ``predict`` needs besides
the arrays: identity names, classifier, threshold, and the network and extraction settings
(so that new photos are detected, aligned and embedded exactly as the study's faces). The
folder is never part of ``site/`` or ``paper/``: identity centroids are biometric templates.
Faces of junk labels (``[study] junk_labels``, e.g. ``unknown``) are no person: they are left
out of the recogniser, so that ``unknown`` only ever means "below the threshold".

The two files are one unit: the JSON carries the SHA-256 of the NPZ, the number of identities
and the shape and dtype of every array. :func:`read_recognizer` checks all of it before use,
reads the zip's declared sizes before inflating anything, loads with ``allow_pickle=False`` and
validates the values (finite arrays, unit centroids, label codes in range, a threshold that is
a cosine); any failure is a ``ValueError`` naming the file and the fix.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import re
import zipfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from analysis.embedding.store import atomic_write_bytes, atomic_write_text
from analysis.statistics.recognizer import UNKNOWN, Recognizer, best_classifier, fit_recognizer
from analysis.statistics.subsets import parse_subset, select_subset
from report.escape import slugify
from report.json_files import JsonReadError, read_json

FORMAT = "face-embedding-atlas recognizer 2"
_ARRAYS = ("names", "centroids", "train_x", "train_y", "coef", "intercept")
_NEEDS = {"centroid": (), "knn": ("train_x", "train_y"), "svm": ("coef", "intercept"), "logreg": ("coef", "intercept")}
#: Largest recognizer.json read (it holds names and settings only).
MAX_JSON_BYTES = 64 << 20
#: An ``.npy`` header is at most a few hundred bytes; a member may exceed its array by this much.
_NPY_HEADER_MAX = 4096
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _plain(value: Any) -> Any:
    """JSON-friendly copy of an options dataclass value (paths as strings, tuples as lists)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _options_dict(options: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(options, f.name)) for f in dataclasses.fields(options)
            if getattr(options, f.name) is not None}


def _arrays(rec: Recognizer) -> dict[str, np.ndarray]:
    out = {"names": np.array(rec.names, dtype=str)}
    for name in _ARRAYS[1:]:
        value = getattr(rec, name)
        if value is not None:
            out[name] = np.asarray(value)
    return out


def write_recognizer(folder: Path, rec: Recognizer, info: dict[str, Any]) -> None:
    """``recognizer.npz`` (arrays) and ``recognizer.json`` (everything else, with the NPZ's digest) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = _arrays(rec)
    buf = io.BytesIO()
    # np.savez stamps the zip members with the current time: a fixed date keeps rebuilds byte-identical.
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            member = io.BytesIO()
            np.save(member, value, allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue(),
                        compress_type=zipfile.ZIP_DEFLATED)
    data = buf.getvalue()
    # NPZ first: a build killed between the two writes leaves a JSON whose digest no longer matches.
    atomic_write_bytes(folder / "recognizer.npz", data)
    doc = {"format": FORMAT, "classifier": rec.classifier, "names": list(rec.names), "n_identities": len(rec.names),
           "threshold": rec.threshold, "far": rec.far, "cv_accuracy": rec.cv_accuracy, "knn_k": rec.knn_k,
           "npz_sha256": hashlib.sha256(data).hexdigest(), "npz_bytes": len(data),
           "arrays": {k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in arrays.items()}, **info}
    atomic_write_text(folder / "recognizer.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")


def _fail(path: Path, what: str) -> ValueError:
    return ValueError(f"recogniser {str(path)!r}: {what}; export it again by rebuilding the study (the model folder is "
                      "<output_dir>/models/<dataset>-<network>)")


def _number(doc: dict, key: str, meta: Path, lo: float, hi: float, integer: bool = False) -> float:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, int if integer else (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise _fail(meta, f"'{key}' must be {'an integer' if integer else 'a finite number'} in [{lo:g}, {hi:g}], got {v!r}")
    return v


def _read_doc(meta: Path) -> dict[str, Any]:
    try:
        doc = read_json(meta, MAX_JSON_BYTES, "; a recogniser's JSON holds names and settings only")
    except JsonReadError as exc:
        raise _fail(meta, str(exc)) from None
    if not isinstance(doc, dict):
        raise _fail(meta, "is not a JSON object")
    if doc.get("format") != FORMAT:
        raise _fail(meta, f"has format {doc.get('format')!r}, this version reads {FORMAT!r}")
    for key, kind in (("classifier", str), ("names", list), ("network_kind", str), ("network_options", dict),
                      ("extraction", dict), ("npz_sha256", str), ("arrays", dict)):
        if not isinstance(doc.get(key), kind):
            raise _fail(meta, f"'{key}' is missing or not a {kind.__name__}")
    if doc["classifier"] not in _NEEDS:
        raise _fail(meta, f"unknown classifier {doc['classifier']!r} (valid: {', '.join(_NEEDS)})")
    names = doc["names"]
    if len(names) < 2 or not all(isinstance(n, str) and n.strip() for n in names) or len(set(names)) != len(names):
        raise _fail(meta, "'names' must list at least 2 distinct, non-empty identity names")
    if any(n.casefold() == UNKNOWN for n in names):
        raise _fail(meta, f"an identity is named {UNKNOWN!r}, the label predict gives strangers")
    _number(doc, "n_identities", meta, len(names), len(names), integer=True)
    _number(doc, "threshold", meta, -1.0, 1.0)
    _number(doc, "far", meta, 0.0, 1.0)
    _number(doc, "cv_accuracy", meta, 0.0, 1.0)
    _number(doc, "knn_k", meta, 1, 2**31, integer=True)
    _number(doc, "embedding_dims", meta, 1, 1 << 20, integer=True)
    _number(doc, "npz_bytes", meta, 1, 1 << 40, integer=True)
    if not _HEX64.fullmatch(doc["npz_sha256"]):
        raise _fail(meta, "'npz_sha256' is not a SHA-256 digest")
    return doc


def _declared(doc: dict, meta: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array the JSON declares, checked against the classifier's needs."""
    out = {}
    for name, spec in doc["arrays"].items():
        if name not in _ARRAYS or not isinstance(spec, dict) or not isinstance(spec.get("shape"), list) \
                or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**40 for s in spec["shape"]):
            raise _fail(meta, f"array {name!r} is not declared as {{shape, dtype}} of a known array")
        try:
            dtype = np.dtype(spec.get("dtype"))
        except TypeError:
            raise _fail(meta, f"array {name!r} has no valid dtype") from None
        if dtype.kind not in ("f", "i", "U"):
            raise _fail(meta, f"array {name!r} has dtype {dtype.str}; only numbers and text are read")
        out[name] = (tuple(spec["shape"]), dtype)
    for name in ("names", "centroids", *_NEEDS[doc["classifier"]]):
        if name not in out:
            raise _fail(meta, f"the {doc['classifier']} classifier needs array {name!r}, which is not declared")
    return out


def _check_zip(npz: Path, doc: dict, declared: dict) -> None:
    """The NPZ's size, members and declared uncompressed sizes, then its digest; nothing inflated yet."""
    size = npz.stat().st_size
    bound = sum(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize + _NPY_HEADER_MAX for shape, dtype in declared.values())
    if size > bound + 1024 * len(declared):  # a deflated member is never much larger than its array
        raise _fail(npz, f"is {size:,d} bytes, more than the arrays recognizer.json declares ({bound:,d} bytes)")
    if size != doc["npz_bytes"]:
        raise _fail(npz, f"is {size:,d} bytes, recognizer.json says {doc['npz_bytes']:,d}: the two files are not one export")
    data = npz.read_bytes()
    if hashlib.sha256(data).hexdigest() != doc["npz_sha256"]:
        raise _fail(npz, "does not match the digest in recognizer.json (another study's arrays, or a changed file)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise _fail(npz, f"is not a zip archive ({exc})") from None
    members = [i.filename for i in infos]
    if sorted(members) != sorted(f"{n}.npy" for n in declared):
        raise _fail(npz, f"holds {members}, recognizer.json declares {sorted(declared)}")
    for info in infos:
        shape, dtype = declared[info.filename[:-4]]
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if info.file_size > expected + _NPY_HEADER_MAX:
            raise _fail(npz, f"member {info.filename} inflates to {info.file_size:,d} bytes, its array holds {expected:,d}")


def _load_arrays(npz: Path, declared: dict) -> dict[str, np.ndarray]:
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in declared}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise _fail(npz, f"cannot be loaded ({type(exc).__name__}: {exc})") from None
    for name, (shape, dtype) in declared.items():
        a = arrays[name]
        if a.shape != shape or a.dtype != dtype:
            raise _fail(npz, f"array {name!r} is {a.dtype.str}{list(a.shape)}, recognizer.json declares {dtype.str}{list(shape)}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise _fail(npz, f"array {name!r} holds NaN or infinite values")
    return arrays


def _check_values(npz: Path, doc: dict, a: dict[str, np.ndarray]) -> None:
    k, d = len(doc["names"]), int(doc["embedding_dims"])
    if [str(n) for n in a["names"]] != list(doc["names"]):
        raise _fail(npz, "its identity names differ from recognizer.json's (reordered or from another export)")
    c = a["centroids"]
    if c.shape != (k, d) or c.dtype.kind != "f":
        raise _fail(npz, f"centroids are {list(c.shape)}, expected [{k}, {d}] (identities x dimensions)")
    if not np.allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-3):
        raise _fail(npz, "centroids are not unit vectors")
    clf = doc["classifier"]
    if clf == "knn":
        x, y = a["train_x"], a["train_y"]
        if x.ndim != 2 or x.shape[1] != d or x.dtype.kind != "f" or y.shape != (x.shape[0],) or y.dtype.kind != "i":
            raise _fail(npz, f"kNN arrays are train_x {list(x.shape)}, train_y {list(y.shape)}; expected [n, {d}] and [n]")
        if x.shape[0] < 1 or y.min() < 0 or y.max() >= k:
            raise _fail(npz, f"kNN labels must be identity codes 0..{k - 1}")
    elif clf in ("svm", "logreg"):
        rows = 1 if k == 2 else k
        w, b = a["coef"], a["intercept"]
        if w.shape != (rows, d) or b.shape != (rows,) or w.dtype.kind != "f" or b.dtype.kind != "f":
            raise _fail(npz, f"linear model arrays are coef {list(w.shape)}, intercept {list(b.shape)}; expected "
                             f"[{rows}, {d}] and [{rows}]")


def read_recognizer(folder: Path) -> tuple[Recognizer, dict[str, Any]]:
    """Load and check a recogniser folder (see module docstring); ValueError when it is not a usable one."""
    folder = Path(folder)
    meta_file, arrays_file = folder / "recognizer.json", folder / "recognizer.npz"
    if not meta_file.is_file() or not arrays_file.is_file():
        raise ValueError(f"{str(folder)!r} holds no recognizer.json + recognizer.npz; pass a models/<dataset>-<network> "
                         "folder written by a build of a labelled (or named) image dataset")
    doc = _read_doc(meta_file)
    declared = _declared(doc, meta_file)
    _check_zip(arrays_file, doc, declared)
    arrays = _load_arrays(arrays_file, declared)
    _check_values(arrays_file, doc, arrays)
    extra = {k: arrays[k] for k in _ARRAYS[1:] if k in arrays}
    rec = Recognizer(classifier=doc["classifier"], names=tuple(doc["names"]), threshold=float(doc["threshold"]),
                     far=float(doc["far"]), cv_accuracy=float(doc["cv_accuracy"]), knn_k=int(doc["knn_k"]), **extra)
    return rec, doc


def export_recognizers(results, output_dir: Path, warn=None) -> list[Path]:
    """Write a recogniser for every labelled image (dataset, network) with classifier results; their folders.

    A (dataset, network) whose classifiers cannot give one (for example, no classifier was
    cross-validated on every identity) is skipped with its reason passed to ``warn``: the study
    itself is complete without it.
    """
    from report.pages.junk import is_junk

    cfg = results.config
    params = cfg.recognition
    if not params.enabled:
        return []
    written = []
    nets = {n.name: n for n in cfg.networks}
    # Refitting a linear model on every face can take minutes on large studies: cached by content.
    from report.code_digest import analysis_code_digest

    # Keyed on the statistics half's code as well as fit_recognizer's own (see report.code_digest).
    fit = joblib.Memory(Path(cfg.study.cache_dir) / "recognizers" / analysis_code_digest()[:16],
                        verbose=0).cache(fit_recognizer)
    for inp in results.inputs:
        if inp.family != "images":
            continue
        for net, emb in sorted(inp.embeddings.items()):
            # The "all" cell when there is one: a model fitted on a subset (min-10, range-5-10) would give the
            # faces of the identities it left out the nearest known name.
            cells = [c for c in results.cells if c.dataset == inp.spec.name and c.network == net]
            cell = next((c for c in cells if c.subset == "all"), cells[0] if cells else None)
            clf = results.cell_results.get("classifiers", {}).get(cell) if cell is not None else None
            if clf is None or net not in nets:
                continue
            part = select_subset(emb, parse_subset(cell.subset), random_state=cfg.study.seed)
            junk = is_junk(part.identities, tuple(cfg.study.junk_labels) + (UNKNOWN,))
            if junk.any():  # a catch-all label is no person: "unknown" must only mean "below the threshold"
                part = part.take(np.flatnonzero(~junk))
            try:
                name, acc = best_classifier(clf.scores)
                rec = fit(part, name, acc, params, cfg.study.seed)
            except ValueError as exc:
                if warn is not None:
                    warn(f"no recogniser exported for {inp.spec.name}/{net}: {exc}")
                continue
            folder = Path(output_dir) / "models" / f"{slugify(inp.spec.name)}-{slugify(net)}"
            write_recognizer(folder, rec, {
                "dataset": inp.spec.name, "network": net, "subset": cell.subset, "n_faces": part.n_samples,
                "network_kind": nets[net].kind, "network_options": _options_dict(nets[net].options),
                "extraction": _options_dict(cfg.extraction), "embedding_dims": part.n_dims,
                "junk_faces_left_out": int(junk.sum()),
            })
            written.append(folder)
    return written
