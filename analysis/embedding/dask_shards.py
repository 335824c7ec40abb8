"""Extraction shards on a Dask cluster, one shard pinned to each worker.

Each Dask worker receives exactly one shard (``workers=[address]``, no stealing), so two shards
never share a worker, and therefore never share a GPU, even after a resume changed which chunks
are pending. On the worker, the shard runs on CUDA device 0 of that worker's
``CUDA_VISIBLE_DEVICES``: dask-cuda (``dask-cuda-worker``, ``LocalCUDACluster``) starts one
worker per GPU and lists each worker's own GPU first. Plain Dask workers without that
variable all see every GPU; start them through dask-cuda on multi-GPU hosts.
"""
from __future__ import annotations

import time
from typing import Callable

from analysis.embedding import devices as dev


def dask_client(scheduler: str):
    """The Client to run on: ``scheduler``'s, else the current one (RuntimeError with the fix)."""
    try:
        from dask.distributed import Client, get_client
    except ImportError as exc:
        raise ImportError("backend = 'dask' needs dask.distributed: pip install 'dask[distributed]'") from exc
    if scheduler:
        return Client(scheduler)
    try:
        return get_client()
    except ValueError:
        raise RuntimeError(
            "backend = 'dask' but no dask.distributed Client is running; start one "
            "(dask.distributed.Client(...)) or set extraction.dask_scheduler = 'tcp://host:8786'"
        ) from None


def pin_shards(pending: list[int], workers: list[str], n_shards: int = 0) -> list[tuple[str, list[int]]]:
    """``(worker address, chunk ids)`` pairs: at most one shard per worker, addresses sorted.

    Parameters
    ----------
    pending : list of int
        Chunk ids still to compute.
    workers : list of str
        Dask worker addresses.
    n_shards : int, default=0
        Shards wanted (0: one per worker); capped at the number of workers.
    """
    if not workers:
        raise RuntimeError("the Dask cluster has no workers; start some (dask worker tcp://...) and run again")
    addresses = sorted(workers)
    n = min(len(addresses), n_shards or len(addresses))
    shards = [s for s in dev.balanced_shards(len(pending), n) if s]
    return [(addresses[k], [pending[i] for i in shard]) for k, shard in enumerate(shards)]


def run_on_dask(job, pending: list[int], bar, run_shard: Callable, follow: Callable) -> list:
    """Run ``run_shard(job, chunk_ids, None, 0)`` once per pinned shard; the shard reports.

    ``follow(job, bar, running, wait)`` advances the progress bar from the chunk files (the
    cache folder is on a file system shared with the workers).
    """
    client = dask_client(job.params.dask_scheduler)
    workers = list(client.scheduler_info().get("workers", {}))
    futures = [client.submit(run_shard, job, chunk_ids, None, 0, workers=[address], allow_other_workers=False,
                             pure=False)
               for address, chunk_ids in pin_shards(pending, workers, job.params.dask_shards)]
    follow(job, bar, lambda: not all(f.done() for f in futures), lambda: time.sleep(0.5))
    return client.gather(futures)  # re-raises a shard's error here
