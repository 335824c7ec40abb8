"""Analyses stage only, side by side: ``[study] backend`` serial (the old path) vs loky (vs dask).

    .venv/bin/python bench/bench_backends.py serial loky

Runs :func:`report.study.compute_all` on the demo's two smallest subsets (``balanced-6``,
``range-5-10``) with a fresh cache per backend and prints the wall time and the load average.
"""
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.config import load_config  # noqa: E402
from analysis.embedding.store import EmbeddingStore  # noqa: E402
from report.study import BuildLog, compute_all, load_inputs  # noqa: E402


def main(backends):
    work = Path(tempfile.mkdtemp(prefix="atlas-bench-backends-"))
    try:
        for backend in backends:
            cache = work / backend
            cfg = load_config(ROOT / "configs" / "demo.toml", overrides={"cache_dir": cache, "output_dir": cache / "out"})
            cfg = dataclasses.replace(cfg, subsets=("balanced-6", "range-5-10"),
                                      study=dataclasses.replace(cfg.study, backend=backend))
            build = BuildLog()
            inputs = load_inputs(cfg, EmbeddingStore(cache), build, False)
            load = os.getloadavg()[0]
            t = time.perf_counter()
            compute_all(cfg, inputs, build, False)
            print(f"{backend}: {time.perf_counter() - t:.1f} s for {len(build.computed) - len(inputs[0].embeddings)} "
                  f"analyses, load average at start {load:.1f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["serial", "loky"])
