"""Helpers for the face pipeline tests: a tiny ONNX recogniser, bad image files, sample data.

Nothing here is a pytest fixture (the lead owns ``conftest.py``); tests call these functions
with their ``tmp_path``.
"""
from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CELEBRITY = SHARED / "data" / "celebrity-faces"
SCRFD_500M = SHARED / "models" / "scrfd" / "scrfd_500m.onnx"
SCRFD_2_5G = SHARED / "models" / "scrfd" / "scrfd_2.5g.onnx"
MOBILEFACE = SHARED / "models" / "mobileface" / "mobileface-raw.onnx"


def need_celebrity() -> Path:
    if not CELEBRITY.is_dir():
        pytest.skip(f"test data {CELEBRITY} is absent (expected at ../shared/data from the repo root)")
    return CELEBRITY


def need_scrfd(path: Path = SCRFD_500M) -> Path:
    if not path.is_file():
        pytest.skip(f"SCRFD model {path} is absent (expected at ../shared/models/scrfd from the repo root)")
    return path


def need_mobileface() -> Path:
    if not MOBILEFACE.is_file():
        pytest.skip(f"recogniser {MOBILEFACE} is absent (expected at ../shared/models/mobileface from the repo root)")
    return MOBILEFACE


def large_identities_manifest(per_identity: int, tag: str):
    """A manifest of the first ``per_identity`` photos (sorted) of each of the 12 celebrity identities with
    about 100 photos; ``tag`` names the sub-manifest (its content hash decides the extraction cache key)."""
    from analysis.embedding.datasets import FolderDatasetOptions, build_manifest

    manifest = build_manifest("celebrity", FolderDatasetOptions(root=need_celebrity()))
    frame = manifest.frame
    counts = frame["identity"].value_counts()
    large = sorted(counts[counts >= 90].index)
    assert len(large) == 12, f"expected the 12 identities with about 100 photos, found {len(large)}"
    rows = frame[frame["identity"].isin(large)].groupby("identity", sort=True).head(per_identity)
    return type(manifest)(rows.reset_index(drop=True), manifest.root, manifest.skipped,
                          f"{tag}-{per_identity}-" + manifest.content_hash)


def need_dlib() -> None:
    pytest.importorskip("dlib", reason="dlib-bin is not installed")
    pytest.importorskip("face_recognition_models", reason="face-recognition-models is not installed")


def celebrity_sample(per_folder: int = 2, folders: tuple[str, ...] | None = None) -> list[Path]:
    """The first ``per_folder`` files (sorted) of some celebrity folders."""
    root = need_celebrity()
    names = folders or tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
    out = []
    for name in names:
        files = sorted(p for p in (root / name).iterdir() if p.is_file())
        out.extend(files[:per_folder])
    return out


def copy_sample(dest: Path, files: list[Path]) -> Path:
    """Copy files into ``dest/<identity folder>/<file>`` (an image dataset of our own)."""
    for f in files:
        target = dest / f.parent.name / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    return dest


def build_tiny_recognizer(path: Path, dim: int = 512, size: int = 112, seed: int = 0) -> Path:
    """Write a small ArcFace-like ONNX recogniser: float (N, 3, size, size) -> (N, dim).

    A strided convolution, a ReLU and a dense layer with fixed random weights: not a face
    recogniser, but the same signature as InsightFace's (dynamic batch axis), so that
    ``insightface.model_zoo.get_model`` routes it to ``ArcFaceONNX``. Node names avoid
    ``Sub``/``Mul`` so InsightFace picks the (x - 127.5) / 127.5 normalisation.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    channels, stride = 16, 16
    side = size // stride
    conv_w = rng.normal(0, 0.1, (channels, 3, stride, stride)).astype(np.float32)
    conv_b = rng.normal(0, 0.01, channels).astype(np.float32)
    fc_w = rng.normal(0, 1.0 / np.sqrt(channels * side * side), (channels * side * side, dim)).astype(np.float32)
    fc_b = np.zeros(dim, np.float32)
    nodes = [
        helper.make_node("Conv", ["input.1", "conv_w", "conv_b"], ["c1"], name="conv_0",
                         kernel_shape=[stride, stride], strides=[stride, stride]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu_0"),
        helper.make_node("Flatten", ["r1"], ["f1"], name="flatten_0", axis=1),
        helper.make_node("Gemm", ["f1", "fc_w", "fc_b"], ["embedding"], name="fc_0"),
    ]
    graph = helper.make_graph(
        nodes, "tiny_recognizer",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["None", dim])],
        initializer=[numpy_helper.from_array(a, n) for a, n in
                     ((conv_w, "conv_w"), (conv_b, "conv_b"), (fc_w, "fc_w"), (fc_b, "fc_b"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="face-atlas-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


# --------------------------------------------------------------------------------------------
# Bad files
# --------------------------------------------------------------------------------------------


def face_rgb(source: Path | None = None, size: int = 320) -> np.ndarray:
    """An RGB photograph with a face (a celebrity image), or a flat grey image when absent."""
    from PIL import Image

    if source is None:
        candidates = celebrity_sample(1, ("Brad Pitt",)) if CELEBRITY.is_dir() else []
        source = candidates[0] if candidates else None
    if source is None:
        return np.full((size, size, 3), 128, np.uint8)
    with Image.open(source) as im:
        return np.asarray(im.convert("RGB"))


def write_jpeg(path: Path, rgb: np.ndarray, exif_orientation: int | None = None, mode: str = "RGB") -> Path:
    from PIL import Image

    im = Image.fromarray(rgb)
    if mode != "RGB":
        im = im.convert(mode)
    kwargs = {}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "JPEG", quality=92, **kwargs)
    return path


def write_png16(path: Path, rgb: np.ndarray) -> Path:
    """A 16-bit grayscale PNG (Pillow mode I;16)."""
    from PIL import Image

    gray = np.asarray(Image.fromarray(rgb).convert("L"), np.uint16) * 257
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(gray)  # uint16 -> mode I;16
    assert im.mode.startswith("I"), im.mode
    im.save(path, "PNG")
    return path


def write_truncated(path: Path, rgb: np.ndarray, keep: float = 0.5) -> Path:
    buf = io.BytesIO()
    from PIL import Image

    Image.fromarray(rgb).save(buf, "JPEG", quality=92)
    data = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_bomb_png(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A tiny PNG whose header announces ``width x height`` pixels (a decompression bomb).

    Only the header is valid; a decoder that trusted it would allocate 30 GB.
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def write_image(path: Path, rgb: np.ndarray, fmt: str, **kwargs) -> Path:
    from PIL import Image

    try:
        import pillow_avif  # noqa: F401
    except ImportError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, fmt, **kwargs)
    return path
