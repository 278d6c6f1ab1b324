"""Image inputs: multipart file parts, or a JSON body with base64 strings under the same names.

A string is never taken for a path or a URL: a multipart text part where a file is expected is
refused, and a JSON string is decoded as base64 (a ``data:...;base64,`` prefix is allowed) and
nothing else. Unknown, missing or repeated fields are refused with 422 ``invalid_request``;
empty files and bad base64 with 400 ``invalid_input``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from facewise.errors import FacewiseError, InvalidInput
from facewise.server.errors import UnsupportedMediaType
from facewise.server.middleware import BodyTooLarge
from facewise.server.schemas import MAX_FILES


class InvalidRequest(FacewiseError):
    """The request does not have the shape the route expects (fields, types, values)."""

    code = "invalid_request"
    exit_code = 2
    http_status = 422


@dataclass(frozen=True, slots=True)
class Upload:
    label: str
    """The uploaded file's base name (cleaned), or the field name for base64 JSON input."""
    data: bytes


@dataclass(frozen=True, slots=True)
class BodySpec:
    """What one route takes: single-image fields, a multi-image field, and text fields."""

    json_model: type[BaseModel]
    images: tuple[str, ...] = ()
    many: str | None = None
    fields: type[BaseModel] | None = None


@dataclass(slots=True)
class Parsed:
    uploads: dict[str, list[Upload]] = field(default_factory=dict)
    fields: BaseModel | None = None

    def one(self, name: str) -> Upload:
        return self.uploads[name][0]


_DATA_URL = re.compile(r"^data:[\w.+-]+/[\w.+-]+(;[\w.+-]+=[\w.+-]+)*;base64,", re.ASCII)


def validation_message(exc: ValidationError) -> str:
    """Pydantic errors as one line: where and what, never the offending value."""
    parts = []
    for err in exc.errors()[:10]:
        where = ".".join(str(x) for x in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _file_label(upload: UploadFile, fallback: str) -> str:
    name = os.path.basename((upload.filename or "").replace("\\", "/"))
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")[:200].strip()
    return name or fallback


def _b64(value: str, where: str) -> bytes:
    text = _DATA_URL.sub("", value, count=1)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            f"{where} is not base64: send the image file's bytes base64-encoded (or upload it "
            "as multipart/form-data); paths and URLs are never read"
        ) from None
    if not data:
        raise InvalidInput(f"{where} is empty")
    return data


async def _from_json(request: Request, spec: BodySpec) -> Parsed:
    try:
        obj = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidRequest("the body is not valid JSON") from None
    except RecursionError:
        raise InvalidRequest("the JSON body is nested too deeply") from None
    except ValueError:  # an integer beyond Python's digit limit, and the like
        raise InvalidRequest("the JSON body holds a value that cannot be read") from None
    if not isinstance(obj, dict):
        raise InvalidRequest("the JSON body must be an object")
    try:
        model = spec.json_model.model_validate(obj)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc)) from None
    parsed = Parsed()
    for name in spec.images:
        parsed.uploads[name] = [Upload(name, _b64(getattr(model, name), name))]
    if spec.many:
        items = getattr(model, spec.many)
        items = [items] if isinstance(items, str) else items  # one image given as a string
        labels = [f"{spec.many}[{i}]" for i in range(len(items))] if len(items) > 1 else [spec.many]
        parsed.uploads[spec.many] = [
            Upload(label, _b64(v, label)) for label, v in zip(labels, items, strict=True)
        ]
    if spec.fields is not None:
        parsed.fields = spec.fields.model_validate(
            {k: v for k, v in model.model_dump().items() if k in spec.fields.model_fields}
        )
    return parsed


async def _from_form(request: Request, spec: BodySpec) -> Parsed:
    text_names = set(spec.fields.model_fields) if spec.fields is not None else set()
    file_names = set(spec.images) | ({spec.many} if spec.many else set())
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=len(text_names) + 1)
    except BodyTooLarge:  # a chunked body passed the limit while streaming: 413, not 400
        raise
    except HTTPException as exc:  # Starlette's multipart limits and parse errors
        detail = str(exc.detail)
        if detail.startswith("Too many files"):
            raise InvalidRequest(f"at most {MAX_FILES} files per request") from None
        if detail.startswith("Too many fields"):
            raise InvalidRequest(
                f"too many text fields; expected at most {', '.join(sorted(text_names))}"
                if text_names
                else "this route takes files only, no text fields"
            ) from None
        raise InvalidInput(f"malformed multipart body: {detail}") from None
    try:
        texts: dict[str, str] = {}
        files: dict[str, list[UploadFile]] = {}
        unknown = []
        for key, value in form.multi_items():
            if key in file_names:
                if not isinstance(value, UploadFile):
                    raise InvalidRequest(
                        f"field {key!r} must be an uploaded file (a multipart file part); the "
                        "server never reads paths or URLs"
                    )
                files.setdefault(key, []).append(value)
            elif key in text_names:
                if not isinstance(value, str):
                    raise InvalidRequest(f"field {key!r} must be text, not a file")
                if key in texts:
                    raise InvalidRequest(f"field {key!r} given more than once")
                texts[key] = value
            else:
                unknown.append(key)
        if unknown:
            expected = ", ".join(sorted(file_names | text_names))
            raise InvalidRequest(
                f"unknown field(s) {', '.join(sorted(set(unknown)))[:200]}; expected {expected}"
            )
        for name in spec.images:
            if name not in files:
                raise InvalidRequest(f"missing file field {name!r}")
            if len(files[name]) > 1:
                raise InvalidRequest(f"field {name!r} takes one file, got {len(files[name])}")
        if spec.many and spec.many not in files:
            raise InvalidRequest(f"missing file field {spec.many!r} (one or more image files)")
        parsed = Parsed()
        for name, uploads in files.items():
            parsed.uploads[name] = []
            for i, upload in enumerate(uploads):
                label = _file_label(upload, name if len(uploads) == 1 else f"{name}[{i}]")
                data = await upload.read()
                if not data:
                    raise InvalidInput(f"{name}: the uploaded file {label!r} is empty")
                parsed.uploads[name].append(Upload(label, data))
        if spec.fields is not None:
            try:
                parsed.fields = spec.fields.model_validate(texts)
            except ValidationError as exc:
                raise InvalidRequest(validation_message(exc)) from None
        return parsed
    finally:
        await form.close()


def body(spec: BodySpec) -> Callable[[Request], Awaitable[Parsed]]:
    """A FastAPI dependency that reads ``spec``'s fields from multipart or JSON."""

    async def parse(request: Request) -> Parsed:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            return await _from_form(request, spec)
        if kind == "application/json":
            return await _from_json(request, spec)
        raise UnsupportedMediaType(
            "send the images as multipart/form-data file parts, or as base64 strings in an "
            "application/json body"
        )

    return parse


def openapi_body(spec: BodySpec) -> dict[str, Any]:
    """The ``requestBody`` of ``spec`` for the OpenAPI document (both content types)."""
    json_schema = spec.json_model.model_json_schema()
    properties: dict[str, Any] = {}
    required: list[str] = []
    if spec.fields is not None:
        text_schema = spec.fields.model_json_schema()
        for name, prop in text_schema.get("properties", {}).items():
            prop = dict(prop)
            if "anyOf" in prop:  # "str | None": a form part is text or absent
                prop = {
                    **next(p for p in prop["anyOf"] if p.get("type") != "null"),
                    **{k: v for k, v in prop.items() if k not in ("anyOf", "default")},
                }
            properties[name] = prop
        required += text_schema.get("required", [])
    binary = {"type": "string", "format": "binary"}
    for name in spec.images:
        properties[name] = binary
        required.append(name)
    if spec.many:
        properties[spec.many] = {
            "type": "array",
            "items": binary,
            "minItems": 1,
            "maxItems": MAX_FILES,
        }
        required.append(spec.many)
    form_schema = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": form_schema},
                "application/json": {"schema": json_schema},
            },
        }
    }
