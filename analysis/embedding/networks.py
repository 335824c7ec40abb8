"""Embedding networks behind one interface, chosen by name from a registry.

Each network ``kind`` has a frozen options dataclass registered in :data:`NETWORKS`.
``synthetic`` networks are views of the synthetic demo space (:mod:`analysis.embedding.synthetic`);
image networks turn aligned face crops into raw embedding vectors through an
:class:`Embedder` built by :func:`create_embedder`:

=========  =======================================================================  ====
kind       model                                                                    dim
=========  =======================================================================  ====
arcface    InsightFace ArcFace ONNX: ``buffalo_l`` (w600k_r50), ``antelopev2``      512
           (glintr100), ``buffalo_s`` (w600k_mbf), or any ONNX file (``model_path``)
dlib       dlib ResNet (``dlib_face_recognition_resnet_model_v1``), offline from    128
           PyPI (``face-recognition-models``)
facenet    FaceNet InceptionResnetV1 from ``facenet-pytorch`` (optional)           512
=========  =======================================================================  ====

Vectors are returned raw (float32, not L2-normalised), so that norm distributions can be
studied. An embedder's :meth:`~Embedder.identity` (model id, sha256 of the weights file,
preprocessing, alignment) enters the cache key and the provenance of every embedding set.
ArcFace packs are downloaded by InsightFace into ``~/.insightface/models`` on first use.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from analysis.embedding.alignment import Aligner, DlibChipAligner, SimilarityAligner
from analysis.embedding.devices import Device, onnx_provider_config, providers_for, session_options
from analysis.embedding.recogniser_runtime import choose_runtime
from analysis.embedding.sessions import lock_session
from analysis.embedding.faces import dlib_model_file, file_sha256
from analysis.embedding.synthetic import SyntheticNetworkOptions

#: InsightFace model packs with a recogniser: name -> (pack, recogniser file in the pack).
ARCFACE_PACKS: dict[str, tuple[str, str]] = {
    "buffalo_l": ("buffalo_l", "w600k_r50.onnx"),
    "antelopev2": ("antelopev2", "glintr100.onnx"),
    "buffalo_s": ("buffalo_s", "w600k_mbf.onnx"),
}


@dataclass(frozen=True)
class ArcFaceOptions:
    """``kind = "arcface"``: an InsightFace ArcFace ONNX recogniser.

    Parameters
    ----------
    model : str, default="buffalo_l"
        Model pack name (``buffalo_l``, ``antelopev2``, ``buffalo_s``), downloaded by
        InsightFace into ``model_dir`` when missing. Ignored when ``model_path`` is set.
    model_path : Path, optional
        A local ONNX recogniser (1x3xSxS float input, one output), relative to the config.
    model_dir : str, default="~/.insightface"
        InsightFace's model root (packs live in ``<model_dir>/models/<pack>``).
    providers : tuple of str, default=()
        onnxruntime providers forcing a choice (``["CPUExecutionProvider"]``); empty means
        the extraction's device plan (``[extraction] devices``) decides.
    detector_path : Path, optional
        An SCRFD/RetinaFace ONNX detector for this network only, overriding ``[extraction]
        detector`` and ``detector_path``: an ArcFace network on its own detector's five landmarks
        next to dlib's ResNet on dlib's detector in one study (``configs/celebrity-faces.toml``).
    """

    FAMILY: ClassVar[str] = "images"

    model: str = "buffalo_l"
    model_path: Path | None = None
    model_dir: str = "~/.insightface"
    providers: tuple[str, ...] = ()
    detector_path: Path | None = None

    def __post_init__(self) -> None:
        if self.model_path is None and self.model not in ARCFACE_PACKS and not self.model.endswith(".onnx"):
            raise ValueError(
                f"unknown ArcFace model {self.model!r}; valid names: {', '.join(sorted(ARCFACE_PACKS))}, "
                f"or set model_path to an ONNX file"
            )


@dataclass(frozen=True)
class DlibOptions:
    """``kind = "dlib"``: dlib's ResNet face descriptor (128-D), offline.

    Parameters
    ----------
    model_path : Path, optional
        Weights file; default: the one shipped by ``face-recognition-models``.
    num_jitters : int, default=0
        dlib's test-time augmentation (random jitter, averaged): slower, not bit-reproducible.
    padding : float, default=0.25
        Chip padding (dlib's training value).
    """

    FAMILY: ClassVar[str] = "images"

    model_path: Path | None = None
    num_jitters: int = 0
    padding: float = 0.25

    def __post_init__(self) -> None:
        if self.num_jitters < 0:
            raise ValueError("num_jitters must be >= 0")


@dataclass(frozen=True)
class FaceNetOptions:
    """``kind = "facenet"``: FaceNet (InceptionResnetV1) from ``facenet-pytorch``.

    Parameters
    ----------
    pretrained : {"vggface2", "casia-webface"}, default="vggface2"
        Weights downloaded by facenet-pytorch on first use.
    input_size : int, default=160
    """

    FAMILY: ClassVar[str] = "images"

    pretrained: Literal["vggface2", "casia-webface"] = "vggface2"
    input_size: int = 160


#: kind -> options dataclass.
NETWORKS: dict[str, type] = {
    "synthetic": SyntheticNetworkOptions,
    "arcface": ArcFaceOptions,
    "dlib": DlibOptions,
    "facenet": FaceNetOptions,
}


def options_type(kind: str) -> type:
    """Options dataclass of network ``kind``; ValueError listing the valid kinds otherwise."""
    try:
        return NETWORKS[kind]
    except KeyError:
        raise ValueError(f"unknown network kind {kind!r}; valid kinds: {', '.join(sorted(NETWORKS))}") from None


# --------------------------------------------------------------------------------------------
# Embedders
# --------------------------------------------------------------------------------------------


class Embedder:
    """Aligned face crops in, raw embedding vectors out.

    Attributes
    ----------
    name : str
        Model id (``arcface:w600k_r50``, ``dlib:resnet_v1`` ...).
    dim : int
        Output dimension.
    input_size : int
        Side of the square aligned crop ``embed`` expects.
    alignment : str
        ``similarity`` (5-point ArcFace template) or ``dlib-chip``.
    preprocessing : str
        Pixel preprocessing id (recorded in the provenance).
    weights_sha256 : str
        SHA-256 of the weights file.
    """

    name: str = "embedder"
    dim: int = 0
    input_size: int = 112
    alignment: str = "similarity"
    preprocessing: str = ""
    weights_sha256: str = ""

    def embed(self, faces: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        """Embed a batch.

        Parameters
        ----------
        faces : ndarray of shape (n, input_size, input_size, 3), uint8
            Aligned RGB crops.

        Returns
        -------
        ndarray of shape (n, dim), float32
            Raw (un-normalised) vectors.
        """
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """What determines the vectors: enters cache keys and provenance."""
        return {
            "model": self.name,
            "weights_sha256": self.weights_sha256,
            "dim": int(self.dim),
            "input_size": int(self.input_size),
            "alignment": self.alignment,
            "preprocessing": self.preprocessing,
        }

    def sessions(self) -> list[tuple[str, Any]]:
        """onnxruntime sessions as ``(what, session)`` (none for dlib and torch networks)."""
        return []

    def make_aligner(self) -> Aligner:
        """The aligner producing the crops this network expects."""
        if self.alignment == "dlib-chip":
            return DlibChipAligner(self.input_size, getattr(self, "padding", 0.25))
        return SimilarityAligner(self.input_size)

    def _check(self, faces: np.ndarray) -> np.ndarray:
        faces = np.asarray(faces)
        s = self.input_size
        if faces.ndim != 4 or faces.shape[1:] != (s, s, 3) or faces.dtype != np.uint8:
            raise ValueError(f"{self.name} expects uint8 RGB crops of shape (n, {s}, {s}, 3), got {faces.dtype} {faces.shape}")
        return faces


class ArcFaceEmbedder(Embedder):
    """ArcFace ONNX recogniser run through InsightFace's ``ArcFaceONNX`` loader.

    InsightFace decides the pixel normalisation from the graph ((x - 127.5) / 127.5 for
    PyTorch exports, none for MXNet exports that normalise inside); batches go through the
    session in one call when the batch axis is dynamic, one crop at a time otherwise. On the
    CPU the same ONNX file runs on OpenVINO when it is installed (``cpu_engine``; 1.2x faster
    in float32, 2.8x in bfloat16 on AMX CPUs: :mod:`analysis.embedding.openvino_engine`).
    """

    alignment = "similarity"

    def __init__(self, model_path: Path, device: Device = Device("cpu"), threads: int = 0,
                 providers: tuple[str, ...] = (), precision: str = "fp32", cpu_engine: str = "auto") -> None:
        try:
            from insightface.model_zoo import get_model
        except ImportError as exc:
            raise ImportError("ArcFace networks need insightface and onnxruntime: pip install insightface onnxruntime") from exc
        self.model_path = Path(model_path)
        # Explicit providers keep this worker's device_id (all workers used to land on GPU 0).
        prov, prov_opts = providers_for(tuple(providers), device) if providers else onnx_provider_config(device)
        model = get_model(str(self.model_path), providers=prov, provider_options=prov_opts,
                          sess_options=session_options(threads, cuda=device.is_cuda))
        if model is None or getattr(model, "taskname", None) != "recognition":
            raise ValueError(
                f"{str(self.model_path)!r} is not a recognition model for InsightFace "
                f"(got {type(model).__name__}); expected a 1x3xSxS -> 1xD ArcFace ONNX file"
            )
        if not device.is_cuda and not providers:
            model.prepare(-1)
        self.what = f"recogniser {self.model_path.name}"
        lock_session(model.session, device, self.what)
        self.model = model
        self.input_size = int(model.input_size[0])
        self.dim = int(model.output_shape[-1])
        self.mean, self.std = float(model.input_mean), float(model.input_std)
        self.preprocessing = f"rgb,(x-{self.mean:g})/{self.std:g},nchw-float32"
        self.weights_sha256 = file_sha256(self.model_path)
        self.name = f"arcface:{self.model_path.stem}"
        batch_axis = model.input_shape[0]
        self.dynamic_batch = not (isinstance(batch_axis, int) and batch_axis == 1)
        rt = choose_runtime(self.model_path, model.session, device, self.what, self.input_size, threads=threads,
                            providers=prov, provider_options=prov_opts, explicit_providers=bool(providers),
                            precision=precision, cpu_engine=cpu_engine)
        self.session, self.run_batch, self.what = rt.session, rt.run_batch, rt.what
        self.engine, self.precision = rt.engine, rt.precision

    def sessions(self) -> list[tuple[str, Any]]:
        """``(what, session)`` pairs to check once per chunk."""
        return [(self.what, self.session)]

    def embed(self, faces: np.ndarray) -> np.ndarray:
        faces = self._check(faces)
        if len(faces) == 0:
            return np.zeros((0, self.dim), np.float32)
        # ArcFaceONNX.get_feat swaps BGR->RGB in blobFromImages: the network eats RGB.
        blob = (faces.astype(np.float32) - self.mean) / self.std
        blob = np.ascontiguousarray(blob.transpose(0, 3, 1, 2))
        if self.dynamic_batch:
            out = self.run_batch(blob)
        else:
            out = np.concatenate([self.run_batch(blob[i:i + 1]) for i in range(len(blob))])
        return np.asarray(out, np.float32).reshape(len(faces), -1)


class DlibEmbedder(Embedder):
    """dlib's ResNet-34 face descriptor on 150x150 ``get_face_chip`` crops."""

    alignment = "dlib-chip"

    def __init__(self, model_path: Path | None = None, num_jitters: int = 0, padding: float = 0.25,
                 device: Device = Device("cpu")) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise ImportError("the dlib network needs dlib: pip install dlib-bin face-recognition-models") from exc
        path = Path(model_path) if model_path else dlib_model_file("face_recognition_model_location")
        if device.is_cuda and getattr(dlib, "DLIB_USE_CUDA", False):
            dlib.cuda.set_device(device.index)
        self.model = dlib.face_recognition_model_v1(str(path))
        self.model_path = path
        self.num_jitters, self.padding = int(num_jitters), float(padding)
        self.input_size, self.dim = 150, 128
        self.preprocessing = f"dlib-chip-150,padding={self.padding:g},jitters={self.num_jitters}"
        self.weights_sha256 = file_sha256(path)
        self.name = f"dlib:{path.stem}"

    def embed(self, faces: np.ndarray) -> np.ndarray:
        faces = self._check(faces)
        if len(faces) == 0:
            return np.zeros((0, self.dim), np.float32)
        chips = [np.ascontiguousarray(f) for f in faces]
        out = self.model.compute_face_descriptor(chips, self.num_jitters)
        return np.array([np.asarray(v) for v in out], dtype=np.float32).reshape(len(faces), self.dim)


class FaceNetEmbedder(Embedder):
    """FaceNet (InceptionResnetV1, facenet-pytorch); raw vectors taken before its L2 norm."""

    alignment = "similarity"

    def __init__(self, pretrained: str = "vggface2", input_size: int = 160, device: Device = Device("cpu"),
                 threads: int = 0) -> None:
        try:
            import torch
            from facenet_pytorch import InceptionResnetV1
        except ImportError as exc:
            raise ImportError(
                "the facenet network needs facenet-pytorch (and torch): pip install facenet-pytorch"
            ) from exc
        if threads > 0:
            torch.set_num_threads(threads)
        self.torch = torch
        self.device = torch.device(f"cuda:{device.index}" if device.is_cuda and torch.cuda.is_available() else "cpu")
        model = InceptionResnetV1(pretrained=pretrained, classify=False).eval().to(self.device)
        # facenet-pytorch L2-normalises in forward(); keep the raw output of the last BN layer.
        self._raw: list = []
        model.last_bn.register_forward_hook(lambda _m, _i, out: self._raw.append(out))
        self.model = model
        self.input_size, self.dim = int(input_size), 512
        self.preprocessing = "rgb,(x-127.5)/128,nchw-float32"
        h = hashlib.sha256()
        for key, value in sorted(model.state_dict().items()):
            h.update(key.encode())
            h.update(value.detach().cpu().numpy().tobytes())
        self.weights_sha256 = h.hexdigest()
        self.name = f"facenet:inception_resnet_v1-{pretrained}"

    def embed(self, faces: np.ndarray) -> np.ndarray:
        faces = self._check(faces)
        if len(faces) == 0:
            return np.zeros((0, self.dim), np.float32)
        x = (faces.astype(np.float32) - 127.5) / 128.0
        tensor = self.torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(self.device)
        self._raw.clear()
        with self.torch.no_grad():
            self.model(tensor)
        return self._raw[-1].detach().cpu().numpy().astype(np.float32)


# --------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------


def arcface_model_path(options: ArcFaceOptions) -> Path:
    """Local ONNX file of ArcFace options, downloading the InsightFace pack when needed.

    Raises
    ------
    ValueError
        Unknown model name.
    RuntimeError
        The pack is missing and cannot be downloaded (offline), with the fixes.
    """
    if options.model_path is not None:
        path = Path(options.model_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ArcFace model_path {str(path)!r} does not exist")
        return path
    if options.model.endswith(".onnx"):
        path = Path(options.model).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ArcFace model {str(path)!r} does not exist; set model_path (relative to the config)")
        return path
    if options.model not in ARCFACE_PACKS:
        raise ValueError(f"unknown ArcFace model {options.model!r}; valid names: {', '.join(sorted(ARCFACE_PACKS))}")
    pack, fname = ARCFACE_PACKS[options.model]
    root = Path(options.model_dir).expanduser()
    folder = root / "models" / pack
    found = sorted(folder.rglob(fname)) if folder.is_dir() else []
    if found:
        return found[0]
    try:
        from insightface.utils import ensure_available

        folder = Path(ensure_available("models", pack, root=str(root)))
    except Exception as exc:  # noqa: BLE001 - any download failure gets the same advice
        raise RuntimeError(
            f"ArcFace pack {pack!r} is not in {root / 'models'} and could not be downloaded "
            f"({type(exc).__name__}: {exc}). On an offline machine copy {fname} there, or set model_path"
        ) from exc
    found = sorted(folder.rglob(fname))
    if not found:
        raise RuntimeError(f"{pack} was downloaded into {folder} but holds no {fname}; delete the folder and retry")
    return found[0]


def create_embedder(options: Any, device: Device | None = None, threads: int = 0, precision: str = "fp32",
                    cpu_engine: str = "auto") -> Embedder:
    """Build the embedder described by network options.

    Parameters
    ----------
    options : ArcFaceOptions, DlibOptions or FaceNetOptions
    device : Device, optional
        Where to run (default: the CPU).
    threads : int, default=0
        CPU threads for inference (0: the library's default).
    precision : {"fp32", "fp16", "bf16", "auto"}, default="fp32"
        ArcFace only: float16 / bfloat16 when asked (``auto``: float16 on CUDA, bfloat16 on AMX CPUs
        through OpenVINO) and within cosine 0.999 of float32.
    cpu_engine : {"auto", "onnxruntime", "openvino"}, default="auto"
        ArcFace on the CPU only: OpenVINO when installed (``auto``), or as named.

    Raises
    ------
    ValueError
        For options that are not an image network, listing the valid kinds.
    """
    device = device or Device("cpu")
    if isinstance(options, ArcFaceOptions):
        return ArcFaceEmbedder(arcface_model_path(options), device=device, threads=threads, providers=options.providers,
                               precision=precision, cpu_engine=cpu_engine)
    if isinstance(options, DlibOptions):
        return DlibEmbedder(options.model_path, options.num_jitters, options.padding, device=device)
    if isinstance(options, FaceNetOptions):
        return FaceNetEmbedder(options.pretrained, options.input_size, device=device, threads=threads)
    image_kinds = sorted(k for k, cls in NETWORKS.items() if getattr(cls, "FAMILY", "") == "images")
    raise ValueError(
        f"{type(options).__name__} is not an image network; valid image network kinds: {', '.join(image_kinds)}"
    )


def network_identity(options: Any) -> dict[str, Any]:
    """Model id, weights hash, preprocessing and alignment without building a session.

    Used for cache keys in the driver process (the embedder itself is built in the workers).
    """
    if isinstance(options, ArcFaceOptions):
        path = arcface_model_path(options)
        import onnx

        # Same rule as InsightFace's ArcFaceONNX: MXNet exports normalise inside the graph.
        graph = onnx.load(str(path), load_external_data=False).graph
        names = [n.name for n in graph.node[:8]]
        mxnet = any(n.startswith(("Sub", "_minus")) for n in names) and any(n.startswith(("Mul", "_mul")) for n in names)
        mean, std = (0.0, 1.0) if mxnet else (127.5, 127.5)
        dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
        out_dims = [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim]
        return {"model": f"arcface:{path.stem}", "weights_sha256": file_sha256(path), "dim": int(out_dims[-1]),
                "input_size": int(dims[2]), "alignment": "similarity",
                "preprocessing": f"rgb,(x-{mean:g})/{std:g},nchw-float32"}
    if isinstance(options, DlibOptions):
        path = Path(options.model_path) if options.model_path else dlib_model_file("face_recognition_model_location")
        return {"model": f"dlib:{path.stem}", "weights_sha256": file_sha256(path), "dim": 128, "input_size": 150,
                "alignment": "dlib-chip",
                "preprocessing": f"dlib-chip-150,padding={options.padding:g},jitters={options.num_jitters}"}
    if isinstance(options, FaceNetOptions):
        # The weights live in torch's hub cache; building the model is the only way to hash them.
        return create_embedder(options).identity()
    return create_embedder(options).identity()  # raises the ValueError listing valid kinds
