"""With galleries off (the default), no face pixel of the inputs reaches docs/, site/ or paper/."""
from __future__ import annotations

import hashlib

import pytest

from tests.conftest import CELEBS, write_dlib_study

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not CELEBS.is_dir(), reason="../shared/data/celebrity-faces not present")
def test_no_input_image_reaches_the_outputs(tmp_path):
    from analysis.config import load_config
    from report.driver import run

    inputs = write_dlib_study(tmp_path, 4)
    cfg = load_config(tmp_path / "study.toml")
    assert cfg.study.galleries is False
    results, outputs, _ = run(cfg, progress=False)
    assert results.inputs[0].embeddings["dlib"].n_samples >= 8
    # The Reproducibility page says where the vectors were computed (dlib: CPU workers, no GPU).
    repro = (tmp_path / "out" / "docs" / "reproducibility.md").read_text(encoding="utf-8")
    assert "## Devices" in repro and "no onnxruntime session" in repro
    devices = (tmp_path / "out" / "docs" / "tables" / "repro-devices.csv").read_text(encoding="utf-8")
    assert "faces,dlib,cpu:0: no onnxruntime session (dlib on the CPU)" in devices
    input_hashes = {hashlib.sha256(b).hexdigest() for b in inputs}
    out = tmp_path / "out"
    # No detection-overlay page either (it shows photos): only galleries = true adds one.
    assert not results.detections and not list((out / "docs").rglob("*detections*"))
    raster = {".jpg", ".jpeg", ".png", ".webp", ".avif", ".bmp", ".gif"}
    for folder in ("docs", "site", "paper"):
        for f in (out / folder).rglob("*"):
            if not f.is_file():
                continue
            assert hashlib.sha256(f.read_bytes()).hexdigest() not in input_hashes, f"input image copied to {f}"
            if f.suffix.lower() in raster:
                # Only figures drawn from numbers and the theme's own assets may be raster images.
                rel = f.relative_to(out / folder).as_posix()
                assert rel.startswith(("figures/", "assets/")), f"unexpected image {rel}"
