"""Time and peak memory of every analysis on synthetic embeddings, against a notebook baseline.

For each size (rows of 512-D synthetic embeddings from :mod:`analysis.embedding.synthetic`, scaled up
through ``SyntheticDatasetOptions(n_identities=...)``) the data are generated once and saved to a
temporary ``.npz``; then every analysis runs in its own subprocess, which loads the data, times
``compute(emb, Params(), 0)`` and reports the growth of its peak resident set during the
computation (``VmHWM`` after minus ``VmRSS`` before, from ``/proc/self/status``: NumPy, BLAS and
library buffers included, the loaded data excluded). ``--tracemalloc`` adds the peak traced
allocation, at the price of slowing Python-heavy code (so timings then are not comparable).

The "suite" row runs every analysis in one process with defaults, except that the manifold step skips
t-SNE and UMAP; "tsne" and "umap" then time those two maps on *every* row (not the default
5,000-row sample), with the project's settings (openTSNE, UMAP on exact neighbours).

The baseline is what a notebook typically does, with scikit-learn defaults and full matrices:
``KMeans(k)`` (defaults, all rows) and a full ``silhouette_score`` for each k of the sweep (only
``k = n_identities`` with ``--quick``), and a full ``n x n`` cosine matrix split into genuine and
impostor similarities. A baseline step whose memory estimate exceeds half the available memory,
or that runs past ``--timeout``, is reported as skipped / timed out rather than run.

Usage::

    .venv/bin/python bench/bench_analyses.py --sizes 10000 40000 [--quick] [--timeout 600]

Not a test: nothing here asserts; it prints a table and ratios.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (name, module, compute function); modules or functions missing in the tree are skipped.
ANALYSES = (
    ("geometry", "analysis.statistics.geometry", "analyze_geometry"),
    ("similarity", "analysis.statistics.verification.similarity", "analyze_similarity"),
    ("clustering", "analysis.statistics.clustering.clustering", "analyze_clustering"),
    ("classifiers", "analysis.statistics.classifiers.classifiers", "analyze_classifiers"),
    ("manifold", "analysis.statistics.manifold", "analyze_manifold"),
    ("audit", "analysis.statistics.audit.audit", "analyze_audit"),
)
BASELINES = ("baseline-kmeans-silhouette", "baseline-full-cosine")
# 2-D maps of every row (the manifold analysis maps a 5,000-row sample by default).
MAPS = ("tsne", "umap")
MEAN_IMAGES = 25.0  # mean rows per identity of the default synthetic generator at 1e3 identities (measured)


def available_analyses() -> list[tuple[str, object, type]]:
    """(name, compute function, params class) of every importable analysis."""
    out = []
    for name, module, func in ANALYSES:
        try:
            mod = importlib.import_module(module)
            fn = getattr(mod, func)
        except (ImportError, AttributeError):
            continue
        params = [v for k, v in vars(mod).items() if k.endswith("Params") and isinstance(v, type) and v.__module__ == module]
        if len(params) != 1:
            continue
        out.append((name, fn, params[0]))
    return out


def make_data(n_rows: int, path: Path) -> dict:
    from analysis.embedding.synthetic import SyntheticDatasetOptions, SyntheticNetworkOptions, generate

    n_id = max(2, int(round(n_rows / MEAN_IMAGES)))
    emb = generate(SyntheticDatasetOptions(n_identities=n_id), {"a": SyntheticNetworkOptions()}, "bench", 0)["a"]
    np.savez(path, vectors=emb.vectors, identities=emb.identities, items=emb.items)
    return {"rows": emb.n_samples, "identities": len(emb.identity_names)}


def load(path: Path):
    from analysis.types import EmbeddingSet

    z = np.load(path)
    return EmbeddingSet("bench", "a", z["vectors"], z["identities"], z["items"], synthetic=True)


# --------------------------------------------------------------------------- worker side
def _baseline(name: str, emb, quick: bool) -> None:
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.metrics.pairwise import cosine_similarity

    x = emb.normalized()
    y = emb.labels
    if name == "baseline-kmeans-silhouette":
        from analysis.statistics.clustering.clustering import ClusteringParams
        from analysis.statistics.clustering.kmeans import k_grid

        n_id = len(emb.identity_names)
        ks = [n_id] if quick else list(k_grid(n_id, len(x), ClusteringParams()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k in ks:
                labels = KMeans(n_clusters=int(k), random_state=0).fit_predict(x)
                silhouette_score(x, labels)
    elif name == "baseline-full-cosine":
        s = cosine_similarity(x)
        iu = np.triu_indices(len(x), 1)
        same = y[iu[0]] == y[iu[1]]
        vals = s[iu]
        genuine, impostor = vals[same], vals[~same]
        np.histogram(genuine, bins=4000, range=(-1, 1))
        np.histogram(impostor, bins=4000, range=(-1, 1))
    else:
        raise ValueError(f"unknown baseline {name!r}; valid: {', '.join(BASELINES)}")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: best effort


def worker(name: str, path: Path, quick: bool, trace: bool = False) -> dict:
    emb = load(path)
    analyses = {n: (fn, p) for n, fn, p in available_analyses()}
    rss_before = _status_kib("VmRSS")
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    if name == "suite":
        # The suite target excludes t-SNE and UMAP: the manifold step runs its PCA map,
        # trustworthiness and KMeans colouring only; the maps are timed by "tsne" and "umap".
        for n, (fn, p) in analyses.items():
            fn(emb, p(tsne=False, umap=False) if n == "manifold" else p(), 0)
    elif name in analyses:
        fn, p = analyses[name]
        fn(emb, p(), 0)
    elif name in MAPS:
        from analysis.statistics import manifold

        x = emb.normalized()
        fn = manifold.tsne_map if name == "tsne" else manifold.umap_map
        fn(x, manifold.ManifoldParams(max_samples=len(x)), 0)
    else:
        _baseline(name, emb, quick)
    seconds = time.perf_counter() - t0
    peak = float("nan")
    if trace:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    # the peak may predate the computation (loading): then the growth is at least 0
    growth = max(0, _status_kib("VmHWM") - rss_before) / 1024
    return {"name": name, "seconds": seconds, "peak_growth_mb": growth, "traced_peak_mb": peak}


# --------------------------------------------------------------------------- driver
def _baseline_bytes(name: str, n: int) -> int:
    if name == "baseline-full-cosine":
        # float32 n x n similarities + float32 upper triangle + int64 triangle indices + masks
        return int(n * n * 4 + n * n / 2 * (4 + 16 + 1 + 4))
    return n * 512 * 8 * 4


def _available_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


def run_one(name: str, path: Path, quick: bool, timeout: float, trace: bool = False) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--data", str(path)]
    if quick:
        cmd.append("--quick")
    if trace:
        cmd.append("--tracemalloc")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"name": name, "status": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        return {"name": name, "status": "failed: " + done.stderr.strip().splitlines()[-1][:120] if done.stderr else "failed"}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "status": "ok"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000], help="rows (default: 10000 40000)")
    ap.add_argument("--quick", action="store_true", help="baseline KMeans/silhouette at k = n_identities only")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per subprocess")
    ap.add_argument("--only", nargs="*", help="run only these analyses/baselines")
    ap.add_argument("--tracemalloc", action="store_true", help="also report tracemalloc peaks (slows timings)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.data), args.quick, args.tracemalloc)))
        return 0

    names = [n for n, _, _ in available_analyses()]
    print(f"analyses found: {', '.join(names)}; threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"emb-{size}.npz"
            info = make_data(size, path)
            print(f"\n== {info['rows']:,d} x 512, {info['identities']:,d} identities ==", flush=True)
            rows = {}
            for name in [*names, "suite", *MAPS, *BASELINES]:
                if args.only and name not in args.only:
                    continue
                need = _baseline_bytes(name, info["rows"]) if name in BASELINES else 0
                if need > _available_bytes() / 2:
                    rows[name] = {"name": name, "status": f"skipped: needs ~{need / 2**30:.1f} GiB"}
                else:
                    rows[name] = run_one(name, path, args.quick, args.timeout, args.tracemalloc)
                r = rows[name]
                if r["status"] == "ok":
                    print(f"{name:28s} {r['seconds']:8.1f} s  peak memory growth {r['peak_growth_mb']:8.0f} MiB  "
                          f"traced peak {r['traced_peak_mb']:8.0f} MiB", flush=True)
                else:
                    print(f"{name:28s} {r['status']}", flush=True)
            pairs = (("clustering", "baseline-kmeans-silhouette"), ("similarity", "baseline-full-cosine"))
            for ours, base in pairs:
                a, b = rows.get(ours, {}), rows.get(base, {})
                if a.get("status") == "ok" and b.get("status") == "ok":
                    print(f"ratio {base} / {ours}: time {b['seconds'] / a['seconds']:.1f}x, "
                          f"peak memory growth {b['peak_growth_mb'] / max(a['peak_growth_mb'], 1e-9):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
