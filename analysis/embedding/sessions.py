"""ONNX Runtime sessions that cannot quietly leave their GPU, and failures that stop a chunk.

Three onnxruntime behaviours make a GPU run silently slow or silently wrong:

1. a session whose CUDA provider fails to load is created on the CPU (one log line);
2. after a CUDA error at run time, onnxruntime moves the session to the CPU for good unless
   ``disable_fallback()`` was called;
3. a CUDA/cuDNN error raised inside a per-image ``try`` looks like any other exception, and the
   image would be cached as "detection failed".

:func:`lock_session` checks (1) and switches (2) off for every session, InsightFace's per-size
detector sessions included; :func:`is_inference_failure` tells (3) apart from a bad image, so
the worker re-raises it and the chunk is not written (a later run retries it).
:class:`SessionReport` is what the provenance and ``--check-devices`` show.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.embedding.devices import CUDA_PROVIDER, Device, DeviceUnavailableError, check_session_device


class InferenceFailure(RuntimeError):
    """onnxruntime (or CUDA under it) failed during a run: the chunk is aborted, nothing is cached."""


def is_inference_failure(exc: BaseException) -> bool:
    """True for errors of the inference engine or the device, never to be recorded as a skipped image.

    onnxruntime's Python errors (``Fail``, ``RuntimeException``, ``EPFail``...) live in
    ``onnxruntime.capi.onnxruntime_pybind11_state`` and subclass ``Exception`` directly;
    out-of-memory, CUDA and cuDNN failures all arrive as one of them.
    """
    if isinstance(exc, (InferenceFailure, DeviceUnavailableError, MemoryError)):
        return True
    return type(exc).__module__.startswith(("onnxruntime", "openvino"))


def lock_session(session, device: Device, what: str) -> None:
    """Make sure ``session`` runs on ``device`` and stays there.

    Raises
    ------
    DeviceUnavailableError
        A GPU session whose first provider is not CUDA (:func:`check_session_device`).
    """
    check_session_device(session, device, what)
    disable = getattr(session, "disable_fallback", None)
    if callable(disable):
        disable()


@dataclass(frozen=True)
class SessionReport:
    """Where one session of a worker runs.

    Parameters
    ----------
    what : str
        ``detector det_10g.onnx 320x320``, ``recogniser w600k_r50.onnx``...
    providers : tuple of str
        The session's active providers, in priority order (the first one runs the graph).
    """

    what: str
    providers: tuple[str, ...]

    @property
    def on_cuda(self) -> bool:
        return bool(self.providers) and self.providers[0] == CUDA_PROVIDER

    @property
    def line(self) -> str:
        return f"{self.what}: {self.providers[0] if self.providers else 'none'}"


def report_session(session, what: str) -> SessionReport:
    return SessionReport(what, tuple(session.get_providers()))


def verify_sessions(sessions: list[tuple[str, object]], device: Device) -> tuple[SessionReport, ...]:
    """Check every ``(what, session)`` of a worker is still on ``device`` (called once per chunk).

    Raises
    ------
    DeviceUnavailableError
        A session of a GPU worker now runs on another provider.
    """
    for what, session in sessions:
        check_session_device(session, device, what)
    return tuple(report_session(s, what) for what, s in sessions)


class BoundRunner:
    """Runs a one-input, one-output session through IO binding.

    On CUDA the output stays on the GPU until one explicit copy, and onnxruntime reuses the
    bound buffers instead of allocating per call; the input is copied once from a contiguous
    host array. On the CPU it is an ordinary ``run``.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
    device : Device
    """

    def __init__(self, session, device: Device) -> None:
        self.session = session
        self.device = device
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        blob = np.ascontiguousarray(blob)
        if not self.device.is_cuda:
            return self.session.run([self.output_name], {self.input_name: blob})[0]
        binding = self.session.io_binding()
        binding.bind_cpu_input(self.input_name, blob)
        binding.bind_output(self.output_name, "cuda", self.device.index)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]
