"""Row-block tasks of the quadratic passes, run on the Dask cluster when there is one.

The all-pair histograms (:mod:`analysis.statistics.pair_histograms`) and the k-NN graph
(:mod:`analysis.statistics.knn`) are sums / concatenations over independent blocks of rows.
:func:`block_map` runs such blocks: as tasks of the same Dask cluster when it is called from
inside a Dask task (``[study] backend = "dask"``, see :mod:`report.backend`), so that a single
large cell spreads over every worker; otherwise one after another in this process.

The statistics stay pure functions of their arrays: only *where* a block runs changes, the
blocks and the order in which their results are combined do not, so the result is the same.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence


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
