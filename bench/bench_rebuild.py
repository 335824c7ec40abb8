"""The no-change rebuild of the demo: this tree against a baseline commit, side by side.

Each side gets its own output folder and its own copy of a warm cache (``--cache``, default the
repository's ``.cache``: the analyses are keyed on their inputs, the figures on their code, so
both sides find what they need there, or compute it once in the first build). One first build
per side writes ``docs/``, ``site/`` and ``paper/``; then ``--repeat`` rebuilds with nothing
changed alternate between the sides (current, baseline, current, ...) so that a change of load
on a shared machine hits both alike. Each is ``build_report.py --quiet`` in its own process,
timed by wall clock and by the CPU time of that process (user + system, from ``wait4``), which
a busy machine inflates much less than the wall time.

Usage::

    .venv/bin/python bench/bench_rebuild.py --baseline 73fb612 [--repeat 5] [--cache .cache]

Not a test: nothing here asserts; it prints a table and the ratios.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_demo import export_commit  # noqa: E402


def build(tree: Path, out: Path, cache: Path) -> dict:
    """One ``build_report.py`` run of the demo from ``tree``: wall and CPU seconds, load at start."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "build_report.py", "--quiet", "--config", "configs/demo.toml",
                             "--output-dir", str(out), "--cache-dir", str(cache)], cwd=tree,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"build from {tree} failed:\n{stdout[-2000:]}\n{stderr[-4000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "load": load}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", required=True, help="commit to compare with")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache", help="warm cache copied for each side")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
    try:
        trees = {"current": ROOT, "baseline": export_commit(args.baseline, tmp / "baseline-tree")}
        for link in (".vendor",):  # offline MathJax, not tracked by git
            if (ROOT / link).exists():
                os.symlink((ROOT / link).resolve(), trees["baseline"] / link)
        rows: dict[str, list[dict]] = {"current": [], "baseline": []}
        for side, tree in trees.items():
            shutil.copytree(args.cache, tmp / f"{side}-cache", symlinks=True)
            first = build(tree, tmp / f"{side}-out", tmp / f"{side}-cache")
            print(f"{side:9s} first build: {first['wall']:6.1f} s wall (writes docs/, site/, paper/)", flush=True)
        for r in range(args.repeat):
            for side, tree in trees.items():
                res = build(tree, tmp / f"{side}-out", tmp / f"{side}-cache")
                rows[side].append(res)
                print(f"{side:9s} rebuild {r + 1}: {res['wall']:5.2f} s wall  {res['cpu']:5.2f} s CPU  "
                      f"load {res['load']:5.1f}", flush=True)
        print("\n| demo rebuild, nothing changed | wall (median / min) | CPU, user + sys (median / min) | load at start |")
        print("|---|---:|---:|---:|")
        for side in ("baseline", "current"):
            w = [x["wall"] for x in rows[side]]
            c = [x["cpu"] for x in rows[side]]
            loads = ", ".join(f"{x['load']:.1f}" for x in rows[side])
            print(f"| {side} | {statistics.median(w):.2f} / {min(w):.2f} s | {statistics.median(c):.2f} / {min(c):.2f} s | {loads} |")
        ratio = lambda key: statistics.median(x[key] for x in rows["baseline"]) / statistics.median(x[key] for x in rows["current"])  # noqa: E731
        print(f"\nspeed-up (medians): {ratio('wall'):.2f}x wall, {ratio('cpu'):.2f}x CPU")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
