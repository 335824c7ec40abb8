"""Progress: a bar on a terminal, one line per stage without one, nothing with --quiet."""
from __future__ import annotations

import io

from report import progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_each_stage_and_loop_prints_one_line():
    out = io.StringIO()
    with progress.stage("analyses", True, stream=out):
        bar = progress.bar(3, "analyses", True, stream=out)
        for _ in range(3):
            bar.update(1)
        bar.close()
        bar.close()  # closing twice prints once
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[atlas] analyses: 3/3 step in ")
    assert lines[1].startswith("[atlas] analyses: done in ") and lines[1].endswith(" s")


def test_on_a_terminal_a_tqdm_bar_with_eta_and_no_stage_lines():
    out = _Tty()
    assert progress.mode_for(True, out) == "bar"
    with progress.stage("figures", True, stream=out):
        with progress.bar(2, "figures", True, unit="fig", stream=out) as bar:
            bar.update(1)
            bar.update(1)
    text = out.getvalue()
    assert "figures" in text and "/2 [" in text and "[atlas]" not in text
    assert "<" in text  # tqdm's "elapsed<remaining" (the ETA)


def test_quiet_prints_nothing():
    out = _Tty()
    with progress.stage("x", False, stream=out):
        b = progress.bar(5, "x", False, stream=out)
        b.update(5)
        b.close()
    assert out.getvalue() == ""
