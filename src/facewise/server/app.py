"""The FastAPI app: :func:`create_app` builds it from Settings; ``facewise serve`` runs it.

One Engine (models loaded at start-up, in the lifespan) and one Gallery per process; sync routes
run in the thread pool and share them (the Engine and the Gallery are thread-safe; SQLite
serialises writers across processes). ``GET /healthz`` and ``GET /readyz`` need no key; ``/docs``
and ``/openapi.json`` describe the API; ``/`` and ``/static/`` serve the web page.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from facewise.extras import missing_extra

try:
    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # not a bare ImportError: name the extra
    raise missing_extra("server", exc) from exc

from facewise.engine import DEFAULT_ANALYSIS, Engine
from facewise.errors import ConfigError, FacewiseError, ModelError
from facewise.server.errors import (
    HTTP_CODES,
    NotFound,
    Scrubber,
    error_response,
    facewise_error_response,
)
from facewise.server.metrics import Metrics
from facewise.server.middleware import Guard
from facewise.server.services import Services
from facewise.server.uploads import InvalidRequest
from facewise.settings import Settings, gallery_location, load_settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"


def _version() -> str:
    try:
        return version("facewise")
    except PackageNotFoundError:
        return "0"


def _warm_up(engine: Engine) -> None:
    """Load every model now (detector, aligner, embedder, analysers) by running the pipeline on
    scikit-image's astronaut photo, so no request pays for a model load. An optional analyser
    whose model or extra is not installed is skipped with a warning (its requests then answer
    an error naming the install command)."""
    import skimage.data

    photo = engine.load_image(skimage.data.astronaut())
    if not engine.embed(photo, largest=True):
        log.warning("warm-up: no face found on the astronaut photo")
    for what in DEFAULT_ANALYSIS:
        try:
            engine.analyze(photo, what=[what], largest=True)
        except ModelError as exc:
            log.warning("warm-up: %s analysis unavailable: %s", what, exc.message)


def start_services(
    settings: Settings,
    engine: Engine | None,
    metrics: Metrics,
    scrub: Scrubber,
    warm_up: bool = True,
) -> Services:
    from facewise.gallery import Gallery
    from facewise.server.keys import KeyStore
    from facewise.server.ratelimit import RateLimiter

    if settings.template not in ("best", "mean"):
        raise ConfigError(f"template must be 'best' or 'mean', got {settings.template!r}")
    engine = engine or Engine(settings)
    if warm_up:
        _warm_up(engine)
    gallery = Gallery.from_settings(settings, engine)
    gallery.index()  # load (or rebuild) the vector index before the first request
    return Services(
        settings=settings,
        engine=engine,
        gallery=gallery,
        keys=KeyStore(settings.home),
        limiter=RateLimiter(settings.rate_limit, settings.rate_burst),
        metrics=metrics,
        scrub=scrub,
    )


def stop_services(svc: Services) -> None:
    svc.gallery.close()  # writes the vector index cache if this process enrolled anyone
    svc.keys.close()


def _allowed_query(route: Any) -> frozenset[str]:
    cached: frozenset[str] | None = getattr(route, "_facewise_query", None)
    if cached is not None:
        return cached
    names: set[str] = set()
    pending = [route.dependant] if getattr(route, "dependant", None) is not None else []
    while pending:
        dep = pending.pop()
        names.update(p.alias for p in dep.query_params)
        pending.extend(dep.dependencies)
    allowed = frozenset(names)
    route._facewise_query = allowed
    return allowed


def reject_unknown_query(request: Request) -> None:
    """A query parameter the route does not take is an error, not silently ignored."""
    route = request.scope.get("route")
    if route is None:
        return
    unknown = set(request.query_params) - _allowed_query(route)
    if unknown:
        shown = ", ".join(sorted(unknown))[:200]
        raise InvalidRequest(f"unknown query parameter(s): {shown}")


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, warm_up: bool = True
) -> FastAPI:
    """The REST service for ``settings`` (``load_settings()`` when None). ``engine`` lets a
    caller share already-loaded models (tests); by default the app builds its own at start-up.
    ``warm_up=False`` skips running every model once before /readyz (tests with fakes)."""
    settings = settings or load_settings()
    metrics = Metrics()
    location = gallery_location(settings)
    scrub = Scrubber([settings.home, *([location.path.parent] if location.path else [])])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = await run_in_threadpool(start_services, settings, engine, metrics, scrub, warm_up)
        app.state.services = svc
        log.info("facewise service ready (gallery %s)", gallery_location(settings))
        try:
            yield
        finally:
            app.state.services = None
            await run_in_threadpool(stop_services, svc)

    app = FastAPI(
        title="facewise",
        version=_version(),
        summary="Offline face detection, verification, identification and analysis.",
        description=(
            "Images arrive only as multipart file uploads or base64 strings in JSON; the server "
            "never reads a path or fetches a URL. Authenticate with `Authorization: Bearer KEY` "
            "(`facewise keys create --scope read|enrol|admin`). Errors are JSON "
            '`{"code", "message"}`.'
        ),
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query)],
        docs_url=None,  # served below from bundled Swagger UI files, not from a CDN
        redoc_url=None,
        # offline by design: no OpenTelemetry spans, and no exporter from the environment
        telemetry={
            "tracing": False,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
            "auto_configure": False,
        },
    )
    app.state.services = None

    @app.exception_handler(FacewiseError)
    async def on_facewise_error(request: Request, exc: FacewiseError) -> JSONResponse:
        return facewise_error_response(exc, scrub)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if status >= 500:
            log.error("HTTP %s: %s", status, message)
            message = "internal error"
        return error_response(
            status,
            HTTP_CODES.get(status, "error"),
            scrub(message),
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in list(exc.errors())[:10]:
            where = ".".join(str(x) for x in err.get("loc", ())) or "request"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", scrub("; ".join(parts) or "invalid request"))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal", "internal error")

    from facewise.server.routes import (
        audit,
        challenge,
        collections,
        images,
        people,
        system,
        video,
    )

    for module in (system, images, people, collections, audit, video, challenge):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        page = STATIC / "index.html"
        if not page.is_file():
            raise NotFound("the web page is not installed")
        return FileResponse(page, media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC, html=False, check_dir=False), name="static")
    _mount_docs(app)

    app.add_middleware(Guard, max_body=settings.max_request_bytes, metrics=metrics)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    return app


def _mount_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the files the fastapi-offline package carries (Apache 2.0), so
    the page works on a machine without internet; FastAPI's default loads them from a CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse

    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        log.warning("fastapi-offline is not installed: /docs is off (/openapi.json still works)")
        return
    assets = Path(next(iter(spec.submodule_search_locations))) / "static"
    app.mount("/docs-assets", StaticFiles(directory=assets, html=False), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="facewise API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )


def app_from_env() -> FastAPI:
    """The factory ``facewise serve`` gives uvicorn: settings from FACEWISE_* and the config."""
    return create_app(load_settings())
