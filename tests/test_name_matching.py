"""Names that stay with their faces (analysis.statistics.name_matching, report.naming, report.names_lock).

The issue-21 case: a names file keyed on cluster ids named every face of one person after another
once photos were added (ids renumbered). Here, on synthetic collections (tests.naming_fixtures),
the second and third builds add, remove and rename photos; every face keeps the name it was given.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from analysis.config import ConfigError
from analysis.statistics.name_matching import BOUND, MATCHED, NEW, CarryParams, box_iou, carry_clusters, match_faces
from report.names_lock import lock_path, read_lock
from tests.naming_fixtures import discovered, face_world, names_for, run_naming, singles

PEOPLE = {0: "Angelina Jolie", 1: "Tom Cruise", 2: "Denzel Washington"}


def _names_of(named) -> dict[str, str]:
    emb = named["net"]
    return dict(zip(emb.items, emb.identities))


def _first_build(tmp_path, photos):
    names = names_for(photos, PEOPLE)
    named, (record,) = run_naming(tmp_path, photos, names)
    return names, _names_of(named), record


def test_match_faces_by_content_and_box():
    rec_photo = np.array(["a", "a", "b"])
    rec_boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [0, 0, 10, 10]], float)
    photo = np.array(["a", "a", "b", "c", "b"])
    boxes = np.array([[21, 1, 31, 11], [1, 0, 11, 10], [0, 0, 10, 10], [0, 0, 10, 10], [6, 6, 16, 16]], float)
    # jittered boxes of photo a match their own faces, in either order; c is new; b's second face overlaps too little
    assert list(match_faces(photo, boxes, rec_photo, rec_boxes)) == [1, 0, 2, -1, -1]
    assert box_iou(boxes[:1], boxes[:1])[0, 0] == pytest.approx(1.0)
    # two copies of one photo both find its recorded faces
    copies = match_faces(np.array(["b", "b"]), np.array([[0, 0, 10, 10]] * 2, float), rec_photo, rec_boxes,
                         files=np.array(["x/b.jpg", "y/b.jpg"]))
    assert list(copies) == [2, 2]


def test_the_first_build_binds_the_names_and_writes_the_lock_beside_the_names_file(tmp_path):
    photos = singles(0, 8) + singles(1, 8) + singles(2, 8)
    names, given, record = _first_build(tmp_path, photos)
    _, _, _, truth = face_world(photos)
    assert all(given[item] == PEOPLE[truth[item]] for item in given)
    assert (tmp_path / "names.csv").read_text(encoding="utf-8") == names  # the names file is never written
    lock = read_lock(lock_path(tmp_path / "names.csv"))
    faces = lock[("d", "net")]
    assert faces.n_faces == 24 and set(faces.origin) == {BOUND}
    assert record.carry.first and not record.carry.warnings and record.lock == "names.csv.lock.json"


def test_added_photos_renumber_the_clusters_but_every_name_stays_with_its_faces(tmp_path):
    """Second and third build: photos added (ids renumbered), then removed and renamed."""
    photos = singles(0, 8) + singles(1, 8) + singles(2, 8)
    _, given, _ = _first_build(tmp_path, photos)
    before = discovered(photos)
    # second build: 10 more photos of person 2 make it the largest cluster, and a new person 3 appears
    grown = photos + singles(2, 10, start=8) + singles(3, 6)
    after = discovered(grown)
    assert [before[i] for i in sorted(before)] != [after[i] for i in sorted(before)], "ids did not renumber"
    named, (record,) = run_naming(tmp_path, grown)
    now = _names_of(named)
    _, _, _, truth = face_world(grown)
    assert all(now[item] == name for item, name in given.items()), "a named face changed its name"
    assert all(now[i] == PEOPLE[2] for i in now if truth[i] == 2)  # new photos of a named person joined it
    new = {now[i] for i in now if truth[i] == 3}
    assert len(new) == 1 and new.pop().startswith("cluster-")  # a new person stays unnamed, never a named one
    carry = record.carry
    assert sorted(set(carry.origin)) == [BOUND, MATCHED, NEW] and len(carry.new_clusters) == 1
    lock = read_lock(lock_path(tmp_path / "names.csv"))[("d", "net")]
    assert lock.n_faces == len(grown)
    # third build: 5 photos of person 0 removed, every photo of person 1 renamed (same content)
    third = [p for p in grown if not (p[1] == 0 and p[2] in ("s0", "s1", "s2", "s3", "s4"))]
    third = [(p[0].replace("p-1-", "renamed/tom-"), *p[1:]) if p[1] == 1 else p for p in third]
    named, (record,) = run_naming(tmp_path, third)
    last = _names_of(named)
    _, _, _, truth = face_world(third)
    assert all(last[i] == PEOPLE[truth[i]] for i in last if truth[i] in PEOPLE)
    lost = [w for w in record.carry.warnings if w.kind == "lost"]
    assert len(lost) == 1 and "'Angelina Jolie'" in lost[0].text and "3 of its 8 named faces" in lost[0].text
    assert record.carry.n_missing == 5
    # the new cluster of person 3 can now be named by its id, and the name reaches its faces
    new_id = record.carry.new_clusters or tuple({int(c) for c, o in zip(record.carry.cluster, record.carry.origin)
                                                 if o == NEW})
    names = (tmp_path / "names.csv").read_text(encoding="utf-8") + f"{new_id[0]},Hugh Jackman\n"
    named, _ = run_naming(tmp_path, third, names)
    assert {n for i, n in _names_of(named).items() if truth[i] == 3} == {"Hugh Jackman"}


def test_a_rebuild_with_nothing_changed_says_the_same(tmp_path):
    from report.pages.naming import identities_frame, matches_frame

    photos = singles(0, 8) + singles(1, 8) + singles(2, 8)
    _first_build(tmp_path, photos)
    grown = photos + singles(2, 10, start=8) + singles(3, 6)
    _, (second,) = run_naming(tmp_path, grown)
    lock_text = lock_path(tmp_path / "names.csv").read_text(encoding="utf-8")
    _, (third,) = run_naming(tmp_path, grown)
    assert lock_path(tmp_path / "names.csv").read_text(encoding="utf-8") == lock_text
    assert identities_frame(second).equals(identities_frame(third))
    assert matches_frame(second).equals(matches_frame(third))
    assert second.carry.warnings == third.carry.warnings


def test_new_faces_in_a_cluster_of_two_named_people_are_an_error_not_a_guess():
    items = np.array([f"f{i}" for i in range(10)])
    discovered_ = np.zeros(10, int)
    recorded = np.array([0, 0, 0, 1, 1, 1, -1, -1, -1, -1])
    origin = np.array([BOUND] * 6 + [""] * 4)
    with pytest.raises(ValueError, match=r"cannot tell who new faces are.*'Ann'.*'Bob'"):
        carry_clusters(items, discovered_, recorded, origin, {0: "Ann", 1: "Bob"}, {0: 3, 1: 3}, 2)
    # one name for both clusters (the user merged them): the new faces are that person
    out = carry_clusters(items, discovered_, recorded, origin, {0: "Ann", 1: "Ann"}, {0: 3, 1: 3}, 2)
    assert set(out.cluster[6:]) == {0} and set(out.origin[6:]) == {MATCHED}


def test_one_stray_recorded_face_does_not_name_a_crowd_of_new_faces():
    items = np.array([f"f{i}" for i in range(12)])
    recorded = np.array([0] + [-1] * 11)
    out = carry_clusters(items, np.zeros(12, int), recorded, np.array([BOUND] + [""] * 11), {0: "Ann"}, {0: 5}, 1,
                         CarryParams(min_anchor=0.2))
    assert out.cluster[0] == 0 and set(out.cluster[1:]) == {1} and set(out.origin[1:]) == {NEW}
    assert [w.kind for w in out.warnings] == ["lost", "unanchored"]


def test_split_and_merged_named_clusters_are_warnings_with_the_counts():
    items = np.array([f"f{i}" for i in range(12)])
    # Ann's 6 named faces now fall in discovered clusters 0 and 1; Bob's and Cy's share discovered cluster 2
    discovered_ = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2])
    recorded = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    out = carry_clusters(items, discovered_, recorded, np.array([BOUND] * 12), {0: "Ann", 1: "Bob", 2: "Cy"},
                         {0: 6, 1: 3, 2: 3}, 3)
    kinds = {w.kind: w.text for w in out.warnings}
    assert "discovered clusters 0 (3 faces), 1 (3 faces)" in kinds["split"]
    assert "'Bob'): 3" in kinds["merged"] and "'Cy'): 3" in kinds["merged"]
    assert list(out.cluster) == list(recorded)  # warnings only: every face keeps its name


def test_a_names_file_for_other_photos_is_an_error(tmp_path):
    photos = singles(0, 6) + singles(1, 6)
    run_naming(tmp_path, photos, "cluster,name\n0,Ann\n1,Bob\n")
    other = singles(4, 6, prefix="q") + singles(5, 6, prefix="q")
    with pytest.raises(ConfigError, match="none of the 12 faces recorded for the names is in this build"):
        run_naming(tmp_path, other)


def test_names_written_for_the_published_clusters_follow_photos_added_before_the_named_build(tmp_path):
    """The user names the clusters CSV of the discovery build, then adds photos before building with names."""
    from report.naming import clusters_csv

    photos = singles(0, 8) + singles(1, 8) + singles(2, 8)
    clusters = discovered(photos)
    out = tmp_path / "out"
    csv = clusters_csv(out, "d", "net")
    csv.parent.mkdir(parents=True)
    rows = "".join(f"{i.split('#')[0]},{i.split('#')[1]},{c}\n" for i, c in sorted(clusters.items()))
    csv.write_text("original_file,face_index,cluster\n" + rows, encoding="utf-8")
    names = names_for(photos, PEOPLE)
    grown = photos + singles(2, 10, start=8)
    assert discovered(grown) != {**clusters, **{i: c for i, c in discovered(grown).items() if i not in clusters}}
    named, (record,) = run_naming(tmp_path, grown, names, output_dir=out)
    _, _, _, truth = face_world(grown)
    assert all(n == PEOPLE[truth[i]] for i, n in _names_of(named).items())
    assert "last discovery build" in record.bound and csv.name in record.bound


def test_a_foreign_or_damaged_lock_is_never_overwritten(tmp_path):
    photos = singles(0, 6) + singles(1, 6)
    lock = tmp_path / "names.csv.lock.json"
    lock.write_text('{"my": "notes"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not a names lock written by this build"):
        run_naming(tmp_path, photos, "cluster,name\n0,Ann\n1,Bob\n")
    assert lock.read_text(encoding="utf-8") == '{"my": "notes"}\n'
    lock.unlink()
    run_naming(tmp_path, photos)
    doc = json.loads(lock.read_text(encoding="utf-8"))
    doc["sets"][0]["faces"][0][5] = "zero"
    lock.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match="face row 1 is not"):
        run_naming(tmp_path, photos)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_names_folder_is_one_error_naming_the_lock(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "names.csv").write_text("cluster,name\n0,Ann\n1,Bob\n", encoding="utf-8")
    folder.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="cannot write the names lock .*names.csv.lock.json"):
            run_naming(folder, singles(0, 6) + singles(1, 6))
    finally:
        folder.chmod(0o755)


def test_a_full_disk_while_writing_the_lock_is_one_error_and_the_old_lock_stays(tmp_path, monkeypatch):
    import errno

    from report import names_lock

    photos = singles(0, 6) + singles(1, 6)
    run_naming(tmp_path, photos, "cluster,name\n0,Ann\n1,Bob\n")
    lock = lock_path(tmp_path / "names.csv")
    before = lock.read_bytes()

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(names_lock, "atomic_write_text", full)
    with pytest.raises(ConfigError, match="cannot write the names lock .*No space left on device"):
        run_naming(tmp_path, photos + singles(0, 3, start=6))
    assert lock.read_bytes() == before


@pytest.mark.parametrize("share", [0.5, 0.25, 0.0, 1.5])
def test_carry_min_share_must_be_above_one_half(share):
    """At 0.5 a discovered cluster split two and two between Tom and Angelina named its new face Tom (the smaller id)."""
    from analysis.statistics.discovery import DiscoveryParams

    with pytest.raises(ValueError, match="carry_min_share"):
        DiscoveryParams(carry_min_share=share)
