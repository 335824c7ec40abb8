"""A rebuild with nothing changed reads every result from the caches: it must not pay for the
libraries that only computing or drawing needs (scikit-learn, scipy.stats, matplotlib, plotly:
together about 3 s of what was a 7.6 s rebuild of the demo)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, write_small_config

HEAVY = ("sklearn", "scipy.stats", "matplotlib", "plotly", "umap", "openTSNE", "numba")

_AUDIT = """
import runpy, sys
sys.argv = ["build_report.py", "--quiet", "--config", {config!r}]
try:
    runpy.run_path({entry!r}, run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
print("HEAVY:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def _loaded_by(code: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("HEAVY:"))
    return [m for m in line[len("HEAVY:"):].split(",") if m]


def test_importing_the_pipeline_loads_no_heavy_library():
    code = ("import sys; import report.cli, report.driver, report.steps, analysis.config, report.render; "
            f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    assert _loaded_by(code) == []


@pytest.mark.slow
def test_a_rebuild_with_nothing_changed_loads_no_heavy_library(tmp_path):
    config = write_small_config(tmp_path, site=True, subsets='["all"]')
    code = _AUDIT.format(config=str(config), entry=str(ROOT / "build_report.py"), heavy=HEAVY)
    _loaded_by(code)  # computes the analyses and draws the figures (in worker processes)
    assert (tmp_path / "out" / "site" / "index.html").is_file()
    assert _loaded_by(code) == []  # the rebuild: every result, figure and page from the caches
