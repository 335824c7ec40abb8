"""Detection suspects: read from the trace, flagged by score/size/position/several faces, shown apart."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.embedding.face_detections import face_detections
from analysis.embedding.face_worker import TRACE_COLUMNS
from analysis.statistics.audit.audit import AuditParams, analyze_audit
from analysis.statistics.audit.detection import detection_suspects
from analysis.types import Cell, EmbeddingSet
from report.contexts import CellContext
from report.pages import audit as section


def _row(item, status, box, score, n_valid=np.nan, second=np.nan, size=(400, 400)):
    row = {c: np.nan for c in TRACE_COLUMNS}
    row.update(item=item, status=status, kept=status == "kept", x1=box[0], y1=box[1], x2=box[2], y2=box[3], score=score,
               image_width=size[0], image_height=size[1], n_valid_faces=n_valid, second_score=second, detail="")
    return row


def _trace(with_columns=True):
    rows = [
        _row("a/1.jpg", "kept", (100, 100, 300, 300), 1.2, 1),
        _row("a/2.jpg", "kept", (100, 100, 300, 300), 1.1, 2, 0.3),
        _row("a/2.jpg", "other face (not kept)", (0, 0, 60, 60), 0.3),
        _row("a/3.jpg", "kept", (180, 180, 230, 230), 1.15, 1),       # 50 px: small
        _row("b/1.jpg", "kept", (0, 0, 120, 120), 1.25, 1),           # corner: off-centre
        _row("b/2.jpg", "kept", (100, 100, 300, 300), -0.4, 1),       # far below the others: low score
        *[_row(f"b/{k}.jpg", "kept", (100, 100, 300, 300), 1.2 + 0.01 * k, 1) for k in range(3, 9)],
        _row("c/1.jpg", "no face", (np.nan,) * 4, np.nan),
    ]
    trace = pd.DataFrame(rows, columns=TRACE_COLUMNS)
    if not with_columns:
        trace = trace.drop(columns=["n_valid_faces", "second_score"])
    return trace


@pytest.mark.parametrize("with_columns", [True, False])
def test_face_detections_read_the_kept_rows(with_columns):
    f = face_detections(_trace(with_columns), "dlib-hog")
    assert list(f.items[:3]) == ["a/1.jpg", "a/2.jpg", "a/3.jpg"] and "c/1.jpg" not in f.items
    two = int(np.flatnonzero(f.items == "a/2.jpg")[0])
    # Old traces (no several-faces columns) give the same answer from their rows.
    assert f.n_faces[two] == 2 and f.second_score[two] == pytest.approx(0.3)
    assert f.box_side[np.flatnonzero(f.items == "a/3.jpg")[0]] == 50
    assert f.centre_offset[np.flatnonzero(f.items == "a/1.jpg")[0]] == pytest.approx(0.0)


def test_detection_flags():
    f = face_detections(_trace(), "dlib-hog")
    items = np.array(["a/1.jpg", "a/2.jpg", "a/3.jpg", "b/1.jpg", "b/2.jpg", "b/3.jpg", "zz/unknown.jpg"])
    d = detection_suspects(items, f, AuditParams())
    assert d.several.tolist() == [False, True, False, False, False, False, False]
    assert d.small.tolist() == [False, False, True, False, False, False, False]
    assert d.off_centre.tolist() == [False, False, False, True, False, False, False]
    assert d.low_score.tolist() == [False, False, False, False, True, False, False]
    assert not d.found[-1] and not d.suspect[-1] and d.suspect[1:5].all() and not d.suspect[0]


def test_detection_doubts_leave_the_mislabel_table():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 16)) * 3
    x = np.concatenate([centres[0] + rng.normal(size=(8, 16)), centres[1] + rng.normal(size=(8, 16))]).astype(np.float32)
    ids = np.array(["a"] * 8 + ["b"] * 8)
    ids[0] = "b"  # a mislabel...
    items = np.array([f"{i}/{k}.jpg" for k, i in enumerate(ids)])
    emb = EmbeddingSet("d", "n", x, ids, items)
    plain = analyze_audit(emb, AuditParams(), random_state=0)
    assert plain.images.suspected[0] and plain.label_suspects[0]
    # ...whose face was a low-score box on a shirt: a detection suspect, not a label suspect.
    rows = [_row(it, "kept", (100, 100, 300, 300), 1.2 if k else -2.0, 1) for k, it in enumerate(items)]
    det = face_detections(pd.DataFrame(rows, columns=TRACE_COLUMNS), "dlib-hog")
    r = analyze_audit(emb, AuditParams(), random_state=0, detection=det)
    assert r.images.suspected[0] and not r.label_suspects[0] and r.detection.suspect[0]
    assert items[0] not in set(section.mislabel_frame(r)["item"])
    frame = section.detection_frame(r)
    assert frame["item"].iloc[0] == items[0] and frame["also a mislabel suspect"].iloc[0] == "yes"
    ctx = CellContext(cell=Cell("d", "n", "all"), subset_description="all", synthetic=False, n_dims=16)
    titles = [s.title for s in section.page(ctx, r).sections]
    assert titles.index("Detection suspects") == titles.index("Suspected mislabelled images") + 1
