"""How much a published site weighs: the demo, and a stand-in of the seed's planned study.

Two studies, each built by the real pipeline (``report.driver.run``) into a fresh output
folder, then measured file by file under ``site/`` with a per-folder breakdown:

* ``demo``: ``configs/demo.toml`` (2,073 rows x 2 networks x 4 subsets) with the defaults;
  budget 25 MB.
* ``standin``: a synthetic stand-in of the seed's plan (FRGC, 39,327 images x 5 networks x 4
  subsets): 1,600 synthetic identities (40,654 rows) under five 512-D networks, the demo's four
  subsets, once with ``publish_vectors = false`` (the default) and once with ``true``;
  budget 1 GB with the vectors (GitHub Pages' limit), "far less" without.

Both stand-in builds share one cache, so the analyses run once (the second build only writes
the vectors files). ``--quick`` makes the analyses cheaper without changing what the site
holds (same pages, figures, tables, maps and rows: t-SNE runs 50 iterations instead of 500,
classifiers 2 folds instead of 5, one k-means start, 20 bootstrap repeats); without it the
stand-in takes of the order of an hour on two cores. Outputs and caches go to ``--work``
(default: a temporary folder, removed afterwards).

Usage::

    .venv/bin/python bench/bench_site_size.py [--studies demo standin] [--quick] [--work DIR]

Not a test: nothing here asserts; it prints sizes and budgets (``tests/test_publishing.py``
checks the demo's budget).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
BUDGETS = {"demo": 25 * MB, "standin, publish_vectors = true": 1024 * MB}

STANDIN = """
subsets = ["all", "balanced-6", "min-20", "range-5-10"]

[study]
title = "Stand-in of the seed's plan: 40k rows x 5 networks x 4 subsets"
seed = 7
output_dir = "out"
cache_dir = "cache"
publish_vectors = {publish}

[[datasets]]
name = "frgc-standin"
kind = "synthetic"
n_identities = 1600
min_images = 6
max_images = 220
{networks}
{quick}
"""

NETWORK = """
[[networks]]
name = "{name}"
kind = "synthetic"
dim = 512
norm_mean = 22.0
norm_std = 3.0
noise = {noise}
seed = {seed}
"""

QUICK = """
[manifold]
tsne_iterations = 50

[classifiers]
folds = 2
kmeans_n_init = 1

[clustering]
kmeans_n_init = 1

[similarity]
bootstrap_reps = 20
"""


def breakdown(site: Path) -> tuple[int, dict[str, int]]:
    """Total bytes under ``site`` and bytes per folder (``downloads/vectors`` apart from ``downloads``)."""
    sizes: dict[str, int] = {}
    for f in site.rglob("*"):
        if f.is_file():
            parts = f.relative_to(site).parts
            top = "/".join(parts[:2]) if parts[0] == "downloads" and len(parts) > 2 else parts[0]
            top = top if len(parts) > 1 else "(top-level pages)"
            sizes[top] = sizes.get(top, 0) + f.stat().st_size
    return sum(sizes.values()), dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def report(name: str, site: Path, seconds: float) -> tuple[str, int, dict[str, int]]:
    total, parts = breakdown(site)
    budget = BUDGETS.get(name)
    verdict = "" if budget is None else f" (budget {budget / MB:,.0f} MB: {'within' if total <= budget else 'OVER'})"
    print(f"\n{name}: {total / MB:,.1f} MB in {sum(1 for f in site.rglob('*') if f.is_file()):,d} files, "
          f"built in {seconds:,.0f} s{verdict}")
    for folder, size in parts.items():
        print(f"  {folder:<28} {size / MB:>9,.1f} MB")
    return name, total, parts


def build(config: Path, overrides: dict) -> float:
    from analysis.config import load_config
    from report.driver import run

    t0 = time.perf_counter()
    run(load_config(config, overrides=overrides), progress=False)
    return time.perf_counter() - t0


def demo(work: Path):
    out = work / "demo-out"
    shutil.rmtree(out, ignore_errors=True)
    seconds = build(ROOT / "configs" / "demo.toml", {"output_dir": out})  # the repository's cache: a warm build
    return [report("demo", out / "site", seconds)]


def standin(work: Path, quick: bool):
    folder = work / "standin"
    folder.mkdir(parents=True, exist_ok=True)
    networks = "".join(NETWORK.format(name=f"net-{i}", noise=0.1 + 0.06 * i, seed=i + 1) for i in range(5))
    rows = []
    for publish in ("false", "true"):
        config = folder / f"study-{publish}.toml"
        config.write_text(STANDIN.format(publish=publish, networks=networks, quick=QUICK if quick else ""),
                          encoding="utf-8")
        seconds = build(config, {})
        rows.append(report(f"standin, publish_vectors = {publish}", folder / "out" / "site", seconds))
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", nargs="+", default=["demo", "standin"], choices=["demo", "standin"])
    ap.add_argument("--quick", action="store_true", help="cheaper analyses, same site contents (see the docstring)")
    ap.add_argument("--work", type=Path, default=None, help="keep outputs and caches here")
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f}; quick = {args.quick}")
    tmp = None if args.work else tempfile.mkdtemp(prefix="atlas-site-size-")
    work = args.work or Path(tmp)
    try:
        rows = []
        if "demo" in args.studies:
            rows += demo(work)
        if "standin" in args.studies:
            rows += standin(work, args.quick)
        print("\n| site | size | per folder (largest first) |\n|---|---:|---|")
        for name, total, parts in rows:
            top = ", ".join(f"{k} {v / MB:,.1f}" for k, v in list(parts.items())[:6])
            print(f"| {name} | {total / MB:,.1f} MB | {top} |")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
