"""Robust image decoding: any file in, a BGR uint8 array or a recorded reason out.

Real face datasets are full of bad files: zero-byte downloads, truncated JPEGs, HTML pages
saved as ``.jpg``, CMYK scans, 16-bit PNGs, grayscale photographs, phone pictures that are
only upright once their EXIF orientation is applied, AVIF/WebP files that some OpenCV builds
cannot read, and images whose header claims billions of pixels (decompression bombs). A
pipeline that crashes on the first of them loses hours of work, so :func:`decode_image`
never raises for a bad input: it raises :class:`ImageSkip` whose ``reason`` ends up in the
extraction's ``skipped`` table.

Decoding strategy (fast path first):

1. the header is probed with Pillow (no pixel decoding) to learn the format and the size, so
   a decompression bomb is refused before any memory is allocated;
2. OpenCV decodes what it can (it is the fastest JPEG/PNG/WebP decoder available, releases
   the GIL so threads decode in parallel, applies the EXIF orientation and converts CMYK,
   grayscale and 16-bit images to 8-bit BGR); for a JPEG larger than the detector needs,
   ``IMREAD_REDUCED_COLOR_2/4/8`` decodes at 1/2, 1/4 or 1/8 scale directly in the DCT
   domain, several times faster than a full decode followed by a resize;
3. Pillow (with ``pillow-avif-plugin``) decodes the rest, in strict mode so that a truncated
   file is reported instead of being padded with grey.
"""
from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Pillow's own default limit (about 89.5 megapixels, 0.25 GB of RGB): beyond it an image is
#: almost certainly a decompression bomb, not a face photograph.
DEFAULT_MAX_PIXELS = 89_478_485

#: File name extensions treated as images by the dataset adapters.
IMAGE_EXTENSIONS = (
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".avif", ".bmp", ".tif", ".tiff",
    ".gif", ".ppm", ".pgm", ".pnm",
)

# Reasons recorded for skipped images (stable strings: reports count them).
EMPTY = "empty file"
UNREADABLE = "unreadable file"
NOT_AN_IMAGE = "not an image"
TRUNCATED = "truncated or corrupt image"
TOO_LARGE = "image too large (decompression bomb guard)"
NOT_REGULAR = "not a regular file"


class ImageSkip(Exception):
    """An input that cannot be used; ``reason`` is one of the module's reason strings."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """A decoded image and how it relates to the file.

    Parameters
    ----------
    bgr : ndarray of shape (h, w, 3), uint8
        Pixels in OpenCV's BGR order, EXIF orientation applied.
    scale : float
        ``bgr`` size divided by the full-resolution (oriented) image size; below 1 when a
        reduced JPEG decode was used. Coordinates found in ``bgr`` divided by ``scale`` are
        coordinates in the original image.
    original_size : tuple of int
        ``(width, height)`` of the full-resolution image after EXIF orientation.
    decoder : str
        ``"opencv"``, ``"opencv-reduced-N"`` or ``"pillow"`` (for the traceability table).
    """

    bgr: np.ndarray
    scale: float
    original_size: tuple[int, int]
    decoder: str


def special_kind(mode: int) -> str:
    """``FIFO``, ``socket``, ``character device`` ... for a file mode that is not a regular file."""
    for test, kind in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISDIR, "folder")):
        if test(mode):
            return kind
    return "special file"


class NotRegularFileError(OSError):
    """A path that names a FIFO, a socket, a device or a folder instead of a regular file."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path} is a {kind}, not a regular file")
        self.kind = kind


def open_regular(path: str | os.PathLike):
    """Open ``path`` for binary reading if it is a regular file; never blocks.

    ``O_NONBLOCK`` makes opening a FIFO return at once (a plain ``open`` waits for a writer
    forever); the type is then checked on the open descriptor, so the check and the read see the
    same file.

    Raises
    ------
    NotRegularFileError
        For anything but a regular file (``kind`` says what it is).
    OSError
        When the file cannot be opened.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(os.fspath(path), special_kind(mode))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: Path) -> bytes:
    """File content; :class:`ImageSkip` for an unreadable or empty file."""
    try:
        with open_regular(path) as fh:  # a FIFO or a device named *.jpg would block or never end
            data = fh.read()
    except NotRegularFileError as exc:
        raise ImageSkip(NOT_REGULAR, exc.kind) from None
    except OSError as exc:
        raise ImageSkip(UNREADABLE, f"{type(exc).__name__}: {exc.strerror or exc}") from None
    if not data:
        raise ImageSkip(EMPTY)
    return data


def decode_file(path: Path, target_side: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Read and decode ``path``; see :func:`decode_image`."""
    return decode_image(read_bytes(path), target_side=target_side, max_pixels=max_pixels)


def decode_image(data: bytes, target_side: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode image bytes into an upright 8-bit BGR array.

    Parameters
    ----------
    data : bytes
        Encoded image (any format Pillow or OpenCV reads).
    target_side : int, optional
        Smallest long side the caller needs (the detector input size). A JPEG whose long side
        is at least twice this is decoded at a reduced scale (1/2, 1/4 or 1/8) that keeps the
        long side >= ``target_side``. None decodes at full resolution.
    max_pixels : int, default=DEFAULT_MAX_PIXELS
        Images with more pixels are refused before decoding.

    Returns
    -------
    DecodedImage

    Raises
    ------
    ImageSkip
        With reason ``empty file``, ``not an image``, ``truncated or corrupt image`` or
        ``image too large``.
    """
    if not data:
        raise ImageSkip(EMPTY)
    fmt, size, alpha = probe(data, max_pixels)
    width, height = size
    _quiet_opencv()
    import cv2

    buf = np.frombuffer(data, dtype=np.uint8)
    factor = reduction_factor(max(width, height), target_side) if fmt == "JPEG" else 1
    if fmt == "JPEG" and not _ends_with_eoi(data):
        # A JPEG without its end-of-image marker is truncated; OpenCV may fill the missing
        # part with grey, so let Pillow's strict decoder decide (it accepts trailing junk).
        bgr = None
    elif alpha:
        # OpenCV drops the alpha channel and shows whatever colour hides under transparent
        # pixels; Pillow composites them on white, as a viewer does.
        bgr = None
    else:
        flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                8: cv2.IMREAD_REDUCED_COLOR_8}[factor]
        try:
            bgr = cv2.imdecode(buf, flag)
        except cv2.error:
            bgr = None
    if bgr is not None and bgr.ndim == 3 and bgr.shape[2] == 3 and bgr.dtype == np.uint8:
        # OpenCV applied the EXIF rotation, so compare against the oriented size.
        full_w, full_h = _oriented_size(bgr.shape[1] * factor, bgr.shape[0] * factor, width, height)
        scale = bgr.shape[1] / full_w
        return DecodedImage(bgr, scale, (full_w, full_h), "opencv" if factor == 1 else f"opencv-reduced-{factor}")
    return _decode_with_pillow(data)


def probe(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, tuple[int, int], bool]:
    """Format name, ``(width, height)`` and transparency from the header only; refuses bombs.

    Raises
    ------
    ImageSkip
        ``not an image`` when no decoder recognises the bytes, ``image too large`` when the
        header announces more than ``max_pixels`` pixels.
    """
    from PIL import Image, UnidentifiedImageError

    _register_pillow_plugins()
    # No warnings.catch_warnings() here: it is not thread-safe and this runs in decode threads.
    # Pillow warns above Image.MAX_IMAGE_PIXELS and refuses above twice that; our own check
    # below applies max_pixels (raise Image.MAX_IMAGE_PIXELS too for limits beyond 2x it).
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, size = str(im.format), tuple(int(v) for v in im.size)
            alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    except Image.DecompressionBombError as exc:
        raise ImageSkip(TOO_LARGE, str(exc)) from None
    except UnidentifiedImageError:
        raise ImageSkip(NOT_AN_IMAGE, "no decoder recognises the content") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageSkip(TRUNCATED, f"{type(exc).__name__}: {exc}") from None
    if size[0] <= 0 or size[1] <= 0:
        raise ImageSkip(TRUNCATED, f"invalid size {size}")
    if size[0] * size[1] > max_pixels:
        raise ImageSkip(TOO_LARGE, f"{size[0]}x{size[1]} pixels > max_pixels={max_pixels}")
    return fmt, (size[0], size[1]), alpha


def reduction_factor(long_side: int, target_side: int | None) -> int:
    """Largest JPEG DCT scale (1, 2, 4 or 8) keeping ``long_side / factor >= target_side``."""
    if not target_side or target_side <= 0:
        return 1
    for factor in (8, 4, 2):
        if long_side / factor >= target_side:
            return factor
    return 1


def _decode_with_pillow(data: bytes) -> DecodedImage:
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # strict: raises on truncated data (LOAD_TRUNCATED_IMAGES stays False)
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb8(im)
    except ImageSkip:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a recorded skip, not a crash
        raise ImageSkip(TRUNCATED, f"{type(exc).__name__}: {exc}") from None
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    return DecodedImage(bgr, 1.0, (bgr.shape[1], bgr.shape[0]), "pillow")


def _to_rgb8(im) -> np.ndarray:
    """8-bit RGB array of a Pillow image of any mode (16-bit scaled, not clipped)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # Pillow's convert("RGB") clips 16-bit values at 255; rescale the range instead.
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        g = np.clip(np.round(a * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.dstack([g, g, g])
    if im.mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        lo, hi = float(a.min()), float(a.max())
        g = np.zeros(a.shape, np.uint8) if hi <= lo else ((a - lo) * (255.0 / (hi - lo))).astype(np.uint8)
        return np.dstack([g, g, g])
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # Transparent pixels over white, as a viewer shows them (black would invent a dark
        # background the detector might see as hair or a frame).
        rgba = im.convert("RGBA")
        from PIL import Image

        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def _oriented_size(w: int, h: int, header_w: int, header_h: int) -> tuple[int, int]:
    """Full-resolution size after EXIF rotation, from the decoded shape and the header size."""
    swapped = header_w != header_h and (w > h) != (header_w > header_h)
    return (header_h, header_w) if swapped else (header_w, header_h)


def _ends_with_eoi(data: bytes) -> bool:
    tail = data[-64:].rstrip(b"\x00\r\n ")
    return tail.endswith(b"\xff\xd9")


_PLUGINS_READY = False


def _register_pillow_plugins() -> None:
    """Register AVIF (and HEIF when installed) with Pillow; silently absent otherwise."""
    global _PLUGINS_READY
    if _PLUGINS_READY:
        return
    try:  # Pillow >= 11.2 reads AVIF natively when built with libavif; the plugin covers the rest
        import pillow_avif  # noqa: F401
    except ImportError:
        pass
    try:
        from pillow_heif import register_heif_opener

        register_heif_opener()
    except ImportError:
        pass
    _PLUGINS_READY = True


_OPENCV_QUIET = False


def _quiet_opencv() -> None:
    """Silence OpenCV's stderr warnings for bad files: they are recorded as skips instead."""
    global _OPENCV_QUIET
    if _OPENCV_QUIET:
        return
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # older OpenCV builds without the logging module
        pass
    _OPENCV_QUIET = True


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an RGB uint8 array (aligned-crop thumbnails)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the thumbnail")
    return buf.tobytes()
