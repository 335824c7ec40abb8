"""The two quadratic passes in one process vs as one task on a 2-worker Dask ``LocalCluster``.

    .venv/bin/python bench/bench_dask.py

All-pair histograms plus the k-NN graph of 20,000 x 512 synthetic rows (800 labels); inside the
Dask task their row blocks become tasks of the same cluster (``analysis/blocks.py``). Prints both
wall times, whether the results are identical, and the speed-up.
"""
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.statistics.classifiers.knn import neighbour_graph  # noqa: E402
from analysis.statistics.verification.pair_histograms import pair_histograms  # noqa: E402

rng = np.random.default_rng(0)
N, D = 20000, 512
LABELS = rng.integers(0, 800, N)
X = rng.normal(size=(800, D))[LABELS] + rng.normal(size=(N, D))
X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def work(x, labels):
    h = pair_histograms(x, labels)
    g = neighbour_graph(x, 16)
    return int(h.impostor.sum()), g.index[:5, :3].tolist()


def main():
    print("load average", os.getloadavg()[0], flush=True)
    t = time.perf_counter()
    a = work(X, LABELS)
    t_local = time.perf_counter() - t
    print(f"single process (BLAS on every core): {t_local:.1f} s", flush=True)
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, Client(c) as cl:
        cl.submit(sum, [1], pure=False).result()  # workers warm
        t = time.perf_counter()
        b = cl.submit(work, X, LABELS, pure=False).result()
        t_dask = time.perf_counter() - t
    print(f"dask LocalCluster, 2 workers x 1 thread: {t_dask:.1f} s; same result: {a == b}; "
          f"speed-up {t_local / t_dask:.2f}x", flush=True)


if __name__ == "__main__":
    main()
