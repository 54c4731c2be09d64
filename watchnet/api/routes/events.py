"""The event log over the API: alerts raised and decided in any process (camera workers, other consoles,
``watchnet run``), resumable by id.

``GET /api/eventlog?after=ID`` reads the log; ``WS /api/eventlog/ws?after=ID`` first sends every alert event
after ``ID`` (what a client missed while disconnected, or while this console was down), then the live
ones, each exactly once, in id order: ``{"type": "alert", "event_id": N, "alert": {...}}``. A client keeps
the last ``event_id`` it got and reconnects with ``after`` set to it.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, WebSocket
from starlette.concurrency import run_in_threadpool

from watchnet.api.bus_socket import follow_bus
from watchnet.api.deps import CAN_READ_ALERTS, EngineDep, get_state, require
from watchnet.api.routes.alerts import live_message
from watchnet.core.records import Alert
from watchnet.services.bus import alert_from_json
from watchnet.store import outbox

router = APIRouter(prefix="/api/eventlog", tags=["events"])
CATCH_UP_BATCH = 500


def event_message(event_id: int, alert: Alert) -> dict[str, Any]:
    return {**live_message(alert), "event_id": event_id}


@router.get("", dependencies=[Depends(require(*CAN_READ_ALERTS))])
def list_events(engine: EngineDep, after: int = Query(default=0, ge=0, le=2**62),
                limit: int = Query(default=100, ge=1, le=1000),
                topic: Literal["alert", "camera", "journey"] = Query(default="alert")) -> list[dict[str, Any]]:
    """Events of ``topic`` after ``after``, oldest first: alerts, camera status (state changes, worker lost),
    or follow-mode hops of journeys (``journey``)."""
    events = outbox.read_after(engine, after, limit, topics=[topic])
    if topic == "alert":
        return [event_message(e.id, alert_from_json(e.payload["alert"])) for e in events]
    return [{"type": topic, "event_id": e.id, "time": e.created_at.isoformat(), **e.payload} for e in events]


@router.websocket("/ws")
async def events_ws(websocket: WebSocket, after: int | None = Query(default=None, ge=0, le=2**62)) -> None:
    """Catch up from ``after`` (default: only new events), then stream live alert events."""
    engine = get_state(websocket).engine
    sent = 0

    async def catch_up() -> None:
        nonlocal sent
        sent = after if after is not None else await run_in_threadpool(outbox.last_id, engine)
        sent = await _send_after(websocket, engine, sent)

    async def send(_alert: Alert) -> None:
        # the bus only says "something happened": the log gives every event once and in id order
        # (an event of this process can reach the bus before an earlier one of another process)
        nonlocal sent
        sent = await _send_after(websocket, engine, sent)

    await follow_bus(websocket, send, on_open=catch_up)


async def _send_after(websocket: WebSocket, engine: Any, sent: int) -> int:
    """Send every alert event after ``sent``; returns the last id sent."""
    while True:
        events = await run_in_threadpool(outbox.read_after, engine, sent, CATCH_UP_BATCH, ["alert"])
        for event in events:
            await websocket.send_json(event_message(event.id, alert_from_json(event.payload["alert"])))
            sent = event.id
        if len(events) < CATCH_UP_BATCH:
            return sent
