"""The outer guard of every HTTP request: the body-size limit, metrics, and the last line of
defence against unexpected exceptions (logged with their traceback, answered ``500 internal``).

The body limit is enforced twice: a ``Content-Length`` above ``max_request_bytes`` is refused with
413 before a byte of the body is read, and a body without one (chunked) is counted as it streams
and refused as soon as it passes the limit.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facewise.server.metrics import Metrics

log = logging.getLogger(__name__)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit (FastAPI lets an
    HTTPException through its body parsing, so it reaches the JSON error handler)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def _json(status: int, code: str, message: str) -> tuple[dict[str, Any], bytes]:
    body = json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"connection", b"close"),
        ],
    }
    return start, body


class Guard:
    def __init__(self, app: ASGIApp, *, max_body: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        state = {"status": 0, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"], state["status"] = True, message["status"]
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                # no other site may frame the page (clickjacking); a meta tag cannot say this
                headers.setdefault("content-security-policy", "frame-ancestors 'none'")
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault("referrer-policy", "no-referrer")
            await send(message)

        async def reply(status: int, code: str, message: str) -> None:
            start, body = _json(status, code, message)
            await send_wrapper(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        try:
            length = self._content_length(scope)
            if length is None:
                await reply(400, "invalid_request", "Content-Length is not a number")
            elif length > self.max_body:
                await reply(
                    413,
                    "request_too_large",
                    f"the request body is larger than {self.max_body} bytes",
                )
            else:
                await self.app(scope, self._counting(receive), send_wrapper)
        except BodyTooLarge as exc:
            if not state["started"]:
                await reply(413, "request_too_large", str(exc.detail))
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not state["started"]:
                await reply(500, "internal", "internal error")
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"  # templates: bounded labels
            method = scope.get("method", "")
            self.metrics.observe(
                path,
                method if method in _METHODS else "other",
                int(state["status"]),
                time.perf_counter() - began,
            )

    @staticmethod
    def _content_length(scope: Scope) -> int | None:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                text = value.decode("latin-1").strip()
                return int(text) if text.isdigit() and len(text) < 20 else None
        return 0

    def _counting(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return wrapped
