"""Log in and out. A login answers with an HttpOnly, SameSite=strict session cookie (the dashboard) or,
at /token, a bearer token (scripts). Both are audited, failures too, and rate limited per user+address."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from starlette.concurrency import run_in_threadpool

from watchnet.api.deps import SESSION_COOKIE, AnyUser, StateDep, client_address, token_of
from watchnet.api.schemas import Credentials, LoginOut, TokenOut, UserOut
from watchnet.api.state import ApiState
from watchnet.services import accounts
from watchnet.store import audit

router = APIRouter(prefix="/api/auth", tags=["auth"])
PUBLIC_PATHS = frozenset({"/api/auth/login", "/api/auth/token"})


async def _check(state: ApiState, request: Request, body: Credentials) -> accounts.Principal:
    address = client_address(request)
    wait = state.limiter.retry_after(body.username, address)
    if wait > 0:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"too many failed logins; try again in {int(wait) + 1} s",
                            headers={"Retry-After": str(int(wait) + 1)})
    user = await run_in_threadpool(accounts.authenticate, state.engine, body.username, body.password)
    if user is None:
        state.limiter.failed(body.username, address)
        await run_in_threadpool(audit.record, state.engine, "anonymous", "login.failed", body.username,
                                {"address": address})
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password (or the account is disabled)")
    state.limiter.succeeded(body.username, address)
    return user


@router.post("/login", response_model=LoginOut, responses={401: {}, 429: {}})
async def login(body: Credentials, request: Request, response: Response, state: StateDep) -> LoginOut:
    """Start a dashboard session: sets the session cookie."""
    user = await _check(state, request, body)
    ttl = state.settings.api.session_ttl_s
    token, expires = await run_in_threadpool(accounts.create_session, state.engine, user, "session", ttl,
                                             client_address(request))
    await run_in_threadpool(audit.record, state.engine, user.name, "login", user.name,
                            {"address": client_address(request), "kind": "session"})
    response.set_cookie(SESSION_COOKIE, token, max_age=int(ttl), httponly=True, samesite="strict",
                        secure=state.settings.api.secure_cookies, path="/")
    return LoginOut(user=UserOut(id=user.id, name=user.name, role=user.role), expires_at=expires)


@router.post("/token", response_model=TokenOut, responses={401: {}, 429: {}})
async def token(body: Credentials, request: Request, state: StateDep) -> TokenOut:
    """A bearer token for scripts and Prometheus (``Authorization: Bearer ...``), same lifetime as a session."""
    user = await _check(state, request, body)
    secret, expires = await run_in_threadpool(accounts.create_session, state.engine, user, "token",
                                              state.settings.api.session_ttl_s, client_address(request))
    await run_in_threadpool(audit.record, state.engine, user.name, "login", user.name,
                            {"address": client_address(request), "kind": "token"})
    return TokenOut(access_token=secret, expires_at=expires)


@router.post("/logout", status_code=204, response_class=Response)
def logout(request: Request, user: AnyUser, state: StateDep) -> Response:
    """End this session (or revoke this bearer token) and clear the cookie."""
    secret = token_of(request)
    if secret:
        accounts.revoke_session(state.engine, secret)
    audit.record(state.engine, user.name, "logout", user.name, {"address": client_address(request)})
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/me", response_model=UserOut)
def me(user: AnyUser) -> UserOut:
    """Who is logged in (the dashboard asks on load)."""
    return UserOut(id=user.id, name=user.name, role=user.role)
