"""The unlabelled-photos workflow end to end on real faces (dlib): discover, review, name, grow, recognise.

Photos are built at test time from ``../shared/data/celebrity-faces`` (:mod:`tests.unlabelled_fixtures`):
40 single-face photos of 4 people in one flat folder plus 4 group photos of 2-3 of them, then
held-back photos of the 4 people and of a fifth person. One module-scoped fixture runs the
first build (extraction + discovery), the second builds with a names file written from the
clusters CSV; a second fixture adds 15 photos of two of the people (every cluster id is
renumbered), renames 3 and builds again with the same names file, then ``predict`` runs on the
held-back photos with that build's model. About two minutes of dlib on two cores.
"""
from __future__ import annotations

import re

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from tests.unlabelled_fixtures import (
    STRANGER,
    add_photos,
    make_unlabelled_photos,
    rename_photos,
    write_unlabelled_config,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    pytest.importorskip("dlib")
    from analysis.config import load_config
    from report.driver import run

    base = tmp_path_factory.mktemp("unlabelled")
    photos = make_unlabelled_photos(base)
    cache = base / "cache"
    review = base / "review"
    first_cfg = write_unlabelled_config(base / "first", photos.root, cache)
    text = first_cfg.read_text(encoding="utf-8").replace('kind = "unlabelled"', f'kind = "unlabelled"\nreview_dir = "{review}"')
    first_cfg.write_text(text, encoding="utf-8")
    first = run(load_config(first_cfg), progress=False)
    clusters = pd.read_csv(base / "first" / "out" / "docs" / "tables" / "data-archive-dlib-clusters.csv")
    truth = _truth(photos, clusters)
    # The user names each cluster after looking at its faces: here, the majority hidden truth.
    names = (pd.DataFrame({"cluster": clusters["cluster"], "person": truth})
             .groupby("cluster")["person"].agg(lambda s: s.mode().iloc[0]).reset_index())
    names_file = base / "names.csv"
    names.rename(columns={"person": "name"}).to_csv(names_file, index=False)
    second_cfg = write_unlabelled_config(base / "second", photos.root, cache, names_file)
    second = run(load_config(second_cfg), progress=False)
    return photos, first, clusters, truth, second, base, review


def _truth(photos, clusters: pd.DataFrame) -> list[str]:
    """Hidden person of every row of the clusters CSV (group faces: left to right on the canvas)."""
    out = []
    for row in clusters.itertuples():
        if row.original_file in photos.singles:
            out.append(photos.singles[row.original_file])
        else:
            faces = clusters[clusters["original_file"] == row.original_file].sort_values("x1")
            slot = list(faces["face_index"]).index(row.face_index)
            out.append(photos.groups[row.original_file][slot])
    return out


def test_every_face_of_the_group_photos_is_found(workflow):
    photos, first, clusters, *_ = workflow
    results = first[0]
    trace = results.inputs[0].trace["dlib"]
    for rel, people in photos.groups.items():
        kept = trace[(trace["item"] == rel) & trace["kept"]]
        assert len(kept) == len(people), f"{rel}: {len(kept)} faces kept for {len(people)} people"
        assert (clusters["original_file"] == rel).sum() == len(people)
    # every single photo gives exactly one face: 40 + the group faces, nothing else
    assert len(clusters) == len(photos.singles) + sum(len(p) for p in photos.groups.values())


def test_discovered_clusters_match_the_hidden_identities(workflow):
    photos, first, clusters, truth, *_ = workflow
    discovery = first[0].cell_results["discovery"]
    (result,) = discovery.values()
    assert result.chosen_k == 4
    assert adjusted_rand_score(truth, clusters["cluster"]) >= 0.8
    # the clusters CSV has one row per face with its detector score, box and silhouette
    assert list(clusters.columns) == ["original_file", "face_index", "cluster", "score", "x1", "y1", "x2", "y2", "silhouette"]
    assert clusters["score"].notna().all() and clusters["silhouette"].notna().all()


def test_unlabelled_build_skips_labelled_analyses_with_a_reason(workflow):
    _, first, *_ = workflow
    results = first[0]
    assert set(results.cell_results) == {"discovery"}
    for step in ("geometry", "similarity", "classifiers", "audit"):
        (reason,) = results.cell_skips[step].values()
        assert "names_file" in reason
    docs = results.config.study.output_dir / "docs"
    page = (docs / "archive" / "dlib" / "all" / "discovery.md").read_text(encoding="utf-8")
    assert "Identity discovery" in page and "k = 4" in page
    assert "needs identity labels" in (docs / "archive" / "dlib" / "all" / "geometry.md").read_text(encoding="utf-8")
    trace_csv = pd.read_csv(docs / "tables" / "data-archive-dlib-faces.csv")
    n_faces = results.inputs[0].embeddings["dlib"].n_samples
    assert {"aligned_file", "original_file", "face_index", "x1", "y1", "x2", "y2", "confidence", "lx0", "embedding_row"} <= set(trace_csv.columns)
    # every embedding row is one traced face; faces not embedded (low score, too small) say so
    assert sorted(trace_csv.loc[trace_csv["embedding_row"] >= 0, "embedding_row"]) == list(range(n_faces))
    assert not trace_csv.loc[trace_csv["embedding_row"] < 0, "status"].isin(["kept", "extra face (kept)"]).any()


def test_review_folders_hold_every_face_by_cluster_and_stay_local(workflow):
    _, first, clusters, _, _, base, review = workflow
    crops = sorted(review.rglob("*.jpg"))
    assert len(crops) == len(clusters)
    assert {p.parent.name for p in crops} == {f"cluster-{c:02d}" for c in clusters["cluster"].unique()}
    out = first[0].config.study.output_dir
    assert not list(out.rglob("*.jpg")), "face crops must not reach the build outputs"


def test_naming_turns_on_the_labelled_analyses(workflow):
    photos, _, clusters, truth, second, *_ = workflow
    results = second[0]
    for step in ("geometry", "similarity", "clustering", "classifiers", "audit"):
        assert results.cell_results.get(step), f"{step} did not run after naming"
    emb = results.inputs[0].embeddings["dlib"]
    assert sorted(set(emb.identities)) == sorted(set(truth))
    (record,) = results.inputs[0].naming
    assert record.n_clusters == 4 and record.n_faces_kept == len(clusters)
    repro = (results.config.study.output_dir / "docs" / "reproducibility.md").read_text(encoding="utf-8")
    assert "Naming of discovered clusters" in repro


@pytest.fixture(scope="module")
def grown(workflow):
    """Third build: 15 photos added, 3 renamed, same names file (issue 21: names must stay with their faces)."""
    from analysis.config import load_config
    from report.driver import run

    photos, _, clusters, truth, second, base, _ = workflow
    named_before = dict(zip(second[0].inputs[0].embeddings["dlib"].items, second[0].inputs[0].embeddings["dlib"].identities))
    added = add_photos(photos)
    moved = rename_photos(photos, ["photos/photo-00.jpg", "photos/photo-01.jpg", "events/group-1.jpg"])
    review = base / "review-named"
    cfg = write_unlabelled_config(base / "third", photos.root, base / "cache", base / "names.csv")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('kind = "unlabelled"', f'kind = "unlabelled"\nreview_dir = "{review}"'),
                   encoding="utf-8")
    third = run(load_config(cfg), progress=False)
    return named_before, added, moved, third, review


def _renamed(item: str, moved: dict) -> str:
    photo, _, face = item.rpartition("#")
    return f"{moved.get(photo, photo)}#{face}"


def test_added_photos_renumber_the_clusters_but_every_named_face_keeps_its_name(workflow, grown):
    photos, _, clusters, *_ = workflow
    named_before, added, moved, third, _ = grown
    emb = third[0].inputs[0].embeddings["dlib"]
    now = dict(zip(emb.items, emb.identities))
    changed = {item: (name, now.get(_renamed(item, moved))) for item, name in named_before.items()
               if now.get(_renamed(item, moved)) != name}
    assert not changed, f"{len(changed)} named faces changed their name: {sorted(changed.items())[:5]}"
    # the new photos' faces joined the right people through the matching
    for rel, person in added.items():
        assert now[f"{rel}#0"] == person, f"{rel}: {now.get(rel + '#0')} instead of {person}"
    (record,) = third[0].inputs[0].naming
    before = dict(zip(clusters["original_file"] + "#" + clusters["face_index"].astype(str), clusters["cluster"]))
    renumbered = {before[i] for i, d in zip(record.carry.items, record.carry.discovered)
                  if i in before and before[i] != d}
    assert renumbered, "the added photos did not renumber any cluster: the test would prove nothing"
    assert not record.carry.warnings
    notes = " ".join(third[2].notes)
    assert "4 names carried" in notes and "15 new face(s) joined a cluster through matching" in notes
    page = (third[0].config.study.output_dir / "docs" / "archive" / "dlib" / "all" / "discovery.md").read_text(encoding="utf-8")
    assert "Names follow faces" in page and "through matching" in page
    # identity table: faces, named, joined by matching, new (8 added photos of Denzel, 7 of Angelina)
    assert re.search(r"\| Denzel Washington \| \d+ \| 20 \| 12 \| 8 \| 0 \|", page), page
    assert re.search(r"\| Angelina Jolie \| \d+ \| 19 \| 12 \| 7 \| 0 \|", page), page


def test_review_folders_after_naming_hold_each_face_once_under_the_names_file_ids(workflow, grown):
    _, _, _, _, _, base, _ = workflow
    _, added, _, third, review = grown
    crops = sorted(review.rglob("*.jpg"))
    emb = third[0].inputs[0].embeddings["dlib"]
    assert len(crops) == emb.n_samples
    (record,) = third[0].inputs[0].naming
    assert {p.parent.name for p in crops} == {f"cluster-{int(c):02d}" for c in set(record.carry.cluster)}
    assert (review / ".atlas-review.json").is_file()


def test_predict_names_held_back_photos_and_calls_a_stranger_unknown(workflow, grown, capsys):
    from report.cli import main

    photos, _, _, _, _, base, _ = workflow
    (model,) = grown[3][2].models
    out = base / "who.csv"
    assert main(["predict", "--model", str(model), "--output", str(out), str(photos.held_back)]) == 0
    table = pd.read_csv(out)
    table["file"] = table["original_file"].map(lambda p: p.rsplit("/", 1)[-1])
    assert set(table["file"]) == set(photos.held_back_truth)
    for row in table.itertuples():
        person = photos.held_back_truth[row.file]
        expected = "unknown" if person == STRANGER else person
        assert row.identity == expected, f"{row.file}: {row.identity} (confidence {row.confidence:.3f})"
    assert list(table.columns[:8]) == ["original_file", "face_index", "x1", "y1", "x2", "y2", "identity", "confidence"]
    # a second run may not overwrite the CSV without --force
    assert main(["predict", "--model", str(model), "--output", str(out), str(photos.held_back)]) == 2
    assert "pass --force" in capsys.readouterr().err
