"""Figure PNGs (report.png): a palette for charts where it is invisible, lossless RGB for photographs."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from report import plotting
from report.png import encode, figure_png
from tests.conftest import CELEBS


def _chart(alpha: float = 1.0, points: int = 300):
    """A chart like the report's: a scatter map coloured by group, a histogram, a heatmap."""
    fig, (a, b, c) = plotting.figure(9.0, 3.0, ncols=3)
    rng = np.random.default_rng(0)
    a.scatter(rng.standard_normal(points), rng.standard_normal(points), s=6, alpha=alpha,
              c=rng.integers(0, 10, points), cmap="tab10")
    b.hist(rng.standard_normal(5000), bins=40, color=plotting.ACCENT)
    b.axvline(0.5, color=plotting.SECOND, ls="--")
    c.imshow(rng.random((12, 12)), cmap="viridis", interpolation="nearest")
    return fig


def test_a_chart_is_put_on_a_palette_without_visible_change():
    fig = _chart()
    with plotting.style():
        data = figure_png(fig, dpi=150)
        reference = io.BytesIO()
        fig.savefig(reference, format="png", dpi=150)
    plotting.close(fig)
    png = Image.open(io.BytesIO(data))
    ref = np.asarray(Image.open(reference).convert("RGB"), np.int16)
    assert png.mode == "P" and png.size == (1350, 450) and png.size == (ref.shape[1], ref.shape[0])
    diff = np.abs(np.asarray(png.convert("RGB"), np.int16) - ref)
    assert diff.mean() < 1.0 and (diff.max(axis=2) > 12).mean() < 0.01
    assert len(data) < 0.6 * len(reference.getvalue())


def test_a_chart_a_palette_would_change_stays_lossless():
    fig = _chart(alpha=0.5, points=4000)  # thousands of blended colours: 256 would move many pixels
    with plotting.style():
        data = figure_png(fig, dpi=100)
        reference = io.BytesIO()
        fig.savefig(reference, format="png", dpi=100)
    plotting.close(fig)
    out = Image.open(io.BytesIO(data))
    assert out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(Image.open(reference).convert("RGB")))


def test_a_photograph_stays_lossless():
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)  # far more colours than any chart
    if CELEBS.is_dir():
        real = sorted(CELEBS.glob("*/*.jpg"))[0]
        photo = np.asarray(Image.open(real).convert("RGB"))
    out = Image.open(io.BytesIO(encode(photo)))
    assert out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), photo)


def test_transparency_is_flattened_on_white_and_bytes_are_deterministic():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5] = [255, 0, 0, 255]  # opaque red, transparent rest
    out = np.asarray(Image.open(io.BytesIO(encode(rgba))).convert("RGB"))
    assert out[0, 0].tolist() == [255, 0, 0] and out[0, 9].tolist() == [255, 255, 255]
    assert encode(rgba) == encode(rgba.copy())
