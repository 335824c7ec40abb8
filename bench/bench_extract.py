"""Benchmark: the stock per-image InsightFace loop against this project's extraction pipeline.

On the same images it times

(a) the stock loop, ``FaceAnalysis.get`` style: ``cv2.imread``, then the detector and the
    recogniser one image (and one face) at a time, with onnxruntime's default threading;
(b) :func:`analysis.embedding.extract.extract_embeddings`, end to end (manifest with file hashing, model
    loading, parallel/reduced decoding, detection, alignment, batched recognition, chunk
    checkpoints and the final store write), once with the stock loop's detector size and once
    with the pipeline's default detector sizes;

and prints images/s for each and the ratios. Numbers are measured here, never estimated.

Examples
--------
CPU, SCRFD-500M detector and the small test recogniser (built on the fly)::

    python bench/bench_extract.py --n-images 200

dlib ResNet recogniser, 2.5G detector::

    python bench/bench_extract.py --recognizer dlib --detector ../shared/models/scrfd/scrfd_2.5g.onnx

GPU (onnxruntime-gpu), a real ArcFace model::

    python bench/bench_extract.py --recognizer ~/.insightface/models/buffalo_l/w600k_r50.onnx \\
        --devices cuda --stock-providers CUDAExecutionProvider,CPUExecutionProvider --batch-size 128
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.embedding.datasets import FolderDatasetOptions, build_manifest  # noqa: E402
from analysis.embedding.extract import ExtractionParams, extract_embeddings  # noqa: E402
from analysis.embedding.images import IMAGE_EXTENSIONS  # noqa: E402
from analysis.embedding.networks import ArcFaceOptions, DlibOptions  # noqa: E402

DEFAULT_IMAGES = REPO.parent / "shared" / "data" / "celebrity-faces"
DEFAULT_DETECTOR = REPO.parent / "shared" / "models" / "scrfd" / "scrfd_500m.onnx"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder per identity (default: celebrity-faces)")
    ap.add_argument("--n-images", type=int, default=200, help="images used, spread evenly over the sorted list")
    ap.add_argument("--detector", type=Path, default=DEFAULT_DETECTOR, help="SCRFD/RetinaFace ONNX file")
    ap.add_argument("--recognizer", default="tiny",
                    help="'tiny' (small ONNX recogniser built here), 'dlib', or an ArcFace ONNX file")
    ap.add_argument("--stock-det-size", type=int, default=640, help="stock loop detector size (FaceAnalysis README: 640)")
    ap.add_argument("--pipeline-det-sizes", default="160,320", help="pipeline default detector sizes (comma separated)")
    ap.add_argument("--devices", default="cpu", help="pipeline devices: cpu, cuda, cuda:0,1, auto")
    ap.add_argument("--stock-providers", default="CPUExecutionProvider",
                    help="onnxruntime providers of the stock loop (comma separated)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--decode-threads", type=int, default=4)
    ap.add_argument("--cpu-workers", type=int, default=0, help="pipeline CPU worker processes (0: automatic)")
    ap.add_argument("--skip-stock", action="store_true", help="time the pipeline only")
    return ap.parse_args(argv)


def pick_images(folder: Path, n: int) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise SystemExit(f"no images under {folder}")
    idx = np.unique(np.linspace(0, len(files) - 1, num=min(n, len(files))).round().astype(int))
    return [files[i] for i in idx]


def link_dataset(files: list[Path], dest: Path) -> Path:
    """A folder-per-identity dataset of symbolic links to ``files`` (no copying)."""
    for f in files:
        target = dest / f.parent.name / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(f.resolve(), target)
    return dest


# --------------------------------------------------------------------------------------------
# (a) the stock loop
# --------------------------------------------------------------------------------------------


def stock_loop(files, detector: Path, recognizer: str, rec_path: Path | None, det_size: int, providers: list[str]):
    """FaceAnalysis.get on each image; returns (seconds, n_images_with_embedding, load_seconds)."""
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

    n_ok = 0
    t0 = time.perf_counter()
    for f in files:
        img = cv2.imread(str(f))
        if img is None:
            continue
        found = app.get(img)
        if recognizer == "dlib":
            rgb = np.ascontiguousarray(img[:, :, ::-1])
            for face in found:
                x1, y1, x2, y2 = (int(v) for v in face.bbox)
                shape = sp(rgb, dlib.rectangle(x1, y1, x2, y2))
                face.embedding = np.array(rec.compute_face_descriptor(rgb, shape))
        n_ok += int(any(getattr(face, "embedding", None) is not None for face in found))
    elapsed = time.perf_counter() - t0
    shutil.rmtree(pack, ignore_errors=True)
    return elapsed, n_ok, load


# --------------------------------------------------------------------------------------------
# (b) this pipeline
# --------------------------------------------------------------------------------------------


def pipeline(root: Path, net_options, params: ExtractionParams):
    cache = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    try:
        t0 = time.perf_counter()
        manifest = build_manifest("bench", FolderDatasetOptions(root=root))
        res = extract_embeddings(manifest, "bench", "net", net_options, params, cache, progress=False)
        return time.perf_counter() - t0, res.embeddings.n_samples
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main(argv=None) -> None:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # scikit-image deprecation inside insightface
    files = pick_images(args.images, args.n_images)
    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    try:
        root = link_dataset(files, work / "data")
        rec_path = None
        if args.recognizer == "tiny":
            sys.path.insert(0, str(REPO))
            from tests.face_fixtures import build_tiny_recognizer

            rec_path = build_tiny_recognizer(work / "tiny_recognizer.onnx")
            net = ArcFaceOptions(model_path=rec_path)
        elif args.recognizer == "dlib":
            net = DlibOptions()
        else:
            rec_path = Path(args.recognizer).expanduser()
            net = ArcFaceOptions(model_path=rec_path)
        for f in files:  # warm the OS file cache for both contestants
            f.read_bytes()

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print(f"images: {len(files)} from {args.images} | detector: {args.detector.name} | recogniser: {args.recognizer}")
        print(f"cores: {cores} | load average before: {os.getloadavg()[0]:.2f}")
        common = dict(detector="insightface", detector_path=args.detector, batch_size=args.batch_size,
                      chunk_size=args.chunk_size, decode_threads=args.decode_threads, devices=args.devices,
                      cpu_workers=args.cpu_workers)
        rows = []
        if not args.skip_stock:
            sec, n_ok, load = stock_loop(files, args.detector, args.recognizer, rec_path, args.stock_det_size,
                                         args.stock_providers.split(","))
            rows.append((f"(a) stock FaceAnalysis.get loop, det {args.stock_det_size}", sec, n_ok))
            print(f"    (stock model loading {load:.2f} s, not counted)")
        same = ExtractionParams(det_sizes=(args.stock_det_size,), **common)
        sec, n_ok = pipeline(root, net, same)
        rows.append((f"(b) pipeline, det {args.stock_det_size} (same detector work)", sec, n_ok))
        sizes = tuple(int(s) for s in args.pipeline_det_sizes.split(","))
        sec, n_ok = pipeline(root, net, ExtractionParams(det_sizes=sizes, **common))
        rows.append((f"(b') pipeline defaults, det {','.join(map(str, sizes))}", sec, n_ok))

        print(f"{'variant':58s} {'seconds':>8s} {'images/s':>9s} {'embedded':>9s} {'vs (a)':>7s}")
        base = rows[0][1] if not args.skip_stock else None
        for name, sec, n_ok in rows:
            ratio = f"{base / sec:6.2f}x" if base else "   n/a"
            print(f"{name:58s} {sec:8.2f} {len(files) / sec:9.2f} {n_ok:9d} {ratio:>7s}")
        print(f"load average after: {os.getloadavg()[0]:.2f} (other processes share these cores)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
