"""Content-addressed embedding store.

Each entry is a folder ``<root>/embeddings/<key>/`` holding ``vectors.npy`` (raw float32),
``rows.parquet`` (identity and item of every row) and ``meta.json`` (provenance). The key is a
hash of everything that determines the vectors (input content hashes, model id, weights hash,
preprocessing, generator parameters), so a changed input gets a new entry and an unchanged one
is found again. No pickle: the files are readable by any tool.

Writes are atomic: an entry is written into a temporary sibling folder and renamed into place,
so a killed run never leaves a half-written entry that a later run would trust.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from analysis.types import EmbeddingSet


def stable_hash(obj: Any) -> str:
    """SHA-256 (hex, 24 chars) of a JSON-serialisable description; keys sorted."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def array_hash(*arrays: np.ndarray) -> str:
    """SHA-256 (hex, 24 chars) of the bytes, dtypes and shapes of arrays."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.dtype == object:
            a = a.astype(str)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:24]


def embedding_hash(emb: EmbeddingSet) -> str:
    """Content hash of an embedding set (vectors, identities, items, and group columns when it has any)."""
    base = array_hash(emb.vectors, emb.identities.astype(str), emb.items.astype(str))
    if not emb.groups:  # sets without groups keep the hash they always had
        return base
    return stable_hash([base, [(name, array_hash(values)) for name, values in emb.groups]])


#: Column prefix of the group columns in an entry's ``rows.parquet``.
GROUP_PREFIX = "group:"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


class EmbeddingStore:
    """Embedding sets on disk, addressed by a key derived from their inputs.

    Parameters
    ----------
    root : Path
        Cache folder; entries live under ``root / "embeddings"``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "embeddings"

    def path(self, key: str) -> Path:
        return self.root / key

    def __contains__(self, key: str) -> bool:
        return (self.path(key) / "meta.json").is_file()

    def load(self, key: str) -> EmbeddingSet:
        """Read entry ``key``; raises KeyError when absent."""
        folder = self.path(key)
        if key not in self:
            raise KeyError(f"no embedding entry {key!r} under {self.root}")
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        rows = pd.read_parquet(folder / "rows.parquet")
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        groups = tuple((str(c)[len(GROUP_PREFIX):], rows[c].to_numpy(dtype=str)) for c in rows.columns
                       if str(c).startswith(GROUP_PREFIX))
        return EmbeddingSet(
            dataset=meta["dataset"],
            network=meta["network"],
            vectors=vectors,
            identities=rows["identity"].to_numpy(dtype=str),
            items=rows["item"].to_numpy(dtype=str),
            synthetic=bool(meta["synthetic"]),
            meta=dict(meta["provenance"]),
            groups=groups,
        )

    def save(self, key: str, emb: EmbeddingSet, extra_files: Mapping[str, pd.DataFrame] | None = None) -> Path:
        """Write ``emb`` as entry ``key`` atomically; returns the entry folder.

        ``extra_files`` are DataFrames written next to the vectors as ``<name>.parquet`` (the
        traceability table of an extraction run, for instance).
        """
        final = self.path(key)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{key}."))
        try:
            np.save(tmp / "vectors.npy", np.ascontiguousarray(emb.vectors, dtype=np.float32), allow_pickle=False)
            pd.DataFrame({"identity": emb.identities.astype(str), "item": emb.items.astype(str),
                          **{GROUP_PREFIX + name: values.astype(str) for name, values in emb.groups}}).to_parquet(
                tmp / "rows.parquet", index=False
            )
            for name, frame in (extra_files or {}).items():
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
            meta = {
                "dataset": emb.dataset,
                "network": emb.network,
                "synthetic": emb.synthetic,
                "n_samples": emb.n_samples,
                "n_dims": emb.n_dims,
                "content_hash": embedding_hash(emb),
                "provenance": dict(emb.meta),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def get_or_create(self, key: str, create: Callable[[], EmbeddingSet]) -> tuple[EmbeddingSet, bool]:
        """Load entry ``key`` or build it with ``create`` and save it.

        Returns
        -------
        emb : EmbeddingSet
        reused : bool
            True when the entry was already in the store.
        """
        if key in self:
            return self.load(key), True
        emb = create()
        self.save(key, emb)
        return emb, False


def content_hash(obj: Any) -> str:
    """Canonical SHA-256 (hex, 24 chars) of a value built from dataclasses, arrays and builtins.

    Unlike a pickle-based hash, the result depends only on the content: a result computed now
    and the same result loaded from a cache hash identically (pickle memoises shared
    references, so the two can pickle differently).
    """
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()[:24]


def _feed(h, obj: Any) -> None:
    import dataclasses
    import enum

    if obj is None or isinstance(obj, (bool, int, str, bytes)):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, float):
        h.update(f"float:{obj!r};".encode())
    elif isinstance(obj, np.generic):
        _feed(h, obj.item())
    elif isinstance(obj, np.ndarray):
        a = obj.astype(str) if obj.dtype == object else np.ascontiguousarray(obj)
        h.update(f"ndarray:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    elif isinstance(obj, pd.DataFrame):
        _feed(h, list(map(str, obj.columns)))
        for col in obj.columns:
            _feed(h, obj[col].to_numpy())
    elif isinstance(obj, enum.Enum):
        _feed(h, f"{type(obj).__qualname__}.{obj.name}")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(f"dc:{type(obj).__module__}.{type(obj).__qualname__};".encode())
        for f in dataclasses.fields(obj):
            h.update(f.name.encode())
            _feed(h, getattr(obj, f.name))
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__}[{len(obj)}];".encode())
        for item in obj:
            _feed(h, item)
    elif isinstance(obj, (set, frozenset)):
        _feed(h, sorted(obj, key=repr))
    elif isinstance(obj, dict):
        h.update(f"dict[{len(obj)}];".encode())
        for k in sorted(obj, key=repr):
            _feed(h, k)
            _feed(h, obj[k])
    elif isinstance(obj, Path):
        _feed(h, str(obj))
    else:
        raise TypeError(f"content_hash cannot hash {type(obj).__name__}; use dataclasses, arrays and builtins")
