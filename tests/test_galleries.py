"""Face galleries: which faces are chosen, how thumbnails are cut, and what reaches the outputs.

Unit tests run on small hand-made vectors and images; the end-to-end test builds a real dlib
study of a few celebrity folders with ``galleries = true`` (skipped without ../shared).
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from analysis.statistics.audit.audit import AuditParams, analyze_audit
from analysis.statistics.galleries import (
    GalleryParams,
    closest_rows,
    cluster_samples,
    mislabel_samples,
    pair_samples,
    pairs_from_centroids,
    pairs_from_confusion,
    select_gallery,
    suspect_order,
)
from analysis.embedding.thumbnails import alignment_points, crop_matrix, cut_thumbnail, kept_faces, load_thumbnails
from analysis.types import EmbeddingSet, l2_normalize
from tests.conftest import CELEBS, write_dlib_study, write_small_config



def _blobs(sizes: dict[str, int], dim: int = 8, spread: float = 0.05, seed: int = 0):
    """Tight, orthogonal identity clusters: identity -> count. Returns identities, items, unit vectors."""
    rng = np.random.default_rng(seed)
    ids, vecs = [], []
    for k, (name, n) in enumerate(sizes.items()):
        centre = np.eye(dim)[k]
        ids += [name] * n
        vecs.append(centre + spread * rng.standard_normal((n, dim)))
    x = l2_normalize(np.vstack(vecs))
    return np.array(ids), np.array([f"{i}/{j:02d}.jpg" for j, i in enumerate(ids)]), x


# --------------------------------------------------------------------------- selection
def test_closest_rows_ranks_by_cosine_then_row():
    x = l2_normalize(np.array([[1, 0], [1, 1], [1, 0], [0, 1]], np.float64))
    assert list(closest_rows(x, np.array([3, 2, 1, 0]), np.array([1.0, 0.0]), 3)) == [0, 2, 1]
    assert len(closest_rows(x, np.array([], np.int64), np.array([1.0, 0.0]), 3)) == 0


def test_mixed_clusters_come_first_and_show_their_mix():
    ids, items, x = _blobs({"A": 5, "B": 3, "C": 2, "D": 6})
    labels = np.array([0] * 5 + [1] * 5 + [2] * 6)  # cluster 1 mixes B and C
    labels_noise = labels.copy()
    labels_noise[0] = -1  # density-clustering noise is never a cluster
    out = cluster_samples(labels, ids, items, x, n_clusters=2, per_cluster=4)
    assert [c.cluster for c in out] == [1, 2]  # 2 intruders first, then the largest pure cluster
    mixed = out[0]
    assert (mixed.size, mixed.n_identities, mixed.majority) == (5, 2, "B")
    assert mixed.purity == pytest.approx(0.6)
    assert [f.identity for f in mixed.faces] == ["B", "C", "B", "C"]  # in turn, majority first
    assert all(items[f.row] == f.item for f in mixed.faces)
    assert cluster_samples(labels, ids, items, x, 2, 4) == out  # deterministic
    assert -1 not in {c.cluster for c in cluster_samples(labels_noise, ids, items, x, 5, 3)}


def test_pairs_from_confusion_keep_only_errors():
    names = np.array(["A", "B", "C"])
    pairs = pairs_from_confusion(names, np.array([0, 1, 0]), np.array([1, 2, 2]), np.array([4, 1, 0]), n_pairs=5)
    assert pairs == (("A", "B", 4.0), ("B", "C", 1.0))
    assert pairs_from_confusion(names, np.array([0]), np.array([1]), np.array([4]), n_pairs=0) == ()


def test_pairs_from_centroids_rank_the_most_similar_and_skip_junk():
    rng = np.random.default_rng(1)
    base = {"A": [1, 0, 0, 0], "B": [0.9, 0.44, 0, 0], "C": [0, 0, 1, 0], "unknown": [0.95, 0.3, 0, 0]}
    ids = np.repeat(list(base), 4)
    x = l2_normalize(np.vstack([np.array(base[i]) + 0.01 * rng.standard_normal(4) for i in ids]))
    pairs = pairs_from_centroids(x, ids, n_pairs=2, ignore=("unknown",))
    assert [(a, b) for a, b, _ in pairs] == [("A", "B"), ("B", "C")]
    assert pairs[0][2] > pairs[1][2]


def test_pair_faces_are_those_closest_to_the_other_identity():
    ids = np.array(["A", "A", "A", "B", "B"])
    items = np.array([f"{i}.jpg" for i in range(5)])
    x = l2_normalize(np.array([[1, 0], [0.7, 0.7], [0.9, 0.3], [0, 1], [0.1, 1]], np.float64))
    (p,) = pair_samples([("A", "B", 3.0)], ids, items, x, per_identity=2)
    assert [f.row for f in p.faces_a] == [1, 2]  # the A faces most like B
    assert [f.row for f in p.faces_b] == [4, 3]
    assert pair_samples([("A", "Z", 1.0)], ids, items, x) == ()  # absent identity: dropped


def test_suspect_order_matches_the_audit_table():
    rows = np.array([10, 11, 12, 13, 14])
    margin = np.array([-0.1, np.nan, -0.3, -0.1, 0.2])
    sil = np.array([0.0, -0.5, 0.1, -0.2, 0.3])
    suspected = np.array([True, True, True, True, False])
    assert list(suspect_order(rows, margin, sil, suspected)) == [2, 3, 0, 1]  # NaN margins last


def _mislabelled_set():
    ids, items, x = _blobs({"A": 6, "B": 6, "C": 6}, seed=2)
    planted = 3  # a B face labelled A
    vectors = x.copy()
    vectors[planted] = x[8] + 0.01
    emb = EmbeddingSet("d", "n", vectors.astype(np.float32), ids, items)
    return emb, planted


def test_mislabel_gallery_shows_the_planted_error_with_references():
    emb, planted = _mislabelled_set()
    audit = analyze_audit(emb, AuditParams())
    im = audit.images
    order = suspect_order(im.rows, im.margin, im.silhouette, im.suspected)
    (m,) = mislabel_samples(im.rows, im.nearest_other, im.margin, order, audit.names, emb.identities, emb.items,
                            emb.normalized(), n_suspects=1, references=3)
    assert (m.rank, m.face.row, m.face.identity, m.nearest) == (1, planted, "A", "B")
    assert m.margin < 0
    assert [f.identity for f in m.label_refs] == ["A"] * 3 and planted not in {f.row for f in m.label_refs}
    assert [f.identity for f in m.nearest_refs] == ["B"] * 3


def test_select_gallery_falls_back_and_says_why():
    emb, planted = _mislabelled_set()
    sel = select_gallery(emb, audit=analyze_audit(emb, AuditParams()), params=GalleryParams(pairs=2))
    assert sel.clusters == () and any("clustering" in n for n in sel.notes)
    assert sel.pair_source.startswith("centroid cosine") and len(sel.pairs) == 2
    assert sel.mislabels[0].face.row == planted and sel.n_suspected >= 1
    rows = [f.row for f in sel.faces()]
    assert rows == sorted(set(rows))
    assert select_gallery(emb, audit=analyze_audit(emb, AuditParams()), params=GalleryParams(pairs=2)) == sel
    bare = select_gallery(emb)
    assert bare.mislabels == () and any("audit" in n for n in bare.notes)


def test_select_gallery_reads_clustering_and_classifier_results():
    from types import SimpleNamespace

    emb, planted = _mislabelled_set()
    labels = np.repeat([0, 1, 2], 6)
    labels[planted] = 1  # the B face labelled A lands among the B faces
    clustering = SimpleNamespace(pseudo_labels=labels, pseudo_k=3)
    confusion = SimpleNamespace(classifier="knn", names=np.array(["A", "B", "C"]), pair_a=np.array([0, 1]),
                                pair_b=np.array([1, 2]), pair_count=np.array([2, 0]))
    sel = select_gallery(emb, clustering, SimpleNamespace(confusion=confusion), None, GalleryParams(clusters=2))
    assert sel.cluster_source == "KMeans, k = 3" and len(sel.clusters) == 2
    assert (sel.clusters[0].cluster, sel.clusters[0].n_identities) == (1, 2)  # the mixed cluster first
    assert sel.pair_source == "out-of-fold errors of the knn classifier"
    assert [(p.identity_a, p.identity_b, p.score) for p in sel.pairs] == [("A", "B", 2.0)]
    no_errors = SimpleNamespace(confusion=_replaced(confusion, pair_count=np.array([0, 0])))
    assert "knn classifier made no error" in select_gallery(emb, clustering, no_errors).pair_source


def _replaced(ns, **changes):
    """A copy of a namespace with some attributes changed."""
    from types import SimpleNamespace

    return SimpleNamespace(**{**vars(ns), **changes})


# --------------------------------------------------------------------------- thumbnails
LANDMARKS = np.array([[140, 150], [180, 150], [160, 175], [145, 195], [175, 195]], np.float64)


def _trace(items, boxes, landmarks, scheme="arcface5"):
    rows = []
    for item, box, lmk in zip(items, boxes, landmarks):
        row = {"item": item, "face_index": 0, "kept": True, "x1": box[0], "y1": box[1], "x2": box[2], "y2": box[3],
               "landmark_scheme": scheme}
        row.update({f"lx{i}": lmk[i][0] for i in range(5)})
        row.update({f"ly{i}": lmk[i][1] for i in range(5)})
        rows.append(row)
    return pd.DataFrame(rows)


def test_alignment_maps_landmarks_onto_the_template():
    src, dst = alignment_points(LANDMARKS, "arcface5", 112)
    m = crop_matrix(np.array([120, 120, 200, 220]), LANDMARKS, "arcface5", 112)
    mapped = src @ m[:, :2].T + m[:, 2]
    assert np.abs(mapped - dst).max() < 6  # a least-squares fit of 5 points
    # dlib's 5 points (eye corners, nose base) become eye centres, image-left eye first, whatever the order.
    dlib5 = np.array([[190, 150], [170, 150], [130, 150], [150, 150], [160, 180]], np.float64)
    src, dst = alignment_points(dlib5, "dlib5", 112)
    assert src.tolist() == [[140, 150], [180, 150], [160, 180]] and dst.shape == (3, 2)
    assert alignment_points(np.full((5, 2), np.nan), "arcface5", 112) is None
    box_only = crop_matrix(np.array([100, 100, 200, 200]), np.full((5, 2), np.nan), "", 112)
    centre = box_only @ np.array([150, 150, 1.0])
    assert np.allclose(centre, [56, 56])


def test_cut_thumbnail_shape_and_area_shrink():
    rng = np.random.default_rng(0)
    big = rng.integers(0, 255, (2000, 1600, 3), dtype=np.uint8)
    m = crop_matrix(np.array([200, 200, 1400, 1400]), np.full((5, 2), np.nan), "", 112)
    out = cut_thumbnail(big, m, 112)
    assert out.shape == (112, 112, 3) and out.dtype == np.uint8
    assert abs(float(out.mean()) - float(big.mean())) < 10  # area averaging, no black borders


def test_load_thumbnails_cuts_kept_faces_and_reports_the_rest(tmp_path):
    import cv2

    img = np.zeros((300, 300, 3), np.uint8)
    img[100:250, 110:210] = (0, 0, 255)  # a red "face" (BGR)
    (tmp_path / "p").mkdir()
    cv2.imwrite(str(tmp_path / "p" / "a.png"), img)
    (tmp_path / "p" / "broken.jpg").write_bytes(b"not an image")
    trace = _trace(["p/a.png", "p/broken.jpg"], [(110, 100, 210, 250)] * 2, [LANDMARKS] * 2)
    trace = pd.concat([trace, pd.DataFrame([{"item": "p/noface.jpg", "face_index": -1, "kept": False}])])
    assert list(kept_faces(trace, ["p/broken.jpg", "p/a.png", "p/noface.jpg"])["item"]) == ["p/broken.jpg", "p/a.png"]
    thumbs = load_thumbnails(tmp_path, trace, ["p/a.png", "p/broken.jpg", "p/noface.jpg"], size=64, threads=2)
    assert set(thumbs.images) == {"p/a.png"} and thumbs.size == 64
    face = thumbs.images["p/a.png"]
    assert face.shape == (64, 64, 3) and face[32, 32].tolist() == [255, 0, 0]  # RGB
    assert set(thumbs.missing) == {"p/broken.jpg", "p/noface.jpg"}
    again = load_thumbnails(tmp_path, trace, ["p/a.png"], size=64, threads=1)
    assert np.array_equal(again.images["p/a.png"], face)


# --------------------------------------------------------------------------- page and figure
HOSTILE = ["<script>alert(1)</script>", "$x^2$ \\input{/etc/passwd}", "](javascript:alert(2))", "Zoë 中文"]


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_gallery_page_escapes_hostile_names_and_warns(tmp_path):
    from report.model import Figure
    from report.study import CellGallery
    from report.render import draw_figure
    from report.pages import galleries
    from report.site import MarkdownRenderer
    from report.contexts import CellContext
    from analysis.embedding.thumbnails import Thumbnails
    from analysis.types import Cell

    ids, items, x = _blobs({n: 5 for n in HOSTILE}, seed=3)
    emb = EmbeddingSet("d", "n", x.astype(np.float32), ids, items)
    audit = analyze_audit(emb, AuditParams(ignore_identities=()))
    sel = select_gallery(emb, audit=audit)
    rng = np.random.default_rng(0)
    thumbs = Thumbnails(32, {f.item: rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for f in sel.faces()[1:]},
                        {sel.faces()[0].item: "unreadable file"})
    page = galleries.page(CellContext(Cell("d", "n", "all"), "all", False, 8), CellGallery(sel, thumbs))
    text = MarkdownRenderer().page(page)
    assert "Biometric data" in text and "biometric data" in text
    assert "<script>" not in text and "](javascript" not in text and "\\input" not in text
    assert "could not be re-read" in text
    figures = [b for b in page.blocks() if isinstance(b, Figure)]
    assert figures and not any(f.in_paper for f in figures)  # the paper never shows faces
    for f in figures:  # names drawn as plain text: no mathtext error, empty tiles for missing faces
        draw_figure(f, tmp_path / f"{f.key}.png", tmp_path / f"{f.key}.pdf")
        assert (tmp_path / f"{f.key}.png").stat().st_size > 1000


def test_synthetic_study_with_galleries_has_no_gallery_and_says_why(tmp_path):
    from analysis.config import load_config
    from analysis.embedding.store import EmbeddingStore
    from report.assemble import build_report
    from report.study import BuildLog, add_galleries, compute_all, load_inputs
    from report.site import MarkdownRenderer

    # Only what the galleries would use runs, and nothing is rendered: the point is the switch.
    extra = "".join(f"\n[{t}]\nenabled = false\n" for t in ("similarity", "manifold", "classifiers", "crossnet"))
    extra += "\n[clustering]\ndbscan = false\nhdbscan = false\nagglomerative = false\n"
    cfg = load_config(write_small_config(tmp_path, subsets='["all"]', n_identities=6, extra=extra),
                      overrides={"galleries": True})
    build = BuildLog()
    inputs = load_inputs(cfg, EmbeddingStore(cfg.study.cache_dir), build, progress=False)
    results = add_galleries(cfg, compute_all(cfg, inputs, build, progress=False), build)
    assert results.galleries == {}
    assert results.gallery_notes == ("dataset mini: no gallery, its inputs are synthetic vectors, not face images",)
    assert list(results.gallery_notes) == [w for w in build.warnings if "gallery" in w]
    report = build_report(results)
    assert not any(p.path[-1] == "galleries" for p in report.pages)
    index = MarkdownRenderer().page(report.pages[0])
    assert "Face galleries" in index and "no gallery, its inputs are synthetic vectors" in index
    # Off (the default), the overview does not mention galleries at all.
    off = build_report(dataclasses.replace(results, config=dataclasses.replace(
        cfg, study=dataclasses.replace(cfg.study, galleries=False)), gallery_notes=()))
    assert "galleries" not in MarkdownRenderer().page(off.pages[0]).lower()


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
@pytest.mark.skipif(not CELEBS.is_dir(), reason="../shared/data/celebrity-faces not present")
def test_real_study_with_galleries_publishes_them_on_the_site_only(tmp_path):
    pytest.importorskip("dlib", reason="dlib-bin is not installed")
    pytest.importorskip("face_recognition_models", reason="face-recognition-models is not installed")
    from analysis.config import load_config
    from report.driver import run

    inputs = write_dlib_study(tmp_path, 6, subsets='["all", "min-2"]', galleries=True)
    images = tmp_path / "faces"
    # A planted label error: a Tom Cruise photograph filed under Barack Obama.
    planted = sorted((CELEBS / "Tom Cruise").glob("*.jpg"))[-1]
    shutil.copyfile(planted, images / "Barack Obama" / "zz-planted.jpg")
    cfg = load_config(tmp_path / "study.toml")
    results, outputs, build = run(cfg, progress=False)
    out = tmp_path / "out"
    (cell,) = results.galleries  # one gallery per (dataset, network): the first subset
    assert cell.subset == "all"
    sel = results.galleries[cell].selection
    assert sel.clusters and sel.pairs
    assert any(m.face.item == "Barack Obama/zz-planted.jpg" and m.nearest == "Tom Cruise" for m in sel.mislabels)
    assert not results.galleries[cell].thumbnails.missing

    html = (out / "site" / "faces" / "dlib" / "all" / "galleries.html").read_text(encoding="utf-8")
    assert "Biometric data" in html
    pngs = sorted((out / "site" / "figures").glob("*gallery*.png"))
    assert {p.name for p in pngs} == {f"faces-dlib-all-gallery-{k}.png" for k in ("clusters", "pairs", "mislabels")}
    for p in pngs:
        assert f'src="../../../figures/{p.name}"' in html
        assert p.read_bytes() == (out / "docs" / "figures" / p.name).read_bytes()
    assert not (out / "docs" / "faces" / "dlib" / "min-2" / "galleries.md").exists()
    # The paper never shows faces, and no input image is published as a file.
    assert not list((out / "paper").rglob("*gallery*"))
    # ("gallery" alone is also the 1:N protocol's word for the enrolled templates: look for the figures.)
    assert not any(re.search(r"gallery-(clusters|pairs|mislabels)", p.read_text())
                   for p in (out / "paper").rglob("*.tex"))
    input_hashes = {hashlib.sha256(b).hexdigest() for b in inputs}
    for folder in ("docs", "site", "paper"):
        for f in (out / folder).rglob("*"):
            if f.is_file():
                assert hashlib.sha256(f.read_bytes()).hexdigest() not in input_hashes, f"input image copied to {f}"

    # A rebuild reuses the thumbnails and gives the same pages.
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / "docs").rglob("*") if p.is_file()}
    _, _, again = run(cfg, progress=False)
    assert "gallery faces/dlib/all" in again.reused
    after = {p.relative_to(out).as_posix(): p.read_bytes() for p in (out / "docs").rglob("*") if p.is_file()}
    assert after == before

    # Switched off again, the next build leaves no gallery anywhere in the outputs.
    run(load_config(tmp_path / "study.toml", overrides={"galleries": False}), progress=False)
    for folder in ("docs", "site", "paper"):
        assert not [f for f in (out / folder).rglob("*") if "galler" in f.name], folder
