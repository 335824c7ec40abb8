"""A random-weight IResNet-50 with the architecture and I/O of InsightFace's ``w600k_r50.onnx``.

For speed tests only: the weights are random, so its embeddings mean nothing. It lets the
extraction benchmark time ArcFace-sized compute (about 6.3 GFLOPs and 43.6 M parameters per
112x112 face) without downloading the real model. The graph follows ``arcface_torch``'s
``iresnet50`` as InsightFace exported it:

- stem: 3x3 conv (64) -> BatchNorm -> PReLU;
- four stages of pre-activation ``IBasicBlock`` (3, 4, 14, 3 blocks; 64, 128, 256, 512
  channels; the first block of each stage has stride 2 and a 1x1 conv + BN shortcut):
  BN -> 3x3 conv -> BN -> PReLU -> 3x3 conv (stride) -> BN, plus the shortcut;
- head: BN -> flatten (512x7x7) -> fully connected 25088 -> 512 -> BatchNorm1d.

Input ``input.1`` of shape ``(None, 3, 112, 112)`` float32 (RGB, (x - 127.5) / 127.5), output
``683`` of shape ``(None, 512)`` (batched, as InsightFace runs it), so InsightFace's model router loads it as an
``ArcFaceONNX`` recogniser.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

INPUT_NAME = "input.1"
OUTPUT_NAME = "683"
STAGES = ((64, 3), (128, 4), (256, 14), (512, 3))
EMBEDDING_DIM = 512


class _Graph:
    """Collects nodes and random initialisers (He-scaled, so activations stay finite)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: list = []
        self.n = 0

    def _name(self, kind: str) -> str:
        self.n += 1
        return f"{kind}_{self.n}"

    def _init(self, name: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int) -> str:
        from onnx import helper

        name = self._name("Conv")
        w = self.rng.normal(0.0, np.sqrt(1.0 / (cin * k * k)), size=(cout, cin, k, k))
        self.nodes.append(helper.make_node("Conv", [x, self._init(name + ".w", w)], [name], name=name,
                                           kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4))
        return name

    def bn(self, x: str, c: int) -> str:
        from onnx import helper

        name = self._name("BatchNormalization")
        params = [self._init(f"{name}.{p}", v) for p, v in (
            ("scale", 1.0 + 0.1 * self.rng.normal(size=c)), ("bias", 0.1 * self.rng.normal(size=c)),
            ("mean", 0.1 * self.rng.normal(size=c)), ("var", 1.0 + 0.1 * self.rng.random(size=c)))]
        self.nodes.append(helper.make_node("BatchNormalization", [x, *params], [name], name=name, epsilon=1e-5))
        return name

    def prelu(self, x: str, c: int) -> str:
        from onnx import helper

        name = self._name("PRelu")
        slope = self._init(name + ".slope", np.full((c, 1, 1), 0.25))
        self.nodes.append(helper.make_node("PRelu", [x, slope], [name], name=name))
        return name

    def add(self, a: str, b: str) -> str:
        from onnx import helper

        name = self._name("Add")
        self.nodes.append(helper.make_node("Add", [a, b], [name], name=name))
        return name


def _block(g: _Graph, x: str, cin: int, cout: int, stride: int) -> str:
    out = g.bn(x, cin)
    out = g.conv(out, cin, cout, 3, 1)
    out = g.bn(out, cout)
    out = g.prelu(out, cout)
    out = g.conv(out, cout, cout, 3, stride)
    out = g.bn(out, cout)
    shortcut = x
    if stride != 1 or cin != cout:
        shortcut = g.bn(g.conv(x, cin, cout, 1, stride), cout)
    return g.add(out, shortcut)


def build_r50_model(seed: int = 0):
    """The IResNet-50 ``onnx.ModelProto`` (opset 11, random weights).

    Parameters
    ----------
    seed : int, default=0

    Returns
    -------
    onnx.ModelProto
    """
    import onnx
    from onnx import TensorProto, helper

    g = _Graph(seed)
    x = g.conv(INPUT_NAME, 3, 64, 3, 1)
    x = g.prelu(g.bn(x, 64), 64)
    cin = 64
    for cout, n_blocks in STAGES:
        for b in range(n_blocks):
            x = _block(g, x, cin, cout, 2 if b == 0 else 1)
            cin = cout
    x = g.bn(x, 512)
    flat = g._name("Flatten")
    g.nodes.append(helper.make_node("Flatten", [x], [flat], name=flat, axis=1))
    fc = g._name("Gemm")
    w = g.rng.normal(0.0, np.sqrt(1.0 / (512 * 7 * 7)), size=(EMBEDDING_DIM, 512 * 7 * 7))
    g.nodes.append(helper.make_node("Gemm", [flat, g._init(fc + ".w", w), g._init(fc + ".b", np.zeros(EMBEDDING_DIM))],
                                    [fc], name=fc, transB=1))
    out = g.bn(fc, EMBEDDING_DIM)
    g.nodes.append(helper.make_node("Identity", [out], [OUTPUT_NAME], name="features"))
    graph = helper.make_graph(
        g.nodes, "iresnet50_random",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["None", 3, 112, 112])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["None", EMBEDDING_DIM])],
        initializer=g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], producer_name="face-atlas-bench")
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def build_r50(path: Path, seed: int = 0) -> Path:
    """Write the random IResNet-50 to ``path`` (about 175 MB) unless it is already there."""
    import onnx

    path = Path(path)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        onnx.save(build_r50_model(seed), str(tmp))
        tmp.replace(path)
    return path


def parameter_count(model) -> int:
    """Number of weights in a model's initialisers."""
    return int(sum(np.prod(t.dims) for t in model.graph.initializer))
