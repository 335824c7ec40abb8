"""Cold demo build: this tree against a baseline commit, side by side in one run.

Each build is ``build_report.py --quiet`` on ``configs/demo.toml`` with a fresh output folder
and a fresh cache (so embeddings, analyses, figures, mkdocs and latexmk all run), in its own
process. The baseline is a commit of this repository exported with ``git archive`` into a
temporary folder (nothing is checked out); the builds alternate (current, baseline, current,
baseline...) so that a change of load on a shared machine hits both sides alike. The load
average before each build is printed with it, as is the peak resident memory of the largest
process of the build, and the report says whether both sides wrote the same ``docs/`` bytes.

Usage::

    .venv/bin/python bench/bench_demo.py --baseline c098bf4 [--repeat 1] [--extra-args --no-paper]

Not a test: nothing here asserts; it prints a table and the ratio.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def export_commit(rev: str, dest: Path) -> Path:
    """The tree of ``rev`` under ``dest`` (``git archive``: no checkout, no worktree)."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


def cold_build(tree: Path, work: Path, extra: list[str]) -> dict:
    """One cold build of the demo from ``tree``; wall seconds, load, peak RSS, docs digest."""
    out, cache = work / "out", work / "cache"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "build_report.py", "--quiet", "--config", "configs/demo.toml",
         "--output-dir", str(out), "--cache-dir", str(cache), *extra],
        cwd=tree, capture_output=True, text=True,
        # The mathjax copy is found relative to the tree; the baseline export shares this one.
        env=dict(os.environ, PYTHONHASHSEED="0"),
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"build from {tree} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall": wall, "load": load, "peak_mib": max(peak, before) / 1024, "docs": tree_digest(out / "docs"),
            "log": proc.stdout}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", default="c098bf4", help="commit to compare with (default: before issue #14)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--extra-args", nargs=argparse.REMAINDER, default=[], help="passed to build_report.py")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    try:
        base_tree = export_commit(args.baseline, tmp / "baseline-tree")
        vendor = ROOT / ".vendor"
        if vendor.is_dir():  # offline MathJax, not tracked by git
            os.symlink(vendor, base_tree / ".vendor")
        rows = []
        for r in range(args.repeat):
            for side, tree in (("current", ROOT), ("baseline", base_tree)):
                res = cold_build(tree, tmp / f"{side}-{r}", args.extra_args)
                rows.append((side, res))
                print(f"{side:9s} run {r + 1}: {res['wall']:6.1f} s  load {res['load']:5.1f}  peak {res['peak_mib']:6.0f} MiB  "
                      f"docs {res['docs']}", flush=True)
        base = [res["wall"] for side, res in rows if side == "baseline"]
        cur = [res["wall"] for side, res in rows if side == "current"]
        print()
        print("| build | cold wall (min of runs) | load average at start |")
        print("|---|---:|---:|")
        for side in ("baseline", "current"):
            walls = [res["wall"] for s, res in rows if s == side]
            loads = [res["load"] for s, res in rows if s == side]
            print(f"| {side} | {min(walls):.1f} s | {', '.join(f'{x:.1f}' for x in loads)} |")
        print(f"\nspeed-up: {min(base) / min(cur):.2f}x on {os.cpu_count()} cores")
        same = {res["docs"] for _, res in rows}
        print("docs/ identical between baseline and current" if len(same) == 1
              else f"docs/ differ between builds: {sorted(same)}")
        print("\nlast current build log:\n" + rows[-1][1]["log"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
