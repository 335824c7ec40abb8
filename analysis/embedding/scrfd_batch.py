"""SCRFD detection of many images per network call (the GPU extraction path).

InsightFace runs SCRFD one image at a time, once per detector size: on a GPU that is two tiny
kernel launches sequences per image (at sizes (160, 320)), each with its own host/device
copies, and the detector rather than the recogniser sets the pace. The SCRFD files
InsightFace ships have a batch axis of 1 and flatten their head outputs as
``Transpose(perm=[2, 3, 0, 1])`` then ``Reshape(-1, C)``: rows in (y, x, image, anchor) order,
so a batch cannot simply be split per image.

:func:`batched_scrfd_bytes` rewrites the graph at load time (the file is never modified): batch
axis dynamic, input fixed to one square size, and those head transposes turned into
``perm=[0, 2, 3, 1]`` so that rows come image by image, each image's rows in the original
(y, x, anchor) order. For one image the rewritten graph computes exactly what the original does.
:class:`BatchedScrfdDetector` letterboxes each image like InsightFace's ``SCRFD.detect``
(resize into the top-left corner of the square, black padding), runs one call per size for a
whole batch, and decodes and merges each image's candidates with InsightFace's own functions
(``distance2bbox``, ``distance2kps``, NMS at 0.4), so its candidates are those of
:class:`analysis.embedding.faces.InsightFaceDetector` up to floating-point noise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.embedding.devices import Device, onnx_provider_config, session_options
from analysis.embedding.faces import FaceCandidates, Detector, file_sha256, insightface_detector_identity
from analysis.embedding.sessions import BoundRunner, lock_session

#: SCRFD head layouts: number of outputs -> (strides, anchors per position, has keypoints).
_LAYOUTS = {6: ((8, 16, 32), 2, False), 9: ((8, 16, 32), 2, True),
            10: ((8, 16, 32, 64, 128), 1, False), 15: ((8, 16, 32, 64, 128), 1, True)}
MEAN, STD = 127.5, 128.0
NMS_THRESHOLD = 0.4


def batched_scrfd_bytes(model_path: Path, side: int) -> bytes:
    """The SCRFD graph with a dynamic batch axis, a ``side`` x ``side`` input and per-image output rows.

    Raises
    ------
    ValueError
        When the graph is not an SCRFD layout this rewrite understands (6, 9, 10 or 15 outputs,
        each ``Reshape(Transpose(conv))``, optionally followed by a Sigmoid).
    """
    import onnx

    model = onnx.load(str(model_path))
    graph = model.graph
    if len(graph.output) not in _LAYOUTS:
        raise ValueError(f"{Path(model_path).name}: {len(graph.output)} outputs is not an SCRFD layout")
    dims = graph.input[0].type.tensor_type.shape.dim
    for axis, value in ((0, None), (2, side), (3, side)):
        dims[axis].ClearField("dim_value")
        dims[axis].ClearField("dim_param")
        if value is None:
            dims[axis].dim_param = "batch"
        else:
            dims[axis].dim_value = int(value)
    producer = {o: n for n in graph.node for o in n.output}
    for out in graph.output:
        for d in out.type.tensor_type.shape.dim:  # rows now depend on the batch
            d.ClearField("dim_value")
            d.ClearField("dim_param")
        node = producer[out.name]
        if node.op_type == "Sigmoid":
            node = producer[node.input[0]]
        transpose = producer.get(node.input[0]) if node.op_type == "Reshape" else None
        if transpose is None or transpose.op_type != "Transpose":
            raise ValueError(f"{Path(model_path).name}: output {out.name} is not Reshape(Transpose(...))")
        perm = next((a for a in transpose.attribute if a.name == "perm"), None)
        if perm is None or list(perm.ints) not in ([2, 3, 0, 1], [0, 2, 3, 1]):
            raise ValueError(f"{Path(model_path).name}: unexpected head transpose {list(perm.ints) if perm else None}")
        del perm.ints[:]
        perm.ints.extend([0, 2, 3, 1])
    return model.SerializeToString()


def letterbox(bgr: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """``bgr`` resized into the top-left of a black ``side`` square (InsightFace's rule); the scale."""
    import cv2

    h, w = bgr.shape[:2]
    if h / w > 1.0:
        new_h, new_w = side, int(side / (h / w))
    else:
        new_w, new_h = side, int(side * (h / w))
    out = np.zeros((side, side, 3), np.uint8)
    out[:new_h, :new_w] = cv2.resize(bgr, (new_w, new_h))
    return out, new_h / h


class BatchedScrfdDetector(Detector):
    """SCRFD on batches of images, one rewritten session per square size.

    Parameters
    ----------
    model_path : Path
        SCRFD ONNX file with keypoints (``det_10g.onnx``, ``scrfd_*_bnkps``...).
    input_size : list of (side, side)
    candidate_score : float, default=0.5
    device : Device
    threads : int, default=0
    """

    name = "insightface"
    thread_safe = True
    has_landmarks = True
    batched = True

    def __init__(self, model_path: Path, input_size, candidate_score: float = 0.5,
                 device: Device = Device("cpu"), threads: int = 0) -> None:
        import onnxruntime

        self.model_path = Path(model_path)
        self.input_size = [(int(w), int(h)) for w, h in input_size]
        if any(w != h for w, h in self.input_size):
            raise ValueError(f"batched SCRFD needs square sizes, got {self.input_size}")
        self.candidate_score = float(candidate_score)
        self.device = device
        providers, options = onnx_provider_config(device)
        self._sessions = {}
        for side, _ in self.input_size:
            session = onnxruntime.InferenceSession(batched_scrfd_bytes(self.model_path, side),
                                                   session_options(threads, cuda=device.is_cuda),
                                                   providers=providers, provider_options=options)
            lock_session(session, device, f"detector {self.model_path.name} {side}x{side} batched")
            self._sessions[side] = session
        n_out = len(session.get_outputs())
        self.strides, self.anchors, kps = _LAYOUTS[n_out]
        if not kps:
            raise ValueError(f"{self.model_path.name} predicts no landmarks; alignment needs an SCRFD *_kps model")
        self.fmc = len(self.strides)
        self.weights_sha256 = file_sha256(self.model_path)
        self._centres: dict[tuple[int, int], np.ndarray] = {}

    def sessions(self) -> list[tuple[str, Any]]:
        return [(f"detector {self.model_path.name} {s}x{s} batched", sess) for s, sess in sorted(self._sessions.items())]

    def identity(self) -> dict[str, Any]:
        return insightface_detector_identity(self.model_path, self.input_size, self.candidate_score)

    def detect(self, bgr: np.ndarray) -> FaceCandidates:
        return self.detect_batch([bgr])[0]

    def detect_batch(self, images: list[np.ndarray]) -> list[FaceCandidates]:
        """Candidates of each image (InsightFace's multi-size detection, one call per size)."""
        if not images:
            return []
        per_size = []
        for side, session in sorted(self._sessions.items()):
            boxes = [letterbox(img, side) for img in images]
            import cv2

            blob = cv2.dnn.blobFromImages([b for b, _ in boxes], 1.0 / STD, (side, side), (MEAN, MEAN, MEAN),
                                          swapRB=True)
            outs = self._run(session, np.ascontiguousarray(blob, np.float32))
            per_size.append([self._decode(outs, i, side, scale) for i, (_, scale) in enumerate(boxes)])
        return [self._merge([sizes[i] for sizes in per_size]) for i in range(len(images))]

    def _run(self, session, blob: np.ndarray) -> list[np.ndarray]:
        names = [o.name for o in session.get_outputs()]
        if not self.device.is_cuda:
            return session.run(names, {session.get_inputs()[0].name: blob})
        binding = session.io_binding()
        binding.bind_cpu_input(session.get_inputs()[0].name, blob)
        for name in names:
            binding.bind_output(name, "cuda", self.device.index)
        session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()

    def _anchor_centres(self, side: int, stride: int) -> np.ndarray:
        key = (side, stride)
        if key not in self._centres:
            n = side // stride
            centres = np.stack(np.mgrid[:n, :n][::-1], axis=-1).astype(np.float32)
            centres = (centres * stride).reshape(-1, 2)
            if self.anchors > 1:
                centres = np.stack([centres] * self.anchors, axis=1).reshape(-1, 2)
            self._centres[key] = centres
        return self._centres[key]

    def _decode(self, outs: list[np.ndarray], i: int, side: int, scale: float):
        """Image ``i``'s candidates at one size, as InsightFace's ``_detect_candidates`` returns them."""
        from insightface.model_zoo.scrfd import distance2bbox, distance2kps

        scores_l, boxes_l, kps_l = [], [], []
        for k, stride in enumerate(self.strides):
            centres = self._anchor_centres(side, stride)
            n = centres.shape[0]
            rows = slice(i * n, (i + 1) * n)
            scores = outs[k][rows]
            pos = np.where(scores >= self.candidate_score)[0]
            scores_l.append(scores[pos])
            boxes_l.append(distance2bbox(centres, outs[k + self.fmc][rows] * stride)[pos])
            kps = distance2kps(centres, outs[k + 2 * self.fmc][rows] * stride)
            kps_l.append(kps.reshape(kps.shape[0], -1, 2)[pos])
        scores = np.vstack(scores_l)
        if scores.size == 0:
            return np.empty((0, 5), np.float32), np.empty((0, 5, 2), np.float32)
        order = np.argsort(-scores.ravel(), kind="stable")
        pre = np.hstack((np.vstack(boxes_l) / scale, scores)).astype(np.float32, copy=False)[order]
        return pre, (np.vstack(kps_l) / scale)[order]

    def _merge(self, per_size) -> FaceCandidates:
        """All sizes' candidates of one image, sorted by score and reduced by NMS (InsightFace's ``detect``)."""
        dets = [d for d in per_size if d[0].shape[0]]
        if not dets:
            return FaceCandidates.empty()
        pre = np.vstack([d[0] for d in dets]).astype(np.float32, copy=False)
        kps = np.vstack([d[1] for d in dets])
        order = np.argsort(-pre[:, 4], kind="stable")
        pre, kps = pre[order], kps[order]
        keep = _nms(pre, NMS_THRESHOLD)
        return FaceCandidates(pre[keep, :4].astype(np.float32), pre[keep, 4].astype(np.float32),
                              kps[keep].astype(np.float32))


def _nms(dets: np.ndarray, thresh: float) -> list[int]:
    """InsightFace's SCRFD NMS (areas with the +1 pixel convention), on score-sorted rows."""
    x1, y1, x2, y2, scores = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3], dets[:, 4]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        w = np.maximum(0.0, xx2 - xx1 + 1)
        h = np.maximum(0.0, yy2 - yy1 + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep


def insightface_detector(model_path: Path, sizes, candidate_score: float, device: Device, threads: int,
                         det_batch: int) -> tuple[Detector, int]:
    """The detector of an InsightFace pipeline and how many images it takes per call.

    ``det_batch`` 0 means batches of 32 on a GPU and InsightFace's per-image detector (run from the
    decode threads, which parallelises better on few cores) on the CPU; 1 forces per-image
    detection. A graph the batch rewrite does not understand falls back to per-image detection
    with a log line.
    """
    import logging

    from analysis.embedding.faces import InsightFaceDetector

    n = det_batch or (32 if device.is_cuda else 1)
    if n > 1:
        try:
            return BatchedScrfdDetector(model_path, sizes, candidate_score, device=device, threads=threads), n
        except ValueError as exc:
            logging.getLogger(__name__).warning("batched detection unavailable (%s); detecting one image at a time", exc)
    return InsightFaceDetector(model_path, sizes, candidate_score, device=device, threads=threads), 1
