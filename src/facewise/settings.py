"""Settings: defaults < config file < ``FACEWISE_*`` environment < explicit arguments.

The config file is TOML, found at ``$FACEWISE_CONFIG`` or ``$FACEWISE_HOME/config.toml``; its keys
are the field names below. Environment variables are the upper-cased field names with a
``FACEWISE_`` prefix (``FACEWISE_MAX_IMAGE_PIXELS=40000000``).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from facewise.errors import ConfigError
from facewise.location import Location, parse_location

DEFAULT_HOME = Path("facewise-data")


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path = DEFAULT_HOME
    """The folder of facewise's own files: config.toml, API keys, caches, and the embedded
    gallery unless ``gallery`` says otherwise. Always a folder, never a URL."""
    gallery: str = ""
    """Where the gallery lives (``facewise.location``): empty = the SQLite gallery in ``home``;
    a folder; ``sqlite:///file.sqlite``; ``milvus://host:port``; ``milvus-lite:///file.db``."""
    max_image_bytes: int = 50 * 1024 * 1024
    """Largest encoded input accepted, in bytes."""
    max_image_pixels: int = 40_000_000
    """Largest decoded image accepted, width x height (decompression-bomb guard)."""
    max_side: int = 2048
    """Longer images are shrunk to this side before detection (boxes are mapped back)."""
    detector: str = "auto"
    """A detector, a cascade ("hog+mtcnn"), or "auto": the one the embedder was trained with."""
    embedder: str = "dlib-resnet"
    """A bundled embedding model ("dlib-resnet", "facenet") or ``onnx:FILE``: your own ONNX model,
    described by the card ``FILE.json`` beside it or options (``onnx:FILE?alignment=arcface-112``;
    README, "Your own model"). A relative FILE is taken from the working folder."""
    flip: bool = True
    """Test-time flip fusion: embed each face and its mirror image and average the two."""
    threads: int = 0
    """Threads for onnxruntime inference; 0 = all cores."""
    template: str = "mean"
    """How a probe is scored against a person's samples: "best" (best-of) or "mean"."""
    fpir: float = 0.01
    """Target false-positive identification rate for open-set decisions (0.01 or 0.001)."""
    min_quality: float = 0.0
    """Enrolment refuses faces whose quality score (facewise.analyzers.quality) is below this."""
    min_face: int = 40
    """Smallest face width in pixels the detection pyramid looks for."""
    max_request_bytes: int = 20 * 1024 * 1024
    """Largest HTTP request body ``facewise serve`` accepts, in bytes (refused with 413 from its
    Content-Length, or as soon as a body without one grows past it)."""
    rate_limit: float = 10.0
    """Requests per second per API key in ``facewise serve`` (a token bucket in each worker
    process, so N workers allow up to N times this); 0 turns the limit off."""
    rate_burst: int = 20
    """Requests an API key may make in a burst before ``rate_limit`` applies."""
    cors_origins: str = ""
    """Comma-separated origins allowed to call the REST service from a browser page served
    elsewhere ("*" for any); empty = CORS off, the default."""
    ray_address: str = ""
    """The Ray cluster batch jobs join (``host:port`` of its head, or ``auto``) when neither
    ``--ray-address`` nor ``RAY_ADDRESS`` says; empty = a local Ray (``--engine ray``)."""


def _coerce(name: str, raw: Any, kind: Any) -> Any:
    try:
        if kind in (Path, "Path"):
            return Path(raw)
        if kind in (bool, "bool"):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError("expected true or false")
            return text in ("1", "true", "yes", "on")
        if kind in (float, "float"):
            return float(raw)
        if kind in (int, "int"):
            return int(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {raw!r} ({exc})") from None


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from defaults, the config file, the environment and ``overrides`` (in that
    order of increasing precedence). ``None`` overrides are ignored."""
    known = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}
    home = Path(os.environ.get("FACEWISE_HOME", str(DEFAULT_HOME)))
    config = Path(os.environ.get("FACEWISE_CONFIG", str(home / "config.toml")))
    if config.is_file():
        try:
            data = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {config}: {exc}") from None
        for key, raw in data.items():
            if key not in known:
                raise ConfigError(f"config file {config}: unknown setting {key!r}")
            values[key] = raw
    for key in known:
        env = os.environ.get(f"FACEWISE_{key.upper()}")
        if env is not None:
            values[key] = env
    for key, raw in overrides.items():
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}")
        if raw is not None:
            values[key] = raw
    coerced = {k: _coerce(k, v, known[k]) for k, v in values.items()}
    for key in (
        "max_image_bytes",
        "max_image_pixels",
        "max_side",
        "min_face",
        "max_request_bytes",
        "rate_burst",
    ):
        if key in coerced and coerced[key] <= 0:
            raise ConfigError(f"setting {key!r} must be positive, got {coerced[key]}")
    if coerced.get("rate_limit", 0) < 0:
        raise ConfigError(
            f"setting 'rate_limit' must be 0 (off) or more, got {coerced['rate_limit']}"
        )
    settings = dataclasses.replace(Settings(), **coerced)
    gallery_location(settings)  # a malformed location is an error now, before anything is made
    return settings


def gallery_location(settings: Settings) -> Location:
    """The parsed ``gallery`` setting (the SQLite gallery in ``home`` when it is empty)."""
    return parse_location(settings.gallery, home=settings.home)
