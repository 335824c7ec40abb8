"""Worker processes die with the build that started them.

joblib's loky workers are separate processes. When the build is killed (``kill -9``, an OOM kill,
a closed terminal) nothing tells a worker that is in the middle of a shard: it went on decoding
images and writing chunk files into the cache for minutes, racing the next build. A worker
therefore runs a small watchdog thread that polls its parent; once the parent is gone the worker
exits at once (``os._exit``: no cleanup that could write half a file).

The parent marks itself with :func:`mark_parent` before starting a pool (the environment variable
is inherited by the workers); :func:`die_with_parent` is called at the top of every worker task
and does nothing in the parent itself (sequential backend) or in processes not started by a
build (Dask workers on other machines).
"""
from __future__ import annotations

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


def kill_with_parent() -> None:
    """``preexec_fn`` for tool subprocesses (latexmk, mkdocs): the kernel kills them when the build dies.

    Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; elsewhere nothing (the staging folder they write
    into is removed by the next build anyway).
    """
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
