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
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from types import TracebackType

from watchnet.records import Alert


class Subscription:
    """One live subscriber: an async iterator of alerts with a bounded buffer."""

    def __init__(self, bus: AlertBus, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self._bus = bus
        self.loop = loop
        self.queue: asyncio.Queue[Alert | None] = asyncio.Queue(maxsize=size)
        self.dropped = 0
        self.closed = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Alert:
        if self.closed:
            raise StopAsyncIteration
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

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

    def _offer(self, alert: Alert | None) -> None:  # runs on the subscriber's loop
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

    def publish(self, alert: Alert) -> None:
        """Hand a copy of the alert to every subscriber; never blocks, callable from any thread."""
        item = dataclasses.replace(alert)
        with self._lock:
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
