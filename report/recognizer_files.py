"""Recogniser files: the study's best classifier saved as ``recognizer.npz`` + ``recognizer.json`` (no pickle).

:func:`export_recognizers` (called by :mod:`report.driver`) fits
:func:`analysis.statistics.recognizer.fit_recognizer` on the first analysed subset of every
labelled image dataset and network that has classifier results, and writes
``<output_dir>/models/<dataset>-<network>/``. The JSON holds what ``predict`` needs besides
the arrays: identity names, classifier, threshold, and the network and extraction settings
(so that new photos are detected, aligned and embedded exactly as the study's faces). The
folder is never part of ``site/`` or ``paper/``: identity centroids are biometric templates.
:func:`read_recognizer` loads them with ``allow_pickle=False``.
"""
from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from analysis.embedding.store import atomic_write_bytes, atomic_write_text
from analysis.statistics.recognizer import Recognizer, best_classifier, fit_recognizer
from analysis.statistics.subsets import parse_subset, select_subset
from report.escape import slugify

FORMAT = "face-embedding-atlas recognizer 1"
_ARRAYS = ("centroids", "train_x", "train_y", "coef", "intercept")


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


def write_recognizer(folder: Path, rec: Recognizer, info: dict[str, Any]) -> None:
    """``recognizer.npz`` (arrays) and ``recognizer.json`` (everything else) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    # np.savez stamps the zip members with the current time: a fixed date keeps rebuilds byte-identical.
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in _ARRAYS:
            value = getattr(rec, name)
            if value is not None:
                member = io.BytesIO()
                np.save(member, np.asarray(value), allow_pickle=False)
                zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    atomic_write_bytes(folder / "recognizer.npz", buf.getvalue())
    doc = {"format": FORMAT, "classifier": rec.classifier, "names": list(rec.names), "threshold": rec.threshold,
           "far": rec.far, "cv_accuracy": rec.cv_accuracy, "knn_k": rec.knn_k, **info}
    atomic_write_text(folder / "recognizer.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")


def read_recognizer(folder: Path) -> tuple[Recognizer, dict[str, Any]]:
    """Load a recogniser folder; ValueError when it is not one."""
    folder = Path(folder)
    meta_file, arrays_file = folder / "recognizer.json", folder / "recognizer.npz"
    if not meta_file.is_file() or not arrays_file.is_file():
        raise ValueError(f"{str(folder)!r} holds no recognizer.json + recognizer.npz; pass a models/<dataset>-<network> "
                         "folder written by a build of a labelled (or named) image dataset")
    doc = json.loads(meta_file.read_text(encoding="utf-8"))
    if doc.get("format") != FORMAT:
        raise ValueError(f"{str(meta_file)!r} is not a recogniser of this version (format {doc.get('format')!r})")
    with np.load(arrays_file, allow_pickle=False) as data:
        arrays = {k: data[k] for k in _ARRAYS if k in data.files}
    rec = Recognizer(classifier=doc["classifier"], names=tuple(doc["names"]), threshold=float(doc["threshold"]),
                     far=float(doc["far"]), cv_accuracy=float(doc["cv_accuracy"]), knn_k=int(doc["knn_k"]), **arrays)
    return rec, doc


def export_recognizers(results, output_dir: Path, warn=None) -> list[Path]:
    """Write a recogniser for every labelled image (dataset, network) with classifier results; their folders.

    A (dataset, network) whose classifiers cannot give one (for example, no classifier was
    cross-validated on every identity) is skipped with its reason passed to ``warn``: the study
    itself is complete without it.
    """
    cfg = results.config
    params = cfg.recognition
    if not params.enabled:
        return []
    written = []
    nets = {n.name: n for n in cfg.networks}
    # Refitting a linear model on every face can take minutes on large studies: cached by content.
    fit = joblib.Memory(Path(cfg.study.cache_dir) / "recognizers", verbose=0).cache(fit_recognizer)
    for inp in results.inputs:
        if inp.family != "images":
            continue
        for net, emb in sorted(inp.embeddings.items()):
            cell = next((c for c in results.cells if c.dataset == inp.spec.name and c.network == net), None)
            clf = results.cell_results.get("classifiers", {}).get(cell) if cell is not None else None
            if clf is None or net not in nets:
                continue
            part = select_subset(emb, parse_subset(cell.subset), random_state=cfg.study.seed)
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
            })
            written.append(folder)
    return written
