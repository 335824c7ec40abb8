"""Progress of a build: a tqdm bar with ETA on a terminal, one plain line per stage without one.

A build that runs for minutes must not look hung, whether it runs in a terminal (a bar with a
rate and an ETA, redrawn in place) or in CI / under ``nohup`` / piped to a file (there a bar
would write thousands of carriage-return frames into the log, so each stage prints one line when
it ends, with its count and duration). ``--quiet`` turns both off.

The maths never sees this module: the driver and :mod:`report.study` wrap their loops with
:func:`bar` and their stages with :func:`stage`, as ydata-profiling wraps its calls.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator, Literal, TextIO

Mode = Literal["bar", "lines", "off"]

#: Prefix of every progress line, so that a log can be grepped for them.
PREFIX = "[atlas]"


def mode_for(enabled: bool, stream: TextIO | None = None) -> Mode:
    """``"bar"`` on a terminal, ``"lines"`` otherwise, ``"off"`` when progress is disabled."""
    if not enabled:
        return "off"
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


class _LineBar:
    """The ``update``/``close`` interface of a tqdm bar that prints one line when closed."""

    def __init__(self, total: int, desc: str, unit: str, stream: TextIO):
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.n = 0
        self._t0 = time.perf_counter()
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        secs = time.perf_counter() - self._t0
        print(f"{PREFIX} {self.desc}: {self.n}/{self.total} {self.unit} in {secs:.1f} s", file=self.stream, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _NullBar:
    n = 0

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def bar(total: int, desc: str, enabled: bool, unit: str = "step", stream: TextIO | None = None):
    """A progress bar over ``total`` units of work (see module docstring for the three modes).

    Returns an object with ``update(n)`` and ``close()`` (and usable as a context manager).
    """
    stream = sys.stderr if stream is None else stream
    mode = mode_for(enabled, stream)
    if mode == "off":
        return _NullBar()
    if mode == "lines":
        return _LineBar(total, desc, unit, stream)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True, file=stream)


@contextmanager
def stage(name: str, enabled: bool, stream: TextIO | None = None) -> Iterator[None]:
    """Time a stage; without a terminal print ``[atlas] <name>: done in <s> s`` when it ends.

    On a terminal the stage's own bars show progress, and a closing line per stage would only
    push them up the screen, so nothing is printed there.
    """
    stream = sys.stderr if stream is None else stream
    t0 = time.perf_counter()
    yield
    if mode_for(enabled, stream) == "lines":
        print(f"{PREFIX} {name}: done in {time.perf_counter() - t0:.1f} s", file=stream, flush=True)
