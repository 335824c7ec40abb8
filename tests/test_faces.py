"""Detectors (real SCRFD ONNX models, dlib), face choice and alignment."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from analysis.embedding import alignment, faces
from analysis.embedding.alignment import DlibChipAligner, SimilarityAligner
from analysis.embedding.faces import (
    KEPT,
    LOW_SCORE,
    NO_FACE,
    OTHER_FACE,
    TOO_SMALL,
    DlibDetector,
    FaceCandidates,
    InsightFaceDetector,
    choose_face,
)
from analysis.embedding.images import decode_file
from tests.face_fixtures import SCRFD_2_5G, SCRFD_500M, celebrity_sample, need_dlib, need_scrfd


def _portrait():
    (path,) = celebrity_sample(1, ("Brad Pitt",))
    return decode_file(path).bgr


# --------------------------------------------------------------------------------------------
# Choosing one face
# --------------------------------------------------------------------------------------------


def _cands(boxes, scores):
    return FaceCandidates(np.array(boxes, np.float32), np.array(scores, np.float32), None)


def test_choose_face_prefers_large_central_face():
    c = _cands([[0, 0, 120, 120], [140, 140, 240, 240], [10, 300, 60, 350]], [0.9, 0.95, 0.99])
    choice = choose_face(c, (400, 400), min_score=0.7, min_size=40)
    assert choice.kept == 1 and choice.reason is None
    assert choice.statuses == (OTHER_FACE, KEPT, OTHER_FACE)
    # By area only, the border face (120 px) wins over the central one (100 px).
    assert choose_face(c, (400, 400), 0.7, 40, selection="largest").kept == 0


def test_choose_face_prefers_a_confident_face_over_a_large_low_score_box():
    # The reported HOG case: the real face (0.92, 100 px, off-centre) and a 130 px box on the
    # chest (0.002) right in the middle of the photo. Size/centrality alone kept the chest.
    c = _cands([[40, 20, 140, 120], [135, 200, 265, 330]], [0.92, 0.002])
    assert choose_face(c, (400, 400), 0.0, 40, confident_share=0.0).kept == 1  # the old rule
    choice = choose_face(c, (400, 400), 0.0, 40)
    assert choice.kept == 0 and choice.statuses == (KEPT, OTHER_FACE)
    # Several faces are recorded with the runner-up's score.
    assert choice.n_valid == 2 and choice.second_score == pytest.approx(0.002, abs=1e-6)
    one = choose_face(_cands([[40, 20, 140, 120]], [0.92]), (400, 400), 0.0, 40)
    assert one.n_valid == 1 and np.isnan(one.second_score)
    with pytest.raises(ValueError, match="confident_share"):
        choose_face(c, (400, 400), 0.0, 40, confident_share=1.5)


def test_choose_face_filters_and_reasons():
    assert choose_face(FaceCandidates.empty(), (100, 100), 0.7, 40).reason == NO_FACE
    low = choose_face(_cands([[0, 0, 100, 100]], [0.6]), (200, 200), 0.7, 40)
    assert low.kept is None and low.reason == LOW_SCORE and low.statuses == (LOW_SCORE,)
    small = choose_face(_cands([[0, 0, 30, 30], [50, 50, 150, 150]], [0.9, 0.5]), (200, 200), 0.7, 40)
    assert small.reason == TOO_SMALL and small.statuses == (TOO_SMALL, LOW_SCORE)
    with pytest.raises(ValueError, match="valid: largest_central, largest"):
        choose_face(_cands([[0, 0, 100, 100]], [0.9]), (200, 200), 0.7, 40, selection="biggest")


# --------------------------------------------------------------------------------------------
# InsightFace SCRFD detectors (real models)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [SCRFD_500M, SCRFD_2_5G], ids=["scrfd_500m", "scrfd_2.5g"])
def test_scrfd_finds_the_face_with_landmarks_inside(model):
    need_scrfd(model)
    bgr = _portrait()
    det = InsightFaceDetector(model, [(160, 160), (320, 320)], candidate_score=0.5, threads=1)
    found = det.detect(bgr)
    assert found.n_faces >= 1 and found.scores.max() > 0.7
    best = int(np.argmax(found.scores))
    x1, y1, x2, y2 = found.boxes[best]
    lmk = found.landmarks[best]
    assert min(x2 - x1, y2 - y1) > 80  # a portrait: a large face
    assert (lmk[:, 0] > x1).all() and (lmk[:, 0] < x2).all() and (lmk[:, 1] > y1).all() and (lmk[:, 1] < y2).all()
    assert lmk[0, 0] < lmk[1, 0] and lmk[3, 0] < lmk[4, 0]  # image-left eye / mouth corner first
    ident = det.identity()
    assert ident["weights_sha256"] == faces.file_sha256(model) and ident["input_size"] == [[160, 160], [320, 320]]


def test_scrfd_sees_nothing_in_a_flat_image():
    need_scrfd()
    det = InsightFaceDetector(SCRFD_500M, (320, 320), candidate_score=0.5, threads=1)
    assert det.detect(np.full((300, 300, 3), 127, np.uint8)).n_faces == 0


def test_insightface_detector_rejects_a_recogniser(tmp_path):
    from tests.face_fixtures import build_tiny_recognizer

    path = build_tiny_recognizer(tmp_path / "rec.onnx")
    with pytest.raises(ValueError, match="not an InsightFace detection model"):
        InsightFaceDetector(path, (320, 320))


def test_default_detector_offline_error_names_the_fixes(tmp_path, monkeypatch):
    import insightface.utils

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(insightface.utils, "ensure_available", offline)
    with pytest.raises(RuntimeError, match="detector_path.*dlib-hog"):
        faces.default_detector_path(str(tmp_path))
    # A pack already in place is used without any download.
    target = tmp_path / "models" / "buffalo_l" / "det_10g.onnx"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    assert faces.default_detector_path(str(tmp_path)) == target


# --------------------------------------------------------------------------------------------
# Alignment
# --------------------------------------------------------------------------------------------


def test_similarity_alignment_matches_insightface_norm_crop():
    need_scrfd()
    from insightface.utils import face_align

    bgr = _portrait()
    found = InsightFaceDetector(SCRFD_500M, (320, 320), threads=1).detect(bgr)
    k = int(np.argmax(found.scores))
    aligned = SimilarityAligner(112).align(bgr, found.boxes[k], found.landmarks[k])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scikit-image's estimate() deprecation
        reference = face_align.norm_crop(bgr, found.landmarks[k], image_size=112)
    assert aligned.rgb.shape == (112, 112, 3) and aligned.rgb.dtype == np.uint8
    np.testing.assert_array_equal(aligned.rgb, reference[:, :, ::-1])
    # Landmarks land on the ArcFace template.
    m = alignment.similarity_matrix(found.landmarks[k], 112)
    mapped = np.c_[found.landmarks[k], np.ones(5)] @ m.T
    assert np.abs(mapped - alignment.ARCFACE_TEMPLATE).max() < 6
    assert SimilarityAligner(160).align(bgr, found.boxes[k], found.landmarks[k]).rgb.shape == (160, 160, 3)


# --------------------------------------------------------------------------------------------
# dlib (real weights from PyPI)
# --------------------------------------------------------------------------------------------


def test_dlib_hog_detector_and_chip():
    need_dlib()
    bgr = _portrait()
    det = DlibDetector("hog", upsample=0, max_side=640)
    found = det.detect(bgr)
    assert found.n_faces >= 1 and found.landmarks is None
    box = found.boxes[0]
    chip = DlibChipAligner().align(bgr, box, None)
    assert chip.rgb.shape == (150, 150, 3) and chip.scheme == "dlib5" and chip.landmarks.shape == (5, 2)
    # ArcFace alignment of a dlib box: the five points come from dlib's 68-point predictor.
    arc = SimilarityAligner(112).align(bgr, box, None)
    assert arc.rgb.shape == (112, 112, 3) and arc.scheme == "arcface5-from-dlib68"
    assert arc.landmarks[0, 0] < arc.landmarks[1, 0]
    assert det.identity()["kind"] == "dlib-hog"


def test_dlib_boxes_are_rescaled_to_the_input_image():
    need_dlib()
    bgr = _portrait()
    a = DlibDetector("hog", upsample=0, max_side=0).detect(bgr)
    b = DlibDetector("hog", upsample=0, max_side=300).detect(bgr)
    assert a.n_faces and b.n_faces
    centre_a = (a.boxes[0, :2] + a.boxes[0, 2:]) / 2
    centre_b = (b.boxes[0, :2] + b.boxes[0, 2:]) / 2
    assert np.abs(centre_a - centre_b).max() < 25


def test_dlib_cnn_detector_on_a_small_image():
    need_dlib()
    import cv2

    bgr = cv2.resize(_portrait(), (160, 192), interpolation=cv2.INTER_AREA)  # the CNN is slow on CPU
    found = DlibDetector("cnn", upsample=0, max_side=0).detect(bgr)
    assert found.n_faces >= 1 and found.scores[0] > 0


def test_dlib_detector_rejects_unknown_kind():
    need_dlib()
    with pytest.raises(ValueError, match="valid: hog, cnn"):
        DlibDetector("haar")
