"""Reading images: local files, encoded bytes, binary streams and numpy arrays, decoded to RGB.

:func:`load_image` is the only way pixels enter facewise. It never fetches anything over a network:
a URL is refused. Every result is a new ``numpy.ndarray`` of shape (H, W, 3), dtype uint8, RGB
order, C-contiguous (:data:`facewise.types.Image`), upright according to its EXIF orientation.

Limits come from :class:`~facewise.settings.Settings`: ``max_image_bytes`` bounds the encoded input
(checked before it is read) and ``max_image_pixels`` bounds width x height (checked from the image
header, before the pixels are decoded). Pillow's own decompression-bomb guard
(``PIL.Image.MAX_IMAGE_PIXELS``, left as the process has it) also applies; its warning and error
both come out as :class:`~facewise.errors.ImageTooLarge`.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import warnings
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from facewise.errors import FacewiseError, ImageDecodeError, ImageTooLarge, InvalidInput
from facewise.settings import Settings
from facewise.types import Image

__all__ = ["FORMATS", "image_sha256", "load_image", "read_file"]

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | np.ndarray

FORMATS = ("JPEG", "PNG", "GIF", "TIFF", "PPM", "BMP", "WEBP")
"""Pillow format names load_image decodes (PPM covers PBM/PGM/PPM; JPEG covers MPO files).
Anything else is refused, which keeps Pillow's rarer (and riskier) decoders out of reach."""

_URL_SCHEMES = frozenset(
    {"http", "https", "ftp", "ftps", "sftp", "file", "data", "s3", "gs", "gcs", "az", "abfs"}
    | {"abfss", "hdfs", "ws", "wss", "blob"}
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")
_INT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def image_sha256(data: bytes | bytearray | memoryview) -> str:
    """The SHA-256 of encoded image bytes, as 64 lower-case hex digits (for provenance)."""
    return hashlib.sha256(data).hexdigest()


def read_file(source: str | os.PathLike[str], *, settings: Settings | None = None) -> bytes:
    """The encoded bytes of a local image file, with the same checks as :func:`load_image`
    (URLs refused, missing path, directory, ``max_image_bytes``) but without decoding."""
    settings = settings if settings is not None else Settings()
    return _read_path(_local_path(source), settings)


def load_image(source: ImageSource, *, settings: Settings | None = None) -> Image:
    """Decode ``source`` into an (H, W, 3) uint8 RGB C-contiguous array the caller owns.

    ``source`` is one of:

    * a local file path (``str`` or ``os.PathLike``); URLs are refused, facewise never fetches;
    * encoded image bytes (``bytes``, ``bytearray``, ``memoryview``);
    * a binary file object open for reading (read from its current position);
    * a ``numpy.ndarray``: (H, W) or (H, W, 1) gray, (H, W, 3) RGB, (H, W, 4) RGBA (alpha
      dropped); dtype uint8 (as is), uint16 (``>> 8``) or float with values in [0, 1] (x 255).

    Encoded images may be JPEG, PNG, GIF (first frame), TIFF (first page), PBM/PGM/PPM, BMP or
    WebP in any common mode. Transparent pixels are composited onto white; 16- and 32-bit
    grayscale is scaled by the range of its sample type (not by the image's min and max); float
    grayscale in [0, 1] is scaled by 255, other float values are taken as 0-255 and clipped.

    Raises :class:`InvalidInput` for a wrong type, a URL, a missing or unreadable path or a bad
    array; :class:`ImageTooLarge` past ``settings.max_image_bytes`` or ``max_image_pixels``;
    :class:`ImageDecodeError` for bytes that are not a complete image in a supported format.
    ``settings`` defaults to ``Settings()``.
    """
    settings = settings if settings is not None else Settings()
    if isinstance(source, np.ndarray):
        return _from_array(source, settings)
    if isinstance(source, str | os.PathLike):
        path = _local_path(source)
        return _decode(_read_path(path, settings), path, settings)
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        _check_bytes(view.nbytes, "<bytes>", settings)
        return _decode(view.tobytes(), "<bytes>", settings)
    if isinstance(source, io.TextIOBase):
        raise InvalidInput("load_image needs a binary file object, got one open in text mode")
    if callable(getattr(source, "read", None)):
        name = getattr(source, "name", None)
        label = name if isinstance(name, str) else "<stream>"
        return _decode(_read_stream(source, label, settings.max_image_bytes), label, settings)
    raise InvalidInput(
        f"load_image cannot read input of type {type(source).__name__}: give a file path, "
        "image bytes, a binary file object or a numpy array"
    )


# --- reading the encoded bytes -------------------------------------------------------------


def _local_path(source: str | os.PathLike[str]) -> str:
    path = os.fsdecode(os.fspath(source))
    if not path:
        raise InvalidInput("empty image path")
    match = _SCHEME.match(path)
    if match and (match.group(1).lower() in _URL_SCHEMES or path[match.end() :].startswith("//")):
        raise InvalidInput(
            f"{path!r} looks like a URL; facewise never fetches URLs, download the image first"
        )
    return path


def _read_path(path: str, settings: Settings) -> bytes:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path}") from None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path}: {_reason(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InvalidInput(f"{path} is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"{path} is not a regular file")
    _check_bytes(info.st_size, path, settings)
    try:
        with open(path, "rb") as fh:
            return _read_stream(fh, path, settings.max_image_bytes)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {_reason(exc)}") from None


def _read_stream(stream: BinaryIO, label: str, limit: int) -> bytes:
    """Read to the end but at most ``limit + 1`` bytes; more than ``limit`` is ImageTooLarge."""
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        try:
            chunk = stream.read(limit + 1 - total)
        except (OSError, ValueError) as exc:  # ValueError: a closed file
            raise InvalidInput(f"cannot read {label}: {_reason(exc)}") from None
        if isinstance(chunk, str):
            raise InvalidInput(f"{label} is open in text mode; open it in binary mode ('rb')")
        if not chunk:
            break
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise InvalidInput(f"{label}: read() returned {type(chunk).__name__}, not bytes")
        chunks.append(bytes(chunk))
        total += len(chunks[-1])
    if total > limit:
        raise ImageTooLarge(f"{label} is larger than max_image_bytes ({limit} bytes)")
    return b"".join(chunks)


def _check_bytes(size: int, label: str, settings: Settings) -> None:
    if size > settings.max_image_bytes:
        raise ImageTooLarge(
            f"{label} is {size} bytes, more than max_image_bytes ({settings.max_image_bytes})"
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# --- decoding -------------------------------------------------------------------------------


def _decode(data: bytes, label: str, settings: Settings) -> Image:
    if not data:
        raise ImageDecodeError(f"cannot decode {label}: it is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data), formats=FORMATS) as img:
                _check_pixels(img.size, label, settings)
                bits, signed = _sample_type(img)
                img.load()  # full decode; a truncated file raises here
                upright = ImageOps.exif_transpose(img)
                return _to_rgb(upright, bits, signed)
    except FacewiseError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise ImageTooLarge(
            f"{label} exceeds Pillow's decompression-bomb limit (PIL.Image.MAX_IMAGE_PIXELS): "
            f"{_reason(exc)}"
        ) from None
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"cannot decode {label}: not an image in a supported format ({', '.join(FORMATS)})"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError, struct.error, ...
        raise ImageDecodeError(f"cannot decode {label}: {_reason(exc)}") from None


def _check_pixels(size: tuple[int, int], label: str, settings: Settings) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"cannot decode {label}: it declares a {width}x{height} image")
    if width * height > settings.max_image_pixels:
        raise ImageTooLarge(
            f"{label} is {width}x{height} = {width * height} pixels, more than "
            f"max_image_pixels ({settings.max_image_pixels})"
        )


def _sample_type(img: PILImage.Image) -> tuple[int, bool]:
    """Bits per sample and signedness of a mode "I" image (read before transposing drops tags)."""
    if img.mode != "I":
        return 0, False
    if img.format == "PPM":  # Pillow scales PGM samples to 0..65535
        return 16, False
    tags = getattr(img, "tag_v2", None)
    if img.format == "TIFF" and tags is not None:
        bps = tags.get(258, (32,))
        bits = int(bps[0] if isinstance(bps, tuple) else bps)
        fmt = tags.get(339, (1,))
        signed = int(fmt[0] if isinstance(fmt, tuple) else fmt) == 2
        if bits in (16, 32):
            return bits, signed
    return 32, True


def _to_rgb(img: PILImage.Image, bits: int, signed: bool) -> Image:
    mode = img.mode
    if mode in _INT_MODES:
        return _gray_to_rgb(_int_to_u8(np.asarray(img), bits, signed))
    if mode == "F":
        return _gray_to_rgb(_float_to_u8(np.asarray(img)))
    if mode in _ALPHA_MODES or img.has_transparency_data:
        rgba = np.asarray(img.convert("RGBA"))
        return _on_white(rgba)
    if mode == "LAB":  # Pillow's LAB -> RGB conversion gives wrong colours
        raise ValueError("unsupported colour mode LAB")
    if mode != "RGB":
        img = img.convert("RGB")  # 1, L, P, CMYK, YCbCr, ...; ValueError if Pillow cannot
    return np.array(img, dtype=np.uint8, order="C")


def _int_to_u8(arr: npt.NDArray[np.generic], bits: int, signed: bool) -> npt.NDArray[np.uint8]:
    """Scale integer samples to 0..255 by the range of their type; negative values clip to 0."""
    if arr.dtype.kind == "u":  # I;16 family: uint16
        bits, signed = arr.dtype.itemsize * 8, False
    wide = arr.astype(np.int64)
    if not signed and bits == 32:
        wide &= 0xFFFFFFFF  # uint32 samples that Pillow stored in an int32
    shift = bits - 8 if not signed else bits - 9
    clipped: npt.NDArray[np.int64] = np.clip(wide >> shift, 0, 255)
    return clipped.astype(np.uint8)


def _float_to_u8(arr: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    values = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
    if values.size and values.min() >= 0.0 and values.max() <= 1.0:
        values = values * 255.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: npt.NDArray[np.uint8]) -> Image:
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def _on_white(rgba: npt.NDArray[np.uint8]) -> Image:
    """Composite (H, W, 4) RGBA over white, rounding to nearest."""
    rgb = rgba[:, :, :3].astype(np.uint32)
    alpha = rgba[:, :, 3:].astype(np.uint32)
    out = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return np.ascontiguousarray(out.astype(np.uint8))


# --- numpy arrays ---------------------------------------------------------------------------


def _from_array(arr: np.ndarray, settings: Settings) -> Image:
    desc = f"array of shape {arr.shape} and dtype {arr.dtype}"
    if arr.size == 0:
        raise InvalidInput(f"empty image: {desc}")
    if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
        channels = arr.shape[2]
    elif arr.ndim == 2:
        channels = 0
    else:
        raise InvalidInput(
            f"an image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4): {desc}"
        )
    height, width = arr.shape[:2]
    if height * width > settings.max_image_pixels:
        raise ImageTooLarge(
            f"{desc} has {height * width} pixels, more than max_image_pixels "
            f"({settings.max_image_pixels})"
        )
    kind, size = arr.dtype.kind, arr.dtype.itemsize
    if kind == "u" and size == 1:
        pixels = arr.astype(np.uint8, copy=False)
    elif kind == "u" and size == 2:
        pixels = (arr.astype(np.uint16, copy=False) >> 8).astype(np.uint8)
    elif kind == "f":
        values = arr.astype(np.float64, copy=False)
        if not (np.all(np.isfinite(values)) and values.min() >= 0.0 and values.max() <= 1.0):
            raise InvalidInput(f"float image values must lie in [0, 1]: {desc}")
        pixels = np.rint(values * 255.0).astype(np.uint8)
    else:
        raise InvalidInput(f"an image array must be uint8, uint16 or float in [0, 1]: {desc}")
    if channels in (0, 1):
        return _gray_to_rgb(pixels.reshape(height, width))
    return np.array(pixels[:, :, :3], dtype=np.uint8, order="C")
