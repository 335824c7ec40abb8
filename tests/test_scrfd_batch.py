"""Batched SCRFD (the GPU detection path) finds what InsightFace's per-image detector finds."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.embedding.devices import Device
from tests.face_fixtures import SCRFD_500M, build_tiny_recognizer, celebrity_sample, copy_sample, need_scrfd

SIZES = [(160, 160), (320, 320)]


def _images(n_per_folder=1):
    import cv2

    files = celebrity_sample(n_per_folder, ("Barack Obama", "Elsa", "Homer Simpson", "Jim Carrey", "Brad Pitt"))
    return [cv2.imread(str(f)) for f in files]


def test_batched_candidates_equal_insightface_per_image_candidates():
    need_scrfd()
    from analysis.embedding.faces import InsightFaceDetector
    from analysis.embedding.scrfd_batch import BatchedScrfdDetector

    images = _images(2)
    images.append(np.zeros((90, 300, 3), np.uint8))  # wide, empty: no face, other letterbox branch
    ref = InsightFaceDetector(SCRFD_500M, SIZES, 0.5, threads=1)
    batched = BatchedScrfdDetector(SCRFD_500M, SIZES, 0.5, threads=1)
    got = batched.detect_batch(images)
    assert len(got) == len(images) and got[-1].n_faces == 0
    assert sum(g.n_faces > 0 for g in got) >= len(images) // 2  # real faces found, not an empty comparison
    for img, g in zip(images, got):
        r = ref.detect(img)
        assert g.n_faces == r.n_faces
        np.testing.assert_allclose(g.boxes, r.boxes, atol=1e-2)
        np.testing.assert_allclose(g.scores, r.scores, atol=1e-4)
        if r.n_faces:
            np.testing.assert_allclose(g.landmarks, r.landmarks, atol=1e-2)
    assert batched.identity() == ref.identity()  # same cache key: same candidates
    assert [w for w, _ in batched.sessions()] == ["detector scrfd_500m.onnx 160x160 batched",
                                                  "detector scrfd_500m.onnx 320x320 batched"]


def test_rewrite_gives_a_batch_axis_and_per_image_rows():
    need_scrfd()
    import onnx

    from analysis.embedding.scrfd_batch import batched_scrfd_bytes

    model = onnx.load_from_string(batched_scrfd_bytes(SCRFD_500M, 160))
    dims = [d.dim_value or d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 160, 160]
    perms = [list(a.ints) for n in model.graph.node if n.op_type == "Transpose" for a in n.attribute]
    assert perms.count([0, 2, 3, 1]) == 9 and [2, 3, 0, 1] not in perms


def test_extraction_with_batched_detection_matches_per_image(tmp_path):
    need_scrfd()
    from analysis.embedding.datasets import FolderDatasetOptions, build_manifest
    from analysis.embedding.extract import ExtractionParams, extract_embeddings
    from analysis.embedding.networks import ArcFaceOptions

    root = copy_sample(tmp_path / "data", celebrity_sample(2, ("Barack Obama", "Elsa", "Jim Carrey")))
    manifest = build_manifest("m", FolderDatasetOptions(root=root))
    net = ArcFaceOptions(model_path=build_tiny_recognizer(tmp_path / "r.onnx"))
    common = dict(detector_path=SCRFD_500M, chunk_size=4, batch_size=3, decode_threads=2, devices="cpu", cpu_workers=1)
    one = extract_embeddings(manifest, "m", "n", net, ExtractionParams(det_batch=1, **common), tmp_path / "a",
                             progress=False)
    many = extract_embeddings(manifest, "m", "n", net, ExtractionParams(det_batch=4, **common), tmp_path / "b",
                              progress=False)
    assert list(many.embeddings.items) == list(one.embeddings.items) and one.embeddings.n_samples >= 5
    np.testing.assert_allclose(many.embeddings.vectors, one.embeddings.vectors, rtol=1e-4, atol=1e-4)
    assert "batched: CPUExecutionProvider" in many.embeddings.meta["execution"]


@pytest.mark.gpu
def test_batched_detection_on_gpu_matches_cpu():
    from analysis.embedding.devices import cuda_device_count

    if not cuda_device_count():
        pytest.skip("no CUDA device / CUDAExecutionProvider here")
    need_scrfd()
    from analysis.embedding.scrfd_batch import BatchedScrfdDetector

    images = _images(2)
    gpu = BatchedScrfdDetector(SCRFD_500M, SIZES, 0.5, device=Device("cuda", 0)).detect_batch(images)
    cpu = BatchedScrfdDetector(SCRFD_500M, SIZES, 0.5).detect_batch(images)
    for g, c in zip(gpu, cpu):
        assert g.n_faces == c.n_faces
        np.testing.assert_allclose(g.boxes, c.boxes, atol=1.0)
