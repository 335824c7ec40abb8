"""Benchmark: the stock per-image InsightFace loop against this project's extraction pipeline.

Both sides use the same recogniser (by default a random-weight IResNet-50 with the exact
architecture and I/O of InsightFace's ``w600k_r50.onnx``, :mod:`bench.r50_model`: ArcFace-sized
compute, meaningless embeddings) and the same SCRFD detector file, on the same JPEG files.

(a) **stock loop**, ``FaceAnalysis.get`` style: ``cv2.imread``, detection at 640, then the
    recogniser once per detected face, one image at a time, onnxruntime's default threading;
(b) **pipeline**: one extraction worker (:class:`analysis.embedding.face_worker._Worker`) doing
    what a worker of ``extract_embeddings`` does per chunk: reduced decoding and detection in
    a thread pool overlapped with alignment and batched recognition.

Each side's start-up (model loading, session creation) is timed apart, then a few warm-up
images run untimed, then the whole image list is timed: the images/s printed are warm steady
state. The providers every session really used are printed next to the figures, with the peak
memory (RSS, and GPU memory/utilisation sampled from ``nvidia-smi`` when there is one) and the
time 39,327 images (the FRGC study) would take at that rate, next to the seed's 2 h 30.

``--end-to-end`` adds the cold ``extract_embeddings`` wall time (manifest, worker start-up,
checkpoints, store) for ``--devices``, and with ``--multi-gpu`` the same for every visible GPU.

Examples
--------
CPU, R50-sized recogniser (built once under the cache folder), 48 images::

    python bench/bench_extract.py --n-images 48

GPU (onnxruntime-gpu installed), one GPU against the stock loop on that GPU, then all GPUs::

    python bench/bench_extract.py --devices cuda:0 --stock-providers CUDAExecutionProvider,CPUExecutionProvider \\
        --n-images 2000 --batch-size 256 --decode-threads 12 --end-to-end --multi-gpu
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.embedding import devices as dev  # noqa: E402
from analysis.embedding.datasets import FolderDatasetOptions, build_manifest  # noqa: E402
from analysis.embedding.extract import ExtractionParams, extract_embeddings, plan_chunks, resolve_detector  # noqa: E402
from analysis.embedding.face_worker import _Job, _Worker  # noqa: E402
from analysis.embedding.images import IMAGE_EXTENSIONS  # noqa: E402
from analysis.embedding.networks import ArcFaceOptions, DlibOptions  # noqa: E402

DEFAULT_IMAGES = REPO.parent / "shared" / "data" / "celebrity-faces"
DEFAULT_DETECTOR = REPO.parent / "shared" / "models" / "scrfd" / "scrfd_500m.onnx"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "face-atlas-bench"
FRGC_IMAGES, SEED_SECONDS = 39_327, 2.5 * 3600


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder per identity (default: celebrity-faces)")
    ap.add_argument("--n-images", type=int, default=48, help="images timed, spread evenly over the sorted list; "
                    "repeated when the folder holds fewer")
    ap.add_argument("--warmup", type=int, default=4, help="images run untimed first, on each side")
    ap.add_argument("--detector", type=Path, default=DEFAULT_DETECTOR, help="SCRFD/RetinaFace ONNX file")
    ap.add_argument("--recognizer", default="r50",
                    help="'r50' (random IResNet-50, w600k_r50 architecture), 'tiny', 'dlib', or an ArcFace ONNX file")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the R50 file is built once")
    ap.add_argument("--stock-det-size", type=int, default=640, help="stock loop detector size (FaceAnalysis README: 640)")
    ap.add_argument("--pipeline-det-sizes", default="160,320", help="pipeline detector sizes (comma separated)")
    ap.add_argument("--devices", default="cpu", help="pipeline device: cpu or cuda:N (one worker); e2e: any plan")
    ap.add_argument("--stock-providers", default="CPUExecutionProvider",
                    help="onnxruntime providers of the stock loop (comma separated)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--decode-threads", type=int, default=4)
    ap.add_argument("--det-batch", type=int, default=0, help="pipeline images per detector call (0: 32 on GPUs)")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"),
                    help="pipeline recogniser precision (auto: fp16 on GPUs, bf16 on AMX CPUs via OpenVINO, each "
                         "only when within cosine 0.999 of fp32)")
    ap.add_argument("--variants", default="",
                    help="several pipelines per round, as engine:precision pairs, e.g. "
                         "onnxruntime:fp32,openvino:fp32,auto:auto (engine: [extraction] cpu_engine)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate (a) and (b) this many times (a shared machine's load drifts); each round printed")
    ap.add_argument("--skip-stock", action="store_true", help="time the pipeline only")
    ap.add_argument("--end-to-end", action="store_true", help="also time extract_embeddings cold (start-up included)")
    ap.add_argument("--multi-gpu", action="store_true", help="with --end-to-end: also every visible GPU at once")
    return ap.parse_args(argv)


def pick_images(folder: Path, n: int) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise SystemExit(f"no images under {folder}")
    if n <= len(files):
        idx = np.unique(np.linspace(0, len(files) - 1, num=n).round().astype(int))
        return [files[i] for i in idx]
    return [files[i % len(files)] for i in range(n)]


def link_dataset(files: list[Path], dest: Path) -> Path:
    """A folder-per-identity dataset of symbolic links to ``files`` (no copying; repeats get a suffix)."""
    for k, f in enumerate(files):
        target = dest / f.parent.name / f"{k:06d}-{f.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(f.resolve(), target)
    return dest


class GpuSampler:
    """Peak GPU memory (MiB) and mean utilisation (%) from ``nvidia-smi``, sampled every 0.5 s."""

    def __init__(self) -> None:
        self.smi = shutil.which("nvidia-smi")
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                out = subprocess.run([self.smi, "--query-gpu=memory.used,utilization.gpu", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5).stdout
                rows = [[float(v) for v in line.split(",")] for line in out.strip().splitlines() if "," in line]
                if rows:
                    self.samples.append((max(r[0] for r in rows), max(r[1] for r in rows)))
            except (OSError, ValueError, subprocess.SubprocessError):
                return

    def __enter__(self):
        if self.smi:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.smi:
            self._thread.join(timeout=5)

    def summary(self) -> str:
        if not self.samples:
            return "no GPU sampled"
        mem = max(s[0] for s in self.samples)
        util = sum(s[1] for s in self.samples) / len(self.samples)
        return f"GPU peak memory {mem:.0f} MiB, mean utilisation {util:.0f}% (busiest GPU)"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------------------------
# (a) the stock loop
# --------------------------------------------------------------------------------------------


def stock_loop(files, warmup: int, detector: Path, recognizer: str, rec_path: Path | None, det_size: int,
               providers: list[str]):
    """FaceAnalysis.get on each image; (seconds, images with an embedding, faces embedded, load s, providers)."""
    import cv2
    from insightface.app import FaceAnalysis

    t_load = time.perf_counter()
    pack = Path(tempfile.mkdtemp(prefix="stock-pack-"))
    os.symlink(detector.resolve(), pack / "det.onnx")
    modules = ["detection"]
    if recognizer != "dlib":
        os.symlink(rec_path.resolve(), pack / "rec.onnx")
        modules.append("recognition")
    ctx = 0 if providers[0] == "CUDAExecutionProvider" else -1
    app = FaceAnalysis(name=str(pack), allowed_modules=modules, providers=providers)
    app.prepare(ctx_id=ctx, det_size=(det_size, det_size))
    if recognizer == "dlib":
        import dlib

        from analysis.embedding.faces import dlib_model_file

        sp = dlib.shape_predictor(str(dlib_model_file("pose_predictor_five_point_model_location")))
        rec = dlib.face_recognition_model_v1(str(dlib_model_file("face_recognition_model_location")))
    load = time.perf_counter() - t_load

    def one(f):
        img = cv2.imread(str(f))
        if img is None:
            return 0, 0
        found = app.get(img)
        if recognizer == "dlib":
            rgb = np.ascontiguousarray(img[:, :, ::-1])
            for face in found:
                x1, y1, x2, y2 = (int(v) for v in face.bbox)
                face.embedding = np.array(rec.compute_face_descriptor(rgb, sp(rgb, dlib.rectangle(x1, y1, x2, y2))))
        n = sum(getattr(face, "embedding", None) is not None for face in found)
        return int(n > 0), n

    for f in files[:warmup]:
        one(f)
    t0 = time.perf_counter()
    counts = [one(f) for f in files]
    elapsed = time.perf_counter() - t0
    used = sorted({f"{name}: {m.session.get_providers()[0]}" for name, m in app.models.items()})
    shutil.rmtree(pack, ignore_errors=True)
    return elapsed, sum(c[0] for c in counts), sum(c[1] for c in counts), load, used


# --------------------------------------------------------------------------------------------
# (b) the pipeline, one worker, warm
# --------------------------------------------------------------------------------------------


def pipeline_steady(root: Path, n_warm: int, net_options, params: ExtractionParams, device: dev.Device):
    """One worker: (seconds, images with an embedding, start-up s, providers) over every image."""
    # root holds links to the photos (link_dataset): used only with follow_symlinks, as for any dataset
    manifest = build_manifest("bench", FolderDatasetOptions(root=root, follow_symlinks=True))
    paths = tuple(manifest.frame["path"].astype(str))
    work = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    chunks = plan_chunks(len(paths), params.chunk_size)
    job = _Job(str(root), paths, chunks, str(work), None, net_options, resolve_detector(params, net_options), params)
    try:
        t0 = time.perf_counter()
        worker = _Worker(job, device, dev.cpu_count())
        startup = time.perf_counter() - t0
        try:
            if n_warm:
                worker.process((0, min(n_warm, len(paths))))
            t0 = time.perf_counter()
            n_ok = sum(len(worker.process(c)[0]) for c in chunks)
            elapsed = time.perf_counter() - t0
            used = [r.line for r in worker.check_sessions()]
        finally:
            worker.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return elapsed, n_ok, startup, used or ["dlib on the CPU"]


def pipeline_end_to_end(root: Path, net_options, params: ExtractionParams):
    """``extract_embeddings`` cold: (wall s including start-up, images with an embedding, execution line)."""
    cache = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    try:
        t0 = time.perf_counter()
        manifest = build_manifest("bench", FolderDatasetOptions(root=root, follow_symlinks=True))
        res = extract_embeddings(manifest, "bench", "net", net_options, params, cache, progress=False)
        return time.perf_counter() - t0, res.embeddings.n_samples, res.embeddings.meta["execution"]
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def recogniser_alone(rec_path: Path, device: dev.Device, batch: int, n_faces: int) -> tuple[float, float]:
    """Seconds per face of the recogniser alone at batch 1 and at ``batch`` (random crops, warm).

    The bound on any pipeline's speed-up when the recogniser dominates: no decoding, detection
    or alignment, just the network, as the stock loop (batch 1) and the pipeline (``batch``) run it.
    """
    import onnxruntime

    providers, options = dev.onnx_provider_config(device)
    so = dev.session_options(0, cuda=device.is_cuda)
    session = onnxruntime.InferenceSession(str(rec_path), so, providers=providers, provider_options=options)
    name = session.get_inputs()[0].name
    out = []
    for bs in (1, batch):
        x = np.random.default_rng(0).normal(size=(bs, 3, 112, 112)).astype(np.float32)
        session.run(None, {name: x})
        reps = max(1, n_faces // bs)
        t0 = time.perf_counter()
        for _ in range(reps):
            session.run(None, {name: x})
        out.append((time.perf_counter() - t0) / (reps * bs))
    return out[0], out[1]


def _recogniser(args, work: Path):
    if args.recognizer == "r50":
        from bench.r50_model import build_r50

        path = build_r50(args.cache / "iresnet50_random.onnx")
        return path, ArcFaceOptions(model_path=path)
    if args.recognizer == "tiny":
        from tests.face_fixtures import build_tiny_recognizer

        path = build_tiny_recognizer(work / "tiny_recognizer.onnx")
        return path, ArcFaceOptions(model_path=path)
    if args.recognizer == "dlib":
        return None, DlibOptions()
    path = Path(args.recognizer).expanduser()
    return path, ArcFaceOptions(model_path=path)


def _estimate(rate: float) -> str:
    sec = FRGC_IMAGES / rate
    return f"{sec / 60:7.1f} min ({SEED_SECONDS / sec:5.1f}x faster than 2h30)"


def main(argv=None) -> None:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # scikit-image deprecation inside insightface
    files = pick_images(args.images, args.n_images)
    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    try:
        root = link_dataset(files, work / "data")
        rec_path, net = _recogniser(args, work)
        for f in files:  # warm the OS file cache for both contestants
            f.read_bytes()
        device = dev.plan_devices(args.devices, cuda_capable=args.recognizer != "dlib")[0]
        print(f"images: {len(files)} JPEG/PNG files from {args.images} (+{args.warmup} warm-up) | detector: "
              f"{args.detector.name} | recogniser: {args.recognizer}{'' if rec_path is None else ' ' + rec_path.name}")
        print(f"cores: {dev.cpu_count()} | onnxruntime providers: {', '.join(dev.onnx_providers())} | pipeline "
              f"device: {device.label} | load average before: {os.getloadavg()[0]:.2f}")
        sizes = tuple(int(s) for s in args.pipeline_det_sizes.split(","))
        params = ExtractionParams(detector="insightface", detector_path=args.detector, det_sizes=sizes,
                                  batch_size=args.batch_size, chunk_size=max(args.batch_size, 256),
                                  decode_threads=args.decode_threads, devices=args.devices, det_batch=args.det_batch,
                                  recognizer_precision=args.precision)
        variants = [("", params)]
        if args.variants:
            variants = []
            for pair in args.variants.split(","):
                engine, precision = pair.split(":")
                variants.append((f" [{engine}, {precision}]",
                                 dataclasses.replace(params, cpu_engine=engine, recognizer_precision=precision)))
        rows = []
        with GpuSampler() as gpu:
            for r in range(max(1, args.rounds)):
                tag = f"[{r + 1}] " if args.rounds > 1 else ""
                if not args.skip_stock:
                    sec, n_ok, n_faces, load, used = stock_loop(files, args.warmup, args.detector, args.recognizer,
                                                                rec_path, args.stock_det_size,
                                                                args.stock_providers.split(","))
                    rows.append((f"{tag}(a) stock FaceAnalysis.get loop, det {args.stock_det_size}", sec, n_ok, load))
                    print(f"    {tag}(a) {n_faces} faces embedded for {n_ok} images; providers: {'; '.join(used)}")
                for label, variant in variants:
                    sec, n_ok, startup, used = pipeline_steady(root, args.warmup, net, variant, device)
                    rows.append((f"{tag}(b) pipeline{label}, one worker on {device.label}, det {args.pipeline_det_sizes}",
                                 sec, n_ok, startup))
                    print(f"    {tag}(b{label}) providers: {'; '.join(used)}", flush=True)
        print(f"\n{'variant (warm steady state)':58s} {'start-up':>8s} {'seconds':>8s} {'img/s':>8s} {'embedded':>8s} "
              f"{'vs (a)':>7s}  39,327 images")
        base = None
        for name, sec, n_ok, startup in rows:
            if "(a)" in name:
                base = sec
            ratio = f"{base / sec:6.2f}x" if base else "   n/a"
            rate = len(files) / sec
            print(f"{name:58s} {startup:7.2f}s {sec:8.2f} {rate:8.2f} {n_ok:8d} {ratio:>7s}  {_estimate(rate)}")
        print(f"peak RSS {peak_rss_mib():.0f} MiB | {gpu.summary()} | load average after: {os.getloadavg()[0]:.2f}")
        if rec_path is not None and args.recognizer != "dlib":
            one, many = recogniser_alone(rec_path, device, args.batch_size, min(len(files), 4 * args.batch_size))
            print(f"recogniser alone (onnxruntime) on {device.label}: {one * 1000:.1f} ms/face at batch 1 (stock), "
                  f"{many * 1000:.1f} ms/face at batch {args.batch_size} (pipeline): batching alone gives "
                  f"{one / many:.2f}x; with one face per image no pipeline can beat the stock loop by more than "
                  f"(stock s/img) / {many:.3f} s")

        if args.end_to_end:
            plans = [args.devices]
            if args.multi_gpu and dev.cuda_device_count() > 1:
                plans.append("cuda")
            print(f"\n{'end to end, cold (start-up included)':58s} {'seconds':>8s} {'img/s':>8s}  execution")
            for plan in plans:
                with GpuSampler() as gpu:
                    sec, n_ok, execution = pipeline_end_to_end(root, net, dataclasses.replace(params, devices=plan))
                print(f"{'extract_embeddings devices=' + plan:58s} {sec:8.2f} {len(files) / sec:8.2f}  {execution}")
                print(f"    {gpu.summary()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
