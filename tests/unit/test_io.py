"""Tests for facewise.io: every image is built here, in memory or in tmp_path."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image as PILImage
from PIL import ImageFile

import facewise.io as fio
from facewise.errors import ImageDecodeError, ImageTooLarge, InvalidInput
from facewise.io import image_sha256, load_image
from facewise.settings import Settings

H, W = 24, 32


def _rgb() -> npt.NDArray[np.uint8]:
    """A (24, 32, 3) uint8 image with smooth gradients (JPEG-friendly) and distinct channels."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([x * 8, y * 10, 255 - x * 4], axis=2).astype(np.uint8)


def _encode(img: PILImage.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, bit_depth: int, color_type: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _check(out: npt.NDArray[np.generic], height: int = H, width: int = W) -> None:
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.uint8
    assert out.shape == (height, width, 3)
    assert out.flags.c_contiguous
    assert out.flags.writeable


# --- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "kw", "tol"),
    [
        ("PNG", {}, 0),
        ("BMP", {}, 0),
        ("TIFF", {}, 0),
        ("TIFF", {"compression": "tiff_lzw"}, 0),
        ("PPM", {}, 0),
        ("WEBP", {"lossless": True}, 0),
        ("WEBP", {"quality": 95}, 12),
        ("JPEG", {"quality": 95}, 12),
    ],
)
def test_rgb_formats_round_trip(fmt: str, kw: dict[str, Any], tol: int) -> None:
    src = _rgb()
    out = load_image(_encode(PILImage.fromarray(src), fmt, **kw))
    _check(out)
    diff = np.abs(out.astype(int) - src.astype(int))
    assert diff.max() <= tol
    if tol:
        assert diff.mean() < 3


def test_gif_palette_round_trip() -> None:
    colours = np.array([[255, 0, 0], [0, 128, 0], [0, 0, 255], [250, 250, 10]], dtype=np.uint8)
    src = colours[np.indices((H, W)).sum(axis=0) % 4]
    data = _encode(PILImage.fromarray(src).quantize(colors=4), "GIF")
    out = load_image(data)
    _check(out)
    np.testing.assert_array_equal(out, src)


def test_gif_first_frame_only() -> None:
    frames = [PILImage.new("RGB", (W, H), c) for c in [(255, 0, 0), (0, 0, 255)]]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10)
    assert getattr(PILImage.open(io.BytesIO(data)), "n_frames", 1) == 2
    out = load_image(data)
    assert (out == [255, 0, 0]).all()


def test_tiff_first_page_only() -> None:
    pages = [PILImage.new("RGB", (W, H), c) for c in [(0, 255, 0), (9, 9, 9)]]
    data = _encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert getattr(PILImage.open(io.BytesIO(data)), "n_frames", 1) == 2
    assert (load_image(data) == [0, 255, 0]).all()


def test_pgm_gray() -> None:
    gray = _rgb()[:, :, 0]
    data = _encode(PILImage.fromarray(gray), "PPM")
    assert data.startswith(b"P5")
    out = load_image(data)
    _check(out)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], gray)


def test_pgm_16bit_scaled_by_type_range() -> None:
    values = np.array([[0, 0x00FF, 0x1234], [0x8000, 0xFF00, 0xFFFF]], dtype=">u2")
    data = b"P5\n3 2\n65535\n" + values.tobytes()
    out = load_image(data)
    np.testing.assert_array_equal(out[:, :, 0], [[0, 0, 0x12], [0x80, 0xFF, 0xFF]])


def test_bilevel_png_and_pbm() -> None:
    bits = np.indices((H, W)).sum(axis=0) % 2 == 1
    img = PILImage.fromarray(bits).convert("1")
    for fmt in ("PNG", "PPM"):
        out = load_image(_encode(img, fmt))
        _check(out)
        np.testing.assert_array_equal(out[:, :, 1], np.where(bits, 255, 0))


# --- modes ------------------------------------------------------------------------------------


def test_grayscale_png() -> None:
    gray = np.arange(H * W, dtype=np.uint8).reshape(H, W)
    out = load_image(_encode(PILImage.fromarray(gray), "PNG"))
    _check(out)
    assert (out == gray[:, :, None]).all()


def test_rgba_composited_on_white() -> None:
    rgba = np.zeros((1, 3, 4), dtype=np.uint8)
    rgba[0, 0] = [255, 0, 0, 255]  # opaque red
    rgba[0, 1] = [255, 0, 0, 128]  # half red
    rgba[0, 2] = [0, 0, 0, 0]  # fully transparent black
    out = load_image(_encode(PILImage.fromarray(rgba, "RGBA"), "PNG"))
    np.testing.assert_array_equal(out[0], [[255, 0, 0], [255, 127, 127], [255, 255, 255]])


def test_la_composited_on_white() -> None:
    la = np.array([[[0, 255], [0, 0], [100, 128]]], dtype=np.uint8)
    out = load_image(_encode(PILImage.fromarray(la, "LA"), "PNG"))
    np.testing.assert_array_equal(out[0, :, 0], [0, 255, (100 * 128 + 255 * 127 + 127) // 255])


def test_palette_without_transparency() -> None:
    img = PILImage.new("P", (4, 1))
    img.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
    img.putdata([0, 1, 1, 0])
    out = load_image(_encode(img, "PNG"))
    np.testing.assert_array_equal(
        out[0], [[10, 20, 30], [200, 100, 0], [200, 100, 0], [10, 20, 30]]
    )


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_becomes_white(fmt: str) -> None:
    img = PILImage.new("P", (4, 1))
    img.putpalette([10, 20, 30, 0, 0, 0] + [0] * 762)
    img.putdata([0, 1, 1, 0])
    out = load_image(_encode(img, fmt, transparency=1))
    np.testing.assert_array_equal(out[0], [[10, 20, 30], [255] * 3, [255] * 3, [10, 20, 30]])


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16bit_gray_shifted(fmt: str) -> None:
    values = np.array([[0, 0x00FF, 0x1234, 0xFFFF]], dtype=np.uint16)
    img = PILImage.fromarray(values)
    assert img.mode == "I;16"
    out = load_image(_encode(img, fmt))
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 0x12, 0xFF])
    assert (out[..., 0] == out[..., 2]).all()


def test_16bit_rgb_png() -> None:
    pixels = np.array([[[0x1234, 0xFF00, 0x0080], [0xFFFF, 0, 0x8000]]], dtype=">u2")
    raw = b"\x00" + pixels.tobytes()  # filter type 0 for the single row
    out = load_image(_png(2, 1, 16, 2, zlib.compress(raw)))
    np.testing.assert_array_equal(out[0], [[0x12, 0xFF, 0x00], [0xFF, 0, 0x80]])


def test_32bit_int_tiff() -> None:
    values = np.array([[0, 1 << 30, (1 << 31) - 1, -5]], dtype=np.int32)
    out = load_image(_encode(PILImage.fromarray(values), "TIFF"))
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255, 0])


def test_float_tiff() -> None:
    values = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    img = PILImage.fromarray(values)
    assert img.mode == "F"
    out = load_image(_encode(img, "TIFF"))
    np.testing.assert_array_equal(out[0, :, 1], [0, 128, 255])


@pytest.mark.parametrize(("fmt", "tol"), [("TIFF", 0), ("JPEG", 6)])
def test_cmyk(fmt: str, tol: int) -> None:
    img = PILImage.new("CMYK", (24, 8), (0, 0, 0, 0))
    img.paste((255, 0, 0, 0), (8, 0, 16, 8))  # cyan
    img.paste((0, 0, 0, 255), (16, 0, 24, 8))  # black
    out = load_image(_encode(img, fmt, quality=95) if fmt == "JPEG" else _encode(img, fmt))
    for x, want in [(4, [255, 255, 255]), (12, [0, 255, 255]), (20, [0, 0, 0])]:
        assert np.abs(out[4, x].astype(int) - want).max() <= tol


def test_lab_refused() -> None:
    data = _encode(PILImage.new("LAB", (4, 4), (50, 0, 0)), "TIFF")
    with pytest.raises(ImageDecodeError, match="LAB"):
        load_image(data)


def test_ycbcr_jpeg() -> None:
    img = PILImage.new("YCbCr", (16, 16), (128, 128, 128))
    out = load_image(_encode(img, "JPEG", quality=95))
    assert np.abs(out.astype(int) - 128).max() <= 2


# --- EXIF orientation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [(1, (0, 0)), (6, (0, -1)), (8, (-1, 0)), (3, (-1, -1))],
)
def test_exif_orientation(orientation: int, corner: tuple[int, int]) -> None:
    stored = np.full((20, 40, 3), 255, dtype=np.uint8)  # landscape, white
    stored[:6, :6] = [255, 0, 0]  # red mark at the stored top-left
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    out = load_image(_encode(PILImage.fromarray(stored), "JPEG", quality=95, exif=exif))
    expected_shape = (40, 20, 3) if orientation in (6, 8) else (20, 40, 3)
    assert out.shape == expected_shape
    r, c = corner
    assert out[r, c, 0] > 200 and out[r, c, 1] < 60  # the mark
    assert out[-1 - r, -1 - c].min() > 200  # the opposite corner stays white


# --- limits -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb_png() -> bytes:
    """A genuine 30000x30000 all-black 1-bit PNG, about 110 kB."""
    side = 30000
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + side // 8)
    idat = b"".join(comp.compress(row * 1000) for _ in range(side // 1000)) + comp.flush()
    return _png(side, side, 1, 0, idat)


def test_decompression_bomb(bomb_png: bytes) -> None:
    limit_before = PILImage.MAX_IMAGE_PIXELS
    filters_before = list(warnings.filters)
    with pytest.raises(ImageTooLarge):
        load_image(bomb_png)
    with pytest.raises(ImageTooLarge, match="decompression-bomb"):  # Pillow's own guard
        load_image(bomb_png, settings=Settings(max_image_pixels=10**12))
    assert limit_before == PILImage.MAX_IMAGE_PIXELS
    assert warnings.filters == filters_before


def test_pixel_limit_checked_before_decoding() -> None:
    # The header claims 5000x5000 but the data is garbage: the size check must fire first.
    data = _png(5000, 5000, 8, 0, b"not zlib")
    with pytest.raises(ImageTooLarge, match="5000x5000"):
        load_image(data, settings=Settings(max_image_pixels=1_000_000))
    with pytest.raises(ImageDecodeError):
        load_image(data, settings=Settings(max_image_pixels=25_000_000))


def test_pixel_limit_boundary() -> None:
    data = _encode(PILImage.new("RGB", (10, 10)), "PNG")
    assert load_image(data, settings=Settings(max_image_pixels=100)).shape == (10, 10, 3)
    with pytest.raises(ImageTooLarge):
        load_image(data, settings=Settings(max_image_pixels=99))


def test_pillow_bomb_warning_becomes_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 50)
    data = _encode(PILImage.new("RGB", (10, 10)), "PNG")  # 100 px: Pillow warns, not errors
    with pytest.raises(ImageTooLarge):
        load_image(data)


def test_byte_limit(tmp_path: Path) -> None:
    data = _encode(PILImage.fromarray(_rgb()), "PNG")
    exact = Settings(max_image_bytes=len(data))
    small = Settings(max_image_bytes=len(data) - 1)
    path = tmp_path / "a.png"
    path.write_bytes(data)
    for source in (data, bytearray(data), memoryview(data), path):
        _check(load_image(source, settings=exact))
        with pytest.raises(ImageTooLarge):
            load_image(source, settings=small)
    with pytest.raises(ImageTooLarge):
        load_image(io.BytesIO(data), settings=small)
    _check(load_image(io.BytesIO(data), settings=exact))


class _Endless(io.RawIOBase):
    """A binary stream that never ends, counting what is read from it."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), 4096)
        buffer[:n] = b"\xff" * n
        self.served += n
        return n


def test_stream_read_is_bounded() -> None:
    stream = _Endless()
    with pytest.raises(ImageTooLarge):
        load_image(stream, settings=Settings(max_image_bytes=10_000))  # type: ignore[arg-type]
    assert stream.served <= 10_001


# --- decode errors ----------------------------------------------------------------------------


def _jpeg() -> bytes:
    rng = np.random.default_rng(0)
    return _encode(PILImage.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), "JPEG")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_jpeg()[: len(_jpeg()) // 2], id="jpeg-half"),
        pytest.param(_jpeg()[:-2], id="jpeg-no-eoi"),
        pytest.param(_encode(PILImage.fromarray(_rgb()), "PNG")[:60], id="png-cut"),
        pytest.param(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", id="pdf"),
        pytest.param(b"", id="empty"),
        pytest.param(np.random.default_rng(1).bytes(2048), id="random"),
        pytest.param(b"hello, this is text\n", id="text"),
        pytest.param(b"\xff\xd8\xff\xe0" + b"\x00" * 50, id="jpeg-header-only"),
        pytest.param(_encode(PILImage.new("RGB", (8, 8)), "ICO"), id="unsupported-ico"),
    ],
)
def test_undecodable_bytes(data: bytes) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(ImageDecodeError, match="<bytes>") as info:
        load_image(data)
    assert len(info.value.message) < 300
    assert info.value.__cause__ is None


def test_undecodable_file_names_path(tmp_path: Path) -> None:
    for name, content in [("doc.pdf", b"%PDF-1.7\n"), ("empty.jpg", b""), ("t.txt", b"hi\n")]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ImageDecodeError, match=name):
            load_image(str(path))


def test_truncated_jpeg_file(tmp_path: Path) -> None:
    data = _jpeg()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match=r"cut\.jpg"):
        load_image(path)


# --- sources ----------------------------------------------------------------------------------


def test_path_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _rgb()
    path = tmp_path / "pic.png"
    PILImage.fromarray(src).save(path)
    for source in (path, str(path)):
        np.testing.assert_array_equal(load_image(source), src)
    monkeypatch.chdir(tmp_path)
    os.rename(path, tmp_path / "img:1.png")  # a colon, but no URL scheme
    np.testing.assert_array_equal(load_image("img:1.png"), src)


def test_file_objects_and_buffers(tmp_path: Path) -> None:
    src = _rgb()
    data = _encode(PILImage.fromarray(src), "PNG")
    path = tmp_path / "pic.png"
    path.write_bytes(data)
    with open(path, "rb") as fh:
        np.testing.assert_array_equal(load_image(fh), src)
    with open(path, "rb", buffering=0) as raw:
        np.testing.assert_array_equal(load_image(raw), src)
    np.testing.assert_array_equal(load_image(io.BytesIO(data)), src)
    np.testing.assert_array_equal(load_image(memoryview(data)), src)
    np.testing.assert_array_equal(load_image(bytearray(data)), src)
    padded = io.BytesIO(b"junk" + data)
    padded.seek(4)  # read from the current position
    np.testing.assert_array_equal(load_image(padded), src)


def test_text_mode_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("not binary")
    with open(path, encoding="utf-8") as fh, pytest.raises(InvalidInput, match="text mode"):
        load_image(fh)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="text mode"):
        load_image(io.StringIO("x"))  # type: ignore[arg-type]
    closed = io.BytesIO(b"x")
    closed.close()
    with pytest.raises(InvalidInput, match="closed"):
        load_image(closed)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.jpg",
        "https://example.com/a.jpg",
        "HTTPS://EXAMPLE.COM/A.JPG",
        "ftp://example.com/a.jpg",
        "file:///tmp/a.jpg",
        "data:image/png;base64,iVBORw0KGgo=",
        "s3://bucket/key.jpg",
        "gs://bucket/key.jpg",
        "custom+scheme://host/x",
    ],
)
def test_urls_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="never fetches URLs") as info:
        load_image(url)
    assert not isinstance(info.value, ImageDecodeError)


def test_missing_path_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    with pytest.raises(InvalidInput, match=r"nope\.jpg") as info:
        load_image(missing)
    assert type(info.value) is InvalidInput
    with pytest.raises(InvalidInput, match="directory") as info:
        load_image(str(tmp_path))
    assert str(tmp_path) in info.value.message
    with pytest.raises(InvalidInput, match="empty"):
        load_image("")
    with pytest.raises(InvalidInput):
        load_image("bad\x00name.png")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.png"
    path.write_bytes(_encode(PILImage.new("RGB", (4, 4)), "PNG"))

    def deny(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(fio, "open", deny, raising=False)
    with pytest.raises(InvalidInput, match=r"locked\.png.*permission denied"):
        load_image(path)


@pytest.mark.parametrize(
    "value", [42, None, 3.5, [1, 2, 3], {"a": 1}, object(), (1, 2), PILImage.new("RGB", (2, 2))]
)
def test_wrong_types(value: Any) -> None:
    with pytest.raises(InvalidInput, match=type(value).__name__):
        load_image(value)


# --- numpy arrays -----------------------------------------------------------------------------


def test_array_rgb_copied_and_contiguous() -> None:
    src = _rgb()
    out = load_image(src)
    np.testing.assert_array_equal(out, src)
    assert not np.shares_memory(out, src)
    view = np.ascontiguousarray(src.transpose(1, 0, 2))[:, ::2]  # a strided view
    _check(load_image(view), W, H // 2)
    np.testing.assert_array_equal(load_image(view), view)


def test_array_gray_shapes() -> None:
    gray = _rgb()[:, :, 1]
    for arr in (gray, gray[:, :, None]):
        out = load_image(arr)
        _check(out)
        assert (out == gray[:, :, None]).all()


def test_array_rgba_alpha_dropped() -> None:
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    np.testing.assert_array_equal(load_image(rgba), np.tile([200, 0, 0], (2, 2, 1)))


def test_array_uint16_and_float() -> None:
    for dtype in ("<u2", ">u2"):
        arr = np.array([[0, 0x00FF, 0x1234, 0xFFFF]], dtype=dtype)
        np.testing.assert_array_equal(load_image(arr)[0, :, 0], [0, 0, 0x12, 0xFF])
    for ftype in (np.float16, np.float32, np.float64):
        arr = np.array([[0.0, 0.5, 1.0]], dtype=ftype)
        np.testing.assert_array_equal(load_image(arr)[0, :, 2], [0, 128, 255])


@pytest.mark.parametrize(
    ("arr", "needle"),
    [
        (np.zeros((4, 4), dtype=bool), "bool"),
        (np.zeros((4, 4), dtype=complex), "complex"),
        (np.zeros((4, 4), dtype=object), "object"),
        (np.zeros((4, 4), dtype=np.int32), "int32"),
        (np.zeros((0, 4, 3), dtype=np.uint8), r"\(0, 4, 3\)"),
        (np.zeros((16,), dtype=np.uint8), r"\(16,\)"),
        (np.zeros((4, 4, 5), dtype=np.uint8), r"\(4, 4, 5\)"),
        (np.zeros((4, 4, 2), dtype=np.uint8), r"\(4, 4, 2\)"),
        (np.zeros((2, 4, 4, 3), dtype=np.uint8), r"\(2, 4, 4, 3\)"),
        (np.full((4, 4), 1.5), "float64"),
        (np.full((4, 4), -0.1, dtype=np.float32), "float32"),
        (np.full((4, 4), np.nan), "float64"),
    ],
)
def test_bad_arrays(arr: npt.NDArray[np.generic], needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle) as info:
        load_image(arr)
    assert type(info.value) is InvalidInput


def test_array_pixel_limit() -> None:
    arr = np.zeros((10, 11, 3), dtype=np.uint8)
    with pytest.raises(ImageTooLarge):
        load_image(arr, settings=Settings(max_image_pixels=109))
    _check(load_image(arr, settings=Settings(max_image_pixels=110)), 10, 11)


# --- hashing ----------------------------------------------------------------------------------


def test_image_sha256() -> None:
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert image_sha256(b"") == empty
    data = _jpeg()
    assert image_sha256(data) == hashlib.sha256(data).hexdigest()


def test_read_file_applies_the_same_checks_without_decoding(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from facewise.errors import ImageTooLarge, InvalidInput
    from facewise.io import read_file
    from facewise.settings import Settings

    path = tmp_path / "x.bin"
    path.write_bytes(b"not decoded, just read")
    assert read_file(path) == b"not decoded, just read"
    with pytest.raises(ImageTooLarge):
        read_file(path, settings=Settings(max_image_bytes=5))
    with pytest.raises(InvalidInput, match="never fetches"):
        read_file("https://example.com/x.jpg")
    with pytest.raises(InvalidInput, match="directory"):
        read_file(tmp_path)
