"""Progress that also works without a terminal.

With stderr on a terminal the build shows tqdm bars. Without one (CI, ``nohup``, a log file)
tqdm's carriage-return updates are useless, and the build used to print nothing for minutes;
:func:`progress_bar` then returns a :class:`LineProgress` that prints one plain line when a
stage starts, at most every 30 s while it runs, and when it ends. Here (not in ``report``)
because extraction, on the embedding side, reports progress too.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

#: Seconds between two progress lines without a terminal.
LINE_INTERVAL_S = 30.0


class LineProgress:
    """A minimal tqdm stand-in printing ``desc: n/total unit (pct), rate`` lines to a stream."""

    def __init__(self, total: int, desc: str, unit: str, initial: int = 0, stream: TextIO | None = None,
                 interval: float = LINE_INTERVAL_S, clock=time.monotonic) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.stream = stream if stream is not None else sys.stderr
        self.interval, self.clock = interval, clock
        self.start = self.last = clock()
        self._start_n = initial
        self._line("started")

    def _line(self, state: str) -> None:
        elapsed = self.clock() - self.start
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = (self.n - self._start_n) / elapsed if elapsed > 0 else 0.0
        speed = f", {rate:.1f} {self.unit}/s" if state != "started" and rate > 0 else ""
        print(f"{self.desc}: {self.n}/{self.total} {self.unit}{pct}{speed}, {elapsed:.0f} s ({state})",
              file=self.stream, flush=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.clock() - self.last >= self.interval:
            self.last = self.clock()
            self._line("running")

    def close(self) -> None:
        self._line("done")


def progress_bar(total: int, desc: str, unit: str, initial: int = 0, leave: bool = True):
    """A tqdm bar on a terminal, :class:`LineProgress` lines otherwise."""
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=initial, unit=unit, desc=desc, dynamic_ncols=True, smoothing=0.1, leave=leave)
    return LineProgress(total, desc, unit, initial)


