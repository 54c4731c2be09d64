"""Journeys across cameras (operators, admins): a sighting's journey, link decisions, follow mode.

Every journey query and every follow states a reason and is audited; a journey is named only when it
holds a confirmed watchlist match. Link decisions and follows write through the same ``Linker`` and
``FollowDesk`` as the background linker, so a running ``watchnet run`` in another process sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, Depends, Query, WebSocket
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from starlette.websockets import WebSocketDisconnect

from watchnet.api.deps import CAN_OPERATE, JourneysDep, OperatorUser, get_state, require, websocket_user
from watchnet.api.schemas import Id, Strict
from watchnet.services.linking.follow import FEED

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
def of_sighting(sighting: Id, user: OperatorUser, journeys: JourneysDep,
                reason: str = Query(min_length=3, max_length=500)) -> dict[str, Any]:
    """Where the person or vehicle of this sighting came from and went next (audited)."""
    return journeys.journey(actor=user.name, reason=reason, sighting_id=sighting)


@router.get("/follows")
def follows(journeys: JourneysDep, active: bool = True, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    """Follows with their live trail, last known camera and time, and predicted next cameras."""
    return {"items": journeys.follows(active=active, limit=limit)}


@router.post("/follows", status_code=201)
def start_follow(body: FollowIn, user: OperatorUser, journeys: JourneysDep) -> dict[str, Any]:
    """Follow the journey of any sighting from now on; the person stays anonymous (audited)."""
    return journeys.start_follow(body.sighting_id, user.name, body.reason)


@router.get("/follows/{follow}")
def follow(follow: Id, journeys: JourneysDep) -> dict[str, Any]:
    return journeys.follow(follow)


@router.post("/follows/{follow}/stop")
def stop_follow(follow: Id, user: OperatorUser, journeys: JourneysDep, body: DecisionIn | None = None,
                ) -> dict[str, Any]:
    return journeys.stop_follow(follow, user.name, body.note if body else "")


@router.post("/links/{link}/confirm")
def confirm_link(link: Id, user: OperatorUser, journeys: JourneysDep, body: DecisionIn | None = None,
                 ) -> dict[str, Any]:
    """Make a link a fact: its journeys join and its transit time teaches the topology (audited)."""
    return journeys.confirm_link(link, user.name, body.note if body else "")


@router.post("/links/{link}/cut")
def cut_link(link: Id, user: OperatorUser, journeys: JourneysDep, body: DecisionIn | None = None) -> dict[str, Any]:
    """Declare a link wrong: the journey splits (audited)."""
    return journeys.cut_link(link, user.name, body.note if body else "")


@router.get("/{journey}")
def journey(journey: Id, user: OperatorUser, journeys: JourneysDep,
            reason: str = Query(min_length=3, max_length=500)) -> dict[str, Any]:
    """One journey by id (audited)."""
    return journeys.journey(actor=user.name, reason=reason, journey_id=journey)


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
