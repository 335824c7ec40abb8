"""Reduced-precision recognisers (float16 on GPUs, bfloat16 on AMX CPUs), accepted only when they agree with float32.

Tensor cores run float16 convolutions several times faster than float32 ones, and the AMX
tiles of recent Xeons do the same for bfloat16 (2.3x over OpenVINO's float32 on this project's CPU,
:mod:`analysis.embedding.openvino_engine`); an ArcFace network run at either precision (inputs
and outputs kept float32) usually gives embeddings whose cosine to the float32 ones is above
0.9999. "Usually" is not enough for a study: at start-up each worker runs both versions on the
same probe crops and keeps the reduced precision only when every embedding's cosine to its
float32 twin is at least :data:`MIN_COSINE`; otherwise it stays in float32 and says why. The
precision that ran is part of the session name, hence of the provenance.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

logger = logging.getLogger(__name__)

#: Lowest cosine between a float16 embedding and its float32 twin for float16 to be used.
MIN_COSINE = 0.999
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_NAMES = {"fp16": "float16", "bf16": "bfloat16"}


@dataclass(frozen=True)
class PrecisionCheck:
    """Outcome of the float16 check.

    Parameters
    ----------
    precision : {"fp16", "bf16", "fp32"}
        What the worker uses.
    min_cosine : float
        Lowest cosine over the probe crops (nan when no reduced precision was tried or it failed to load).
    reason : str
        Why float32 was kept (empty when a reduced precision is used or none was asked for).
    """

    precision: str
    min_cosine: float
    reason: str = ""


def reduced_precision(request: str, on_cuda: bool, openvino: bool = False, bf16_native: bool = False) -> str | None:
    """The lower precision to try, or None for float32 only.

    ``auto`` tries what the hardware runs natively and fast: float16 on CUDA, bfloat16 on a CPU
    whose OpenVINO build reports BF16 kernels (AMX or AVX-512 BF16), nothing elsewhere (float16
    on other CPUs is emulated and slower). ``fp16`` / ``bf16`` try that precision wherever the
    engine can load it; ``fp32`` never tries one.

    Raises
    ------
    ValueError
        For an unknown request, listing the valid ones.
    """
    if request not in PRECISIONS:
        raise ValueError(f"recognizer_precision = {request!r}; valid: {', '.join(PRECISIONS)}")
    if request == "fp32":
        return None
    if request == "auto":
        if on_cuda:
            return "fp16"
        return "bf16" if openvino and bf16_native else None
    return request


def wants_fp16(request: str, on_cuda: bool) -> bool:
    """``auto``: float16 on CUDA only; ``fp16``: everywhere; otherwise no (see :func:`reduced_precision`)."""
    return reduced_precision(request, on_cuda) == "fp16"


def fp16_model_bytes(model_path: Path) -> bytes:
    """The ONNX recogniser converted to float16 inside, float32 at its input and output."""
    import onnx
    from onnxconverter_common import float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one line per tiny weight rounded to float16's range
        model = float16.convert_float_to_float16(onnx.load(str(model_path)), keep_io_types=True)
    return model.SerializeToString()


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Lowest row-wise cosine between two (n, d) arrays."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.min(num / np.maximum(den, 1e-12)))


def probe_crops(size: int, n: int = 16, seed: int = 0) -> np.ndarray:
    """``n`` deterministic float32 blobs shaped like preprocessed crops, (n, 3, size, size)."""
    rng = np.random.default_rng(seed)
    return ((rng.integers(0, 256, size=(n, 3, size, size)).astype(np.float32) - 127.5) / 127.5)


def check_reduced(run32: Callable[[np.ndarray], np.ndarray], run_low: Callable[[np.ndarray], np.ndarray],
                  size: int, precision: str = "fp16") -> PrecisionCheck:
    """``precision`` if its embeddings of the probe crops all have cosine >= :data:`MIN_COSINE` to float32's."""
    blob = probe_crops(size)
    cos = min_cosine(run32(blob), run_low(blob))
    name = _NAMES.get(precision, precision)
    if not np.isfinite(cos) or cos < MIN_COSINE:
        reason = f"{name} embeddings differ from float32 (lowest cosine {cos:.5f} < {MIN_COSINE})"
        logger.warning("recogniser stays in float32: %s", reason)
        return PrecisionCheck("fp32", cos, reason)
    return PrecisionCheck(precision, cos)


def check_fp16(run32: Callable[[np.ndarray], np.ndarray], run16: Callable[[np.ndarray], np.ndarray],
               size: int) -> PrecisionCheck:
    """Float16 if its embeddings of the probe crops all have cosine >= :data:`MIN_COSINE` to float32's."""
    return check_reduced(run32, run16, size, "fp16")
