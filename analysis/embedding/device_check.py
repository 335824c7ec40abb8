"""``build_report.py --check-devices``: what the extraction would really run on, measured.

For a device request (``auto`` by default) it lists the machine's GPUs (``nvidia-smi``) and the
CUDA ids ``CUDA_VISIBLE_DEVICES`` leaves, the device plan, and for every planned device it
builds the sessions an extraction worker builds (a detector when an SCRFD file is given, and a
recogniser: the given ArcFace ONNX file, else a small built-in probe network), locks them to the
device exactly as the workers do, prints the provider each session really uses and times a short
warm-up (images/s after the first batch). Nothing is downloaded and nothing is written.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.embedding import devices as dev
from analysis.embedding import gpus


@dataclass(frozen=True)
class DeviceProbe:
    """One planned device: its sessions' providers and a warm-up throughput.

    Parameters
    ----------
    device : str
    gpu : str
        The physical card (empty on the CPU).
    sessions : tuple of str
        ``what: provider`` per session.
    images_per_s : float
        Recogniser throughput on ``batch`` random 112x112 crops, after one untimed batch.
    ok : bool
        Every session runs where the plan says.
    """

    device: str
    gpu: str
    sessions: tuple[str, ...]
    images_per_s: float
    ok: bool


def probe_network_bytes(dim: int = 512) -> bytes:
    """A small conv net with ArcFace's I/O (``(None, 3, 112, 112) -> (None, dim)``), random weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, x, cin = [], [], "input.1", 3
    for i, cout in enumerate((32, 64, 128, 256)):
        w = rng.normal(0, np.sqrt(1.0 / (cin * 9)), size=(cout, cin, 3, 3)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], strides=[2, 2], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x, cin = f"r{i}", cout
    inits.append(numpy_helper.from_array(rng.normal(0, 0.01, size=(dim, 256 * 7 * 7)).astype(np.float32), "fc"))
    nodes += [helper.make_node("Flatten", [x], ["flat"], axis=1),
              helper.make_node("Gemm", ["flat", "fc"], ["embedding"], transB=1)]
    graph = helper.make_graph(nodes, "probe", [helper.make_tensor_value_info("input.1", TensorProto.FLOAT,
                                                                             ["None", 3, 112, 112])],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["None", dim])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def probe_device(device: dev.Device, recogniser: Path | None = None, detector: Path | None = None,
                 batch: int = 32, rounds: int = 3) -> DeviceProbe:
    """Build and lock a worker's sessions on ``device``; their providers and a warm-up img/s."""
    import onnxruntime

    from analysis.embedding.sessions import BoundRunner, lock_session, report_session

    providers, options = dev.onnx_provider_config(device)
    so = dev.session_options(0 if device.is_cuda else dev.cpu_count(), cuda=device.is_cuda)
    sessions: list[tuple[str, object]] = []
    ok = True
    lines = []
    try:
        if detector is not None:  # the detector a worker builds: batched on a GPU, per image on the CPU
            from analysis.embedding.scrfd_batch import insightface_detector

            det, _ = insightface_detector(detector, [(160, 160), (320, 320)], 0.5, device, 0, 0)
            sessions += det.sessions()
        if recogniser is not None:  # as a worker builds it: float16 on a GPU when it agrees with float32
            from analysis.embedding.networks import ArcFaceEmbedder

            embedder = ArcFaceEmbedder(recogniser, device, precision="auto")
            sessions += embedder.sessions()
            run, side = embedder.run_batch, embedder.input_size  # onnxruntime or OpenVINO, as a worker runs it
        else:
            side = 112
            rec = onnxruntime.InferenceSession(probe_network_bytes(), sess_options=so, providers=providers,
                                               provider_options=options)
            lock_session(rec, device, "recogniser (built-in probe network)")
            sessions.append(("recogniser (built-in probe network)", rec))
            run = BoundRunner(rec, device)
    except dev.DeviceUnavailableError as exc:
        return DeviceProbe(device.label, _gpu(device), (f"FAILED: {exc}",), 0.0, False)
    for what, session in sessions:
        report = report_session(session, what)
        ok = ok and (report.on_cuda or not device.is_cuda)
        lines.append(report.line)
    crops = np.random.default_rng(0).normal(size=(batch, 3, side, side)).astype(np.float32)
    run(crops)  # first batch: kernels, memory pools, cuDNN algorithm choice
    t0 = time.perf_counter()
    for _ in range(rounds):
        run(crops)
    rate = batch * rounds / (time.perf_counter() - t0)
    return DeviceProbe(device.label, _gpu(device), tuple(lines), rate, ok)


def _gpu(device: dev.Device) -> str:
    return gpus.gpu_label(device.index) if device.is_cuda else ""


def check_devices(request: str = "auto", recogniser: Path | None = None, detector: Path | None = None,
                  out=print, batch: int = 32) -> int:
    """Print the device report; 0 when every session runs where planned, 1 otherwise."""
    import onnxruntime

    out(f"onnxruntime {onnxruntime.__version__}; providers: {', '.join(dev.onnx_providers())}")
    machine = gpus.machine_gpus()
    out(f"nvidia-smi: {len(machine)} GPU(s)" + "".join(f"\n  {g.label} {g.uuid}" for g in machine))
    out(f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}: "
        + (", ".join(f"cuda:{i} = GPU {g.index}" for i, g in enumerate(gpus.visible_gpus())) or "no CUDA device"))
    status = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", dev.DeviceFallbackWarning)
        try:
            plan = dev.plan_devices(request)
        except (dev.DeviceUnavailableError, ValueError) as exc:
            out(f"devices = {request!r}: ERROR {exc}")
            return 1
    for w in caught:
        out(f"WARNING: {w.message}")
        status = 1
    out(f"devices = {request!r} -> {', '.join(d.label for d in plan)}")
    for device in plan:
        if not device.is_cuda and device.index > 0:
            continue  # CPU workers are alike
        probe = probe_device(device, recogniser, detector, batch=batch)
        out(f"{probe.device}{' ' + probe.gpu if probe.gpu else ''}: {'ok' if probe.ok else 'NOT ON ITS DEVICE'}")
        for line in probe.sessions:
            out(f"  {line}")
        out(f"  warm-up: {probe.images_per_s:.0f} img/s (batches of {batch} random crops, "
            f"{'given recogniser' if recogniser else 'probe network, not an ArcFace'})")
        status = status or (0 if probe.ok else 1)
    return status
