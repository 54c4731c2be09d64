"""The API's routers, one module per area; ``ROUTERS`` is what ``create_app`` mounts."""

from __future__ import annotations

from fastapi import APIRouter

from watchnet.api.routes import (
    alerts,
    audit,
    auth,
    cameras,
    events,
    exports,
    journeys,
    live,
    mapview,
    search,
    stats,
    tracks,
    users,
    watchlist,
    workers,
)


def _health_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["health"])

    @router.get("/health")
    def health() -> dict[str, str]:
        """Liveness for a process supervisor: says nothing but that the server answers."""
        return {"status": "ok"}

    return router


HEALTH = _health_router()
PUBLIC_PATHS = frozenset({"/api/health", *auth.PUBLIC_PATHS})
ROUTERS: list[APIRouter] = [
    HEALTH, auth.router, alerts.router, alerts.ws_router, users.router, cameras.router, live.router,
    tracks.router, stats.router, audit.router, mapview.router, search.router, watchlist.router,
    exports.router, journeys.router, journeys.ws_router, workers.router, events.router,
]
