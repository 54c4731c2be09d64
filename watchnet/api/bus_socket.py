"""One loop for WebSockets that follow the alert bus (``/api/alerts/ws`` and ``/api/eventlog/ws``).

Both authorise the same way, subscribe to the bus before anything else (so nothing raised meanwhile falls
between), then react to each bus message until the client leaves or the console shuts down; they differ
only in what they send, which the caller passes in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from fastapi import WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from watchnet.api.deps import CAN_READ_ALERTS, get_state, websocket_user
from watchnet.core.records import Alert


async def follow_bus(websocket: WebSocket, on_alert: Callable[[Alert], Awaitable[None]],
                     on_open: Callable[[], Awaitable[None]] | None = None) -> None:
    """Authorise, accept, run ``on_open`` once subscribed, then ``on_alert`` for every alert on the bus."""
    state = get_state(websocket)
    user = await run_in_threadpool(websocket_user, websocket, CAN_READ_ALERTS)
    if user is None:
        await websocket.close(code=1008, reason="log in with a role that may read alerts")
        return
    await websocket.accept()
    receiver = asyncio.create_task(_drain(websocket))
    try:
        async with state.bus.subscribe() as alerts:
            if on_open is not None:
                await on_open()
            stream = aiter(alerts)
            getter: asyncio.Task[Alert] | None = None
            while not receiver.done() and not state.closing.is_set():
                getter = getter or asyncio.ensure_future(anext(stream))
                done, _ = await asyncio.wait({getter, receiver}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    if getter.exception() is not None:  # the subscription ended
                        break
                    alert, getter = getter.result(), None
                    await on_alert(alert)
            if getter is not None:
                getter.cancel()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        receiver.cancel()
        with contextlib.suppress(Exception):
            await websocket.close()


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it leaves."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
