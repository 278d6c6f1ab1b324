"""Errors only the service raises, and how any error becomes a JSON ``{"code", "message"}``.

Messages are scrubbed of server paths (FACEWISE_HOME, the Python installation) before they leave,
and anything unexpected is logged with its traceback and answered ``500 internal error``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi.responses import JSONResponse

from facewise.errors import FacewiseError

log = logging.getLogger(__name__)


class NotFound(FacewiseError):
    code = "not_found"
    exit_code = 2
    http_status = 404


class Unauthorized(FacewiseError):
    code = "unauthorized"
    exit_code = 2
    http_status = 401


class Forbidden(FacewiseError):
    code = "forbidden"
    exit_code = 2
    http_status = 403


class RateLimited(FacewiseError):
    code = "rate_limited"
    exit_code = 2
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestTooLarge(FacewiseError):
    code = "request_too_large"
    exit_code = 4
    http_status = 413


class UnsupportedMediaType(FacewiseError):
    code = "unsupported_media_type"
    exit_code = 2
    http_status = 415


class NothingEnrolled(FacewiseError):
    """No upload of an enrolment request gave a usable face (the details say why, per image)."""

    code = "nothing_enrolled"
    exit_code = 5
    http_status = 422

    def __init__(self, message: str, *, skipped: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.skipped = skipped


class NotReady(FacewiseError):
    code = "not_ready"
    exit_code = 1
    http_status = 503


HTTP_CODES = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "not_ready",
}
"""The ``code`` of a plain HTTP error (a route that does not exist, a method not allowed)."""


class Scrubber:
    """Replaces server paths in a message with ``<server path>``."""

    def __init__(self, extra: Iterable[Path | str] = ()) -> None:
        roots: set[str] = set()
        for root in (
            *extra,
            sys.prefix,
            sys.base_prefix,
            sys.exec_prefix,
            *sysconfig.get_paths().values(),
            Path(__file__).resolve().parents[1],  # the facewise package
            os.getcwd(),
        ):
            text = str(root)
            if len(text) > 1:
                roots.add(text)
                roots.add(str(Path(text).resolve()))
        ordered = sorted(roots, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(r) for r in ordered)) if ordered else None

    def __call__(self, message: str) -> str:
        if self._pattern is None:
            return message
        return self._pattern.sub("<server path>", message)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, **(extra or {})}
    return JSONResponse(body, status_code=status, headers=headers)


def facewise_error_response(exc: FacewiseError, scrub: Scrubber) -> JSONResponse:
    status = exc.http_status
    if status >= 500 and not isinstance(exc, NotReady):
        # a model or configuration fault: the details (paths, file names) stay in the server log
        log.error("%s: %s", type(exc).__name__, exc.message)
        return error_response(status, exc.code, "internal error")
    headers, extra = None, None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, Unauthorized):
        headers = {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, NothingEnrolled):
        extra = {"skipped": [{k: scrub(v) for k, v in item.items()} for item in exc.skipped]}
    return error_response(status, exc.code, scrub(exc.message), headers=headers, extra=extra)
