"""Authentication and authorisation as FastAPI dependencies.

Every router declares ``dependencies=[Depends(require(...))]`` and routes narrow it further with their
own ``require``; ``tests/api/test_authorisation.py`` walks all routes of the app and checks that
anonymous calls get 401 and roles outside ``require`` get 403. A caller is identified by the session
cookie (the dashboard) or an ``Authorization: Bearer`` token (scripts, Prometheus).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket, status
from starlette.requests import HTTPConnection

from watchnet.api.state import ApiState
from watchnet.core.config import Settings
from watchnet.services.accounts import Principal, resolve_session
from watchnet.services.alerts import AlertManager
from watchnet.services.bus import AlertBus
from watchnet.services.container import Services
from watchnet.services.exports import Exports
from watchnet.services.linking.journeys import Journeys
from watchnet.services.live import LiveHub
from watchnet.services.search import SightingSearch
from watchnet.services.watchlist import Watchlist
from watchnet.store.db import Engine

SESSION_COOKIE = "watchnet_session"
ALL_ROLES: tuple[str, ...] = ("admin", "operator", "auditor", "viewer")
#: Who may do what. Viewers see live views (faces blurred) and camera status, no watchlist or search.
CAN_VIEW_LIVE = ALL_ROLES
CAN_OPERATE = ("admin", "operator")
CAN_READ_ALERTS = ("admin", "operator", "auditor")
CAN_AUDIT = ("admin", "auditor")
ADMIN = ("admin",)


def get_state(conn: HTTPConnection) -> ApiState:
    state: ApiState = conn.app.state.watchnet
    return state


def client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def token_of(conn: HTTPConnection) -> str | None:
    """The secret the caller presents: a bearer token, else the session cookie."""
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return conn.cookies.get(SESSION_COOKIE) or None


def authenticate(conn: HTTPConnection) -> Principal | None:
    token = token_of(conn)
    if not token or len(token) > 512:
        return None
    return resolve_session(get_state(conn).engine, token)


def current_user(request: Request) -> Principal:
    """The logged-in caller, or 401 (cached on the request so nested dependencies ask the store once)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    user = authenticate(request)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in first (session expired or missing)",
                            headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = user
    return user


def require(*roles: str) -> Callable[[Request], Principal]:
    """A dependency admitting only ``roles``; its ``roles`` attribute lets tests enumerate the rules."""
    allowed = frozenset(roles)

    def dependency(request: Request) -> Principal:
        user = current_user(request)
        if user.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"the {user.role} role may not do this; it needs: {', '.join(sorted(allowed))}")
        return user

    dependency.roles = allowed  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{'_'.join(sorted(allowed))}"
    return dependency


def websocket_user(websocket: WebSocket, roles: tuple[str, ...]) -> Principal | None:
    """The caller of a WebSocket if logged in with one of ``roles`` (WebSockets cannot answer 401)."""
    user = authenticate(websocket)
    return user if user is not None and user.role in roles else None


AnyUser = Annotated[Principal, Depends(require(*ALL_ROLES))]
LiveUser = Annotated[Principal, Depends(require(*CAN_VIEW_LIVE))]
OperatorUser = Annotated[Principal, Depends(require(*CAN_OPERATE))]
AlertReader = Annotated[Principal, Depends(require(*CAN_READ_ALERTS))]
AuditorUser = Annotated[Principal, Depends(require(*CAN_AUDIT))]
AdminUser = Annotated[Principal, Depends(require(*ADMIN))]


# --- the process's services, typed (built once per process by watchnet.services.container) ------------------
def get_services(conn: HTTPConnection) -> Services:
    return get_state(conn).services


def get_settings(conn: HTTPConnection) -> Settings:
    return get_state(conn).services.settings


def get_engine(conn: HTTPConnection) -> Engine:
    return get_state(conn).services.engine


def get_bus(conn: HTTPConnection) -> AlertBus:
    return get_state(conn).services.bus


def get_live(conn: HTTPConnection) -> LiveHub:
    return get_state(conn).live


def get_alerts(request: Request) -> AlertManager:
    return get_state(request).services.alerts


def get_watchlist(request: Request) -> Watchlist:
    return get_state(request).services.watchlist


def get_search(request: Request) -> SightingSearch:
    return get_state(request).services.search


def get_exports(request: Request) -> Exports:
    return get_state(request).services.exports


def get_journeys(request: Request) -> Journeys:
    return get_state(request).services.journeys


StateDep = Annotated[ApiState, Depends(get_state)]
ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
BusDep = Annotated[AlertBus, Depends(get_bus)]
LiveDep = Annotated[LiveHub, Depends(get_live)]
AlertsDep = Annotated[AlertManager, Depends(get_alerts)]
WatchlistDep = Annotated[Watchlist, Depends(get_watchlist)]
SearchDep = Annotated[SightingSearch, Depends(get_search)]
ExportsDep = Annotated[Exports, Depends(get_exports)]
JourneysDep = Annotated[Journeys, Depends(get_journeys)]
