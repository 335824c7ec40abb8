"""Data files of the site: explorer data, per-cell Parquet, published vectors, Projector TSV, one zip.

Always written (no embedding vector in any of them):

* ``explorer/<key>.js`` sets ``window.ATLAS_EXPLORER[key]``: a script, not JSON, so that the page
  can load it from ``file://`` where browsers refuse ``fetch``. Columns are packed typed arrays
  (base64 of little-endian bytes: float32 coordinates and scores, uint8/16/32 category codes),
  names and items JSON strings; the explorer decodes them with ``atob`` into typed arrays.
  Compact (about 11 bytes per point and map) and quick to decode.
* ``explorer/<key>-neighbours.js`` sets ``window.ATLAS_NEIGHBOURS[key]``: each point's nearest
  neighbours (uint16/32 rows, int16 cosines), loaded by the explorer after its first draw.
* ``downloads/<key>.parquet``: one row per mapped embedding with ``row`` (position in the
  (dataset, network) embedding set), ``identity``, ``item``, ``cluster``, ``flags``, the norm
  and detector score, and the 2-D coordinates of every map; Apple's ``embedding-atlas`` opens it.
* ``downloads/atlas-data.zip``: every CSV table and every per-cell Parquet file.

Only with ``[study] publish_vectors = true`` (embeddings are biometric templates):

* ``downloads/vectors/<dataset>-<network>.parquet``: every row of the embedding set once
  (``row``, ``identity``, ``item``, raw float32 ``vector``); a cell's rows are the ``row``
  column of its Parquet file, never a copy of the vectors. Not in the zip (no second copy).
* ``downloads/projector/<dataset>-<network>-vectors.tsv`` and ``-metadata.tsv``: the two files
  the TensorBoard Embedding Projector (projector.tensorflow.org, "Load") reads, for the points
  of the first subset's explorer (the Projector samples down to 10,000 points for t-SNE itself,
  and a text file of every vector of a large set would not load in a browser). The metadata
  names the subsets each row belongs to, so a subset is a search in the Projector. Text cells
  get the CSV-injection guard of the build's CSV tables (:func:`report.escape.csv_cell`).

Every writer is deterministic: sorted keys, fixed float formats, fixed zip timestamps.
"""
from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from report.escape import csv_cell, slugify
from report.model import Explorer

ZIP_NAME = "downloads/atlas-data.zip"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: Format version of the explorer data script (read by templates/explorer.js).
EXPLORER_DATA_VERSION = 2
#: Cosines are stored as int16 ``round(cos * COSINE_SCALE)``: 3e-5 resolution, 2 bytes each.
COSINE_SCALE = 32767
#: Category value shown for an empty text (``flags`` of a point without any flag).
EMPTY_LABELS = {"flags": "no flag"}


def explorer_data_file(key: str) -> str:
    return f"explorer/{key}.js"


def neighbour_data_file(key: str) -> str:
    return f"explorer/{key}-neighbours.js"


def parquet_file(key: str) -> str:
    return f"downloads/{key}.parquet"


def vectors_file(dataset: str, network: str) -> str:
    """The one vectors file of a (dataset, network), published with ``publish_vectors = true``."""
    return f"downloads/vectors/{slugify(dataset)}-{slugify(network)}.parquet"


def projector_files(dataset: str, network: str) -> tuple[str, str]:
    """(vectors TSV, metadata TSV) for the TensorBoard Projector, one pair per (dataset, network)."""
    stem = f"downloads/projector/{slugify(dataset)}-{slugify(network)}"
    return f"{stem}-vectors.tsv", f"{stem}-metadata.tsv"


def map_names(points: pd.DataFrame) -> list[str]:
    return [c[:-2] for c in points.columns if c.endswith(" x") and f"{c[:-2]} y" in points.columns]


# --------------------------------------------------------------------------- explorer data script
def _packed(values: np.ndarray, dtype: str) -> dict:
    """A typed array as ``{"dtype": "u2", "b64": ...}`` (little-endian bytes)."""
    arr = np.ascontiguousarray(np.asarray(values).astype(np.dtype(dtype).newbyteorder("<")))
    return {"dtype": dtype.lstrip("<"), "b64": base64.b64encode(arr.tobytes()).decode("ascii")}


def _code_dtype(n: int) -> str:
    return "<u1" if n <= 0xFF else "<u2" if n <= 0xFFFF else "<u4"


def _column(label: str, name: str, values: pd.Series) -> dict:
    """One colour-by column: numeric as float32 values, anything else as codes into sorted labels."""
    if values.dtype != object and values.dtype.kind in "iuf" and name != "cluster":
        return {"name": label, "kind": "number", "values": _packed(values.to_numpy(np.float64), "<f4")}
    if name == "cluster":  # clusters in numeric order, named like the Manifold page's legend
        codes_of = sorted(set(values.astype(np.int64).tolist()))
        labels = [f"cluster {c}" for c in codes_of]
        index = {c: i for i, c in enumerate(codes_of)}
        codes = np.array([index[int(v)] for v in values], dtype=np.int64)
    else:
        text = values.astype(str).replace("", EMPTY_LABELS.get(name, "(none)"))
        labels = sorted(set(text))
        index = {t: i for i, t in enumerate(labels)}
        codes = np.array([index[t] for t in text], dtype=np.int64)
    return {"name": label, "kind": "category", "labels": labels, "codes": _packed(codes, _code_dtype(len(labels)))}


def explorer_data(e: Explorer) -> dict:
    """The explorer's drawing data (see the module docstring); every array has one entry per point."""
    p = e.points.reset_index(drop=True)
    return {
        "version": EXPLORER_DATA_VERSION,
        "n": len(p),
        "items": p["item"].astype(str).tolist(),
        "maps": {m: {"x": _packed(p[f"{m} x"].to_numpy(np.float64), "<f4"),
                     "y": _packed(p[f"{m} y"].to_numpy(np.float64), "<f4")} for m in map_names(p)},
        "columns": [_column(label, name, p[name]) for label, name in e.colour_by],
        "links": dict(sorted(e.links.items())),
    }


def neighbour_data(e: Explorer) -> dict | None:
    """The explorer's neighbour lists (rows and int16 cosines), or None without them.

    Kept out of :func:`explorer_data`: at 100,000 points they are 8 of its 15 MB, and the map is
    drawn without them (the explorer loads them after its first draw).
    """
    if e.neighbours is None:
        return None
    n = len(e.points)
    index = np.asarray(e.neighbours.index)
    dtype = _code_dtype(n + 1)
    none = np.iinfo(np.dtype(dtype)).max  # -1 (no neighbour) as the dtype's largest value
    cos = np.nan_to_num(np.asarray(e.neighbours.cosine, np.float64), nan=0.0)
    return {
        "k": int(index.shape[1]), "none": int(none), "scale": COSINE_SCALE,
        "index": _packed(np.where(index < 0, none, index), dtype),
        "cosine": _packed(np.round(np.clip(cos, -1, 1) * COSINE_SCALE), "<i2"),
    }


def _script(var: str, key: str, data: dict) -> str:
    # No "<", ">" or "&" in the script at all: a name such as "</script><script>..." stays a string.
    text = (json.dumps(data, separators=(",", ":"), ensure_ascii=True)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    return f"window.{var} = window.{var} || {{}};\nwindow.{var}[{json.dumps(key)}] = {text};\n"


def explorer_data_js(e: Explorer) -> str:
    """The explorer's drawing data as a script (``window.ATLAS_EXPLORER[key]``)."""
    return _script("ATLAS_EXPLORER", e.key, explorer_data(e))


def neighbour_data_js(e: Explorer) -> str | None:
    """The neighbour lists as a script (``window.ATLAS_NEIGHBOURS[key]``), or None."""
    data = neighbour_data(e)
    return None if data is None else _script("ATLAS_NEIGHBOURS", e.key, data)


# --------------------------------------------------------------------------- Parquet
def _parquet(table) -> bytes:
    import pyarrow.parquet as pq

    table = table.replace_schema_metadata(None)  # no pandas metadata: stable bytes across pandas versions
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def parquet_bytes(e: Explorer) -> bytes:
    """Parquet of the explorer's points: coordinates, labels and scores, no vector."""
    import pyarrow as pa

    return _parquet(pa.Table.from_pandas(e.points.reset_index(drop=True), preserve_index=False))


@dataclass(frozen=True, eq=False)
class VectorSet:
    """What a published (dataset, network) carries: every row's vector, the Projector's points.

    ``explorer`` is the first subset's explorer (its points are the Projector's rows) or None;
    ``subsets`` maps each analysed subset to the ``row`` positions it selects.
    """

    dataset: str
    network: str
    vectors: np.ndarray
    identities: np.ndarray
    items: np.ndarray
    explorer: Explorer | None
    subsets: dict[str, np.ndarray]


def vectors_parquet(v: VectorSet) -> bytes:
    """Every row of a (dataset, network) once: ``row``, ``identity``, ``item``, raw float32 ``vector``."""
    import pyarrow as pa

    vectors = np.ascontiguousarray(v.vectors, dtype=np.float32)
    table = pa.table({"row": pa.array(np.arange(len(vectors), dtype=np.int64)),
                      "identity": pa.array(np.asarray(v.identities).astype(str).tolist(), pa.string()),
                      "item": pa.array(np.asarray(v.items).astype(str).tolist(), pa.string())})
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    return _parquet(table.append_column("vector", pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])))


# --------------------------------------------------------------------------- Projector
def _tsv_cell(text) -> str:
    """One metadata cell: no tab or newline, never empty, no live spreadsheet formula."""
    return csv_cell(" ".join(str(text).replace("\t", " ").split()) or "none")


def projector_tsv(v: VectorSet) -> tuple[str, str] | None:
    """(vectors, metadata) TSV texts of the Projector's points; None without an explorer."""
    e = v.explorer
    if e is None:
        return None
    p = e.points.reset_index(drop=True)
    rows = p["row"].to_numpy(np.int64)
    vectors = np.asarray(v.vectors, dtype=np.float32)[rows]
    vec = "\n".join("\t".join(map(repr_float, row)) for row in vectors.tolist()) + "\n"
    member = {name: set(np.asarray(r).tolist()) for name, r in v.subsets.items()}
    extra = [c for c in p.columns if c not in ("row", "identity", "item", "cluster", "flags") and not c.endswith((" x", " y"))]
    header = ["identity", "item", "cluster", "flags", *extra, "subsets"]
    lines = ["\t".join(_tsv_cell(h) for h in header)]
    for i in range(len(p)):
        cells = [_tsv_cell(p.at[i, "identity"]), _tsv_cell(p.at[i, "item"]), str(int(p.at[i, "cluster"])),
                 _tsv_cell(p.at[i, "flags"] or "none")]
        # Numbers by dtype kind: text columns are pandas' string dtype (not object) under pandas 3.
        cells += [_number(p.at[i, c]) if pd.api.types.is_numeric_dtype(p[c]) else _tsv_cell(p.at[i, c]) for c in extra]
        cells.append(_tsv_cell("; ".join(s for s in v.subsets if int(rows[i]) in member[s])))
        lines.append("\t".join(cells))
    return vec, "\n".join(lines) + "\n"


def repr_float(v: float) -> str:
    """A float32 value as text: 6 significant digits (the Projector's display needs no more)."""
    return f"{v:.6g}"


def _number(v) -> str:
    """A metadata number; empty when there is none (the Projector keeps the column numeric)."""
    return "" if not np.isfinite(v) else f"{float(v):.6g}"


# --------------------------------------------------------------------------- writers
def write_explorer_files(explorers: list[Explorer], docs: Path) -> None:
    """Write every explorer's data script and Parquet file under ``docs``."""
    for e in explorers:
        target = docs / explorer_data_file(e.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(explorer_data_js(e), encoding="utf-8")
        neighbours = neighbour_data_js(e)
        if neighbours is not None:
            (docs / neighbour_data_file(e.key)).write_text(neighbours, encoding="utf-8")
        (docs / parquet_file(e.key)).parent.mkdir(parents=True, exist_ok=True)
        (docs / parquet_file(e.key)).write_bytes(parquet_bytes(e))


def write_vector_files(sets: list[VectorSet], docs: Path) -> None:
    """Write the vectors file and the Projector pair of every published (dataset, network)."""
    for v in sets:
        target = docs / vectors_file(v.dataset, v.network)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(vectors_parquet(v))
        tsv = projector_tsv(v)
        if tsv is not None:
            for path, text in zip(projector_files(v.dataset, v.network), tsv):
                (docs / path).parent.mkdir(parents=True, exist_ok=True)
                (docs / path).write_text(text, encoding="utf-8")


def write_data_zip(docs: Path) -> None:
    """``downloads/atlas-data.zip`` of every CSV under ``tables/`` and every cell's Parquet under ``downloads/``.

    The published vectors (``downloads/vectors/``, ``downloads/projector/``) stay out: the zip
    would be a second copy of every template.
    """
    files = sorted(docs.glob("tables/*.csv")) + sorted(docs.glob("downloads/*.parquet"))
    target = docs / ZIP_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for f in files:
            info = zipfile.ZipInfo(f.relative_to(docs).as_posix(), date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, f.read_bytes())
