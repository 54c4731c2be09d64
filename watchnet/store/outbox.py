"""The event log (``schema_outbox``): append inside a write transaction, read on by id, follow it live,
and hand each event to each sink once.

Following: on PostgreSQL an append also sends ``NOTIFY watchnet_events`` (delivered at commit), and a
follower ``LISTEN``s on its own psycopg connection, so consoles hear of an event within milliseconds;
it still reads by id after each wake-up (a notification only says "look"), and polls every few
seconds in case a notification was lost with a dropped connection. On SQLite there is no server to
notify: the follower polls the log by id every ``workers.event_poll_s`` (an indexed read of nothing,
most of the time).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from watchnet.store.schema_outbox import EventDelivery, EventLogRow

log = logging.getLogger("watchnet.outbox")

_log = cast(sa.Table, EventLogRow.__table__)
_deliveries = cast(sa.Table, EventDelivery.__table__)
CHANNEL = "watchnet_events"
_LOCK_KEY = 7_240_513  # pg_advisory_xact_lock key of appends (any constant unique to this use)


@dataclass(frozen=True, slots=True)
class LogEvent:
    id: int
    topic: str
    payload: dict[str, Any]
    created_at: datetime


def append(conn: Connection, topic: str, payload: dict[str, Any]) -> int:
    """Append one event inside the caller's write transaction; returns its id (visible at commit)."""
    if conn.dialect.name == "postgresql":
        # ids then commit in order: a reader past id N never sees a smaller id appear later
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    event_id = int(conn.execute(
        _log.insert().values(topic=topic, payload=payload, created_at=datetime.now(UTC)).returning(_log.c.id)
    ).scalar_one())
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": str(event_id)})
    return event_id


def append_now(engine: Engine, topic: str, payload: dict[str, Any]) -> int:
    """Append one event in its own transaction (for events whose rows were written elsewhere)."""
    with engine.connect() as conn, conn.execution_options(sqlite_begin="IMMEDIATE").begin():
        return append(conn, topic, payload)


def read_after(engine: Engine, after_id: int, limit: int = 500, topics: Sequence[str] | None = None,
               ) -> list[LogEvent]:
    """Events with id > ``after_id``, oldest first."""
    query = sa.select(_log).where(_log.c.id > after_id).order_by(_log.c.id).limit(limit)
    if topics:
        query = query.where(_log.c.topic.in_(list(topics)))
    with engine.connect() as conn:
        return [LogEvent(int(r.id), r.topic, dict(r.payload), r.created_at) for r in conn.execute(query)]


def last_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(_log.c.id), 0))).scalar_one())


class EventFollower:
    """Calls ``on_events`` with each new batch of events, in id order, from its own thread."""

    def __init__(self, engine: Engine, on_events: Callable[[list[LogEvent]], None], *, after_id: int | None = None,
                 poll_s: float = 0.2, listen_fallback_s: float = 1.0) -> None:
        self.engine = engine
        self.on_events = on_events
        self.after_id = last_id(engine) if after_id is None else after_id
        self.poll_s = poll_s
        self.listen_fallback_s = listen_fallback_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="event-follower", daemon=True)

    def start(self) -> EventFollower:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        waits = self._notifications() if self.engine.dialect.name == "postgresql" else None
        while not self._stop.is_set():
            try:
                events = read_after(self.engine, self.after_id)
            except Exception:  # the store is away for a moment: try again, never end the follower
                log.exception("reading the event log failed")
                events = []
            if events:
                try:
                    self.on_events(events)
                except Exception:
                    log.exception("handling events failed")
                self.after_id = events[-1].id
                continue
            if waits is not None:
                next(waits)
            else:
                self._stop.wait(self.poll_s)

    def _notifications(self) -> Iterator[None]:
        """Yields when a notification arrived or ``listen_fallback_s`` passed; (re)connects as needed and
        yields once right after LISTEN, so an event committed while not listening is read too."""
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn: psycopg.Connection[Any] | None = None
        try:
            while True:
                if conn is None:
                    try:
                        conn = psycopg.connect(url, autocommit=True)
                        conn.execute(f"LISTEN {CHANNEL}")
                    except psycopg.Error as exc:
                        log.warning("event log LISTEN failed (%s); polling", exc)
                        conn = None
                        self._stop.wait(self.poll_s)
                    yield
                    continue
                try:
                    for _ in conn.notifies(timeout=self.listen_fallback_s, stop_after=1):
                        pass
                except psycopg.Error:
                    conn.close()
                    conn = None
                yield
        finally:
            if conn is not None:
                conn.close()


@contextlib.contextmanager
def claim(engine: Engine, sink: str, limit: int = 200) -> Iterator[list[LogEvent]]:
    """The events after ``sink``'s cursor, with the cursor row locked; the cursor moves past them when the
    block ends without an exception. One claimer per sink at a time across processes (FOR UPDATE on
    PostgreSQL, SQLite's write lock), so two consoles never hand the same event to the same sink.
    A new sink starts at the end of the log (it is not sent the past)."""
    with engine.connect() as conn, conn.execution_options(sqlite_begin="IMMEDIATE").begin():
        query = sa.select(_deliveries).where(_deliveries.c.sink == sink)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            start = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(_log.c.id), 0))).scalar_one())
            conn.execute(_deliveries.insert().values(sink=sink, last_id=start, delivered=0,
                                                     updated_at=datetime.now(UTC)))
            after, delivered = start, 0
        else:
            after, delivered = int(row.last_id), int(row.delivered)
        rows = conn.execute(sa.select(_log).where(_log.c.id > after).order_by(_log.c.id).limit(limit)).all()
        events = [LogEvent(int(r.id), r.topic, dict(r.payload), r.created_at) for r in rows]
        yield events
        if events:
            conn.execute(_deliveries.update().where(_deliveries.c.sink == sink).values(
                last_id=events[-1].id, delivered=delivered + len(events), updated_at=datetime.now(UTC)))


def cursor(engine: Engine, sink: str) -> int | None:
    """The last event id handed to ``sink`` (None before its first claim)."""
    with engine.connect() as conn:
        value = conn.execute(sa.select(_deliveries.c.last_id).where(_deliveries.c.sink == sink)).scalar()
        return None if value is None else int(value)
