"""In-process fan-out of alerts to live subscribers (the API's WebSocket), from any thread.

Why this shape: alerts are raised on camera threads, and the WebSocket handlers live on the API's
asyncio loop. ``publish`` must never block a camera, so it only schedules a put on each subscriber's own
loop (``call_soon_threadsafe``) and returns. Each subscriber has a bounded queue: a client too slow to
keep up loses its oldest alerts (counted in ``dropped``) instead of growing memory or slowing anyone
else; the store still has every alert, so a client that reconnects can catch up from there.

Usage on the API side::

    async with bus.subscribe() as alerts:
        async for alert in alerts:
            await websocket.send_json(alert_json(alert))

``async for alert in bus.subscribe()`` works too; the subscription then ends when its loop closes or
``close()`` is called. A subscription is registered when ``subscribe()`` returns, so nothing published
after that is missed.

Across processes: every alert event is also in the store's event log (``watchnet.store.outbox``).
``follow(engine)`` publishes the log's alert events raised or decided in *other* processes (camera
workers, other consoles, ``watchnet run``); an event this process published itself comes back from the
log with the same id and is dropped, so each subscriber gets each event once. A subscription's
``last_event_id`` is the log id of the alert it handed out last: a client resumes from there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from watchnet.core.records import Alert, AlertState
from watchnet.store.outbox import EventFollower

if TYPE_CHECKING:
    from watchnet.store.db import Engine
    from watchnet.store.outbox import EventFollower, LogEvent

_SEEN = 10_000


class Subscription:
    """One live subscriber: an async iterator of alerts with a bounded buffer."""

    def __init__(self, bus: AlertBus, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self._bus = bus
        self.loop = loop
        self.queue: asyncio.Queue[tuple[int | None, Alert] | None] = asyncio.Queue(maxsize=size)
        self.dropped = 0
        self.closed = False
        self.last_event_id: int | None = None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Alert:
        if self.closed:
            raise StopAsyncIteration
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        self.last_event_id, alert = item
        return alert

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop receiving; a pending ``async for`` ends."""
        if self.closed:
            return
        self.closed = True
        self._bus._remove(self)
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._offer, None)

    def _offer(self, alert: tuple[int | None, Alert] | None) -> None:  # runs on the subscriber's loop
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(alert)


class AlertBus:
    """Thread-safe publish, async subscribe. One bus per process, shared by the manager and the API."""

    def __init__(self, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()
        self.published = 0
        self._seen: OrderedDict[int, None] = OrderedDict()  # event ids already published here
        self._follower: EventFollower | None = None

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def subscribe(self) -> Subscription:
        """A new subscription on the running event loop (call from a coroutine)."""
        sub = Subscription(self, asyncio.get_running_loop(), self.queue_size)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def publish(self, alert: Alert, event_id: int | None = None) -> None:
        """Hand a copy of the alert to every subscriber; never blocks, callable from any thread. An event id
        already published (the log's copy of an event raised here) is dropped."""
        item = (event_id, dataclasses.replace(alert))
        with self._lock:
            if event_id is not None:
                if event_id in self._seen:
                    return
                self._seen[event_id] = None
                while len(self._seen) > _SEEN:
                    self._seen.popitem(last=False)
            subscribers = list(self._subscribers)
            self.published += 1
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub._offer, item)
            except RuntimeError:  # its loop has closed: the subscriber is gone
                self._remove(sub)

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def follow(self, engine: Engine, poll_s: float = 0.2, on_events: Callable[[], None] | None = None) -> None:
        """Publish the alert events other processes write to the store's event log (from now on);
        ``on_events`` is called after each new batch (e.g. to wake the sink dispatcher)."""
        def handle(events: list[LogEvent]) -> None:
            self._from_log(events)
            if on_events is not None:
                on_events()

        if self._follower is None:
            self._follower = EventFollower(engine, handle, poll_s=poll_s).start()

    def close(self) -> None:
        if self._follower is not None:
            self._follower.close()
            self._follower = None

    def _from_log(self, events: list[LogEvent]) -> None:
        for event in events:
            if event.topic == "alert":
                self.publish(alert_from_json(event.payload["alert"]), event.id)


def alert_from_json(body: dict[str, Any]) -> Alert:
    """The alert of an event-log message (``sinks.base.alert_json``) as a record again."""
    box = body.get("box")
    last_seen = body.get("last_seen")
    return Alert(
        subject_id=int(body["subject"]["id"]) if body["subject"]["id"] is not None else -1,
        subject_name=str(body["subject"]["name"]), kind=str(body["kind"]), score=float(body["score"]),
        camera=str(body["camera"]["name"]), track_id=int(body["track_id"]), timestamp=float(body["timestamp"]),
        frame_index=int(body["frame_index"]), xyxy=tuple(box) if box else None,
        crop_path=body.get("crop_path"), snapshot_path=body.get("snapshot_path"), lat=body["camera"].get("lat"),
        lon=body["camera"].get("lon"), state=AlertState(body["state"]), id=body.get("id"),
        matches=int(body.get("matches") or 1),
        last_seen=datetime.fromisoformat(last_seen).timestamp() if last_seen else None,
        track_ids=tuple(int(t) for t in body.get("track_ids") or ()),
    )
