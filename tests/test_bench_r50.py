"""The benchmark's random IResNet-50 has the shape and cost of InsightFace's w600k_r50.onnx."""
from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest

from bench.r50_model import INPUT_NAME, OUTPUT_NAME, build_r50_model, parameter_count


@pytest.mark.slow  # builds and loads a 175 MB network: about 10 s on a quiet machine
def test_r50_graph_matches_w600k_r50_architecture_and_io(tmp_path):
    model = build_r50_model(seed=0)
    ops = Counter(n.op_type for n in model.graph.node)
    # iresnet50: stem conv + 24 blocks x 2 convs + 4 shortcut convs; one PReLU per block + stem.
    assert ops["Conv"] == 53 and ops["PRelu"] == 25 and ops["Add"] == 24 and ops["Gemm"] == 1
    assert 43.5e6 < parameter_count(model) < 43.7e6  # w600k_r50.onnx: 43.6 M weights
    dims = [d.dim_value or d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert model.graph.input[0].name == INPUT_NAME and dims == ["None", 3, 112, 112]
    assert model.graph.output[0].name == OUTPUT_NAME

    # InsightFace's router loads it as an ArcFace recogniser, and a batch goes through.
    from insightface.model_zoo import get_model

    path = tmp_path / "r50.onnx"
    onnx.save(model, str(path))
    rec = get_model(str(path), providers=["CPUExecutionProvider"])
    assert rec.taskname == "recognition" and rec.input_size == (112, 112)
    x = np.random.default_rng(0).normal(size=(2, 3, 112, 112)).astype(np.float32)
    out = rec.session.run(None, {rec.input_name: x})[0]
    assert out.shape == (2, 512) and np.isfinite(out).all() and np.abs(out[0] - out[1]).max() > 0
