"""Adapters of precomputed embedding files: CSV, Parquet and ``.npy`` plus labels.

Holds the options dataclasses of ``kind = "csv-embeddings"``, ``"parquet-embeddings"`` and
``"npy-embeddings"``, :func:`load_embeddings` (read, validate and hash a file into a
:class:`~analysis.embedding.datasets.manifest.LoadedEmbeddings`), :func:`parse_vector` for one
vector cell, and the row validation that drops and records bad rows.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from analysis.embedding.datasets.manifest import (
    DUPLICATE_ITEM,
    MISSING_IDENTITY,
    NON_FINITE,
    SKIP_COLUMNS,
    UNPARSABLE,
    LoadedEmbeddings,
    _norm_identity,
)
from analysis.embedding.datasets.text_files import not_utf8_message, read_csv_table
from analysis.embedding.store import stable_hash
from analysis.types import EmbeddingSet


# --------------------------------------------------------------------------------------------
# Options: precomputed embeddings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvEmbeddingsOptions:
    """``kind = "csv-embeddings"``: vectors in a CSV file (``frgc_face_embeddings.csv``).

    Parameters
    ----------
    embeddings_file : Path
        The CSV file.
    network : str
        Name of the network that produced the vectors (shown in the report).
    identity_column : str, default="person_id"
        Column holding the identity (read as text, so ``02463`` keeps its leading zero).
    item_column : str, default="image_file"
        Column naming each sample; absent -> ``row-000000`` ...
    embedding_column : str, default="embedding"
        Column holding the vector as a list string (``"[0.1, -0.2, ...]"``, commas or
        spaces). When the file has no such column, one column per dimension is used instead:
        every column matching ``dimension_regex`` (ordered by the number it captures).
    dimension_regex : str
        Pattern of per-dimension column names; its first group is the dimension index.
    """

    FAMILY: ClassVar[str] = "embeddings"

    embeddings_file: Path
    network: str
    identity_column: str = "person_id"
    item_column: str = "image_file"
    embedding_column: str = "embedding"
    dimension_regex: str = r"^(?:emb|embedding|dim|feat|f|e|x|v)?_?(\d+)$"


@dataclass(frozen=True)
class ParquetEmbeddingsOptions:
    """``kind = "parquet-embeddings"``: vectors in a Parquet file.

    The embedding column may be a list column (``list<float>``), a list string, or absent
    (one column per dimension); see :class:`CsvEmbeddingsOptions` for the parameters.
    """

    FAMILY: ClassVar[str] = "embeddings"

    embeddings_file: Path
    network: str
    identity_column: str = "person_id"
    item_column: str = "image_file"
    embedding_column: str = "embedding"
    dimension_regex: str = r"^(?:emb|embedding|dim|feat|f|e|x|v)?_?(\d+)$"


@dataclass(frozen=True)
class NpyEmbeddingsOptions:
    """``kind = "npy-embeddings"``: a 2-D ``.npy`` array plus a labels file.

    Parameters
    ----------
    vectors_file : Path
        ``.npy`` array of shape (n_samples, n_dims) (loaded without pickle).
    labels_file : Path
        Either a text file with one identity per line, or a CSV/Parquet table with
        ``identity_column`` (and optionally ``item_column``), one row per vector.
    network : str
        Network that produced the vectors.
    identity_column, item_column : str, default="identity", "item"
    """

    FAMILY: ClassVar[str] = "embeddings"

    vectors_file: Path
    labels_file: Path
    network: str
    identity_column: str = "identity"
    item_column: str = "item"


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_embeddings(name: str, options: Any) -> LoadedEmbeddings:
    """Read precomputed embeddings of dataset ``name``.

    Rows with NaN/inf values, a dimension different from the file's dominant one, an
    unparsable vector, a missing identity or a repeated item are dropped and recorded in
    ``skipped``; the rest is returned as float32.

    Raises
    ------
    ValueError
        For options of another family, missing columns, or a file without any valid row.
    """
    if isinstance(options, (CsvEmbeddingsOptions, ParquetEmbeddingsOptions)):
        path = Path(options.embeddings_file)
        table = _read_table(path, options, name)
        vectors, ok_rows, reasons = _vectors_from_table(table, options, name)
        identities, items = _labels_from_table(table, options.identity_column, options.item_column, name)
        extra = _extra_columns(table, options, vector_columns=True)
        sources = [path]
    elif isinstance(options, NpyEmbeddingsOptions):
        path = Path(options.vectors_file)
        raw = _read_npy(path, name)
        if raw.ndim != 2:
            raise ValueError(f"dataset {name!r}: {str(path)!r} holds an array of shape {raw.shape}; expected (n_samples, n_dims)")
        if not np.issubdtype(raw.dtype, np.number) or np.iscomplexobj(raw):
            # complex: casting to float would silently drop the imaginary part
            raise ValueError(f"dataset {name!r}: {str(path)!r} has dtype {raw.dtype}; expected real numbers")
        identities, items, extra = _labels_from_file(Path(options.labels_file), options, name)
        if len(identities) != raw.shape[0]:
            raise ValueError(
                f"dataset {name!r}: {raw.shape[0]} vectors but {len(identities)} labels in "
                f"{str(options.labels_file)!r}; the files must have one label per vector"
            )
        vectors = raw.astype(np.float64)
        ok_rows = np.ones(len(vectors), dtype=bool)
        reasons = np.full(len(vectors), "", dtype=object)
        sources = [path, Path(options.labels_file)]
    else:
        raise ValueError(
            f"dataset {name!r} ({type(options).__name__}) is not an embeddings file; "
            f"embedding kinds: csv-embeddings, parquet-embeddings, npy-embeddings"
        )
    emb, skipped, kept = _validated_set(name, options.network, vectors, ok_rows, reasons, identities, items, sources)
    content = stable_hash([_file_sha256(p) for p in sources] + [type(options).__name__, repr(options)])
    columns = None
    if extra is not None and len(extra.columns):
        columns = extra[kept].set_axis(pd.Index(emb.items, name="item"), axis=0)
    return LoadedEmbeddings(embeddings=emb, skipped=skipped, content_hash=content, columns=columns)


def _extra_columns(table: pd.DataFrame, options, vector_columns: bool = False) -> pd.DataFrame | None:
    """The table's columns that are neither identity, item nor vector: candidate group columns."""
    skip = {options.identity_column, options.item_column}
    if vector_columns:
        skip.add(getattr(options, "embedding_column", ""))
        if getattr(options, "embedding_column", "") not in table.columns:  # one column per dimension
            pattern = re.compile(options.dimension_regex)
            skip |= {c for c in table.columns if pattern.match(str(c))}
    keep = [c for c in table.columns if c not in skip]
    return table[keep].reset_index(drop=True) if keep else None


def _read_table(path: Path, options, name: str) -> pd.DataFrame:
    """The CSV or Parquet table; an empty or unreadable file is one clear ValueError.

    ``keep_default_na=False``: pandas would otherwise read identities ``NA``, ``None``, ``null``
    or ``n/a`` as missing values and drop those people silently. Only an empty cell is missing.
    """
    if isinstance(options, CsvEmbeddingsOptions):  # empty, not UTF-8, malformed: named with the fix
        return read_csv_table(path, f"dataset {name!r}: embeddings_file",
                              f"{options.identity_column!r}, {options.item_column!r}, {options.embedding_column!r}",
                              dtype={options.identity_column: str, options.item_column: str},
                              keep_default_na=False, na_values=[""])
    try:
        return pd.read_parquet(path)
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"dataset {name!r}: {str(path)!r} is empty (no header, no rows)") from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"dataset {name!r}: cannot read {str(path)!r}: {exc}") from exc
    except Exception as exc:  # pyarrow's ArrowInvalid for a 0-byte or corrupt Parquet file
        raise ValueError(f"dataset {name!r}: cannot read {str(path)!r} as Parquet: {exc}") from exc


def _read_npy(path: Path, name: str) -> np.ndarray:
    if path.stat().st_size == 0:
        raise ValueError(f"dataset {name!r}: {str(path)!r} is empty (0 bytes)")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"dataset {name!r}: cannot read {str(path)!r} as a NumPy .npy array: {exc}") from exc


def parse_vector(value: Any) -> np.ndarray:
    """One embedding from a cell: list string (commas or spaces, brackets optional) or sequence.

    Raises
    ------
    ValueError
        When the cell holds no parsable numbers.
    """
    if isinstance(value, str):
        text = value.strip().strip("[]()").replace(",", " ")
        tokens = text.split()
        if not tokens:
            raise ValueError("empty vector")
        return np.array([float(t) for t in tokens], dtype=np.float64)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise ValueError("missing vector")
    arr = np.asarray(value, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError("empty vector")
    return arr


def _vectors_from_table(table: pd.DataFrame, options, name: str):
    n = len(table)
    reasons = np.full(n, "", dtype=object)
    if options.embedding_column in table.columns:
        parsed: list[np.ndarray | None] = []
        for i, cell in enumerate(table[options.embedding_column].tolist()):
            try:
                parsed.append(parse_vector(cell))
            except (ValueError, TypeError):
                parsed.append(None)
                reasons[i] = UNPARSABLE
        lengths = [len(v) for v in parsed if v is not None]
        if not lengths:
            raise ValueError(f"dataset {name!r}: no parsable vector in column {options.embedding_column!r}")
        dim = int(pd.Series(lengths).mode().iloc[0])  # the dominant dimension is the file's
        vectors = np.zeros((n, dim), dtype=np.float64)
        for i, v in enumerate(parsed):
            if v is None:
                continue
            if len(v) != dim:
                reasons[i] = f"dimension {len(v)} != {dim}"
                continue
            vectors[i] = v
    else:
        pattern = re.compile(options.dimension_regex)
        label_cols = {options.identity_column, options.item_column}
        dims = []
        for col in table.columns:
            m = pattern.match(str(col))
            if m and col not in label_cols:
                dims.append((int(m.group(1)) if m.groups() else len(dims), col))
        if not dims:
            raise ValueError(
                f"dataset {name!r}: no column {options.embedding_column!r} and no per-dimension columns matching "
                f"{options.dimension_regex!r} (columns: {', '.join(map(str, table.columns[:12]))}...); "
                f"set embedding_column or dimension_regex"
            )
        cols = [c for _, c in sorted(dims)]
        block = table[cols].apply(pd.to_numeric, errors="coerce")
        vectors = block.to_numpy(dtype=np.float64)
        # A cell that is not a number becomes NaN: the row is then reported as non-finite.
    bad = ~np.isfinite(vectors).all(axis=1) & (reasons == "")
    reasons[bad] = NON_FINITE
    return vectors, reasons == "", reasons


def _labels_from_table(table: pd.DataFrame, identity_column: str, item_column: str, name: str):
    if identity_column not in table.columns:
        raise ValueError(
            f"dataset {name!r}: no identity column {identity_column!r} (columns: {', '.join(map(str, table.columns[:12]))}); "
            f"set identity_column"
        )
    identities = np.array([_cell_text(v) for v in table[identity_column].tolist()], dtype=object)
    if item_column in table.columns:
        items = np.array([_cell_text(v) for v in table[item_column].tolist()], dtype=object)
    else:
        items = np.array([f"row-{i:06d}" for i in range(len(table))], dtype=object)
    return identities, items


def _labels_from_file(path: Path, options: NpyEmbeddingsOptions, name: str):
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".parquet"):
        table = (pd.read_parquet(path) if suffix == ".parquet" else
                 read_csv_table(path, f"dataset {name!r}: labels_file", repr(options.identity_column),
                                sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False))
        return (*_labels_from_table(table, options.identity_column, options.item_column, name),
                _extra_columns(table, options))
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"dataset {name!r}: labels_file {not_utf8_message(path, spreadsheet=False)}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    identities = np.array([_norm_identity(x) for x in lines], dtype=object)
    items = np.array([f"row-{i:06d}" for i in range(len(lines))], dtype=object)
    return identities, items, None


def _cell_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a numeric id column read as float: 12.0 -> "12"
    return _norm_identity(value)


#: Largest absolute coordinate accepted: squares of 1e15 summed over 10^4 dimensions stay far below
#: float32's 3.4e38 (vectors scaled by 1e30 used to kill the build in figure drawing).
MAX_ABS_VALUE = 1e15
TOO_LARGE = f"values above {MAX_ABS_VALUE:.0e} in magnitude (distances would overflow)"
ZERO_VECTOR = "all-zero vector (no direction; cosine undefined)"


def _validated_set(name, network, vectors, ok_rows, reasons, identities, items, sources):
    reasons = reasons.copy()
    ok = ok_rows.copy()
    # Checked after the float32 cast: a finite 1e39 overflows to inf there.
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(vectors.astype(np.float32)).all(axis=1)
    reasons[ok & ~finite] = NON_FINITE
    ok &= finite
    # Finite in float32 but too large to square: distances and norms would overflow to inf.
    with np.errstate(over="ignore", invalid="ignore"):
        huge = np.abs(vectors).max(axis=1, initial=0.0) > MAX_ABS_VALUE
    reasons[ok & huge] = TOO_LARGE
    ok &= ~huge
    zero = ~np.any(vectors != 0, axis=1)  # no direction: every cosine with it is undefined
    reasons[ok & zero] = ZERO_VECTOR
    ok &= ~zero
    missing = ok & (identities == "")
    reasons[missing] = MISSING_IDENTITY
    ok &= ~missing
    seen: set[str] = set()
    for i in np.flatnonzero(ok):
        if items[i] in seen:
            reasons[i] = DUPLICATE_ITEM
            ok[i] = False
        seen.add(items[i])
    skipped = pd.DataFrame(
        {"item": [str(items[i]) or f"row-{i:06d}" for i in np.flatnonzero(~ok)],
         "reason": [str(reasons[i]) for i in np.flatnonzero(~ok)]},
        columns=SKIP_COLUMNS,
    )
    if not ok.any():
        raise ValueError(f"dataset {name!r}: no valid embedding row ({len(skipped)} rows skipped; first reason: "
                         f"{skipped['reason'].iloc[0] if len(skipped) else 'none'})")
    emb = EmbeddingSet(
        dataset=name,
        network=network,
        vectors=vectors[ok].astype(np.float32),
        identities=identities[ok].astype(str),
        items=items[ok].astype(str),
        synthetic=False,
        meta={
            "source": ", ".join(str(p) for p in sources),
            "source_sha256": ", ".join(_file_sha256(p) for p in sources),
            "loader": "analysis.embedding.datasets.load_embeddings",
        },
    )
    return emb, skipped, ok


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
