"""Where the analyses run: this process, loky worker processes, or a Dask cluster.

``[study] backend`` chooses (:class:`analysis.config.StudySettings`):

* ``serial``: one task after another in this process;
* ``loky`` (default): joblib's loky worker processes on this machine, one per core unless
  ``n_jobs`` says otherwise. Cells and analyses are independent, so two cores run two at a time;
  loky caps each worker's BLAS threads at ``cores / workers`` so they do not oversubscribe;
* ``dask``: tasks on a Dask cluster, the one at ``scheduler`` or a ``LocalCluster`` started for
  the run (``n_jobs`` workers of one thread each). Inside those tasks, the quadratic passes
  (all-pair histograms, k-NN graph) are split again into row-block tasks of the same cluster
  (:mod:`analysis.blocks`), so that one large cell also uses every worker.

:func:`run_tasks` is the one entry point: a module-level function and a list of argument
tuples in, the results in the same order out, with a progress bar. Results never depend on the
backend except through BLAS summation order, and each analysis is seeded. Loky workers carry the
lifeline of :mod:`analysis.embedding.lifeline`, as the extraction and figure workers do: they exit
when the build dies.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from analysis.embedding import lifeline
from report import progress as progress_mod


def worker_count(n_jobs: int) -> int:
    """``n_jobs``, or the number of CPU cores this process may use when it is 0."""
    if n_jobs > 0:
        return n_jobs
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def dask_client(scheduler: str, n_workers: int) -> Iterator[Any]:
    """A Dask client on ``scheduler``, or on a ``LocalCluster`` of ``n_workers`` processes.

    The local cluster lives for the run only; its workers have one thread each (the analyses
    are BLAS-bound, and one thread per worker keeps them from competing for cores) and the
    dashboard is off (no port opened for nothing).

    Raises
    ------
    ImportError
        When ``dask.distributed`` is missing (``pip install "dask[distributed]"``).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise ImportError('backend = "dask" needs dask.distributed: pip install "dask[distributed]"') from exc
    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            yield client


def run_tasks(fn: Callable, args: Sequence[tuple], backend: str, n_jobs: int = 0, client: Any = None,
              progress: bool = False, desc: str = "analyses", unit: str = "step") -> list:
    """``[fn(*a) for a in args]`` on ``backend``, with a progress bar; results in input order.

    Parameters
    ----------
    fn : callable
        A module-level (picklable) function.
    args : sequence of tuple
        One tuple of positional arguments per task; put the longest tasks first, the workers
        take them in that order.
    backend : {"serial", "loky", "dask"}
    n_jobs : int, default=0
        Worker processes of ``loky`` (0: one per core).
    client : distributed.Client, optional
        Required with ``dask``.
    progress : bool, default=False
    desc, unit : str
        Label of the progress bar.
    """
    args = list(args)
    out: list = [None] * len(args)
    bar = progress_mod.bar(len(args), desc, progress, unit=unit)
    try:
        if backend == "serial" or len(args) <= 1 or (backend == "loky" and worker_count(n_jobs) == 1):
            for i, a in enumerate(args):
                out[i] = fn(*a)
                bar.update(1)
        elif backend == "loky":
            import joblib

            jobs = min(worker_count(n_jobs), len(args))
            # The workers exit when this build dies, kill -9 included (lifeline.loky_workers).
            # max_nbytes=None: no automatic memmapping of large arguments. A worker would see
            # np.memmap where the build saw np.ndarray, joblib.Memory would hash them differently
            # (coerce_mmap=False), and every rebuild would recompute the large cells.
            with lifeline.loky_workers():
                results = joblib.Parallel(n_jobs=jobs, return_as="generator_unordered", max_nbytes=None)(
                    joblib.delayed(_indexed)(i, fn, a) for i, a in enumerate(args))
                for i, r in results:
                    out[i] = r
                    bar.update(1)
        elif backend == "dask":
            if client is None:
                raise ValueError('backend "dask" needs a client; open one with report.backend.dask_client')
            from distributed import as_completed

            # pure=False: two tasks with equal arguments are still two tasks (their order matters).
            futures = [client.submit(_indexed, i, fn, a, pure=False) for i, a in enumerate(args)]
            for future in as_completed(futures):
                i, r = future.result()
                out[i] = r
                bar.update(1)
        else:
            raise ValueError(f"unknown backend {backend!r}; valid: serial, loky, dask")
    finally:
        bar.close()
    return out


def _indexed(i: int, fn: Callable, a: tuple) -> tuple[int, Any]:
    return i, fn(*a)

