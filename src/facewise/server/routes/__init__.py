"""The versioned routes: system (health, readiness, metrics, whoami), images (detect, embed,
verify, identify, analyze), people, collections, audit."""

from __future__ import annotations

from typing import Any

from facewise.server.schemas import ErrorOut

_WHY = {
    400: "Invalid input (empty file, bad base64, a value the core refuses).",
    401: "No valid API key (missing, unknown, wrong or revoked: one answer for all).",
    403: "The key lacks the scope this route needs.",
    404: "No such person.",
    409: "The name is taken.",
    413: "The request body or the image is too large (bytes or pixels).",
    415: "Not an image facewise decodes, or not multipart/JSON.",
    422: "The request does not have the expected fields, or no face where one is needed.",
    429: "Rate limit of this key reached; see Retry-After.",
    503: "The service is starting.",
}


def errors(*statuses: int, why: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route may answer (``why``: descriptions
    that differ from the usual ones)."""
    told = {**_WHY, **(why or {})}
    return {s: {"model": ErrorOut, "description": told[s]} for s in statuses}


AUTH = (401, 403, 429, 503)
IMAGE = (400, *AUTH, 413, 415, 422)
