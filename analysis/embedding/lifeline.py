"""Worker processes die with the build that started them.

joblib's loky workers are separate processes. When the build is killed (``kill -9``, an OOM kill,
a closed terminal) nothing tells a worker that is in the middle of a shard: it went on decoding
images and writing chunk files into the cache for minutes, racing the next build. A worker
therefore runs a small watchdog thread that polls its parent; once the parent is gone the worker
exits at once (``os._exit``: no cleanup that could write half a file).

The parent marks itself with :func:`mark_parent` before starting a pool (the environment variable
is inherited by the workers); :func:`die_with_parent` is called at the top of every worker task
and does nothing in the parent itself (sequential backend) or in processes not started by a
build (Dask workers on other machines). Pools started inside :func:`loky_workers` arm this as
the workers start (loky's ``initializer``) and, on Linux, also ask the kernel for a SIGKILL when the
build dies, which works even while a C call holds the GIL and the watchdog thread cannot run.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time

ENV = "ATLAS_PARENT_PID"
_guard: threading.Thread | None = None


def mark_parent() -> None:
    """Record this process as the parent of the workers it is about to start."""
    os.environ[ENV] = str(os.getpid())


def _parent_alive(pid: int, first_ppid: int) -> bool:
    if os.getppid() != first_ppid:  # re-parented: the parent died
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else: cannot be our parent any more
        return False
    return True


def die_with_parent(poll_s: float = 1.0) -> bool:
    """In a worker, start (once) a watchdog that exits this process when the build's process dies.

    Returns
    -------
    bool
        True when a watchdog guards this process.
    """
    global _guard
    try:
        parent = int(os.environ.get(ENV, "0"))
    except ValueError:
        return False
    if parent <= 0 or parent == os.getpid():
        return False
    if _guard is not None and _guard.is_alive():
        return True
    first_ppid = os.getppid()

    def watch() -> None:
        while _parent_alive(parent, first_ppid):
            time.sleep(poll_s)
        os._exit(70)  # EX_SOFTWARE; nobody is left to read it

    _guard = threading.Thread(target=watch, name="atlas-lifeline", daemon=True)
    _guard.start()
    return True


@contextlib.contextmanager
def loky_workers():
    """joblib's loky backend, as the default inside the block, with workers that die with this process.

    The workers arm :func:`die_with_parent` as loky's ``initializer``, the moment they start, not at
    their first task: a worker still importing its modules (seconds on a busy machine) or waiting
    idle for work (loky keeps idle workers 300 s) when the build is killed would otherwise never
    learn of it. Use ``joblib.Parallel(n_jobs=...)`` without a ``backend`` argument inside.
    """
    import joblib

    mark_parent()
    with joblib.parallel_config(backend="loky", initializer=_at_worker_start):
        yield


def _at_worker_start() -> None:
    """loky ``initializer`` of :func:`loky_workers`: the watchdog and the kernel's lifeline."""
    if die_with_parent():
        parent = int(os.environ[ENV])
        if os.getppid() == parent:
            _kernel_lifeline(parent)


def _kernel_lifeline(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (``PR_SET_PDEATHSIG``).

    The watchdog thread needs the GIL to run, and an analysis inside a long C call that holds it
    (measured: loky workers busy with the analyses of a killed build were still computing 30 s
    later) would keep the worker alive, and with it the resource trackers holding the build's
    stdout. The kernel's signal needs nothing from the worker.

    Linux sends it when the *thread* that started the worker ends, not the process. So it is
    armed only by :func:`loky_workers`, whose pools are started from the build's main thread (and
    refilled by loky's manager thread, which lives as long as the pool, as do the workers), and
    only in a direct child of the build. Pools started from a short-lived thread (the extraction
    runs its shards in one) keep the watchdog alone, or their workers would die with that thread.
    """
    if not _request_pdeathsig():
        return
    if os.getppid() != parent:  # the build died before the request: nobody will send the signal
        os._exit(70)


def kill_with_parent() -> None:
    """``preexec_fn`` for tool subprocesses (latexmk, mkdocs): the kernel kills them when the build dies.

    Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; elsewhere nothing (the staging folder they write
    into is removed by the next build anyway).
    """
    _request_pdeathsig()


def _request_pdeathsig() -> bool:
    """``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux; False where it is not available."""
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False
    return True
