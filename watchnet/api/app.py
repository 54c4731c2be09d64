"""``create_app``: the operator's console as one FastAPI app (API under /api, dashboard at /).

The app is built from the process's services (``watchnet.services.container.build_services``); the
pipeline side (``watchnet.api.server``) attaches its hooks through ``ApiState``. Nothing here starts
cameras, so tests and the bench build the app alone.
The interactive docs pages are off (they load scripts from a CDN); the schema is at /api/openapi.json.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from watchnet.api import routes
from watchnet.api.deps import CAN_AUDIT, get_state, require
from watchnet.api.metrics import ApiMetrics
from watchnet.api.ratelimit import LoginLimiter
from watchnet.api.security import SecurityMiddleware, content_security_policy
from watchnet.api.state import ApiState
from watchnet.api.static import mount_dashboard
from watchnet.api.uploads import BodyLimit
from watchnet.core.config import Settings
from watchnet.core.errors import InputError, WatchnetError
from watchnet.services.alerts import AlertDecisionError
from watchnet.services.container import Services, build_services
from watchnet.services.live import LiveHub
from watchnet.store.db import BUSY_ERRORS, is_busy

log = logging.getLogger("watchnet.api")
WEB_DIR = Path(__file__).resolve().parents[1] / "web"


def create_app(settings: Settings, services: Services | None = None, live: LiveHub | None = None) -> FastAPI:
    """The app for ``settings`` over ``services`` (built here, opening and migrating the store, if not given)."""
    services = services or build_services(settings)
    state = ApiState(
        services=services, live=live or LiveHub.from_settings(settings),
        limiter=LoginLimiter(settings.api.login_max_failures, settings.api.login_window_s),
        metrics=ApiMetrics(lambda: state.camera_status(), lambda: state.detector_stats()),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.closing.set()  # open WebSockets and streams end instead of holding the shutdown

    app = FastAPI(
        title="watchnet", version="0.1.0", lifespan=lifespan, openapi_url="/api/openapi.json",
        docs_url=None, redoc_url=None,
        description="The operator's console: cameras, live views, alerts, watchlist, search, audit log.",
    )
    app.state.watchnet = state
    for router in routes.ROUTERS:
        app.include_router(router)
    _add_exception_handlers(app)

    @app.get("/metrics", tags=["metrics"], response_class=Response,
             dependencies=[Depends(require(*CAN_AUDIT))])
    def metrics(request: Request) -> Response:
        """Prometheus exposition (bearer token of an admin or auditor)."""
        return Response(get_state(request).metrics.render(), media_type="text/plain; version=0.0.4")

    mount_dashboard(app, WEB_DIR)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.api.cors_origins, allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"], allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimit, max_upload_bytes=settings.api.max_upload_bytes)
    app.add_middleware(
        SecurityMiddleware, metrics=state.metrics, csp=content_security_policy(settings.api.map_tiles),
        allowed_origins=settings.api.cors_origins,
    )
    return app


def _retry_after(request: Request) -> dict[str, str]:
    return {"Retry-After": str(get_state(request).settings.store.retry_after_s)}


def _add_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(AlertDecisionError)
    async def _conflict(_request: Request, exc: AlertDecisionError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(InputError)
    async def _input_error(_request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(WatchnetError)
    async def _watchnet_error(request: Request, exc: WatchnetError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers=_retry_after(request))

    async def _store_error(request: Request, exc: Exception) -> JSONResponse:
        """The store's lock or connection pool stayed busy past its wait: "try again shortly", not a crash."""
        if is_busy(exc):
            log.warning("store busy, answering 503: %s", str(getattr(exc, "orig", None) or exc).splitlines()[0])
            return JSONResponse({"detail": "the server is busy writing to its database; try again shortly"},
                                status_code=503, headers=_retry_after(request))
        log.error("database error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal database error; see the server log"}, status_code=500)

    for error in BUSY_ERRORS:
        app.add_exception_handler(error, _store_error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse({"detail": "invalid request: " + "; ".join(problems[:10]), "errors": problems[:50]},
                            status_code=422)
