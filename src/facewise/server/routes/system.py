"""Health, readiness, metrics and whoami."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from facewise.server.keys import scopes_of
from facewise.server.routes import AUTH, errors
from facewise.server.schemas import StatusOut, WhoAmIOut
from facewise.server.services import ReadKey, Svc

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=StatusOut)
def healthz() -> dict[str, str]:
    """Liveness: the process answers. No key needed."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=StatusOut,
    responses={503: {"model": StatusOut, "description": "Starting: models not loaded yet."}},
)
def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 once the models are loaded and the gallery is open, else 503. No key."""
    if getattr(request.app.state, "services", None) is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, **errors(*AUTH)},
)
def metrics(key: ReadKey, svc: Svc) -> PlainTextResponse:
    """Prometheus text format: requests by route and status, latency, gallery size."""

    def gauges() -> dict[str, tuple[str, float]]:
        people = svc.gallery.people()
        return {
            "facewise_gallery_people": ("People enrolled in the gallery.", len(people)),
            "facewise_gallery_samples": (
                "Samples (faces) enrolled in the gallery.",
                sum(p.samples for p in people),
            ),
        }

    return PlainTextResponse(
        svc.metrics.render(gauges), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


@router.get("/v1/whoami", response_model=WhoAmIOut, responses=errors(*AUTH))
def whoami(key: ReadKey) -> dict[str, object]:
    """The calling key's name and scopes."""
    return {"name": key.name, "scopes": scopes_of(key.scope)}
