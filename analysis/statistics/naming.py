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
``cluster-<id>`` so that no face silently disappears. Pure functions: tables and arrays in,
frozen results out; reading the CSV is :func:`analysis.embedding.datasets.read_names_file`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_TRUE = {"1", "true", "yes", "y", "x"}
_FALSE = {"", "0", "false", "no", "n"}


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


@dataclass(frozen=True)
class NamingRecord:
    """What naming did to one (dataset, network): recorded on the Reproducibility page."""

    network: str
    source: str
    n_clusters: int
    named: tuple[tuple[int, str], ...]  # (cluster, final identity) of every cluster kept
    merged: tuple[tuple[int, int], ...]  # (cluster, into)
    dropped: tuple[int, ...]
    n_faces_kept: int
    n_faces_dropped: int


def _int(value: str, column: str, row: int) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"row {row + 2}: column {column!r} must be a cluster id (an integer), got {value!r}") from None


def naming_table(frame: pd.DataFrame, source: str = "") -> NamingTable:
    """Validate a naming table read as strings (columns ``cluster``, ``name``, optional ``merge``, ``drop``, ``network``).

    Raises
    ------
    ValueError
        Missing ``cluster``/``name`` column, a non-integer id, an unknown ``drop`` value, a
        cluster named twice for the same network.
    """
    cols = {c.strip().lower(): c for c in frame.columns}
    for needed in ("cluster", "name"):
        if needed not in cols:
            raise ValueError(f"no column {needed!r} (columns: {', '.join(map(str, frame.columns))}); "
                             "start from the discovered clusters CSV and add a 'name' column")
    rows, seen = [], set()
    for i in range(len(frame)):
        get = lambda c: str(frame[cols[c]].iloc[i]).strip() if c in cols else ""  # noqa: E731
        cluster = _int(get("cluster"), "cluster", i)
        merge = _int(get("merge"), "merge", i) if get("merge") else None
        drop_text = get("drop").lower()
        if drop_text not in _TRUE | _FALSE:
            raise ValueError(f"row {i + 2}: drop must be empty, 1/0, yes/no or true/false, got {get('drop')!r}")
        network = get("network")
        if (cluster, network) in seen:
            raise ValueError(f"row {i + 2}: cluster {cluster} appears twice" + (f" for network {network!r}" if network else ""))
        seen.add((cluster, network))
        rows.append(NamingRow(cluster, get("name"), merge, drop_text in _TRUE, network))
    rows.sort(key=lambda r: (r.network, r.cluster))
    content = "cluster,name,merge,drop,network\n" + "".join(
        f"{r.cluster},{r.name},{'' if r.merge is None else r.merge},{int(r.drop)},{r.network}\n" for r in rows)
    return NamingTable(tuple(rows), source, content)


def cluster_label(cluster: int) -> str:
    """Neutral label of an unnamed cluster."""
    return f"cluster-{int(cluster):02d}"


def apply_names(clusters: np.ndarray, table: NamingTable, network: str) -> tuple[np.ndarray, np.ndarray, NamingRecord]:
    """Identity labels of faces from their discovered cluster and the naming table.

    Parameters
    ----------
    clusters : ndarray of shape (n_faces,), int
        Discovered cluster of every face (``-1`` would be noise; KMeans has none).
    table : NamingTable
    network : str
        Rows for this network, and rows without a network, apply.

    Returns
    -------
    identities : ndarray of shape (n_faces,), str
    keep : ndarray of shape (n_faces,), bool
        False for faces of dropped clusters.
    record : NamingRecord
    """
    clusters = np.asarray(clusters, dtype=np.int64)
    ids = sorted(int(c) for c in np.unique(clusters))
    rows = {r.cluster: r for r in table.rows if not r.network}
    rows.update({r.cluster: r for r in table.rows if r.network == network})  # network rows win
    unknown = sorted(set(rows) - set(ids))
    if unknown:
        raise ValueError(f"names_file {table.source!r} names cluster(s) {unknown} that network {network!r} did not "
                         f"discover (clusters: {ids}); was it written for another build or network?")

    def final(c: int, depth: int = 0) -> tuple[str | None, int | None]:
        """(identity or None when dropped, merge target) following merge chains."""
        r = rows.get(c)
        if r is None:
            return cluster_label(c), None
        if r.drop:
            return None, None
        if r.merge is not None and r.merge != c:
            if r.merge not in ids:
                raise ValueError(f"names_file {table.source!r}: cluster {c} merges into {r.merge}, which does not exist")
            if depth > len(ids):
                raise ValueError(f"names_file {table.source!r}: merge cycle through cluster {c}")
            return final(r.merge, depth + 1)[0], r.merge
        return (r.name or cluster_label(c)), None

    label_of, merged, dropped = {}, [], []
    for c in ids:
        name, into = final(c)
        label_of[c] = name
        if name is None:
            dropped.append(c)
        elif into is not None:
            merged.append((c, into))
    identities = np.array([label_of[int(c)] or "" for c in clusters], dtype=object)
    keep = np.array([label_of[int(c)] is not None for c in clusters], dtype=bool)
    record = NamingRecord(
        network=network, source=table.source, n_clusters=len(ids),
        named=tuple((c, label_of[c]) for c in ids if label_of[c] is not None),
        merged=tuple(merged), dropped=tuple(dropped),
        n_faces_kept=int(keep.sum()), n_faces_dropped=int((~keep).sum()),
    )
    return identities.astype(str), keep, record
