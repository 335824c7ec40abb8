"""The large-set approximations against the exact code on the same data, with time and peak memory.

On synthetic 512-D embeddings of ``--size`` rows (about 25 per identity, as ``bench_analyses.py``):

* similarity: the exact all-pair histograms vs genuine-exact + ``--impostor-samples`` sampled
  impostor pairs (:mod:`analysis.statistics.verification.sampled_pairs`); prints TAR at FAR 1e-3 / 1e-4 of
  both and the relative difference (target: within 2% at FAR 1e-4);
* k-NN: the exact FAISS flat search vs IVF-Flat (:mod:`analysis.statistics.search.ann`, ``nprobe`` tuned
  on the recall of the neighbours a k = 3 vote reads, as in the classifiers); prints the
  measured recall and the 5-fold k-NN (k = 3) accuracy of both on the true labels, and their
  difference in points (target: within 0.5).

Each side runs in its own subprocess so that its peak resident memory (``VmHWM``) is its own.

Usage::

    .venv/bin/python bench/bench_scale.py --size 100000 [--impostor-samples 100000000] [--only similarity|knn]

Not a test: nothing here asserts; it prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _vmhwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(what: str, path: Path, impostor_samples: int) -> dict:
    from bench_analyses import load

    emb = load(path)
    x, y = emb.normalized(), emb.labels
    t0 = time.perf_counter()
    out: dict = {}
    if what in ("sim-exact", "sim-sampled"):
        from analysis.statistics.verification.pair_histograms import pair_histograms
        from analysis.statistics.verification.sampled_pairs import sampled_pair_histograms
        from analysis.statistics.verification.verification import verification_metrics

        if what == "sim-exact":
            h = pair_histograms(x, y)
        else:
            h, s = sampled_pair_histograms(x, y, n_samples=impostor_samples, random_state=0)
            out["sampled"] = s.n_sampled
        v = verification_metrics(h, (1e-3, 1e-4))
        out["tar"] = [float(t) for t in v.tar_at_far]
    else:
        from sklearn.model_selection import StratifiedKFold

        from analysis.statistics.classifiers.knn import knn_predict, neighbour_graph

        # vote_k = 3 and the labels: nprobe tuned on the leave-one-out 3-NN vote, as the classifiers do.
        graph = neighbour_graph(x, 16, exact_max_rows=1 if what == "knn-ann" else 0, random_state=0, vote_k=3, labels=y)
        out["recall"] = graph.ann.recall if graph.ann is not None else 1.0
        out["recall_first"] = graph.ann.recall_first if graph.ann is not None else 1.0
        out["nprobe"] = f"{graph.ann.nprobe} of {graph.ann.nlist}" if graph.ann is not None else ""
        out["vote"] = graph.ann.vote_agreement if graph.ann is not None else 1.0
        keep = np.bincount(y)[y] >= 5
        rows = np.flatnonzero(keep)
        correct = 0
        for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(rows, y[rows]):
            correct += int((knn_predict(graph, rows[train], rows[test], y, 3) == y[rows[test]]).sum())
        out["accuracy"] = correct / len(rows)
    out["seconds"] = time.perf_counter() - t0
    out["peak_mib"] = _vmhwm_mib()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--impostor-samples", type=int, default=100_000_000)
    ap.add_argument("--only", choices=("similarity", "knn"), help="run one of the two comparisons")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], Path(args.worker[1]), args.impostor_samples)))
        return 0
    from bench_analyses import make_data

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        info = make_data(args.size, path)
        print(f"{info['rows']:,d} x 512 rows, {info['identities']:,d} identities; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores", flush=True)
        res = {}
        for what in ("sim-exact", "sim-sampled", "knn-exact", "knn-ann"):
            if args.only and not what.startswith(args.only[:3]):
                continue
            proc = subprocess.run([sys.executable, __file__, "--impostor-samples", str(args.impostor_samples),
                                   "--worker", what, str(path)], capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{what} failed:\n{proc.stderr[-3000:]}")
                return 1
            res[what] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"  {what:12s} {res[what]['seconds']:7.1f} s  peak {res[what]['peak_mib']:7.0f} MiB", flush=True)
    print()
    print("| quantity | exact | approximate | difference |")
    print("|---|---:|---:|---:|")
    if "sim-exact" in res:
        e, s = res["sim-exact"], res["sim-sampled"]
        for level, te, ts in zip(("1e-3", "1e-4"), e["tar"], s["tar"]):
            print(f"| TAR@FAR={level} | {te:.4f} | {ts:.4f} | {100 * (ts - te) / te:+.2f}% relative |")
        print(f"| impostor pairs | all | {s['sampled']:,d} sampled | |")
        print(f"| similarity time | {e['seconds']:.1f} s | {s['seconds']:.1f} s | {e['seconds'] / s['seconds']:.1f}x |")
        print(f"| similarity peak memory | {e['peak_mib']:.0f} MiB | {s['peak_mib']:.0f} MiB | |")
    if "knn-exact" in res:
        ke, ka = res["knn-exact"], res["knn-ann"]
        print(f"| k-NN (k=3) 5-fold accuracy | {ke['accuracy']:.4f} | {ka['accuracy']:.4f} | "
              f"{100 * (ka['accuracy'] - ke['accuracy']):+.2f} points |")
        print(f"| k-NN recall (cell index, nprobe {ka['nprobe']}): all 17 / first 4 | 1 | {ka['recall']:.4f} / "
              f"{ka['recall_first']:.4f} | |")
        print(f"| leave-one-out 3-NN vote agreement (seeded rows) | 1 | {ka['vote']:.4f} | |")
        print(f"| k-NN graph + CV time | {ke['seconds']:.1f} s | {ka['seconds']:.1f} s | {ke['seconds'] / ka['seconds']:.1f}x |")
        print(f"| k-NN peak memory | {ke['peak_mib']:.0f} MiB | {ka['peak_mib']:.0f} MiB | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
