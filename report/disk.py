"""A full disk is one line naming the folder, the space left and the setting that moves it.

Python's ``write()`` raises ``[Errno 28] No space left on device`` without a file name, a copy
raises it naming the source before the destination, ``shutil.copytree`` gathers a list of
tuples, and inside ``mkdocs build`` it became a 3 KB line holding mkdocs' traceback. The driver
runs each stage that writes inside :func:`writing_into`, which turns any of these into a
:class:`DiskFullError` saying where the build was writing, how much room is left there and which
setting points the build at another disk. Nothing already published is lost: every output is
swapped in whole, and the cache writes each entry atomically.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

from report.ownership import STAGING_PREFIX

#: errno values that mean "the disk (or the user's quota) is full".
FULL = (errno.ENOSPC, errno.EDQUOT)
FULL_TEXT = ("No space left on device", "Disk quota exceeded", "[Errno 28]", "[Errno 122]")


class DiskFullError(RuntimeError):
    """No space left where the build writes; the message names the folder, the room left and the fix."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a full disk or quota (also inside ``shutil.copytree``'s gathered errors)."""
    if isinstance(exc, shutil.Error):
        return any(any(t in str(item) for t in FULL_TEXT) for item in _copytree_items(exc))
    if isinstance(exc, OSError) and exc.errno in FULL:
        return True
    return exc.__cause__ is not None and is_disk_full(exc.__cause__)  # raise ... from a full disk


def _copytree_items(exc: shutil.Error) -> list:
    return exc.args[0] if exc.args and isinstance(exc.args[0], list) else []


def failed_path(exc: BaseException) -> str | None:
    """The file being written when the disk filled up, when the error knows it."""
    if isinstance(exc, shutil.Error):
        for item in _copytree_items(exc):
            if isinstance(item, tuple) and len(item) == 3 and any(t in str(item[2]) for t in FULL_TEXT):
                return str(item[1])  # (source, destination, why): the destination filled the disk
        return None
    if isinstance(exc, OSError) and exc.errno in FULL:
        return exc.filename2 or exc.filename  # a copy names its destination second
    return failed_path(exc.__cause__) if exc.__cause__ is not None else None


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns


def room_left(folder: Path) -> str:
    """``"1.2 MB free of 8.0 MB"`` on the file system of ``folder`` (or its nearest existing parent)."""
    path = Path(folder).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        st = os.statvfs(path)
    except OSError:
        return "free space unknown"
    return f"{_size(st.f_bavail * st.f_frsize)} free of {_size(st.f_blocks * st.f_frsize)}"


def disk_full_message(exc: BaseException, folder: Path, what: str, setting: str) -> str:
    """The one line for a full disk while writing ``what`` into ``folder``."""
    path = failed_path(exc)
    if path:  # the staging folder is where the file would have been published from: show where it belongs
        path = re.sub(rf"/{re.escape(STAGING_PREFIX)}([a-z]+)-[^/]+", r"/\1", path)
    writing = f" (writing {path})" if path else ""
    return (f"no space left on the disk of the {what} {str(folder)!r}{writing}: {room_left(folder)} once the "
            f"unfinished files were removed; the previous outputs are kept. Free space there, or set {setting} to a "
            f"folder on another disk")


@contextmanager
def writing_into(folder: Path, what: str, setting: str):
    """Run a stage that writes into ``folder``; a full disk inside becomes one :class:`DiskFullError`.

    Parameters
    ----------
    folder : Path
        Where the stage writes (the output folder, the cache).
    what : str
        Its name for the message (``"output folder"``).
    setting : str
        The config key and flag that move it (``"[study] output_dir (--output-dir)"``).
    """
    try:
        yield
    except DiskFullError:
        raise
    except BaseException as exc:
        if is_disk_full(exc):
            raise DiskFullError(disk_full_message(exc, folder, what, setting)) from exc
        raise
