"""Naming discovered clusters (analysis.statistics.naming) and reading the names file."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.embedding.datasets import read_names_file
from analysis.statistics.naming import apply_names, naming_table


def _table(rows, columns=("cluster", "name", "merge", "drop")):
    return naming_table(pd.DataFrame(rows, columns=list(columns)).astype(str), source="names.csv")


def test_names_merges_and_drops():
    clusters = np.array([0, 0, 1, 2, 2, 3, 4])
    table = _table([[0, "Alice", "", ""], [1, "Bob", "", ""], [2, "", "0", ""], [3, "", "", "yes"], [4, "Bob", "", ""]])
    identities, keep, rec = apply_names(clusters, table, "dlib")
    assert list(identities[keep]) == ["Alice", "Alice", "Bob", "Alice", "Alice", "Bob"]
    assert list(keep) == [True, True, True, True, True, False, True]
    assert rec.merged == ((2, 0),) and rec.dropped == (3,)
    assert rec.n_faces_kept == 6 and rec.n_faces_dropped == 1


def test_unnamed_clusters_keep_a_neutral_label():
    identities, keep, _ = apply_names(np.array([0, 1, 2]), _table([[0, "Alice", "", ""]]), "dlib")
    assert list(identities) == ["Alice", "cluster-01", "cluster-02"] and keep.all()


def test_network_specific_rows_win_over_general_ones():
    table = naming_table(pd.DataFrame({"cluster": ["0", "0", "1"], "name": ["A", "B", "C"], "network": ["", "arc", ""]}))
    assert list(apply_names(np.array([0, 1]), table, "arc")[0]) == ["B", "C"]
    assert list(apply_names(np.array([0, 1]), table, "dlib")[0]) == ["A", "C"]


@pytest.mark.parametrize("rows, message", [
    ([["x", "A", "", ""]], "integer"),
    ([[0, "A", "", "maybe"]], "drop"),
    ([[0, "A", "", ""], [0, "B", "", ""]], "twice"),
])
def test_malformed_tables_say_which_row(rows, message):
    with pytest.raises(ValueError, match=message):
        _table(rows)


def test_clusters_that_were_not_discovered_are_an_error():
    with pytest.raises(ValueError, match="did not discover"):
        apply_names(np.array([0, 1]), _table([[7, "A", "", ""]]), "dlib")
    with pytest.raises(ValueError, match="merge cycle"):
        apply_names(np.array([0, 1]), _table([[0, "", "1", ""], [1, "", "0", ""]]), "dlib")


def test_names_file_needs_cluster_and_name_columns(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("cluster,who\n0,Alice\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no column 'name'"):
        read_names_file(path)
    path.write_text("cluster,name\n0,Alice\n1,<script>\n", encoding="utf-8")
    table = read_names_file(path)
    assert [r.name for r in table.rows] == ["Alice", "<script>"] and table.source == "names.csv"


def test_a_names_file_for_other_clusters_is_a_config_error(tmp_path):
    from analysis.config import ConfigError
    from analysis.types import EmbeddingSet
    from analysis.statistics.discovery import DiscoveryParams
    from report.naming import name_clusters

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(1, 8)) + 0.05 * rng.normal(size=(6, 8)) for _ in range(2)]).astype(np.float32)
    emb = EmbeddingSet("d", "net", x, np.full(12, "(unlabelled)"), np.array([f"p{i}.jpg#0" for i in range(12)]))
    names = tmp_path / "names.csv"
    names.write_text("cluster,name\n0,Ann\n1,Bob\n", encoding="utf-8")
    named, (record,) = name_clusters({"net": emb}, names, DiscoveryParams(k_max=3), 0, tmp_path / "cache")
    assert sorted(set(named["net"].identities)) == ["Ann", "Bob"] and record.n_faces_kept == 12
    assert "naming" in named["net"].meta
    names.write_text("cluster,name\n9,Ann\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="did not discover"):
        name_clusters({"net": emb}, names, DiscoveryParams(k_max=3), 0, tmp_path / "cache")
