"""Bad inputs: every one is a recorded skip with a reason or a clear error, never a crash."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.embedding import images
from analysis.embedding.datasets import (
    CsvEmbeddingsOptions,
    FolderDatasetOptions,
    NpyEmbeddingsOptions,
    ParquetEmbeddingsOptions,
    build_manifest,
    load_embeddings,
)
from analysis.embedding.images import ImageSkip, decode_file
from tests.face_fixtures import (
    SCRFD_500M,
    build_tiny_recognizer,
    face_rgb,
    need_celebrity,
    need_scrfd,
    write_bomb_png,
    write_image,
    write_jpeg,
    write_png16,
    write_truncated,
)


def _quadrants(h: int = 120, w: int = 180) -> np.ndarray:
    """RGB image with a red top-left quadrant, to check orientation."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (255, 0, 0)
    return a


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def test_zero_byte_file_is_empty(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageSkip) as info:
        decode_file(p)
    assert info.value.reason == images.EMPTY


def test_text_file_named_jpg_is_not_an_image(tmp_path):
    p = tmp_path / "page.jpg"
    p.write_text("<html>404 not found</html>")
    with pytest.raises(ImageSkip) as info:
        decode_file(p)
    assert info.value.reason == images.NOT_AN_IMAGE


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(ImageSkip) as info:
        decode_file(tmp_path / "nope.jpg")
    assert info.value.reason == images.UNREADABLE


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.97])
def test_truncated_jpeg_is_reported(tmp_path, keep):
    p = write_truncated(tmp_path / "cut.jpg", face_rgb(), keep=keep)
    with pytest.raises(ImageSkip) as info:
        decode_file(p)
    assert info.value.reason == images.TRUNCATED


def test_truncated_png_is_reported(tmp_path):
    p = write_image(tmp_path / "ok.png", face_rgb(), "PNG")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageSkip) as info:
        decode_file(p)
    assert info.value.reason == images.TRUNCATED


def test_decompression_bomb_refused_before_decoding(tmp_path):
    p = write_bomb_png(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(ImageSkip) as info:
        decode_file(p)
    assert info.value.reason == images.TOO_LARGE
    # A smaller limit is honoured too.
    small = write_image(tmp_path / "small.png", np.zeros((100, 100, 3), np.uint8), "PNG")
    with pytest.raises(ImageSkip):
        decode_file(small, max_pixels=5_000)


def test_exif_orientation_is_applied(tmp_path):
    rgb = _quadrants(120, 180)
    p = write_jpeg(tmp_path / "rot.jpg", rgb, exif_orientation=6)  # rotate 90 degrees clockwise to view
    img = decode_file(p)
    assert img.bgr.shape[:2] == (180, 120)
    assert img.original_size == (120, 180)
    # The red quadrant (top-left when stored) is at the top-right once rotated clockwise.
    top_right = img.bgr[10:60, 70:110].mean(axis=(0, 1))
    assert top_right[2] > 200 and top_right[0] < 60  # BGR: red channel high


def test_exif_orientation_with_pillow_fallback(tmp_path):
    rgb = _quadrants(120, 180)
    p = write_jpeg(tmp_path / "rot.jpg", rgb, exif_orientation=8)
    img = images._decode_with_pillow(p.read_bytes())
    assert img.bgr.shape[:2] == (180, 120)


def test_cmyk_grayscale_16bit_become_bgr8(tmp_path):
    rgb = face_rgb()
    cmyk = decode_file(write_jpeg(tmp_path / "cmyk.jpg", rgb, mode="CMYK"))
    gray = decode_file(write_jpeg(tmp_path / "gray.jpg", rgb, mode="L"))
    deep = decode_file(write_png16(tmp_path / "deep.png", rgb))
    deep_pil = images._decode_with_pillow((tmp_path / "deep.png").read_bytes())
    for img in (cmyk, gray, deep, deep_pil):
        assert img.bgr.dtype == np.uint8 and img.bgr.ndim == 3 and img.bgr.shape[2] == 3
        assert img.bgr.shape[:2] == rgb.shape[:2]
    # 16-bit values are rescaled, not clipped to white.
    expected = float(np.asarray(rgb, np.float64).mean())
    assert abs(float(deep.bgr.mean()) - expected) < 25
    assert abs(float(deep_pil.bgr.mean()) - expected) < 25
    # CMYK keeps the picture (not inverted): close to the RGB original.
    assert abs(float(cmyk.bgr[:, :, ::-1].astype(float).mean()) - expected) < 25


@pytest.mark.parametrize("fmt,suffix", [("WEBP", ".webp"), ("AVIF", ".avif"), ("PNG", ".png")])
def test_webp_avif_png_decode_with_both_decoders(tmp_path, fmt, suffix):
    rgb = face_rgb()
    try:
        p = write_image(tmp_path / f"x{suffix}", rgb, fmt)
    except (KeyError, OSError) as exc:
        pytest.skip(f"Pillow cannot write {fmt} here: {exc}")
    for img in (decode_file(p), images._decode_with_pillow(p.read_bytes())):
        assert img.bgr.shape[:2] == rgb.shape[:2]
        assert abs(float(img.bgr[:, :, ::-1].astype(float).mean()) - float(rgb.mean())) < 10


def test_transparent_png_composited_on_white(tmp_path):
    rgba = np.zeros((40, 40, 4), np.uint8)  # fully transparent
    p = write_image(tmp_path / "alpha.png", rgba, "PNG")
    img = decode_file(p)
    assert img.bgr.min() == 255 and img.decoder == "pillow"


def test_reduced_jpeg_decode_keeps_target_side(tmp_path):
    big = np.tile(face_rgb()[:200, :200], (8, 8, 1))  # 1600 x 1600
    p = write_jpeg(tmp_path / "big.jpg", big)
    full = decode_file(p)
    half = decode_file(p, target_side=800)
    quarter = decode_file(p, target_side=400)
    assert full.scale == 1.0 and full.bgr.shape[:2] == (1600, 1600)
    assert half.bgr.shape[:2] == (800, 800) and half.scale == pytest.approx(0.5)
    assert quarter.bgr.shape[:2] == (400, 400) and quarter.decoder == "opencv-reduced-4"
    assert quarter.original_size == (1600, 1600)
    # Never reduced below the target.
    assert decode_file(p, target_side=1000).bgr.shape[0] == 1600


def test_reduction_factor():
    assert images.reduction_factor(4000, 640) == 4
    assert images.reduction_factor(1000, 640) == 1
    assert images.reduction_factor(5120, 640) == 8
    assert images.reduction_factor(5000, None) == 1


# --------------------------------------------------------------------------------------------
# A whole run over a folder full of bad files
# --------------------------------------------------------------------------------------------


def _bad_dataset(root):
    """A folder dataset with every kind of bad input next to real faces."""
    celeb = need_celebrity()
    faces = sorted((celeb / "Brad Pitt").glob("*.jpg"))[:3] + sorted((celeb / "Tom Cruise").glob("*.jpg"))[:2]
    good = [np.asarray(_open_rgb(p)) for p in faces]
    ident = root / "Zoë Ångström Ünïcode"  # unicode and spaces in an identity name
    write_jpeg(ident / "portrait 1.jpg", good[0])
    # Stored turned a quarter counter-clockwise; EXIF orientation 6 tells viewers to turn it back.
    write_jpeg(ident / "rotated.jpg", np.ascontiguousarray(np.rot90(good[1], k=1)), exif_orientation=6)
    write_jpeg(ident / "cmyk.jpg", good[2], mode="CMYK")
    write_jpeg(ident / "gray.jpg", good[3], mode="L")
    write_png16(ident / "deep.png", good[4])
    single = root / "Only One"  # an identity with one image
    write_image(single / "one.webp", good[0], "WEBP")
    junk = root / "Junk"
    (junk / "zero.jpg").parent.mkdir(parents=True, exist_ok=True)
    (junk / "zero.jpg").write_bytes(b"")
    (junk / "notes.txt").write_text("not an image")
    (junk / "html.jpg").write_text("<html></html>")
    write_truncated(junk / "truncated.jpg", good[1], keep=0.4)
    write_bomb_png(junk / "bomb.png")
    write_jpeg(junk / "flat grey.jpg", np.full((300, 300, 3), 127, np.uint8))  # no face
    write_jpeg(junk / "tiny face.jpg", np.asarray(_open_rgb(faces[0]).resize((30, 36))))  # too small
    crowd = np.concatenate([np.asarray(_open_rgb(p).resize((240, 290))) for p in faces[:3]], axis=1)
    write_jpeg(root / "Crowd" / "three faces.jpg", crowd)  # several faces, keep one
    return root


def _open_rgb(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


def test_run_over_bad_files_completes_and_records_reasons(tmp_path):
    from analysis.embedding.extract import ExtractionParams, extract_embeddings
    from analysis.embedding.networks import ArcFaceOptions

    need_scrfd()
    root = _bad_dataset(tmp_path / "data")
    manifest = build_manifest("bad", FolderDatasetOptions(root=root))
    listed = dict(zip(manifest.skipped["item"], manifest.skipped["reason"]))
    assert listed["Junk/zero.jpg"] == "empty file"
    assert listed["Junk/notes.txt"].startswith("not an image file")
    model = build_tiny_recognizer(tmp_path / "tiny.onnx")
    params = ExtractionParams(detector_path=SCRFD_500M, chunk_size=4, batch_size=3)
    res = extract_embeddings(manifest, "bad", "tiny", ArcFaceOptions(model_path=model), params, tmp_path / "cache",
                             progress=False)
    reasons = dict(zip(res.skipped["item"], res.skipped["reason"]))
    assert reasons["Junk/html.jpg"] == images.NOT_AN_IMAGE
    assert reasons["Junk/truncated.jpg"] == images.TRUNCATED
    assert reasons["Junk/bomb.png"] == images.TOO_LARGE
    assert reasons["Junk/flat grey.jpg"] == "no face"
    assert reasons["Junk/tiny face.jpg"] in ("face too small", "no face", "low score")
    kept = set(res.embeddings.items)
    for name in ("portrait 1.jpg", "rotated.jpg", "cmyk.jpg", "gray.jpg", "deep.png"):
        assert f"Zoë Ångström Ünïcode/{name}" in kept, res.trace[res.trace["item"].str.contains(name)]
    assert "Only One/one.webp" in kept
    assert "Zoë Ångström Ünïcode" in set(res.embeddings.identities)
    # Every manifest image is either embedded or skipped, exactly once.
    assert sorted(kept | set(reasons)) == sorted(manifest.frame["path"])
    assert not kept & set(reasons)
    # Several faces: one kept, the others recorded.
    crowd = res.trace[res.trace["item"] == "Crowd/three faces.jpg"]
    assert (crowd["status"] == "kept").sum() == 1
    assert (crowd["status"] == "other face (not kept)").sum() >= 1
    assert np.isfinite(res.embeddings.vectors).all()


# --------------------------------------------------------------------------------------------
# Embedding files with bad rows
# --------------------------------------------------------------------------------------------


def _vec(i, d=4):
    return [round(0.1 * (i + k), 3) for k in range(d)]


def test_csv_embeddings_bad_rows_are_skipped_with_reasons(tmp_path):
    rows = [
        {"embedding": str(_vec(0)), "label": 0, "image_file": "a1.jpg", "person_id": "00001"},
        {"embedding": str(_vec(1)), "label": 0, "image_file": "a2.jpg", "person_id": "00001"},
        {"embedding": "[0.1, nan, 0.3, 0.4]", "label": 0, "image_file": "nan.jpg", "person_id": "00001"},
        {"embedding": "[0.1, inf, 0.3, 0.4]", "label": 1, "image_file": "inf.jpg", "person_id": "00002"},
        {"embedding": "[0.1, 0.2, 0.3]", "label": 1, "image_file": "short.jpg", "person_id": "00002"},
        {"embedding": "[0.1, abc, 0.3, 0.4]", "label": 1, "image_file": "text.jpg", "person_id": "00002"},
        {"embedding": str(_vec(2)), "label": 1, "image_file": "noid.jpg", "person_id": None},
        {"embedding": str(_vec(3)), "label": 1, "image_file": "a1.jpg", "person_id": "00002"},
        {"embedding": "[ 0.5 0.6 0.7 0.8 ]", "label": 1, "image_file": "b1.jpg", "person_id": "00002"},
    ]
    path = tmp_path / "frgc_face_embeddings.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    loaded = load_embeddings("frgc", CsvEmbeddingsOptions(embeddings_file=path, network="arcface"))
    emb = loaded.embeddings
    assert list(emb.items) == ["a1.jpg", "a2.jpg", "b1.jpg"]
    assert list(emb.identities) == ["00001", "00001", "00002"]  # leading zeros kept
    assert emb.vectors.dtype == np.float32 and emb.vectors.shape == (3, 4)
    np.testing.assert_allclose(emb.vectors[2], [0.5, 0.6, 0.7, 0.8], rtol=1e-6)
    reasons = dict(zip(loaded.skipped["item"], loaded.skipped["reason"]))
    assert reasons["nan.jpg"].startswith("non-finite")
    assert reasons["inf.jpg"].startswith("non-finite")
    assert reasons["short.jpg"] == "dimension 3 != 4"
    assert reasons["text.jpg"] == "unparsable embedding"
    assert reasons["noid.jpg"] == "missing identity"
    assert reasons["a1.jpg"] == "duplicate item"
    assert emb.network == "arcface" and emb.dataset == "frgc"


def test_npy_embeddings_nan_rows_and_count_mismatch(tmp_path):
    vectors = np.arange(20, dtype=np.float64).reshape(5, 4)
    vectors[1, 2] = np.nan
    vectors[3, 0] = np.inf
    np.save(tmp_path / "v.npy", vectors)
    (tmp_path / "labels.txt").write_text("a\na\nb\nb\nb\n")
    loaded = load_embeddings("x", NpyEmbeddingsOptions(vectors_file=tmp_path / "v.npy",
                                                       labels_file=tmp_path / "labels.txt", network="n"))
    assert loaded.embeddings.n_samples == 3
    assert list(loaded.skipped["reason"]) == ["non-finite values (NaN or inf)"] * 2
    (tmp_path / "short.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match="one label per vector"):
        load_embeddings("x", NpyEmbeddingsOptions(vectors_file=tmp_path / "v.npy",
                                                  labels_file=tmp_path / "short.txt", network="n"))


def test_parquet_dimension_columns_with_bad_cells(tmp_path):
    frame = pd.DataFrame({
        "person_id": ["p1", "p1", "p2"],
        "image_file": ["1.jpg", "2.jpg", "3.jpg"],
        "e0": [0.1, 0.2, 0.3],
        "e1": [1.0, np.nan, 0.5],
        "e2": [0.0, 0.1, 0.2],
    })
    frame.to_parquet(tmp_path / "emb.parquet")
    loaded = load_embeddings("x", ParquetEmbeddingsOptions(embeddings_file=tmp_path / "emb.parquet", network="n"))
    assert loaded.embeddings.vectors.shape == (2, 3)
    assert list(loaded.skipped["item"]) == ["2.jpg"]


def test_embedding_file_without_any_valid_row_is_a_clear_error(tmp_path):
    pd.DataFrame({"embedding": ["[nan, 1]"], "person_id": ["a"], "image_file": ["x"]}).to_csv(tmp_path / "e.csv", index=False)
    with pytest.raises(ValueError, match="no valid embedding row"):
        load_embeddings("x", CsvEmbeddingsOptions(embeddings_file=tmp_path / "e.csv", network="n"))
