"""The ArcFace recogniser on the CPU through OpenVINO, in float32 or (on AMX CPUs) bfloat16.

Recognition is most of the work of a CPU extraction (an IResNet-50 is about 12 GFLOP per
face, detection at 320 about one). Measured on this project's 2-core Xeon (Sapphire Rapids,
AMX) with the random-weight IResNet-50 of ``bench/r50_model.py`` on probe crops, per face:

=========================================  ========  ========
engine                                     batch 1   batch 32
=========================================  ========  ========
onnxruntime 1.32, float32                   56 ms     57 ms
OpenVINO 2026.4, float32 (oneDNN)           58 ms     46 ms
OpenVINO 2026.4, bfloat16 (AMX tiles)       29 ms     20 ms
=========================================  ========  ========

OpenVINO reads the same ONNX file (same weights, no conversion step); its float32 result
differs from onnxruntime's by rounding only (cosine 1.00000 on the probe crops). bfloat16 keeps
float32's range with an 8-bit mantissa: like float16 on GPUs (:mod:`analysis.embedding.precision`),
it is used only when every probe embedding has a cosine of at least 0.999 to the float32 one,
and the precision that ran is in the session name, hence in the provenance.

The runner looks like an onnxruntime session where the worker needs one (``get_providers`` for
the session report), so the device checks and provenance code stay engine-agnostic.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

CPU_ENGINES = ("auto", "onnxruntime", "openvino")
_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
#: How the runner names itself in session reports (in place of an onnxruntime provider).
PROVIDER = "OpenVINO-CPU"


@lru_cache(maxsize=1)
def openvino_available() -> bool:
    """True when the ``openvino`` package imports and has a CPU device."""
    try:
        import openvino as ov
    except ImportError:
        return False
    try:
        return "CPU" in ov.Core().available_devices
    except Exception:  # noqa: BLE001 - a broken install is "not available", onnxruntime runs instead
        return False


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when OpenVINO runs bfloat16 natively on this CPU (AMX or AVX-512 BF16)."""
    if not openvino_available():
        return False
    import openvino as ov

    try:
        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - unknown capability: stay in float32
        return False


class OpenVinoRunner:
    """A compiled OpenVINO model behind the ``runner(blob) -> array`` call of :class:`~sessions.BoundRunner`.

    Parameters
    ----------
    model_path : Path
        The ONNX recogniser (one input ``(n, 3, s, s)``, one output ``(n, d)``).
    precision : {"fp32", "bf16", "fp16"}
        OpenVINO's ``INFERENCE_PRECISION_HINT``: ``f32`` forbids any lower-precision kernel.
    threads : int, default=0
        CPU threads (0: OpenVINO's default, every core).
    """

    def __init__(self, model_path: Path, precision: str = "fp32", threads: int = 0) -> None:
        import openvino as ov

        if precision not in _HINTS:
            raise ValueError(f"OpenVINO precision must be one of {', '.join(_HINTS)}, got {precision!r}")
        config = {
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
            # Throughput over latency is what a batch of crops wants; one stream keeps one
            # request's results independent of any other work.
            "PERFORMANCE_HINT": "LATENCY",
        }
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(model_path)), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.output = self.compiled.output(0)
        self.precision = precision

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        out = self.request.infer({0: np.ascontiguousarray(blob, dtype=np.float32)})[self.output]
        return np.array(out, dtype=np.float32, copy=True)  # the request reuses its output buffer

    def get_providers(self) -> list[str]:
        """The "provider" of a session report: ``OpenVINO-CPU`` (float32) or ``OpenVINO-CPU-bf16`` etc."""
        return [PROVIDER if self.precision == "fp32" else f"{PROVIDER}-{self.precision}"]


def use_openvino(engine: str) -> bool:
    """Whether a CPU recogniser runs on OpenVINO: ``auto`` when it is installed, ``openvino`` always.

    Raises
    ------
    ValueError
        An unknown engine name.
    ImportError
        ``openvino`` asked for but not installed.
    """
    if engine not in CPU_ENGINES:
        raise ValueError(f"cpu_engine = {engine!r}; valid: {', '.join(CPU_ENGINES)}")
    if engine == "onnxruntime":
        return False
    if engine == "openvino" and not openvino_available():
        raise ImportError("cpu_engine = 'openvino' needs the openvino package: pip install openvino "
                          "(or set cpu_engine = 'onnxruntime' in [extraction])")
    return openvino_available()
