"""One build per output folder and per cache at a time.

Two builds writing one ``paper/`` or one cache corrupt each other (latexmk deleting the other's
aux files, a PDF without trailer published as "unchanged"). Each build therefore holds an
exclusive :mod:`filelock` lock on the cache folder and on the output folder for its whole run.
The locks are ``flock``/``fcntl`` locks held by an open file descriptor: the kernel drops them
when the process dies, even by ``kill -9``, so a killed build never blocks the next one.

A second build waits, saying once on stderr which build it waits for; ``ATLAS_LOCK_TIMEOUT``
(seconds, default one hour) bounds the wait, after which it stops with a clear error.
"""
from __future__ import annotations

import os
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from report.ownership import LOCK_NAME

DEFAULT_TIMEOUT_S = 3600.0


class BuildLockedError(RuntimeError):
    """Another build held a lock longer than the allowed wait."""


def _timeout() -> float:
    try:
        return float(os.environ.get("ATLAS_LOCK_TIMEOUT", DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def _acquire(lock: FileLock, what: str, folder: Path, stack: ExitStack) -> None:
    try:
        lock.acquire(timeout=0)
    except Timeout:
        wait = _timeout()
        print(f"waiting: another build is using the {what} {folder} (lock {lock.lock_file}); "
              f"waiting up to {wait:.0f} s for it to finish", file=sys.stderr, flush=True)
        try:
            lock.acquire(timeout=wait)
        except Timeout as exc:
            raise BuildLockedError(
                f"another build still holds {lock.lock_file} after {wait:.0f} s; wait for it to finish or stop it "
                f"(a killed build releases its lock by itself)"
            ) from exc
    stack.callback(lock.release)


@contextmanager
def build_locks(cache_dir: Path, output_dir: Path):
    """Hold the cache lock, then the output lock (always in this order, so two builds cannot deadlock)."""
    with ExitStack() as stack:
        seen = set()
        for what, folder in (("cache", Path(cache_dir)), ("output folder", Path(output_dir))):
            if folder.resolve() in seen:  # one folder as cache and output: one lock
                continue
            seen.add(folder.resolve())
            folder.mkdir(parents=True, exist_ok=True)
            _acquire(FileLock(str(folder / LOCK_NAME)), what, folder, stack)
        yield
