"""Compute devices: which GPUs are usable, how work is split over them.

The extraction runs one worker process per device (a GPU, or a CPU worker), each with its own
ONNX Runtime sessions bound to its device through ``CUDAExecutionProvider``'s ``device_id``.
This module only answers questions (what is there, which provider and session options, which
shard goes where); it starts nothing. Checking the sessions themselves is
:mod:`analysis.embedding.sessions`' job.

Never silently on the CPU:

- ``devices = "auto"`` on a machine whose ``nvidia-smi`` lists GPUs but whose onnxruntime has
  no ``CUDAExecutionProvider`` (the CPU build, the usual state after ``pip install insightface``)
  runs on the CPU with a loud :class:`DeviceFallbackWarning` naming the fix (``make setup-gpu``);
- ``devices = "cuda"`` (or ``"cuda:0,1"``) without a usable CUDA provider raises
  :class:`DeviceUnavailableError`: the user asked for GPUs, a CPU run forty times slower is not
  what they asked for.

Device ids are CUDA ordinals: device ``i`` is entry ``i`` of ``CUDA_VISIBLE_DEVICES`` (the
machine's GPU numbers are shown next to them by :func:`analysis.embedding.gpus.gpu_label`).
"""
from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass

from analysis.embedding import gpus as gpu_info

logger = logging.getLogger(__name__)

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"

#: What to run when the GPU build is missing (README "Running on GPUs").
GPU_INSTALL_HINT = "run `make setup-gpu` (installs onnxruntime-gpu from requirements-gpu.txt in place of onnxruntime)"


class DeviceFallbackWarning(RuntimeWarning):
    """GPUs are there but CUDA cannot be used: the run continues on the CPU."""


class DeviceUnavailableError(RuntimeError):
    """CUDA was requested (or a GPU session landed on the CPU) and cannot be provided."""


@dataclass(frozen=True)
class Device:
    """One compute device of the local machine.

    Parameters
    ----------
    kind : {"cpu", "cuda"}
    index : int
        CUDA device id (the ordinal within ``CUDA_VISIBLE_DEVICES``); the worker number for
        CPU workers.
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


def _visible_ids_from_env() -> int | None:
    """Entries of ``CUDA_VISIBLE_DEVICES`` up to the first hidden one; None when unset."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return None
    n = 0
    for v in visible.split(","):
        v = v.strip()
        if not v or v.startswith("-"):
            break
        n += 1
    return n


def cuda_device_count() -> int:
    """Number of CUDA devices onnxruntime can use; 0 without ``CUDAExecutionProvider``.

    ``nvidia-smi``'s GPUs with ``CUDA_VISIBLE_DEVICES`` applied (:func:`visible_gpus`); without
    ``nvidia-smi``, the entries of ``CUDA_VISIBLE_DEVICES``, else onnxruntime's device list;
    1 when the provider exists but nothing can count devices.
    """
    if CUDA_PROVIDER not in onnx_providers():
        return 0
    gpus = gpu_info.visible_gpus()
    if gpus or gpu_info.machine_gpus():
        return len(gpus)
    from_env = _visible_ids_from_env()
    if from_env is not None:
        return from_env
    try:
        import onnxruntime

        n = sum(1 for d in onnxruntime.get_ep_devices() if getattr(d, "ep_name", "") == CUDA_PROVIDER)
        if n:
            return n
    except (AttributeError, RuntimeError):
        pass
    return 1


def gpus_present() -> int:
    """GPUs this process would see if onnxruntime could use CUDA (``nvidia-smi``, ``CUDA_VISIBLE_DEVICES``)."""
    gpus = gpu_info.visible_gpus()
    if gpus or gpu_info.machine_gpus():
        return len(gpus)
    return _visible_ids_from_env() or 0


def plan_devices(request: str = "auto", cpu_workers: int = 1, cuda_capable: bool = True) -> tuple[Device, ...]:
    """Devices to run on for a request string.

    Parameters
    ----------
    request : str
        ``"auto"`` (every visible GPU, else the CPU), ``"cpu"``, ``"cuda"`` (every visible
        GPU) or ``"cuda:0,2"`` (those CUDA device ids).
    cpu_workers : int, default=1
        Number of CPU workers when running on the CPU.
    cuda_capable : bool, default=True
        False for a pipeline that cannot use CUDA (dlib-bin is built without it): it keeps one
        CPU worker per core whatever the request, since one worker per GPU would leave all but
        a few cores idle.

    Returns
    -------
    tuple of Device

    Raises
    ------
    DeviceUnavailableError
        When CUDA is requested explicitly but onnxruntime offers no CUDA provider.
    ValueError
        For an unknown request or a device id that is not visible.

    Warns
    -----
    DeviceFallbackWarning
        ``auto`` on a machine with GPUs but without a usable CUDA provider.
    """
    request = request.strip().lower()
    m = re.fullmatch(r"cuda(?::([\d,\s]+))?", request)
    if request not in ("cpu", "auto") and not m:
        raise ValueError(f"devices = {request!r} is not understood; use 'auto', 'cpu', 'cuda' or 'cuda:0,1'")
    if request == "cpu":
        return cpu_devices(cpu_workers)
    if not cuda_capable:
        if request != "auto":
            logger.warning("devices = %r: this network/detector (dlib) has no CUDA build here; it runs on %d CPU "
                           "worker(s)", request, max(1, cpu_workers))
        return cpu_devices(cpu_workers)
    n = cuda_device_count()
    if request == "auto":
        if n:
            return tuple(Device("cuda", i) for i in range(n))
        present = gpus_present()
        if present:
            msg = (f"devices = 'auto': {present} GPU(s) are visible ({_gpu_names()}) but onnxruntime has no "
                   f"CUDAExecutionProvider (available: {', '.join(onnx_providers()) or 'none'}); RUNNING ON THE CPU, "
                   f"much slower. To use the GPUs, {GPU_INSTALL_HINT}; set devices = 'cpu' to silence this.")
            logger.warning(msg)
            warnings.warn(msg, DeviceFallbackWarning, stacklevel=2)
        return cpu_devices(cpu_workers)
    if n == 0:
        raise DeviceUnavailableError(
            f"devices = {request!r} asks for CUDA but onnxruntime offers no CUDAExecutionProvider "
            f"(available: {', '.join(onnx_providers()) or 'none'}; GPUs visible: {gpus_present()}). "
            f"To use GPUs, {GPU_INSTALL_HINT} and check with `python build_report.py --check-devices`; "
            f"or set [extraction] devices = 'cpu' (or 'auto')."
        )
    ids = sorted({int(v) for v in m.group(1).split(",") if v.strip()}) if m.group(1) else list(range(n))
    bad = [i for i in ids if i >= n]
    if bad:
        raise ValueError(
            f"devices = {request!r}: CUDA device(s) {bad} not visible; {n} device(s) are (ids 0..{n - 1}, "
            f"counted within CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')})"
        )
    return tuple(Device("cuda", i) for i in ids)


def _gpu_names() -> str:
    gpus = gpu_info.visible_gpus()
    return "; ".join(g.label for g in gpus) if gpus else f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}"


def cpu_devices(n: int) -> tuple[Device, ...]:
    return tuple(Device("cpu", i) for i in range(max(1, n)))


def onnx_provider_config(device: Device) -> tuple[list, list[dict]]:
    """``(providers, provider_options)`` for an onnxruntime session on ``device``.

    CUDA sessions use ``cudnn_conv_algo_search = HEURISTIC``: the default exhaustive search
    benchmarks every convolution algorithm again for each new input shape, which costs more
    than it saves with the varying batch sizes of an extraction. The CPU provider stays in the
    list only for the few operators CUDA lacks; sessions then call ``disable_fallback()``
    (:func:`analysis.embedding.sessions.lock_session`) so that a CUDA failure is an error, not a
    silent move of the whole session to the CPU.
    """
    if device.is_cuda:
        return (
            [CUDA_PROVIDER, CPU_PROVIDER],
            [cuda_provider_options(device.index), {}],
        )
    return [CPU_PROVIDER], [{}]


def cuda_provider_options(device_id: int) -> dict[str, str]:
    """``CUDAExecutionProvider`` options for CUDA device ``device_id``."""
    return {"device_id": str(int(device_id)), "cudnn_conv_algo_search": "HEURISTIC"}


def providers_for(requested: tuple[str, ...], device: Device) -> tuple[list, list[dict]]:
    """Providers and options for a user's explicit provider list, keeping ``device``'s id.

    ``ArcFaceOptions.providers = ["CUDAExecutionProvider", ...]`` used to give every session
    ``device_id = 0``, so all the workers of a multi-GPU run shared GPU 0.
    """
    options = [cuda_provider_options(device.index if device.is_cuda else 0) if p == CUDA_PROVIDER else {}
               for p in requested]
    return list(requested), options


def session_options(threads: int, cuda: bool = False):
    """onnxruntime SessionOptions for a worker's session.

    Parameters
    ----------
    threads : int
        Intra-op threads of a CPU session (0: onnxruntime decides).
    cuda : bool, default=False
        A CUDA session: one intra-op thread and no spinning. The GPU does the work; the
        default (a thread per core, each spinning while it waits) burns every core of the host
        for each of the four or so sessions a worker holds, starving the decode threads.
    """
    import onnxruntime

    so = onnxruntime.SessionOptions()
    if cuda:
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    elif threads > 0:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    so.log_severity_level = 3  # keep provider chatter out of progress bars
    return so


def check_session_device(session, device: Device, what: str) -> None:
    """Raise when a session meant for a GPU landed on the CPU.

    onnxruntime keeps going on the CPU when the CUDA provider fails to load (missing cuDNN,
    driver mismatch), printing one line that progress bars hide.

    Raises
    ------
    DeviceUnavailableError
        ``device`` is a GPU and the session's first provider is not CUDA.
    """
    if not device.is_cuda:
        return
    active = list(session.get_providers())
    if not active or active[0] != CUDA_PROVIDER:
        raise DeviceUnavailableError(
            f"{what}: CUDA device {device.index} was requested but onnxruntime created the session with "
            f"{', '.join(active) or 'no provider'}; it would run on the CPU. Check that the CUDA and cuDNN "
            f"versions match onnxruntime-gpu's (README, 'Running on GPUs'; `python build_report.py --check-devices`)."
        )


def balanced_shards(n_items: int, n_shards: int) -> list[list[int]]:
    """Split ``range(n_items)`` into ``n_shards`` interleaved lists of near-equal length.

    Interleaving (``i % n_shards``) rather than contiguous blocks balances the load when the
    cost varies along a sorted manifest (one identity's large photographs side by side).
    """
    n_shards = max(1, min(n_shards, n_items)) if n_items else 1
    return [list(range(s, n_items, n_shards)) for s in range(n_shards)]
