"""The whole per-cell analysis suite on N x 512 synthetic embeddings: time per analysis, wall, peak memory.

Issue #14 target 2: a million rows (about 40,000 identities, about 25 images each) in at most
15 minutes and 8 GB on two cores, t-SNE and UMAP on their sample.

* The data are generated in a streaming way (:func:`make_data`): blocks of 2,000 identities from
  the project's synthetic generator (:mod:`analysis.embedding.synthetic`, each block with its own
  seed and its identities renamed ``B0003_Synthetic_Person_0042``), written straight into one
  ``.npy`` file of float32 vectors, so that generating a million rows never holds more than one
  block in float64.
* Every analysis of :func:`report.steps.cell_steps` that runs on a labelled cell (geometry,
  similarity with FNMR at FMR, identification, clustering, manifold with t-SNE and UMAP on its
  sample, classifiers, audit, differentials; not
  identity discovery, which runs on unlabelled cells only) runs with the study's default params
  in its own subprocess, one after the other, the vectors memory-mapped from the file. The set
  carries two seeded group columns for the differentials (:func:`bench_groups`: ``sex`` per
  identity, ``session`` per image).
  Each subprocess reports its compute time and its peak resident memory (``VmHWM``: data,
  libraries and everything the analysis allocated). The dataset step (cross-network) needs two
  networks and is not part of a one-cell suite.
* The table gives per analysis the time, the peak memory and the approximations it used (with
  their measured recall or agreement); then the total of the analysis times, the wall time of
  the whole suite (data loading and process start-up included, generation excluded) and the
  largest peak.

Usage::

    .venv/bin/python bench/bench_million.py --size 1000000            # the issue's run
    .venv/bin/python bench/bench_million.py --size 20000 --exact-max-rows 5000   # try the large-set paths small

``--exact-max-rows`` lowers every size threshold (``[similarity] exact_max_rows``,
``[clustering] assign_exact_max_rows``, ``[classifiers] knn_exact_max_rows``,
``[audit] exact_max_rows``) to exercise the large-set code on small data; ``--keep DIR`` keeps
(and reuses) the generated data. Not a test: nothing here asserts.
"""
from __future__ import annotations

import argparse
import dataclasses
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

BLOCK_IDENTITIES = 2000
MEAN_IMAGES = 25.0  # rows per identity of the default generator (measured: bench_analyses.py)
ORDER = ("geometry", "similarity", "identification", "clustering", "manifold", "classifiers", "audit",
         "differentials")


# --------------------------------------------------------------------------- data
def make_data(n_rows: int, folder: Path) -> dict:
    """Stream ``~n_rows`` synthetic 512-D rows into ``folder`` (vectors.npy, identities.npy, items.npy)."""
    from analysis.embedding.synthetic import SyntheticDatasetOptions, SyntheticNetworkOptions, generate

    folder.mkdir(parents=True, exist_ok=True)
    info_path = folder / "info.json"
    if info_path.exists():
        info = json.loads(info_path.read_text())
        if info.get("requested") == n_rows:
            return info
    n_id = max(2, int(round(n_rows / MEAN_IMAGES)))
    blocks = [min(BLOCK_IDENTITIES, n_id - s) for s in range(0, n_id, BLOCK_IDENTITIES)]
    parts_v, ids, items = [], [], []
    tmp_dir = folder / "parts"
    tmp_dir.mkdir(exist_ok=True)
    total = 0
    for b, size in enumerate(blocks):
        emb = generate(SyntheticDatasetOptions(n_identities=max(2, size), seed=b), {"a": SyntheticNetworkOptions()},
                       "bench", 0)["a"]
        part = tmp_dir / f"{b:04d}.npy"
        np.save(part, emb.vectors.astype(np.float32))
        parts_v.append((part, len(emb.vectors)))
        prefix = f"B{b:04d}_"
        ids.append(np.char.add(prefix, emb.identities.astype(str)))
        items.append(np.char.add(prefix, emb.items.astype(str)))
        total += len(emb.vectors)
        del emb
    out = np.lib.format.open_memmap(folder / "vectors.npy", mode="w+", dtype=np.float32, shape=(total, 512))
    at = 0
    for part, rows in parts_v:
        out[at : at + rows] = np.load(part)
        at += rows
        part.unlink()
    out.flush()
    del out
    tmp_dir.rmdir()
    identities = np.concatenate(ids)
    np.save(folder / "identities.npy", identities)
    np.save(folder / "items.npy", np.concatenate(items))
    info = {"requested": n_rows, "rows": int(total), "identities": int(len(np.unique(identities)))}
    info_path.write_text(json.dumps(info))
    return info


def bench_groups(identities: np.ndarray) -> tuple[tuple[str, np.ndarray], ...]:
    """Two seeded group columns for the differentials: ``sex`` per identity (2 values), ``session`` per image (3).

    Drawn from the identity codes and row positions alone, so the data files need no regeneration.
    """
    codes = np.unique(identities, return_inverse=True)[1]
    per_identity = np.random.default_rng([0, 0x5E7]).integers(0, 2, codes.max() + 1)
    sex = np.array(["female", "male"])[per_identity[codes]]
    session = np.array(["s1", "s2", "s3"])[np.random.default_rng([1, 0x5E7]).integers(0, 3, len(identities))]
    return (("sex", sex.astype(str)), ("session", session.astype(str)))


def load(folder: Path):
    from analysis.types import EmbeddingSet

    identities = np.load(folder / "identities.npy")
    return EmbeddingSet("bench", "a", np.load(folder / "vectors.npy", mmap_mode="r"), identities,
                        np.load(folder / "items.npy"), synthetic=True, groups=bench_groups(identities))


# --------------------------------------------------------------------------- worker
def _vmhwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _params(name: str, exact_max_rows: int | None):
    """The study's default params of analysis ``name`` (``[name]`` table left empty), thresholds optionally lowered."""
    from analysis.config import StudyConfig

    field = {f.name: f for f in dataclasses.fields(StudyConfig)}[name]
    params = field.default_factory()
    if exact_max_rows is not None:
        names = {f.name for f in dataclasses.fields(params)}
        changes = {k: exact_max_rows for k in ("exact_max_rows", "assign_exact_max_rows", "knn_exact_max_rows") if k in names}
        params = dataclasses.replace(params, **changes)
    return params


def _approximations(result) -> list[str]:
    """What approximations the result records, with their measured quality."""
    notes = []
    s = getattr(result, "impostor_sample", None)
    if s is not None:
        notes.append(f"impostor pairs sampled: {s.n_sampled:,d}")
    if getattr(result, "sampled", False) and hasattr(result, "impostor_pairs_binned"):  # differentials
        notes.append(f"non-mated pairs sampled per pair of groups: {result.impostor_pairs_binned:,d} for the thresholds, "
                     f"{len(result.columns)} columns")
    a = getattr(result, "knn_ann", None)
    if a is not None:
        notes.append(f"k-NN {a.method} nlist {a.nlist} nprobe {a.nprobe}: recall {a.recall:.4f} "
                     f"(first {a.first_k - 1}: {a.recall_first:.4f})"
                     + (f", leave-one-out {a.vote_k}-NN vote agreement {a.vote_agreement:.4f}"
                        if a.vote_agreement is not None else ""))
    c = getattr(result, "centroid_search", None)
    if c is not None:
        notes.append(f"centroid index nprobe {c.nprobe}/{c.nlist}: agreement >= {c.agreement:.4f}")
    sampling = getattr(result, "sampling", None)
    for k, srch in getattr(sampling, "assignment", ()) or ():
        notes.append(f"KMeans k={k} assignment nprobe {srch.nprobe}/{srch.nlist}: agreement {srch.agreement:.4f}")
    if getattr(sampling, "dendrogram_identities", 0):
        notes.append(f"dendrogram on {sampling.dendrogram_identities:,d} identities")
    for srch in getattr(result, "centroid_searches", ()) or ():
        notes.append(f"audit: {srch.method}: agreement {srch.agreement:.4f}")
    if getattr(result, "suspect_agreement", None) is not None:
        notes.append(f"audit suspect flag agreement {result.suspect_agreement:.4f}")
    if getattr(result, "pair_sample_identities", 0):
        notes.append(f"centroid-pair distribution on {result.pair_sample_identities:,d} identities")
    dup = getattr(getattr(result, "duplicates", None), "search", None)
    if dup is not None:
        notes.append(f"near-duplicate IVF nprobe {dup.nprobe}/{dup.nlist}: recall {dup.recall:.4f}")
    op = getattr(result, "operating_points", None)
    if op is not None and hasattr(op, "fnmr_at_fmr"):  # the similarity's (the differentials' is a tuple of thresholds)
        est = [r for r in op.fnmr_at_fmr if r.estimable]
        if est:
            notes.append(f"FNMR at FMR {min(r.fmr for r in est):g}: {min(est, key=lambda r: r.fmr).fnmr:.4f}")
    srch = getattr(result, "search", None)
    if srch is not None and hasattr(srch, "rank_agreement"):
        text = (f"identification {srch.method}" + (f" nprobe {srch.nprobe}/{srch.nlist}: rank agreement "
                f"{srch.rank_agreement:.4f}, rank-1 candidate {srch.top1_agreement:.4f}, recall {srch.recall:.4f}"
                if srch.method != "exact" else "") + f"; rank-1 {result.rank1.estimate:.4f}")
        if result.open_set is not None:
            text += f"; {result.open_set.n_nonmated:,d} non-mated searches scored"
        notes.append(text)
    m = getattr(result, "matrix_identities", None)
    if m is None and getattr(result, "l2", None) is not None:
        m = getattr(result.l2, "matrix_identities", None)
    if m is not None:
        notes.append(f"centroid matrices on {len(m):,d} identities")
    return notes


def worker(name: str, folder: Path, exact_max_rows: int | None) -> dict:
    from report.steps import cell_steps

    step = {s.name: s for s in cell_steps()}[name]
    params = _params(name, exact_max_rows)
    emb = load(folder)
    t0 = time.perf_counter()
    result = step.compute(emb, params, 0)
    seconds = time.perf_counter() - t0
    return {"name": name, "seconds": seconds, "peak_mib": _vmhwm_mib(), "notes": _approximations(result)}


# --------------------------------------------------------------------------- driver
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--exact-max-rows", type=int, default=None, help="lower every exact/approximate size threshold")
    ap.add_argument("--only", nargs="*", help="run only these analyses")
    ap.add_argument("--keep", help="folder for the generated data (kept and reused)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per analysis")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.data), args.exact_max_rows)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-million-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        t0 = time.perf_counter()
        info = make_data(args.size, folder)
        print(f"{info['rows']:,d} x 512 rows, {info['identities']:,d} identities; generated/loaded in "
              f"{time.perf_counter() - t0:.0f} s; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
        rows = []
        wall0 = time.perf_counter()
        for name in ORDER:
            if args.only and name not in args.only:
                continue
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--data", str(folder)]
            if args.exact_max_rows is not None:
                cmd += ["--exact-max-rows", str(args.exact_max_rows)]
            t1 = time.perf_counter()
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT)
            except subprocess.TimeoutExpired:
                rows.append({"name": name, "status": f"timed out after {args.timeout:.0f} s"})
                print(f"{name:12s} timed out", flush=True)
                continue
            if done.returncode != 0:
                rows.append({"name": name, "status": "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:200]})
                print(f"{name:12s} failed\n{done.stderr[-3000:]}", flush=True)
                continue
            r = {**json.loads(done.stdout.strip().splitlines()[-1]), "status": "ok", "process": time.perf_counter() - t1}
            rows.append(r)
            print(f"{name:12s} {r['seconds']:8.1f} s (process {r['process']:.1f} s)  peak {r['peak_mib']:8.0f} MiB  "
                  f"{'; '.join(r['notes'])}", flush=True)
        wall = time.perf_counter() - wall0
    ok = [r for r in rows if r["status"] == "ok"]
    print()
    print(f"| analysis | time | peak memory (VmHWM) | approximations (measured) |")
    print("|---|---:|---:|---|")
    for r in rows:
        if r["status"] == "ok":
            print(f"| {r['name']} | {r['seconds']:.1f} s | {r['peak_mib'] / 1024:.2f} GiB | {'; '.join(r['notes']) or 'exact'} |")
        else:
            print(f"| {r['name']} | {r['status']} | | |")
    total = sum(r["seconds"] for r in ok)
    peak = max((r["peak_mib"] for r in ok), default=float("nan"))
    print(f"| **sum of analyses** | **{total:.1f} s** | | |")
    print(f"| **suite wall (loading and start-up included)** | **{wall:.1f} s** | **{peak / 1024:.2f} GiB** (largest) | |")
    return 0 if len(ok) == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
