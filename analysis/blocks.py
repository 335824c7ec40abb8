"""Row-block tasks of the quadratic passes, run on the Dask cluster when there is one.

The all-pair histograms (:mod:`analysis.statistics.verification.pair_histograms`) and the k-NN graph
(:mod:`analysis.statistics.classifiers.knn`) are sums / concatenations over independent blocks of rows.
:func:`block_map` runs such blocks: as tasks of the same Dask cluster when it is called from
inside a Dask task (``[study] backend = "dask"``, see :mod:`report.backend`), so that a single
large cell spreads over every worker; otherwise one after another in this process.

On one machine, :func:`process_map` runs many small Python-bound problems (the audit's
per-identity 2-means) on worker processes, and :func:`usable_cores` says how many cores a process
may keep busy without oversubscribing those the build already shares out.

The statistics stay pure functions of their arrays: only *where* a block runs changes, the
blocks and the order in which their results are combined do not, so the result is the same.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence


def in_dask_task() -> bool:
    """True when running inside a task of a Dask worker."""
    try:
        from distributed import get_worker
    except ImportError:
        return False
    try:
        get_worker()
    except ValueError:
        return False
    return True


def block_map(fn: Callable, shared: tuple, items: Sequence[tuple]) -> list:
    """``[fn(*shared, *item) for item in items]``, as Dask tasks when called inside one.

    Parameters
    ----------
    fn : callable
        A module-level (picklable) function.
    shared : tuple
        Arguments common to every block (the large arrays): sent to the cluster once.
    items : sequence of tuple
        Per-block arguments (small: row bounds).

    Returns
    -------
    list
        Results in the order of ``items``.
    """
    if not in_dask_task() or len(items) <= 1:
        return [fn(*shared, *item) for item in items]
    from distributed import worker_client

    # worker_client secedes this task from the worker's thread pool while it waits, so the
    # blocks can run on this worker too (no deadlock with one thread per worker).
    with worker_client() as client:
        shared_futures = client.scatter(list(shared), broadcast=False)
        futures = [client.submit(_call, fn, shared_futures, item, pure=False) for item in items]
        return client.gather(futures)


def _call(fn: Callable, shared: list[Any], item: tuple) -> Any:
    return fn(*shared, *item)


def usable_cores() -> int:
    """Cores this process may keep busy: its BLAS thread count.

    The build runs each analysis task in a worker process with one BLAS thread (one worker per
    core, :mod:`report.backend`); a process on its own (a benchmark, ``backend = "serial"``) has
    one BLAS thread per core. Code that runs its own threads or processes for work that BLAS does
    not parallelise (selection, tiny Python-bound problems) uses this many, so that it never
    oversubscribes the cores the build already shares out.
    """
    from threadpoolctl import threadpool_info

    return max([1] + [int(i.get("num_threads") or 1) for i in threadpool_info() if i.get("user_api") == "blas"])


def process_map(fn: Callable, items: Iterable[tuple], workers: int) -> list:
    """``[fn(*item) for item in items]`` on ``workers`` loky worker processes, results in order.

    For many small Python-bound problems that neither BLAS nor threads (the GIL) spread over the
    cores. At most two items per worker are in flight, so a generator of large items is
    materialised a few at a time. ``workers <= 1`` runs them here, one after the other.
    """
    if workers <= 1:
        return [fn(*item) for item in items]
    from joblib import Parallel, delayed

    from analysis.embedding import lifeline

    with lifeline.loky_workers():  # the workers exit with this process, kill -9 included
        return Parallel(n_jobs=workers, pre_dispatch="2*n_jobs")(delayed(fn)(*item) for item in items)
