"""Compute devices: which GPUs are visible, how work is split over them.

The extraction runs one worker process per device (a GPU, or a CPU worker), each with its own
ONNX Runtime session bound to its device through ``CUDAExecutionProvider``'s ``device_id``.
This module only answers questions (what is there, which provider options, which shard goes
where); it starts nothing.

A request for CUDA on a machine without a usable CUDA provider falls back to the CPU with a
loud :class:`DeviceFallbackWarning`: a run silently forty times slower than expected is worse
than a warning.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import warnings
from dataclasses import dataclass

logger = logging.getLogger(__name__)

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


class DeviceFallbackWarning(RuntimeWarning):
    """CUDA was requested but is not available: the run continues on the CPU."""


@dataclass(frozen=True)
class Device:
    """One compute device of the local machine.

    Parameters
    ----------
    kind : {"cpu", "cuda"}
    index : int
        CUDA device id (within ``CUDA_VISIBLE_DEVICES``); the worker number for CPU workers.
    """

    kind: str
    index: int = 0

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.index}"

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"


def cpu_count() -> int:
    """CPU cores this process may use (affinity and cgroup aware where the OS says so)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def onnx_providers() -> list[str]:
    """Execution providers of the installed onnxruntime ([] when it is missing)."""
    try:
        import onnxruntime
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


def cuda_device_count() -> int:
    """Number of CUDA devices onnxruntime can use; 0 without ``CUDAExecutionProvider``.

    Counted from ``CUDA_VISIBLE_DEVICES`` when set, else from ``nvidia-smi -L``, else from
    onnxruntime's device list; 1 when the provider exists but nothing can count devices.
    """
    if CUDA_PROVIDER not in onnx_providers():
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip() and v.strip() != "-1"]
        return len(ids)
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False).stdout
            n = len(re.findall(r"^GPU \d+:", out, flags=re.M))
            if n:
                return n
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        import onnxruntime

        n = sum(1 for d in onnxruntime.get_ep_devices() if getattr(d, "ep_name", "") == CUDA_PROVIDER)
        if n:
            return n
    except (AttributeError, RuntimeError):
        pass
    return 1


def plan_devices(request: str = "auto", cpu_workers: int = 1) -> tuple[Device, ...]:
    """Devices to run on for a request string.

    Parameters
    ----------
    request : str
        ``"auto"`` (every visible GPU, else the CPU), ``"cpu"``, ``"cuda"`` (every visible
        GPU, fallback with a warning) or ``"cuda:0,2"`` (those device ids).
    cpu_workers : int, default=1
        Number of CPU workers when running on the CPU.

    Returns
    -------
    tuple of Device

    Warns
    -----
    DeviceFallbackWarning
        When CUDA is requested explicitly but not available.
    """
    request = request.strip().lower()
    if request == "cpu":
        return cpu_devices(cpu_workers)
    if request == "auto":
        n = cuda_device_count()
        return tuple(Device("cuda", i) for i in range(n)) if n else cpu_devices(cpu_workers)
    m = re.fullmatch(r"cuda(?::([\d,\s]+))?", request)
    if not m:
        raise ValueError(f"devices = {request!r} is not understood; use 'auto', 'cpu', 'cuda' or 'cuda:0,1'")
    n = cuda_device_count()
    if n == 0:
        msg = (
            f"devices = {request!r} asks for CUDA but onnxruntime offers no CUDAExecutionProvider "
            f"(available: {', '.join(onnx_providers()) or 'none'}); FALLING BACK TO THE CPU, which is much "
            f"slower. Install onnxruntime-gpu with a matching CUDA/cuDNN, or set devices = 'cpu' to silence this."
        )
        logger.warning(msg)
        warnings.warn(msg, DeviceFallbackWarning, stacklevel=2)
        return cpu_devices(cpu_workers)
    ids = sorted({int(v) for v in m.group(1).split(",") if v.strip()}) if m.group(1) else list(range(n))
    bad = [i for i in ids if i >= n]
    if bad:
        raise ValueError(f"devices = {request!r}: CUDA device(s) {bad} not visible; {n} device(s) are (ids 0..{n - 1})")
    return tuple(Device("cuda", i) for i in ids)


def cpu_devices(n: int) -> tuple[Device, ...]:
    return tuple(Device("cpu", i) for i in range(max(1, n)))


def onnx_provider_config(device: Device) -> tuple[list, list[dict]]:
    """``(providers, provider_options)`` for an onnxruntime session on ``device``.

    CUDA sessions use ``cudnn_conv_algo_search = HEURISTIC``: the default exhaustive search
    benchmarks every convolution algorithm again for each new input shape, which costs more
    than it saves with the varying batch sizes of an extraction.
    """
    if device.is_cuda:
        return (
            [CUDA_PROVIDER, CPU_PROVIDER],
            [{"device_id": str(device.index), "cudnn_conv_algo_search": "HEURISTIC"}, {}],
        )
    return [CPU_PROVIDER], [{}]


def check_session_device(session, device: Device, what: str) -> None:
    """Warn loudly when a session meant for a GPU silently landed on the CPU.

    onnxruntime keeps going on the CPU when the CUDA provider fails to load (missing cuDNN,
    driver mismatch), printing one line that progress bars hide.
    """
    if not device.is_cuda:
        return
    active = list(session.get_providers())
    if CUDA_PROVIDER not in active:
        msg = (
            f"{what}: CUDA device {device.index} was requested but onnxruntime created the session with "
            f"{', '.join(active)}; FALLING BACK TO THE CPU. Check the CUDA/cuDNN versions onnxruntime-gpu needs."
        )
        logger.warning(msg)
        warnings.warn(msg, DeviceFallbackWarning, stacklevel=2)


def session_options(threads: int):
    """onnxruntime SessionOptions with ``threads`` intra-op threads (0: onnxruntime decides)."""
    import onnxruntime

    so = onnxruntime.SessionOptions()
    if threads > 0:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    so.log_severity_level = 3  # keep provider chatter out of progress bars
    return so


def balanced_shards(n_items: int, n_shards: int) -> list[list[int]]:
    """Split ``range(n_items)`` into ``n_shards`` interleaved lists of near-equal length.

    Interleaving (``i % n_shards``) rather than contiguous blocks balances the load when the
    cost varies along a sorted manifest (one identity's large photographs side by side).
    """
    n_shards = max(1, min(n_shards, n_items)) if n_items else 1
    return [list(range(s, n_items, n_shards)) for s in range(n_shards)]
