"""Small PNG figures: a 256-colour palette where it is invisible, lossless RGB where it is not.

matplotlib writes RGBA PNGs at zlib's default level: the demo's 159 figures took 13.9 MB, more
than half of what a site may weigh on a static host. A chart has few colours (a colour map has
256, anti-aliased edges a few thousand more), so a 256-colour palette (Pillow's median-cut
quantiser, no dithering) redraws it with no visible change at about a third of the bytes. A
photograph (face galleries, detection overlays) is not a chart: a figure with more than
:data:`MAX_CHART_COLOURS` distinct colours (the demo's busiest chart has 5,400; one 112-pixel
face thumbnail has 8,000 to 10,000), or whose palette would move a visible share of pixels by
more than a few levels, is kept as lossless RGB.

The figure is rendered once to raw RGBA (``savefig(format="raw")``) and encoded once here:
matplotlib's own PNG encoding (about 100 ms a figure) is not paid on top of the palette's
(about 130 ms), so the smaller files cost about 30 ms a figure. The bytes depend only on the
pixels (deterministic).
"""
from __future__ import annotations

import io

import numpy as np

#: More distinct colours than this: a photograph, never put on a palette.
MAX_CHART_COLOURS = 16384
#: The palette is kept when at most this share of pixels moves by more than ``MAX_LEVELS``.
MAX_MOVED_SHARE = 0.01
#: Largest change of a channel (0-255) that counts as unchanged.
MAX_LEVELS = 12
#: Mean absolute change per channel above which the palette is refused whatever the outliers.
MAX_MEAN_LEVELS = 1.0
#: zlib level of the written PNG (9: about 12% smaller than the default 6).
COMPRESS_LEVEL = 9


def figure_png(fig, dpi: float) -> bytes:
    """The PNG bytes of a matplotlib figure at ``dpi`` (see the module docstring)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="raw", dpi=dpi)
    raw = buf.getvalue()
    # The canvas' pixel size as savefig rounded it (it may differ by one from width x dpi).
    guess = fig.get_figwidth() * dpi
    width = next(w for w in (int(guess), round(guess), int(guess) + 1, int(guess) - 1) if w > 0 and len(raw) % (4 * w) == 0)
    rgba = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width, 4)
    return encode(rgba)


def encode(rgba: np.ndarray) -> bytes:
    """PNG bytes of an RGBA or RGB image: a palette when it is visually lossless, else RGB."""
    from PIL import Image

    pixels = np.asarray(rgba, dtype=np.uint8)
    if pixels.shape[2] == 4 and pixels[:, :, 3].min() < 255:  # flatten on white, as the site shows figures
        a = pixels[:, :, 3:4].astype(np.float32) / 255.0
        pixels = np.round(pixels[:, :, :3] * a + 255.0 * (1.0 - a)).astype(np.uint8)
    rgb = Image.fromarray(np.ascontiguousarray(pixels[:, :, :3]), mode="RGB")
    image = rgb
    if rgb.getcolors(MAX_CHART_COLOURS) is not None:  # None: more colours than a chart has
        palette = rgb.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        if invisible(np.asarray(rgb), np.asarray(palette.convert("RGB"))):
            image = palette
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=COMPRESS_LEVEL)
    return out.getvalue()


def invisible(before: np.ndarray, after: np.ndarray, stride: int = 3) -> bool:
    """Whether ``after`` looks like ``before``: few pixels moved by more than a few levels (every ``stride``-th row)."""
    diff = np.abs(before[::stride].astype(np.int16) - after[::stride].astype(np.int16))
    moved = (diff.max(axis=2) > MAX_LEVELS).mean()
    return bool(moved <= MAX_MOVED_SHARE and diff.mean() <= MAX_MEAN_LEVELS)
