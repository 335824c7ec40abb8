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
    ([["-1", "A", "", ""]], "0 or more"),
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
    from tests.naming_fixtures import run_naming

    named, (record,) = run_naming(tmp_path, [("p0.jpg", 0), ("p1.jpg", 0), ("p2.jpg", 0), ("p3.jpg", 1), ("p4.jpg", 1),
                                             ("p5.jpg", 1)], "cluster,name\n0,Ann\n1,Bob\n")
    assert sorted(set(named["net"].identities)) == ["Ann", "Bob"] and record.n_faces_kept == 6
    assert "naming" in named["net"].meta
    (tmp_path / "names.csv.lock.json").unlink()
    with pytest.raises(ConfigError, match="did not discover"):
        run_naming(tmp_path, [("p0.jpg", 0), ("p1.jpg", 0), ("p3.jpg", 1), ("p4.jpg", 1)], "cluster,name\n9,Ann\n")


# ---- the names-file traps (issue 21): each refused with its row and fix, or made to do what the user meant ----


def test_a_name_equal_to_another_clusters_neutral_label_is_refused():
    with pytest.raises(ValueError, match="neutral label of cluster 1"):
        _table([[0, "cluster-01", "", ""]])
    with pytest.raises(ValueError, match="neutral label of cluster 1"):
        _table([[0, "Cluster-1", "", ""]])
    # a cluster "named" its own neutral label names nothing: it stays apart from every other cluster
    identities, _, _ = apply_names(np.array([0, 1, 2]), _table([[2, "cluster-02", "", ""], [0, "Ann", "", ""]]), "n")
    assert list(identities) == ["Ann", "cluster-01", "cluster-02"]


def test_a_typo_in_the_network_column_names_the_valid_networks():
    frame = pd.DataFrame({"cluster": ["0", "1"], "name": ["Ann", "Bob"], "network": ["dlb", ""]})
    with pytest.raises(ValueError, match=r"network 'dlb' is not a network of the config \(valid: arcface, dlib"):
        naming_table(frame, networks=["dlib", "arcface"])


def test_nfc_and_nfd_spellings_are_one_identity():
    nfc, nfd = "Jos\u00e9", "Jose\u0301"
    table = _table([[0, nfc, "", ""], [1, nfd, "", ""]])
    identities, _, record = apply_names(np.array([0, 1]), table, "n")
    assert set(identities) == {nfc} and len({name for _, name in record.named}) == 1


def test_merging_into_a_dropped_cluster_is_refused():
    table = _table([[0, "Ann", "", ""], [1, "", "2", ""], [2, "", "", "1"]])
    with pytest.raises(ValueError, match="merges into cluster 2, which is dropped"):
        apply_names(np.array([0, 1, 2]), table, "n")
    # a named cluster merged into a dropped one: its faces are not silently dropped either
    with pytest.raises(ValueError, match="dropped"):
        apply_names(np.array([0, 1]), _table([[0, "Ann", "1", ""], [1, "", "", "1"]]), "n")


def test_a_name_contradicting_its_merge_target_is_refused():
    with pytest.raises(ValueError, match="named 'Bob' but merges into cluster 0, which is 'Ann'"):
        apply_names(np.array([0, 1]), _table([[0, "Ann", "", ""], [1, "Bob", "0", ""]]), "n")
    identities, _, _ = apply_names(np.array([0, 1]), _table([[0, "Ann", "", ""], [1, "Ann", "0", ""]]), "n")
    assert set(identities) == {"Ann"}


@pytest.mark.parametrize("name", ["unknown", "Unknown", "UNKNOWN", "nobody"])
def test_junk_labels_and_unknown_are_refused_as_names(name):
    with pytest.raises(ValueError, match="names no person"):
        naming_table(pd.DataFrame({"cluster": ["0"], "name": [name]}), junk_labels=("unknown", "nobody"))


def test_a_dropped_cluster_may_say_unknown_but_not_carry_a_real_name():
    table = naming_table(pd.DataFrame({"cluster": ["0", "1", "2"], "name": ["Ann", "Bob", "unknown"],
                                       "drop": ["", "", "1"]}), junk_labels=("unknown",))
    identities, keep, _ = apply_names(np.array([0, 1, 2]), table, "n")
    assert list(keep) == [True, True, False]
    with pytest.raises(ValueError, match="both named 'Bob' and dropped"):
        _table([[1, "Bob", "", "1"]])


def test_names_equal_up_to_case_are_refused():
    with pytest.raises(ValueError, match="differ only in case"):
        _table([[0, "Tom Cruise", "", ""], [1, "tom cruise", "", ""]])


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"   \n\n", "is empty"),
    (b"cluster,name\n", "header but no row"),
    ("cluster,name\n0,Jos\u00e9\n".encode("latin-1"), "is not UTF-8 text"),
    ("cluster,name\n0,Ann\n".encode("utf-16"), "is not UTF-8 text"),
    (b'cluster,name\n0,"Ann\n', "not a readable CSV"),
])
def test_unreadable_names_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "my names.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        read_names_file(path)
    assert "my names.csv" in str(info.value)


def test_a_names_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "names.csv"
    path.write_bytes("cluster,name\n0,Jos\u00e9\n1,Bob\n".encode("utf-8-sig"))
    table = read_names_file(path)
    assert [r.name for r in table.rows] == ["Jos\u00e9", "Bob"]


def test_names_file_traps_fail_at_config_load_before_any_extraction(tmp_path):
    from analysis.config import ConfigError, load_config

    (tmp_path / "photos").mkdir()
    names = tmp_path / "names.csv"
    config = tmp_path / "study.toml"
    config.write_text('[study]\noutput_dir = "out"\n[[datasets]]\nname = "p"\nkind = "unlabelled"\nroot = "photos"\n'
                      'names_file = "names.csv"\n[[networks]]\nname = "dlib"\nkind = "dlib"\n', encoding="utf-8")
    names.write_text("cluster,name,network\n0,Ann,dlb\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="network 'dlb' is not a network of the config"):
        load_config(config)
    names.write_text("cluster,name\n0,unknown\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="names no person"):
        load_config(config)
    names.write_bytes("cluster,name\n0,Jos\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="names.csv.*not UTF-8"):
        load_config(config)
    names.write_text("cluster,name\n0,Ann\n1,Bob\n", encoding="utf-8")
    assert load_config(config).datasets[0].options.names_file == names.resolve()


def test_the_first_binding_through_the_clusters_csv_checks_each_faces_box(tmp_path):
    """A photo replaced under its name, or faces of a group photo in another order, between the discovery build and
    the first named build: the CSV's cluster is not bound to a face whose box does not overlap the CSV's box."""
    import numpy as np
    import pandas as pd

    from report.naming import csv_binding, previous_clusters

    path = tmp_path / "clusters.csv"
    pd.DataFrame({"original_file": ["a.jpg", "g.jpg", "g.jpg", "=b.jpg"], "face_index": [0, 0, 1, 0],
                  "cluster": [3, 1, 2, 4], "score": [0.9] * 4, "x1": [10, 0, 100, 5], "y1": [10, 0, 0, 5],
                  "x2": [60, 50, 150, 55], "y2": [60, 50, 50, 55], "silhouette": [0.1] * 4}).to_csv(path, index=False)
    path.write_text(path.read_text().replace("=b.jpg", "'=b.jpg"), encoding="utf-8")  # the CSV's formula guard
    previous = previous_clusters(path)
    files = np.array(["a.jpg", "g.jpg", "g.jpg", "=b.jpg", "new.jpg"], dtype=object)
    items = np.array(["a.jpg", "g.jpg#0", "g.jpg#1", "=b.jpg", "new.jpg"], dtype=object)
    same = np.array([[11, 10, 60, 61], [0, 0, 50, 50], [100, 0, 150, 50], [5, 5, 55, 55], [0, 0, 9, 9]], float)
    assert csv_binding(previous, files, items, same, 0.5).tolist() == [3, 1, 2, 4, -1]
    swapped = same[[0, 2, 1, 3, 4]]  # the detector now finds the right face first
    assert csv_binding(previous, files, items, swapped, 0.5).tolist() == [3, -1, -1, 4, -1]
    replaced = same.copy()
    replaced[0] = [200, 200, 260, 260]  # another photo under the name a.jpg
    assert csv_binding(previous, files, items, replaced, 0.5)[0] == -1
    pd.read_csv(path).drop(columns=["x1", "y1", "x2", "y2"]).to_csv(path, index=False)  # an older CSV: no boxes
    assert csv_binding(previous_clusters(path), files, items, replaced, 0.5).tolist() == [3, 1, 2, 4, -1]


def test_rows_without_a_network_are_refused_when_two_networks_discover_their_own_clusters(tmp_path):
    """Cluster 0 of one network's discovery is not cluster 0 of another's: a general row would name other faces."""
    import dataclasses

    from analysis.config import ConfigError
    from analysis.statistics.discovery import DiscoveryParams
    from report.naming import name_clusters
    from tests.naming_fixtures import face_world, singles

    photos = singles(0, 6) + singles(1, 6, "q")
    emb, manifest, trace, _ = face_world(photos)
    two = {"arc": dataclasses.replace(emb, network="arc"), "dlib": dataclasses.replace(emb, network="dlib")}
    path = tmp_path / "names.csv"
    kwargs = dict(dataset="d", manifest=manifest, traces={"arc": trace, "dlib": trace}, networks=["arc", "dlib"],
                  junk_labels=("unknown",))
    path.write_text("cluster,name\n0,Ann\n1,Bob\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"row\(s\) without a network .*add a network column"):
        name_clusters(two, path, DiscoveryParams(), 0, tmp_path / "cache", **kwargs)
    path.write_text("cluster,name,network\n0,Ann,arc\n1,Bob,arc\n0,Ann,dlib\n1,Bob,dlib\n", encoding="utf-8")
    named, _ = name_clusters(two, path, DiscoveryParams(), 0, tmp_path / "cache", **kwargs)
    assert set(named["arc"].identities) == set(named["dlib"].identities) == {"Ann", "Bob"}
