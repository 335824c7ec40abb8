"""What each extraction worker ran on, summarised for the provenance of an embedding set.

A :class:`ShardReport` comes back from every shard (:func:`analysis.embedding.extract.run_shard`):
its device, the GPU behind it and the provider each onnxruntime session really used at the end
of its last chunk. :func:`execution_summary` turns them into the one deterministic line that is
stored with the vectors and shown on the Reproducibility page, so that a reader can tell a GPU
run from a CPU one without the build log.
"""
from __future__ import annotations

from dataclasses import dataclass

from analysis.embedding.devices import Device
from analysis.embedding.gpus import gpu_label
from analysis.embedding.sessions import SessionReport


@dataclass(frozen=True)
class ShardReport:
    """One worker's device and sessions.

    Parameters
    ----------
    device : str
        ``cuda:0``, ``cpu:1``...
    gpu : str
        The card behind a CUDA device (:func:`analysis.embedding.gpus.gpu_label`); empty on the CPU.
    sessions : tuple of SessionReport
    n_chunks : int
        Chunks this worker computed.
    """

    device: str
    gpu: str
    sessions: tuple[SessionReport, ...]
    n_chunks: int

    @staticmethod
    def for_device(device: Device, sessions: tuple[SessionReport, ...], n_chunks: int) -> "ShardReport":
        return ShardReport(device.label, gpu_label(device.index) if device.is_cuda else "", tuple(sessions), n_chunks)

    @property
    def where(self) -> str:
        """``detector scrfd_500m.onnx: CPUExecutionProvider; recogniser ...`` (sorted, no device)."""
        lines = sorted(s.line for s in self.sessions)
        return "; ".join(lines) if lines else "no onnxruntime session (dlib on the CPU)"


def execution_summary(reports: list[ShardReport], n_resumed: int = 0) -> str:
    """One line: the devices that computed chunks, grouped by GPU and providers.

    Parameters
    ----------
    reports : list of ShardReport
    n_resumed : int, default=0
        Chunks taken from an earlier run's checkpoints.

    Returns
    -------
    str
        ``cuda:0 NVIDIA H100 (GPU 0): detector ...: CUDAExecutionProvider; recogniser ...`` or
        ``cpu:0, cpu:1: ...``; groups sorted, so the same run gives the same text.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for r in reports:
        if r.n_chunks:
            groups.setdefault((r.gpu, r.where), []).append(r.device)
    parts = []
    for (gpu, where), labels in sorted(groups.items(), key=lambda kv: sorted(kv[1])):
        # Dask workers on different hosts may share a label (each one's cuda:0): count them.
        counted = [lab if labels.count(lab) == 1 else f"{lab} x{labels.count(lab)}" for lab in sorted(set(labels))]
        name = ", ".join(counted) + (f" {gpu}" if gpu else "")
        parts.append(f"{name}: {where}")
    if n_resumed:
        parts.append(f"{n_resumed} chunk(s) resumed from an earlier run's checkpoints")
    return " | ".join(parts) if parts else "nothing computed"
