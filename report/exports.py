"""Per-cell data files of the site: explorer data, Parquet and TensorBoard Projector TSV, and one zip.

* ``explorer/<key>.js`` sets ``window.ATLAS_EXPLORER[key]``: a script, not JSON, so that the page
  can load it from ``file://`` where browsers refuse ``fetch``.
* ``downloads/<key>.parquet``: one row per mapped embedding with ``identity``, ``item``,
  ``cluster``, ``flags``, the 2-D coordinates of every map and the raw ``vector`` (a list
  column), which Apple's ``embedding-atlas`` CLI opens directly (``embedding-atlas file.parquet``).
* ``downloads/<key>-vectors.tsv`` and ``-metadata.tsv``: the two files the TensorBoard Embedding
  Projector (projector.tensorflow.org, "Load") reads.
* ``downloads/atlas-data.zip``: every CSV table and every Parquet file, for one download.

Every writer is deterministic: sorted keys, fixed float rounding, fixed zip timestamps.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from report.model import Explorer

ZIP_NAME = "downloads/atlas-data.zip"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def explorer_data_file(key: str) -> str:
    return f"explorer/{key}.js"


def parquet_file(key: str) -> str:
    return f"downloads/{key}.parquet"


def projector_files(key: str) -> tuple[str, str]:
    """(vectors TSV, metadata TSV) for the TensorBoard Projector."""
    return f"downloads/{key}-vectors.tsv", f"downloads/{key}-metadata.tsv"


def _map_names(points: pd.DataFrame) -> list[str]:
    return [c[:-2] for c in points.columns if c.endswith(" x") and f"{c[:-2]} y" in points.columns]


def explorer_data_js(e: Explorer) -> str:
    """The explorer's data as a script; identities are codes into a sorted name list to keep it small."""
    p = e.points
    names = sorted(set(p["identity"]))
    code = {n: i for i, n in enumerate(names)}
    data = {
        "names": names,
        "identity": [code[n] for n in p["identity"]],
        "items": p["item"].tolist(),
        "cluster": [int(c) for c in p["cluster"]],
        "flags": p["flags"].tolist(),
        "maps": {m: {"x": p[f"{m} x"].round(4).tolist(), "y": p[f"{m} y"].round(4).tolist()} for m in _map_names(p)},
    }
    # No "<", ">" or "&" in the script at all: a name such as "</script><script>..." stays a string.
    text = (json.dumps(data, separators=(",", ":"), ensure_ascii=True)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    return ("window.ATLAS_EXPLORER = window.ATLAS_EXPLORER || {};\n"
            f"window.ATLAS_EXPLORER[{json.dumps(e.key)}] = {text};\n")


def parquet_bytes(e: Explorer) -> bytes:
    """Parquet of the explorer's points with their raw vectors."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = e.points.reset_index(drop=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    vectors = np.asarray(e.vectors, dtype=np.float32)
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    table = table.append_column("vector", pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]))
    table = table.replace_schema_metadata(None)  # no pandas metadata: stable bytes across pandas versions
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _tsv_cell(text: str) -> str:
    return " ".join(str(text).replace("\t", " ").split()) or "-"


def projector_tsv(e: Explorer) -> tuple[str, str]:
    """(vectors, metadata) TSV texts: vectors without header, metadata with a header row."""
    vectors = np.asarray(e.vectors, dtype=np.float32)
    vec = "".join("\t".join(f"{v:.6g}" for v in row) + "\n" for row in vectors)
    p = e.points
    meta = ["identity\titem\tcluster\tflags\n"]
    meta += [f"{_tsv_cell(i)}\t{_tsv_cell(it)}\t{int(c)}\t{_tsv_cell(f or 'none')}\n"
             for i, it, c, f in zip(p["identity"], p["item"], p["cluster"], p["flags"])]
    return vec, "".join(meta)


def write_explorer_files(explorers: list[Explorer], docs: Path) -> None:
    """Write every explorer's data script, Parquet and Projector TSVs under ``docs``."""
    for e in explorers:
        target = docs / explorer_data_file(e.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(explorer_data_js(e), encoding="utf-8")
        (docs / parquet_file(e.key)).parent.mkdir(parents=True, exist_ok=True)
        (docs / parquet_file(e.key)).write_bytes(parquet_bytes(e))
        vec, meta = projector_tsv(e)
        vec_file, meta_file = projector_files(e.key)
        (docs / vec_file).write_text(vec, encoding="utf-8")
        (docs / meta_file).write_text(meta, encoding="utf-8")


def write_data_zip(docs: Path) -> None:
    """``downloads/atlas-data.zip`` of every CSV under ``tables/`` and every Parquet under ``downloads/``."""
    files = sorted(docs.glob("tables/*.csv")) + sorted(docs.glob("downloads/*.parquet"))
    target = docs / ZIP_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for f in files:
            info = zipfile.ZipInfo(f.relative_to(docs).as_posix(), date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, f.read_bytes())
