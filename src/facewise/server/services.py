"""What the routes share in one server process: settings, the Engine (models loaded once at
start-up), the Gallery, the key store, the rate limiter and the metrics."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from facewise.engine import Engine
from facewise.gallery import Gallery
from facewise.server.challenges import Challenges
from facewise.server.errors import Forbidden, NotReady, RateLimited, Scrubber, Unauthorized
from facewise.server.keys import ApiKey, KeyStore
from facewise.server.metrics import Metrics
from facewise.server.ratelimit import RateLimiter, retry_after
from facewise.settings import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Services:
    settings: Settings
    engine: Engine
    gallery: Gallery
    keys: KeyStore
    limiter: RateLimiter
    metrics: Metrics
    scrub: Scrubber
    challenges: Challenges = field(default_factory=Challenges)


def services(request: Request) -> Services:
    svc: Services | None = getattr(request.app.state, "services", None)
    if svc is None:
        raise NotReady("the service is starting: models are not loaded yet")
    return svc


Svc = Annotated[Services, Depends(services)]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `facewise keys create --scope read|enrol|admin`.",
)

UNAUTHORIZED = "a valid API key is required (Authorization: Bearer KEY)"


def _authorise(
    scope: str, svc: Services, credentials: HTTPAuthorizationCredentials | None
) -> ApiKey:
    key = svc.keys.check(credentials.credentials) if credentials is not None else None
    if key is None:  # missing, malformed, unknown, wrong or revoked: one answer for all
        raise Unauthorized(UNAUTHORIZED)
    wait = svc.limiter.take(key.id)
    if wait > 0:
        raise RateLimited(
            f"too many requests for this key; retry in {retry_after(wait)} s",
            retry_after=retry_after(wait),
        )
    if not key.allows(scope):
        raise Forbidden(f"this key's scope is {key.scope!r}; this needs {scope!r}")
    return key


def read_key(
    svc: Svc, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> ApiKey:
    return _authorise("read", svc, credentials)


def enrol_key(
    svc: Svc, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> ApiKey:
    return _authorise("enrol", svc, credentials)


def admin_key(
    svc: Svc, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> ApiKey:
    return _authorise("admin", svc, credentials)


ReadKey = Annotated[ApiKey, Depends(read_key)]
EnrolKey = Annotated[ApiKey, Depends(enrol_key)]
AdminKey = Annotated[ApiKey, Depends(admin_key)]


def actor(key: ApiKey) -> str:
    """Who the audit log names for a write made with ``key``."""
    return f"key:{key.name}"
