"""Naming discovered clusters: the user's ``cluster, name`` table turned into identity labels.

After a first build of an unlabelled dataset, the identity discovery page offers a CSV of every
face with its cluster. The user writes a small table (``names_file``):

======== =====================================================================================
column   meaning
======== =====================================================================================
cluster  discovered cluster id (an integer, as in the clusters CSV)
name     identity name given to the cluster; clusters given the same name are merged
merge    optional: id of another cluster this one belongs to (takes that cluster's name)
drop     optional: ``1``/``true``/``yes``/``x`` removes the cluster's faces (strangers, noise)
network  optional: the network whose clusters the row names; empty means every network
======== =====================================================================================

Clusters without a row, or with an empty name and no merge, keep a neutral label
``cluster-<id>`` so that no face silently disappears. The cluster ids are those of the
clustering the names file was first applied to; later builds carry them to their own clusters
by the faces they share (:mod:`analysis.statistics.name_matching`).

Tables that would not do what the user meant are refused with the row and the fix: a name that
is another cluster's neutral label (``cluster-01`` would merge two people), a junk label such as
``unknown`` (``[study] junk_labels``; also what ``predict`` calls a stranger), names equal up to
case, a name together with ``drop``, a name that contradicts its ``merge`` target, a merge into a
dropped cluster, a ``network`` that is not one of the config's. Names are Unicode NFC, as the
folder adapter normalises identity folders (``José`` typed on macOS is NFD).

Pure functions: tables and arrays in, frozen results out; reading the CSV is
:func:`analysis.embedding.datasets.read_names_file`.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

_TRUE = {"1", "true", "yes", "y", "x"}
_FALSE = {"", "0", "false", "no", "n"}
#: Neutral labels of unnamed clusters, in any zero padding or case (``cluster-1``, ``Cluster-01``).
_NEUTRAL = re.compile(r"cluster-0*(\d+)", re.IGNORECASE)
#: What ``predict`` calls a face below the threshold (:data:`analysis.statistics.recognizer.UNKNOWN`).
_STRANGER = "unknown"


@dataclass(frozen=True)
class NamingRow:
    """One row of the naming table."""

    cluster: int
    name: str
    merge: int | None
    drop: bool
    network: str


@dataclass(frozen=True)
class NamingTable:
    """The validated naming table; ``source`` is the file name (for the Reproducibility page)."""

    rows: tuple[NamingRow, ...]
    source: str
    content: str  # the rows as canonical CSV text (recorded with the study, hashed for caching)


@dataclass(frozen=True, eq=False)
class NamingRecord:
    """What naming did to one (dataset, network): recorded on the Reproducibility page.

    ``carry`` (an :class:`analysis.statistics.name_matching.CarryOver`) says how this build's
    clusters were matched to the clusters the names file named; ``lock`` is the file name of
    the record of those faces, ``bound`` how the names were bound to faces the first time.
    """

    network: str
    source: str
    n_clusters: int
    named: tuple[tuple[int, str], ...]  # (cluster, final identity) of every cluster kept
    merged: tuple[tuple[int, int], ...]  # (cluster, into)
    dropped: tuple[int, ...]
    n_faces_kept: int
    n_faces_dropped: int
    carry: Any = None
    lock: str = ""
    bound: str = ""
    chosen_k: int = 0
    reason: str = ""


def normalise_name(text: object) -> str:
    """A name as the folder adapter normalises identity folders: Unicode NFC, no surrounding spaces."""
    return unicodedata.normalize("NFC", str(text)).strip()


def _int(value: str, column: str, row: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"row {row + 2}: column {column!r} must be a cluster id (an integer), got {value!r}") from None
    if number < 0:
        raise ValueError(f"row {row + 2}: column {column!r} must be a cluster id (0 or more), got {value!r}")
    return number


def _checked_name(name: str, cluster: int, row: int, junk_labels: Iterable[str]) -> str:
    """The row's name, or "" when it is the cluster's own neutral label; ValueError for a trap."""
    neutral = _NEUTRAL.fullmatch(name)
    if neutral:
        if int(neutral.group(1)) == cluster:
            return ""  # "3,cluster-03" names nothing: the cluster keeps its neutral label
        raise ValueError(f"row {row + 2}: name {name!r} of cluster {cluster} is the neutral label of cluster "
                         f"{int(neutral.group(1))}, so the two clusters would become one identity; choose a real name, "
                         f"or merge = {int(neutral.group(1))} to say they are the same person")
    junk = {j.casefold() for j in junk_labels} | {_STRANGER}
    if name.casefold() in junk:
        raise ValueError(f"row {row + 2}: cluster {cluster} is named {name!r}, a label that names no person "
                         "([study] junk_labels; 'unknown' is also what predict calls a stranger); to remove these "
                         "faces write drop = 1, to keep them without a name leave the name empty")
    return name


def naming_table(frame: pd.DataFrame, source: str = "", networks: Iterable[str] | None = None,
                 junk_labels: Iterable[str] = ()) -> NamingTable:
    """Validate a naming table read as strings (columns ``cluster``, ``name``, optional ``merge``, ``drop``, ``network``).

    Parameters
    ----------
    frame : DataFrame
        The table, every cell a string.
    source : str
        File name shown in messages and on the Reproducibility page.
    networks : iterable of str, optional
        The config's networks: a ``network`` cell naming another one is an error (a typo would
        otherwise leave every row of it unused).
    junk_labels : iterable of str
        Labels that name no person (``[study] junk_labels``), refused as names.

    Raises
    ------
    ValueError
        Missing ``cluster``/``name`` column, no row, a non-integer id, an unknown ``drop`` value,
        a cluster named twice for the same network, an unknown network, or one of the traps of
        the module docstring that can be seen without the clusters.
    """
    cols = {str(c).strip().lower(): c for c in frame.columns}
    for needed in ("cluster", "name"):
        if needed not in cols:
            raise ValueError(f"no column {needed!r} (columns: {', '.join(map(str, frame.columns)) or 'none'}); "
                             "start from the discovered clusters CSV and add a 'name' column")
    if not len(frame):
        raise ValueError("the table has a header but no row; add one row 'cluster,name' per cluster to name")
    valid_networks = None if networks is None else sorted(set(networks))
    junk = tuple(junk_labels)
    rows, seen = [], set()
    for i in range(len(frame)):
        get = lambda c: normalise_name(frame[cols[c]].iloc[i]) if c in cols else ""  # noqa: E731
        cluster = _int(get("cluster"), "cluster", i)
        merge = _int(get("merge"), "merge", i) if get("merge") else None
        drop_text = get("drop").lower()
        if drop_text not in _TRUE | _FALSE:
            raise ValueError(f"row {i + 2}: drop must be empty, 1/0, yes/no or true/false, got {get('drop')!r}")
        drop = drop_text in _TRUE
        network = get("network")
        if valid_networks is not None and network and network not in valid_networks:
            raise ValueError(f"row {i + 2}: network {network!r} is not a network of the config (valid: "
                             f"{', '.join(valid_networks)}; empty: every network)")
        if (cluster, network) in seen:
            raise ValueError(f"row {i + 2}: cluster {cluster} appears twice" + (f" for network {network!r}" if network else ""))
        seen.add((cluster, network))
        raw_name = get("name")
        if drop and raw_name.casefold() in {j.casefold() for j in junk} | {_STRANGER}:
            raw_name = ""  # "3,unknown,,1": dropping the strangers, the name only says why
        name = _checked_name(raw_name, cluster, i, junk)
        if drop and (name or merge not in (None, cluster)):
            what = f"named {name!r}" if name else f"merged into cluster {merge}"
            raise ValueError(f"row {i + 2}: cluster {cluster} is both {what} and dropped; clear the drop column to "
                             f"keep its faces, or the {'name' if name else 'merge'} to drop them")
        rows.append(NamingRow(cluster, name, None if merge == cluster else merge, drop, network))
    _check_case(rows)
    rows.sort(key=lambda r: (r.network, r.cluster))
    content = "cluster,name,merge,drop,network\n" + "".join(
        f"{r.cluster},{r.name},{'' if r.merge is None else r.merge},{int(r.drop)},{r.network}\n" for r in rows)
    return NamingTable(tuple(rows), source, content)


def _check_case(rows: list[NamingRow]) -> None:
    """Names equal up to case are one person typed twice, or two people who cannot be told apart in tables."""
    first: dict[str, NamingRow] = {}
    for r in rows:
        if not r.name:
            continue
        other = first.setdefault(r.name.casefold(), r)
        if other.name != r.name:
            raise ValueError(f"names {other.name!r} (cluster {other.cluster}) and {r.name!r} (cluster {r.cluster}) differ "
                             "only in case; write them the same to make the clusters one identity, or make them distinct")


def cluster_label(cluster: int) -> str:
    """Neutral label of an unnamed cluster."""
    return f"cluster-{int(cluster):02d}"


def is_neutral(label: str | None) -> bool:
    """True for the neutral label of an unnamed cluster (and for a dropped one, ``None``)."""
    return label is None or _NEUTRAL.fullmatch(str(label)) is not None


def _rows_for(table: NamingTable, network: str) -> dict[int, NamingRow]:
    rows = {r.cluster: r for r in table.rows if not r.network}
    rows.update({r.cluster: r for r in table.rows if r.network == network})  # network rows win
    return rows


def resolve_names(ids: Iterable[int], table: NamingTable, network: str) -> tuple[dict[int, str | None],
                                                                              tuple[tuple[int, int], ...], tuple[int, ...]]:
    """Final identity of every cluster id: its name, its merge target's, its neutral label, or None (dropped).

    Parameters
    ----------
    ids : iterable of int
        Every cluster the names may refer to (present in this build or not).
    table : NamingTable
    network : str
        Rows for this network, and rows without a network, apply.

    Returns
    -------
    label_of : dict
        Cluster id -> identity (None for a dropped cluster).
    merged : tuple of (cluster, into)
    dropped : tuple of int

    Raises
    ------
    ValueError
        A row naming an id that does not exist, a merge into a missing or dropped cluster, a
        merge cycle, a name that contradicts its merge target's.
    """
    ids = sorted({int(c) for c in ids})
    known = set(ids)
    rows = _rows_for(table, network)
    unknown = sorted(set(rows) - known)
    if unknown:
        raise ValueError(f"names_file {table.source!r} names cluster(s) {unknown} that network {network!r} did not "
                         f"discover (clusters: {ids}); was it written for another build or network?")

    def final(c: int, path: tuple[int, ...] = ()) -> tuple[str | None, int]:
        """(identity or None when dropped, the cluster whose row decided it) following merge chains."""
        if c in path:
            raise ValueError(f"names_file {table.source!r}: merge cycle through cluster {c} "
                             f"({' -> '.join(map(str, (*path, c)))})")
        r = rows.get(c)
        if r is None:
            return cluster_label(c), c
        if r.drop:
            return None, c
        if r.merge is not None:
            if r.merge not in known:
                raise ValueError(f"names_file {table.source!r}: cluster {c} merges into {r.merge}, which does not exist "
                                 f"(clusters: {ids})")
            name, root = final(r.merge, (*path, c))
            if name is None:
                raise ValueError(f"names_file {table.source!r}: cluster {c} merges into cluster {r.merge}, which is "
                                 f"dropped (cluster {root}); write drop = 1 on cluster {c}'s row to drop it as well, or "
                                 "merge it into a kept cluster")
            if r.name and r.name != name:
                raise ValueError(f"names_file {table.source!r}: cluster {c} is named {r.name!r} but merges into cluster "
                                 f"{r.merge}, which is {name!r}; keep one of the two")
            return name, root
        return (r.name or cluster_label(c)), c

    label_of, merged, dropped = {}, [], []
    for c in ids:
        name, _ = final(c)
        label_of[c] = name
        r = rows.get(c)
        if name is None:
            dropped.append(c)
        elif r is not None and r.merge is not None:
            merged.append((c, r.merge))
    return label_of, tuple(merged), tuple(dropped)


def apply_names(clusters: np.ndarray, table: NamingTable, network: str,
                known: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray, NamingRecord]:
    """Identity labels of faces from their cluster and the naming table.

    Parameters
    ----------
    clusters : ndarray of shape (n_faces,), int
        Cluster of every face (the ids the names file refers to).
    table : NamingTable
    network : str
        Rows for this network, and rows without a network, apply.
    known : iterable of int, optional
        Every cluster id the names may refer to, including clusters with no face in this
        build (default: the ids in ``clusters``).

    Returns
    -------
    identities : ndarray of shape (n_faces,), str
    keep : ndarray of shape (n_faces,), bool
        False for faces of dropped clusters.
    record : NamingRecord
    """
    clusters = np.asarray(clusters, dtype=np.int64)
    present = sorted(int(c) for c in np.unique(clusters))
    ids = sorted(set(present) | {int(c) for c in (known if known is not None else ())})
    label_of, merged, dropped = resolve_names(ids, table, network)
    identities = np.array([label_of[int(c)] or "" for c in clusters], dtype=object)
    keep = np.array([label_of[int(c)] is not None for c in clusters], dtype=bool)
    record = NamingRecord(
        network=network, source=table.source, n_clusters=len(present),
        named=tuple((c, label_of[c]) for c in present if label_of[c] is not None),
        merged=tuple(m for m in merged if m[0] in set(present)), dropped=tuple(c for c in dropped if c in set(present)),
        n_faces_kept=int(keep.sum()), n_faces_dropped=int((~keep).sum()),
    )
    return identities.astype(str), keep, record


def named_clusters(label_of: Mapping[int, str | None]) -> dict[int, str]:
    """The clusters a user gave a name (directly, by merge or by sharing it), without neutral and dropped ones."""
    return {c: str(name) for c, name in label_of.items() if not is_neutral(name)}
