"""Journeys across cameras (operators, admins): a sighting's journey, link decisions, follow mode.

Every journey query and every follow states a reason and is audited; a journey is named only when it
holds a confirmed watchlist match. Link decisions and follows write through the same ``Linker`` and
``FollowDesk`` as the background linker, so a running ``watchnet run`` in another process sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from starlette.websockets import WebSocketDisconnect

from watchnet.api.deps import CAN_OPERATE, OperatorUser, get_state, require, websocket_user
from watchnet.api.schemas import Id, Strict
from watchnet.services.linking import forensic
from watchnet.services.linking.follow import FEED, FollowDesk
from watchnet.services.linking.linker import Linker
from watchnet.store import journeys as repo

router = APIRouter(prefix="/api/journeys", tags=["journeys"], dependencies=[Depends(require(*CAN_OPERATE))])
ws_router = APIRouter(prefix="/api/journeys", tags=["journeys"])


class ReasonIn(Strict):
    reason: str = Field(min_length=3, max_length=500, description="Why (audited)")


class FollowIn(Strict):
    sighting_id: int = Field(ge=1, le=2**62)
    reason: str = Field(min_length=3, max_length=500, description="Why this track is followed (audited)")


class DecisionIn(Strict):
    note: str = Field(default="", max_length=500)


@router.get("/of-sighting/{sighting}")
def of_sighting(sighting: Id, request: Request, user: OperatorUser,
                reason: str = Query(min_length=3, max_length=500)) -> dict[str, Any]:
    """Where the person or vehicle of this sighting came from and went next (audited)."""
    state = get_state(request)
    return forensic.journey(state.engine, state.settings, actor=user.name, reason=reason, sighting_id=sighting)


@router.get("/follows")
def follows(request: Request, active: bool = True, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    """Follows with their live trail, last known camera and time, and predicted next cameras."""
    state = get_state(request)
    with state.engine.connect() as conn:
        ids = [int(r.id) for r in repo.list_follows(conn, active=active, limit=limit)]
    return {"items": [forensic.follow_view(state.engine, state.settings, i) for i in ids]}


@router.post("/follows", status_code=201)
def start_follow(body: FollowIn, request: Request, user: OperatorUser) -> dict[str, Any]:
    """Follow the journey of any sighting from now on; the person stays anonymous (audited)."""
    state = get_state(request)
    return FollowDesk(state.engine, state.settings).start(body.sighting_id, user.name, body.reason)


@router.get("/follows/{follow}")
def follow(follow: Id, request: Request) -> dict[str, Any]:
    state = get_state(request)
    return forensic.follow_view(state.engine, state.settings, follow)


@router.post("/follows/{follow}/stop")
def stop_follow(follow: Id, request: Request, user: OperatorUser, body: DecisionIn | None = None) -> dict[str, Any]:
    state = get_state(request)
    return FollowDesk(state.engine, state.settings).stop(follow, user.name, body.note if body else "")


@router.post("/links/{link}/confirm")
def confirm_link(link: Id, request: Request, user: OperatorUser, body: DecisionIn | None = None) -> dict[str, Any]:
    """Make a link a fact: its journeys join and its transit time teaches the topology (audited)."""
    state = get_state(request)
    return Linker(state.engine, state.settings).confirm(link, user.name, body.note if body else "")


@router.post("/links/{link}/cut")
def cut_link(link: Id, request: Request, user: OperatorUser, body: DecisionIn | None = None) -> dict[str, Any]:
    """Declare a link wrong: the journey splits (audited)."""
    state = get_state(request)
    return Linker(state.engine, state.settings).cut(link, user.name, body.note if body else "")


@router.get("/{journey}")
def journey(journey: Id, request: Request, user: OperatorUser,
            reason: str = Query(min_length=3, max_length=500)) -> dict[str, Any]:
    """One journey by id (audited)."""
    state = get_state(request)
    return forensic.journey(state.engine, state.settings, actor=user.name, reason=reason, journey_id=journey)


@ws_router.websocket("/ws")
async def follows_ws(websocket: WebSocket) -> None:
    """Follow hops as the linker appends them: ``{"type": "follow", "seq": N, ...hop message}``.

    Only hops of this process (``watchnet serve`` with its pipeline); a console beside a separate
    ``watchnet run`` reads ``GET /api/journeys/follows`` instead.
    """
    state = get_state(websocket)
    user = await run_in_threadpool(websocket_user, websocket, CAN_OPERATE)
    if user is None:
        await websocket.close(code=1008, reason="log in as an operator or admin to follow journeys")
        return
    await websocket.accept()
    seen = FEED.last
    try:
        while not state.closing.is_set():
            for seq, message in FEED.since(seen):
                await websocket.send_json({"type": "follow", "seq": seq, **message})
                seen = seq
            await asyncio.sleep(0.25)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        with contextlib.suppress(Exception):
            await websocket.close()
