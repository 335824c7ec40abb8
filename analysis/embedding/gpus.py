"""Which NVIDIA GPUs this process can see, and what CUDA device id ``i`` is on the machine.

CUDA numbers devices *within* ``CUDA_VISIBLE_DEVICES``: with ``CUDA_VISIBLE_DEVICES=2,3``,
onnxruntime's ``device_id=0`` is the machine's GPU 2. ``nvidia-smi`` ignores that variable and
lists every GPU of the machine. :func:`visible_gpus` applies CUDA's rules to the ``nvidia-smi``
list so that device ids, log lines and the provenance all name the same physical card.

Nothing here needs onnxruntime or CUDA libraries: it answers "are there GPUs at all", which is
what lets ``devices = "auto"`` warn when a GPU machine runs the CPU build of onnxruntime.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

_QUERY = "index,name,uuid,memory.total"


@dataclass(frozen=True)
class GpuInfo:
    """One NVIDIA GPU as ``nvidia-smi`` reports it.

    Parameters
    ----------
    index : int
        The machine's GPU number (``nvidia-smi``'s, not CUDA's ordinal inside
        ``CUDA_VISIBLE_DEVICES``).
    name : str
    uuid : str
        ``GPU-...``; stable across reboots, usable in ``CUDA_VISIBLE_DEVICES``.
    memory_mib : int
        Total memory in MiB (0 when unknown).
    """

    index: int
    name: str
    uuid: str = ""
    memory_mib: int = 0

    @property
    def label(self) -> str:
        """``NVIDIA H100 80GB HBM3 (GPU 2, 81559 MiB)``: what logs and the provenance show."""
        mem = f", {self.memory_mib} MiB" if self.memory_mib else ""
        return f"{self.name} (GPU {self.index}{mem})"


def parse_nvidia_smi(text: str) -> tuple[GpuInfo, ...]:
    """GPUs from ``nvidia-smi --query-gpu=index,name,uuid,memory.total --format=csv,noheader,nounits``.

    Lines that do not parse (driver warnings) are ignored.
    """
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[0].isdigit():
            continue
        mem = parts[3] if len(parts) > 3 else ""
        gpus.append(GpuInfo(int(parts[0]), parts[1], parts[2] if len(parts) > 2 else "",
                            int(float(mem)) if mem.replace(".", "", 1).isdigit() else 0))
    return tuple(sorted(gpus, key=lambda g: g.index))


@lru_cache(maxsize=1)
def machine_gpus() -> tuple[GpuInfo, ...]:
    """Every NVIDIA GPU of the machine (``nvidia-smi``); empty without a driver or GPU.

    Cached for the life of the process: the answer does not change during a run and
    ``nvidia-smi`` takes a noticeable fraction of a second.
    """
    smi = shutil.which("nvidia-smi")
    if not smi:
        return ()
    try:
        out = subprocess.run([smi, f"--query-gpu={_QUERY}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    return parse_nvidia_smi(out.stdout) if out.returncode == 0 else ()


def apply_visible_devices(gpus: tuple[GpuInfo, ...], visible: str | None) -> tuple[GpuInfo, ...]:
    """The GPUs CUDA exposes, in CUDA ordinal order, under ``CUDA_VISIBLE_DEVICES=visible``.

    CUDA's rules: unset means every GPU; entries are machine indices or (prefixes of) UUIDs;
    the list stops at the first entry that names no GPU (so ``-1`` or ``""`` hide them all);
    a repeated GPU also ends the list.

    Parameters
    ----------
    gpus : tuple of GpuInfo
        The machine's GPUs (:func:`machine_gpus`).
    visible : str or None
        The value of ``CUDA_VISIBLE_DEVICES``.

    Returns
    -------
    tuple of GpuInfo
        Element ``i`` is CUDA device ``i`` of a process with that environment.
    """
    if visible is None:
        return tuple(gpus)
    by_index = {str(g.index): g for g in gpus}
    out: list[GpuInfo] = []
    for raw in visible.split(","):
        entry = raw.strip()
        gpu = by_index.get(entry)
        if gpu is None and entry.upper().startswith("GPU-"):
            matches = [g for g in gpus if g.uuid.upper().startswith(entry.upper())]
            gpu = matches[0] if len(matches) == 1 else None
        if gpu is None or gpu in out:
            break
        out.append(gpu)
    return tuple(out)


def visible_gpus() -> tuple[GpuInfo, ...]:
    """GPUs this process's CUDA would see, in device-id order (``CUDA_VISIBLE_DEVICES`` applied)."""
    return apply_visible_devices(machine_gpus(), os.environ.get("CUDA_VISIBLE_DEVICES"))


def gpu_label(ordinal: int) -> str:
    """What CUDA device ``ordinal`` of this process is (``cuda:0`` when ``nvidia-smi`` cannot say)."""
    gpus = visible_gpus()
    return gpus[ordinal].label if 0 <= ordinal < len(gpus) else f"cuda:{ordinal} (nvidia-smi unavailable)"
