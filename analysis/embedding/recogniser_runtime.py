"""Which engine and precision run an ArcFace graph: onnxruntime or OpenVINO, float32 or reduced.

A worker first builds the float32 onnxruntime session (InsightFace reads the graph's
normalisation and sizes from it). On a CPU, OpenVINO then replaces it when installed
(:mod:`analysis.embedding.openvino_engine`); and when a reduced precision is wanted
(:func:`analysis.embedding.precision.reduced_precision`), that version is built and kept only
if it agrees with the float32 one on the probe crops. What ran is in :class:`Runtime`, whose
``what`` names engine and precision for the session report and the provenance.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from analysis.embedding.devices import Device, session_options
from analysis.embedding.openvino_engine import OpenVinoRunner, cpu_has_bf16, use_openvino
from analysis.embedding.precision import PrecisionCheck, check_reduced, fp16_model_bytes, reduced_precision
from analysis.embedding.sessions import BoundRunner, lock_session


@dataclass(frozen=True)
class Runtime:
    """What runs the recogniser of one worker.

    Parameters
    ----------
    session : onnxruntime.InferenceSession or OpenVinoRunner
        Checked once per chunk (``get_providers``).
    run_batch : callable
        ``(n, 3, s, s) float32 -> (n, d)``.
    what : str
        ``recogniser w600k_r50.onnx (OpenVINO) bf16``...
    engine : {"onnxruntime", "openvino"}
    precision : PrecisionCheck
    """

    session: Any
    run_batch: Callable[[np.ndarray], np.ndarray]
    what: str
    engine: str
    precision: PrecisionCheck


def choose_runtime(model_path: Path, session, device: Device, what: str, input_size: int, *, threads: int,
                   providers: tuple, provider_options: list, explicit_providers: bool, precision: str,
                   cpu_engine: str) -> Runtime:
    """The engine and precision for ``model_path``, starting from its float32 onnxruntime ``session``.

    Explicit onnxruntime providers in the network options are a request for onnxruntime:
    OpenVINO only replaces the default CPU session.
    """
    fp32 = PrecisionCheck("fp32", float("nan"))
    rt = Runtime(session, BoundRunner(session, device), what, "onnxruntime", fp32)
    if not device.is_cuda and not explicit_providers and use_openvino(cpu_engine):
        runner = OpenVinoRunner(model_path, "fp32", threads)
        rt = Runtime(runner, runner, f"{what} (OpenVINO)", "openvino", fp32)
    on_ov = rt.engine == "openvino"
    low = reduced_precision(precision, device.is_cuda, on_ov, on_ov and cpu_has_bf16())
    if low is None:
        return rt
    if on_ov:
        try:
            candidate = OpenVinoRunner(model_path, low, threads)
        except Exception as exc:  # noqa: BLE001 - a CPU without those kernels keeps float32
            return Runtime(rt.session, rt.run_batch, rt.what, rt.engine,
                           PrecisionCheck("fp32", float("nan"), f"OpenVINO {low} not available: {exc}"))
        session_low, run_low = candidate, candidate
    elif low == "bf16":
        return Runtime(rt.session, rt.run_batch, rt.what, rt.engine, PrecisionCheck(
            "fp32", float("nan"), "bfloat16 runs on the OpenVINO engine only (pip install openvino, cpu_engine = 'auto')"))
    else:
        import onnxruntime

        try:
            session_low = onnxruntime.InferenceSession(fp16_model_bytes(model_path),
                                                       session_options(threads, cuda=device.is_cuda),
                                                       providers=providers, provider_options=provider_options)
        except Exception as exc:  # noqa: BLE001 - a provider without float16 kernels keeps float32
            if isinstance(exc, ImportError):
                raise
            return Runtime(rt.session, rt.run_batch, rt.what, rt.engine,
                           PrecisionCheck("fp32", float("nan"), f"float16 graph not loadable: {exc}"))
        lock_session(session_low, device, f"{what} fp16")
        run_low = BoundRunner(session_low, device)
    check = check_reduced(rt.run_batch, run_low, input_size, low)
    if check.precision != low:
        return Runtime(rt.session, rt.run_batch, rt.what, rt.engine, check)
    return Runtime(session_low, run_low, f"{rt.what} {low}", rt.engine, check)
