"""Group columns of a dataset (sex, age band, session, lighting): where they come from, checked, attached.

Any ``[[datasets]]`` entry may ask for group columns, analysed by the demographic and covariate
differentials (:mod:`analysis.statistics.verification.differentials`)::

    group_columns = ["sex", "age_band"]
    metadata_file = "people.csv"        # optional: a CSV (or .tsv) keyed by identity or by item
    metadata_key = "auto"               # "identity", "item", or "auto": item when the file has that column
    covariate_regex = "^(?P<semester>[^/]+)/"   # optional: named groups searched in every item (image path)

A requested column must come from exactly one source:

* extra columns of the data file: a precomputed-embedding CSV or Parquet file (any column that is
  not the identity, item or vector), the labels table of ``npy-embeddings``, a CSV manifest (any
  column besides path and identity);
* the named groups of the ``filename`` adapter's ``identity_regex`` other than ``identity`` (FRGC:
  ``(?P<identity>\\d{5})d(?P<session>\\d+)``), and of ``covariate_regex`` for any kind;
* the synthetic generator's planted columns (``planted_groups = true``);
* ``metadata_file``.

An unknown column is one error naming the available ones; hostile metadata files (no key column,
duplicate or conflicting keys, non-UTF-8 bytes, values too long, files over
:data:`MAX_METADATA_BYTES`) are errors naming the file and the fix. Values are trimmed and NFC
normalised; ``group_missing_values`` (and an absent key) are missing: the differentials leave such
rows out or make them a group, as ``[differentials] missing`` says. What was read is summarised in
the set's ``meta["group_sources"]``, shown on the differentials page.
"""
from __future__ import annotations

import csv
import dataclasses
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from analysis.types import EmbeddingSet

#: Largest metadata file read (bytes); a million images with a few columns is about 50 MB.
MAX_METADATA_BYTES = 1 << 30
#: Longest group value accepted (characters): values are table cells and axis labels.
MAX_VALUE_CHARS = 100
#: Values read as missing unless ``group_missing_values`` says otherwise.
DEFAULT_MISSING = ("", "NA", "N/A", "NaN", "nan", "null", "None")


@dataclass(frozen=True)
class GroupOptions:
    """The group keys of a ``[[datasets]]`` entry (see the module docstring).

    Parameters
    ----------
    group_columns : tuple of str
        Columns to analyse, in page order.
    metadata_file : Path, optional
        CSV (``.tsv``: tab-separated) with a key column (``identity`` or ``item``) and group columns.
    metadata_key : {"auto", "identity", "item"}, default="auto"
    covariate_regex : str, default=""
        Regular expression searched in every item; each named group is a column.
    group_missing_values : tuple of str
        Values that mean "unknown" (compared after trimming).
    """

    group_columns: tuple[str, ...] = ()
    metadata_file: Path | None = None
    metadata_key: Literal["auto", "identity", "item"] = "auto"
    covariate_regex: str = ""
    group_missing_values: tuple[str, ...] = DEFAULT_MISSING

    def __post_init__(self) -> None:
        cols = self.group_columns
        if any(not isinstance(c, str) or not c.strip() or c != c.strip() for c in cols):
            raise ValueError(f"group_columns must be non-empty names without surrounding spaces, got {list(cols)}")
        if len(set(cols)) != len(cols):
            raise ValueError(f"group_columns names a column twice: {list(cols)}")
        if any(len(c) > MAX_VALUE_CHARS or not c.isprintable() for c in cols):
            raise ValueError(f"group_columns names must be printable and at most {MAX_VALUE_CHARS} characters")
        if self.covariate_regex:
            try:
                re.compile(self.covariate_regex)
            except re.error as exc:
                raise ValueError(f"covariate_regex {self.covariate_regex!r} is not a valid regular expression: {exc}") from None
            if not re.compile(self.covariate_regex).groupindex:
                raise ValueError("covariate_regex needs named groups, e.g. '(?P<session>\\d+)': each one is a column")
        if not cols and (self.metadata_file is not None or self.covariate_regex):
            raise ValueError("metadata_file and covariate_regex are read for group_columns; list the columns to analyse "
                             "in group_columns")
        if self.metadata_file is not None and Path(self.metadata_file).is_dir():
            raise ValueError(f"metadata_file {str(self.metadata_file)!r} is a folder; give a CSV file")


#: The keys of a ``[[datasets]]`` entry that :class:`GroupOptions` takes (the rest go to the adapter).
GROUP_KEYS = frozenset(f.name for f in dataclasses.fields(GroupOptions))


def clean_value(value) -> str:
    """A group value as text: NFC, trimmed; ``None`` and NaN are empty."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a numeric column read as float: 2.0 -> "2"
    return unicodedata.normalize("NFC", str(value)).strip()


# --------------------------------------------------------------------------- sources
def regex_columns(items: np.ndarray, pattern: str, on: str = "item") -> pd.DataFrame:
    """One column per named group of ``pattern``, searched in each item (``on="name"``: its file name only)."""
    rx = re.compile(pattern)
    names = [n for n in rx.groupindex if not (on == "name" and n == "identity")]
    out = {n: [] for n in names}
    for item in map(str, items):
        m = rx.search(item.rsplit("/", 1)[-1] if on == "name" else item)
        for n in names:
            out[n].append(clean_value(m.group(n)) if m and m.group(n) is not None else "")
    return pd.DataFrame(out, index=pd.Index(np.asarray(items).astype(str), name="item"))


def _read_text_table(path: Path, name: str) -> pd.DataFrame:
    """A CSV/TSV file as text cells, or one clear error (size, encoding, duplicate or empty header)."""
    size = path.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"dataset {name!r}: metadata_file {str(path)!r} is {size / 2**30:.1f} GiB, more than the "
                         f"{MAX_METADATA_BYTES / 2**30:.0f} GiB read; keep only the key and group columns")
    if size == 0:
        raise ValueError(f"dataset {name!r}: metadata_file {str(path)!r} is empty; it needs a header row with a key "
                         "column (identity or item) and the group columns")
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"dataset {name!r}: metadata_file {str(path)!r} is not UTF-8 text (byte {raw[exc.start]:#04x} "
                         f"at offset {exc.start:,d}); save it as UTF-8") from None
    if "\x00" in text:
        raise ValueError(f"dataset {name!r}: metadata_file {str(path)!r} holds NUL bytes: not a text table")
    header = next(csv.reader([text.split("\n", 1)[0].rstrip("\r")], delimiter=sep), [])
    header = [clean_value(h) for h in header]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise ValueError(f"dataset {name!r}: metadata_file {str(path)!r} has the column(s) {', '.join(map(repr, dup))} "
                         "twice in its header; keep one of each")
    from io import StringIO

    try:
        table = pd.read_csv(StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise ValueError(f"dataset {name!r}: cannot read metadata_file {str(path)!r} as a table: {exc}") from None
    table.columns = [clean_value(c) for c in table.columns]
    return table


def read_metadata(name: str, opts: GroupOptions, wanted: list[str],
                  table: pd.DataFrame | None = None) -> tuple[str, pd.DataFrame]:
    """The metadata file's key kind (``"identity"`` or ``"item"``) and its ``wanted`` columns indexed by key.

    Raises ValueError for a file without its key column, a key repeated with different values,
    an empty key or a value longer than :data:`MAX_VALUE_CHARS`. Repeated keys with identical
    values are merged.
    """
    path = Path(opts.metadata_file)
    table = _read_text_table(path, name) if table is None else table
    key = opts.metadata_key
    if key == "auto":
        key = "item" if "item" in table.columns else "identity"
    if key not in table.columns:
        raise ValueError(f"dataset {name!r}: metadata_file {str(path)!r} has no {key!r} column (columns: "
                         f"{', '.join(map(repr, table.columns[:20]))}); name the key column identity or item, or set "
                         "metadata_key")
    frame = pd.DataFrame({c: [clean_value(v) for v in table[c]] for c in [key, *wanted]})
    blank = frame[key] == ""
    if blank.any():
        raise ValueError(f"dataset {name!r}: metadata_file {str(path)!r} row {int(np.flatnonzero(blank)[0]) + 2} has an "
                         f"empty {key}; every row needs its key")
    for c in wanted:
        long = frame[c].str.len() > MAX_VALUE_CHARS
        if long.any():
            raise ValueError(f"dataset {name!r}: metadata_file {str(path)!r} row {int(np.flatnonzero(long)[0]) + 2} column "
                             f"{c!r} holds {int(frame[c].str.len().max()):,d} characters, more than {MAX_VALUE_CHARS}; "
                             "group values are short labels")
    frame = frame.drop_duplicates()
    dup = frame[key].duplicated(keep=False)
    if dup.any():
        first = frame[dup].sort_values(key, kind="stable").head(6)
        shown = "; ".join(f"{k} -> {', '.join(f'{c}={v!r}' for c, v in zip(wanted, vals))}"
                          for k, *vals in first.itertuples(index=False, name=None))
        raise ValueError(f"dataset {name!r}: metadata_file {str(path)!r} gives {int(frame[key][dup].nunique()):,d} "
                         f"{key}(s) conflicting values ({shown}); keep one row per {key}")
    return key, frame.set_index(key)


def check_group_columns(name: str, opts: GroupOptions, data_columns: dict[str, str],
                        metadata_columns: list[str] | None = None) -> None:
    """Fail before any expensive step when a requested column has no source or two.

    ``data_columns`` maps every column the data itself offers (file columns, regex groups,
    generator columns) to a description of its source; ``metadata_columns`` are the metadata
    file's (read from its header when not given).
    """
    if not opts.group_columns:
        return
    meta_cols = list(metadata_columns or [])
    if metadata_columns is None and opts.metadata_file is not None:
        meta_cols = list(_read_text_table(Path(opts.metadata_file), name).columns)
    meta_cols = [c for c in meta_cols if c not in ("identity", "item")]
    available = sorted(set(data_columns) | set(meta_cols))
    for col in opts.group_columns:
        sources = [s for s in (data_columns.get(col), "metadata_file" if col in meta_cols else None) if s]
        if not sources:
            raise ValueError(f"dataset {name!r}: group column {col!r} is in none of its sources; available columns: "
                             f"{', '.join(map(repr, available)) or 'none'} (extra columns of the data file, "
                             "metadata_file, covariate_regex groups)")
        if len(sources) > 1:
            raise ValueError(f"dataset {name!r}: group column {col!r} is both in {sources[0]} and in {sources[1]}; "
                             "rename one of them")


def group_data(opts: GroupOptions, items: np.ndarray, *, extra: pd.DataFrame | None = None,
               extra_source: str = "the data file", generated: tuple = (), identity_regex: str = "",
               ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every column the data offers for ``items``, indexed by item, and the source of each.

    Parameters
    ----------
    opts : GroupOptions
    items : ndarray of str
        The items the columns are looked up by (image paths, sample ids).
    extra : DataFrame, optional
        Extra columns of the data file, indexed by item.
    extra_source : str
    generated : tuple of (name, values)
        Columns made with the data (the synthetic generator's), aligned with ``items``.
    identity_regex : str
        The ``filename`` adapter's pattern: its named groups besides ``identity`` are columns, searched
        in the file name.

    Raises
    ------
    ValueError
        When two sources offer a column of the same name that is requested.
    """
    index = pd.Index(np.asarray(items).astype(str), name="item")
    if not opts.group_columns:  # nothing asked for: nothing read
        return pd.DataFrame(index=index), {}
    parts: list[tuple[pd.DataFrame, str]] = []
    if extra is not None and len(extra.columns):
        parts.append((extra[~extra.index.duplicated()], extra_source))
    if generated:
        parts.append((pd.DataFrame({n: v for n, v in generated}, index=index), "the synthetic generator"))
    wanted = set(opts.group_columns)
    if identity_regex and wanted & (set(re.compile(identity_regex).groupindex) - {"identity"}):
        parts.append((regex_columns(index.to_numpy(), identity_regex, on="name"), "identity_regex"))
    if opts.covariate_regex and wanted & set(re.compile(opts.covariate_regex).groupindex):
        parts.append((regex_columns(index.to_numpy(), opts.covariate_regex), "covariate_regex"))
    sources: dict[str, str] = {}
    frames = []
    for frame, source in parts:
        for col in map(str, frame.columns):
            if col in sources and col in wanted:
                raise ValueError(f"group column {col!r} is both in {sources[col]} and in {source}; rename one of them")
            sources.setdefault(col, source)
        frames.append(frame.reindex(index))
    data = pd.concat(frames, axis=1) if frames else pd.DataFrame(index=index)
    data = data.loc[:, ~data.columns.duplicated()]
    return data, sources


# --------------------------------------------------------------------------- attaching
def attach_groups(name: str, opts: GroupOptions, emb: EmbeddingSet, data: pd.DataFrame | None = None,
                  sources: dict[str, str] | None = None) -> EmbeddingSet:
    """``emb`` with its requested group columns, read from ``data`` (one row per item) and the metadata file.

    Parameters
    ----------
    name : str
        Dataset name (messages).
    opts : GroupOptions
    emb : EmbeddingSet
    data, sources : DataFrame and dict, optional
        The columns the data offers, indexed by item, and their sources (:func:`group_data`). An item
        ``photo.jpg#2`` (a face of ``photo.jpg``) absent from the index is looked up as ``photo.jpg``.
    """
    if not opts.group_columns:
        return dataclasses.replace(emb, groups=()) if emb.groups else emb
    data = data if data is not None else pd.DataFrame(index=pd.Index(emb.items.astype(str), name="item"))
    data = data[~data.index.duplicated()]
    sources = dict(sources or {c: "the data file" for c in data.columns})
    meta_key, meta = None, None
    if opts.metadata_file is not None:
        table = _read_text_table(Path(opts.metadata_file), name)
        check_group_columns(name, opts, sources, list(table.columns))
        from_meta = [c for c in opts.group_columns if c not in sources]
        if from_meta:
            meta_key, meta = read_metadata(name, opts, from_meta, table)
    else:
        check_group_columns(name, opts, sources, [])
    items = emb.items.astype(str)
    missing_values = {clean_value(v) for v in opts.group_missing_values}
    rows = _row_lookup(items, data.index.astype(str))
    groups, notes = [], []
    for col in opts.group_columns:
        if col in sources:
            values = np.array([clean_value(v) for v in data[col].to_numpy()], dtype=object)
            out = np.where(rows >= 0, values[np.maximum(rows, 0)], "") if len(values) else np.full(len(items), "", object)
            source = sources[col]
        else:
            keys = _key_text(emb.identities) if meta_key == "identity" else _item_keys(_key_text(items), meta.index)
            out = meta[col].reindex(keys).fillna("").to_numpy(dtype=object)
            source = f"metadata_file {Path(opts.metadata_file).name} (keyed by {meta_key})"
        out = np.array(["" if v in missing_values else v for v in out], dtype=str)
        groups.append((col, out))
        n_missing = int((out == "").sum())
        notes.append(f"{col} from {source}: {len(np.unique(out[out != '']))} values"
                     + (f", {n_missing:,d} of {len(out):,d} rows without one" if n_missing else ""))
    if meta is not None:
        keys = set(_key_text(emb.identities)) if meta_key == "identity" else set(_item_keys(_key_text(items), meta.index))
        unused = int((~meta.index.isin(list(keys))).sum())
        if unused:
            notes.append(f"{unused:,d} {meta_key}(s) of the metadata file match no {'row' if meta_key == 'item' else 'identity'} "
                         "of this set (ignored)")
    provenance = {**dict(emb.meta), "group_sources": "; ".join(notes)}
    return dataclasses.replace(emb, groups=tuple(groups), meta=provenance)


def _key_text(values: np.ndarray) -> np.ndarray:
    """Identities or items as the metadata file's keys are read (:func:`clean_value`: NFC, trimmed), so that a
    file name in decomposed form (macOS) or with a stray space still finds its row."""
    return np.array([clean_value(v) for v in np.asarray(values).astype(str)], dtype=object)


def _row_lookup(items: np.ndarray, index: pd.Index) -> np.ndarray:
    """Position in ``index`` of each item (or of its photo, for a face ``photo#k``); -1 where absent."""
    index = pd.Index(index)
    pos = index.get_indexer(items)
    faces = (pos < 0) & (np.char.find(items.astype(str), "#") >= 0)
    if faces.any():
        photos = np.array([i.rsplit("#", 1)[0] for i in items[faces]])
        pos[faces] = index.get_indexer(photos)
    return pos


def _item_keys(items: np.ndarray, index: pd.Index) -> np.ndarray:
    """Each item as the metadata file names it: the item itself, else its photo (``photo.jpg#2`` -> ``photo.jpg``)."""
    known = set(index)
    return np.array([i if i in known or "#" not in i else i.rsplit("#", 1)[0] for i in items.astype(str)], dtype=object)


def manifest_group_data(opts: GroupOptions, adapter_options, manifest) -> tuple[pd.DataFrame, dict[str, str]]:
    """:func:`group_data` of an image dataset: its CSV manifest's extra columns, the ``filename`` adapter's
    ``identity_regex`` groups and ``covariate_regex``, by manifest path."""
    from analysis.embedding.datasets.image_folders import CsvManifestOptions, FilenameDatasetOptions, csv_manifest_columns

    paths = manifest.frame["path"].to_numpy(dtype=str)
    if not opts.group_columns:
        return pd.DataFrame(index=pd.Index(paths, name="item")), {}
    extra, source = None, "the data file"
    if isinstance(adapter_options, CsvManifestOptions):
        extra, source = csv_manifest_columns(adapter_options), f"manifest_file {Path(adapter_options.manifest_file).name}"
    regex = adapter_options.identity_regex if isinstance(adapter_options, FilenameDatasetOptions) else ""
    return group_data(opts, paths, extra=extra, extra_source=source, identity_regex=regex)
