"""Hands the event log's alert events to the alert sinks (webhooks, MQTT): each event to each sink once,
whichever console process runs it and however many run.

Why from the log and not from the process that raised the alert: alerts are raised in camera workers,
decided in any console; a worker killed between its commit and its webhook would lose the message, and
two consoles would both send a decision. Here a sink's cursor (``event_deliveries``) is claimed in a
transaction that locks it (``watchnet.store.outbox.claim``), the events after it are handed to the sink
with a delivery id ``<sink>:<event id>`` (receivers drop a repeat after a crash by that id), and the
cursor moves past them when the hand-off is done. A console that was down delivers what it missed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from watchnet.services.sinks.base import AlertSink
from watchnet.store import outbox
from watchnet.store.db import Engine

log = logging.getLogger("watchnet.dispatch")


class SinkDispatcher:
    """Delivers the event log to ``sinks`` from its own thread, woken by new events or every ``poll_s``."""

    def __init__(self, engine: Engine, sinks: Sequence[AlertSink], poll_s: float = 0.5) -> None:
        self.engine = engine
        self.sinks = list(sinks)
        self.poll_s = poll_s
        self.delivered = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sink-dispatcher", daemon=True)
        for sink in self.sinks:  # a sink's cursor starts where the log is when it is first seen
            with outbox.claim(engine, sink.name, limit=0):
                pass

    def start(self) -> SinkDispatcher:
        if self.sinks:
            self._thread.start()
        return self

    def wake(self) -> None:
        """Something was appended (called by the process's event follower or alert manager)."""
        self._wake.set()

    def close(self) -> None:
        """Deliver what is in the log now, then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.deliver_pending()

    def deliver_pending(self) -> int:
        """One pass over every sink; returns how many messages were handed over."""
        handed = 0
        for sink in self.sinks:
            try:
                with outbox.claim(self.engine, sink.name) as events:
                    for event in events:
                        if event.topic not in ("alert", "journey"):  # alerts and follow-mode hops
                            continue
                        sink.deliver({**event.payload, "event_id": event.id,
                                      "delivery_id": f"{sink.name}:{event.id}"})
                        handed += 1
            except Exception:  # a broken sink or a busy store: its cursor stays, so it is tried again
                log.exception("delivering the event log to %s failed", sink.name)
        self.delivered += handed
        return handed

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if not self._stop.is_set():
                self.deliver_pending()
