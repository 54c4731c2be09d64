"""Follow mode: a journey followed live, each camera it reaches appended to a timeline and delivered.

A follow starts when a watchlist or hotlist alert fires (the alert's track, once its sighting is
written and linked, names the journey) or when an operator chooses "follow" on any sighting, with a
reason (audited; the journey stays anonymous). From then on every sighting the linker joins to that
journey becomes a hop: stored (``follow_hops``), and delivered at once through the alert sinks
(webhook, MQTT: event ``journey.followed`` with the hop, its link score and evidence) and, for a
follow that started from an alert, on the alert bus as the alert at its new camera (so the WebSocket
dashboard moves it), whether or not a face is visible there.

A hop whose link is later demoted by the linker or cut by an operator is taken back: marked retracted
on the timeline (with why) and announced as ``journey.hop.retracted`` the same ways.

Naming: a follow's messages carry a subject name only through its alert (the alert already names the
watchlist subject it matched) or when the journey holds a confirmed match; an operator's follow of an
anonymous journey carries none.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from watchnet.core.config import Settings
from watchnet.core.errors import InputError
from watchnet.services.alerts import AlertManager
from watchnet.services.linking.linker import Joined
from watchnet.services.linking.topology import Topology
from watchnet.store import audit, outbox
from watchnet.store import journeys as repo
from watchnet.store.db import Connection, Engine, read_connection, write_transaction

log = logging.getLogger("watchnet.follow")
EVENT = "journey.followed"
RETRACTED = "journey.hop.retracted"
ALERT_CURSOR = "alerts"
FOLLOWED_KINDS = ("face", "plate")


class HopFeed:
    """The last follow hops of this process, numbered, for live subscribers (the console's WebSocket).

    Why not the alert bus: it carries alerts, and an operator's follow of an anonymous journey has none.
    A subscriber asks for what came after the number it has seen; a slow one misses the oldest hops
    (the timeline in the store has them all).
    """

    def __init__(self, keep: int = 500) -> None:
        self._items: deque[tuple[int, dict[str, Any]]] = deque(maxlen=keep)
        self._seq = 0
        self._lock = threading.Lock()

    def push(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self._items.append((self._seq, message))

    @property
    def last(self) -> int:
        return self._seq

    def since(self, seq: int) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            return [(n, m) for n, m in self._items if n > seq]


#: The hops delivered in this process (``watchnet serve`` runs the linker beside the API).
FEED = HopFeed()


class FollowDesk:
    """Starts, stops and feeds follows; delivers each hop once its transaction has committed."""

    def __init__(self, engine: Engine, settings: Settings, manager: AlertManager | None = None,
                 topology: Topology | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.manager = manager
        self.topology = topology or Topology.from_cameras(settings.cameras, settings.linking)
        self.delivered: list[dict[str, Any]] = []  # the last messages, for the dashboard's poll and tests
        self._outbox: list[dict[str, Any]] = []
        self._pending: list[Any] = []  # alerts whose track has no linked sighting yet
        self._lock = threading.Lock()

    # --- fed by the linker ----------------------------------------------------------------------
    def on_joined(self, conn: Connection, joined: list[Joined]) -> None:
        """Record a hop for every active follow of each journey that just grew (inside its transaction)."""
        for item in joined:
            for follow in repo.active_follows(conn, item.journey_id):
                self._hop(conn, follow, item.sighting, item.score, item.evidence)

    def on_split(self, conn: Connection, journeys: list[int], reason: str) -> None:
        """Take back the hops of follows whose sighting a split moved off the followed journey.

        Called by the linker inside the split's transaction (a demoted or cut link). The hop stays on the
        timeline, marked retracted with the reason, and a ``journey.hop.retracted`` message goes the way
        the hop went (event log, sinks, live feed; an alert's marker moves back to its last camera).
        """
        for journey in journeys:
            for follow in repo.follows_of(conn, journey):
                if not follow.active:
                    continue
                keep = {m.sighting_id for m in repo.members(conn, int(follow.journey_id))}
                gone = repo.retract_hops(conn, int(follow.id), keep, reason)
                if not gone:
                    continue
                left = [h for h in repo.hops(conn, int(follow.id)) if h.retracted_at is None]
                last = repo.sightings_by_id(conn, [int(left[-1].sighting_id)])[0] if left else None
                for hop in gone:
                    message = {
                        "event": RETRACTED,
                        "follow": {"id": int(follow.id), "journey": follow.journey_id, "alert_id": follow.alert_id,
                                   "reason": follow.reason},
                        "hop": {"id": int(hop.id), "sighting_id": int(hop.sighting_id), "camera": hop.camera,
                                "time": hop.at.isoformat()},
                        "why": reason,
                        "last_known": None if last is None else _place(last),
                    }
                    outbox.append(conn, "journey", message)
                    with self._lock:
                        self._outbox.append(message)

    def _hop(self, conn: Connection, follow: Any, sighting: repo.SightingInfo, score: float | None,
             evidence: dict[str, Any]) -> None:
        hop = repo.add_hop(conn, int(follow.id), sighting.id, sighting.camera, sighting.first_seen, score, evidence)
        if hop is None:
            return
        message = {
            "event": EVENT,
            "follow": {"id": int(follow.id), "journey": follow.journey_id, "alert_id": follow.alert_id,
                       "reason": follow.reason},
            "hop": {"id": hop, "sighting_id": sighting.id, "camera": sighting.camera, "lat": sighting.lat,
                    "lon": sighting.lon, "time": sighting.first_seen.isoformat(),
                    "last_seen": sighting.last_seen.isoformat(), "track_id": sighting.track_id,
                    "score": None if score is None else round(float(score), 4), "evidence": evidence},
            "predicted_next": self.topology.predict_next(sighting.camera),
        }
        outbox.append(conn, "journey", message)  # the store's event log, in the hop's own transaction
        with self._lock:
            self._outbox.append(message)

    def flush(self) -> int:
        """Deliver the hops recorded since the last flush (call after the linker's commit)."""
        with self._lock:
            out, self._outbox = self._outbox, []
            self.delivered = (self.delivered + out)[-500:]
        for message in out:
            FEED.push(message)
            self._deliver(message)
        return len(out)

    def _deliver(self, message: dict[str, Any]) -> None:
        if self.manager is None:
            return
        alert_id = message["follow"]["alert_id"]
        hop = message["hop"] if message["event"] == EVENT else message["last_known"]
        if alert_id is not None and self.manager.bus is not None and hop is not None:
            try:
                base = self.manager.get(int(alert_id)).alert
                moved = dataclasses.replace(
                    base, camera=hop["camera"], track_id=int(hop["track_id"]), lat=hop["lat"], lon=hop["lon"],
                    timestamp=datetime.fromisoformat(hop["time"]).timestamp(), xyxy=None,
                )
                message = {**message, "alert": {"id": base.id, "kind": base.kind,
                                                "subject": {"id": base.subject_id, "name": base.subject_name}}}
                self.manager.bus.publish(moved)
            except InputError:
                log.warning("alert %s of follow %s is gone", alert_id, message["follow"]["id"])
        if self.manager.sinks_from_log:  # the consoles' SinkDispatcher delivers the logged hop
            return
        for sink in self.manager.sinks:
            try:
                sink.deliver(message)
            except Exception:  # one broken sink must not stop the others
                log.exception("delivering a follow hop to %s failed", getattr(sink, "name", sink))

    # --- starting and stopping ------------------------------------------------------------------
    def start(self, sighting_id: int, by: str, reason: str, alert_id: int | None = None) -> dict[str, Any]:
        """Follow the journey of ``sighting_id`` from now on (audited); its trail so far becomes the timeline."""
        by, reason = (by or "").strip(), (reason or "").strip()
        if not by:
            raise InputError("say who follows (--by USER): every follow is recorded with its author")
        if not reason:
            raise InputError("give a reason to follow (--reason TEXT): every follow is audited with its reason")
        with write_transaction(self.engine) as conn:
            journey = repo.journey_of(conn, sighting_id)
            if journey is None:
                raise InputError(f"sighting {sighting_id} is not linked yet (or does not exist); "
                                 "the linker takes about a second after a track ends, try again")
            existing = repo.follow_for_alert(conn, alert_id) if alert_id is not None else None
            if existing is not None:
                return {"follow": int(existing.id), "journey": journey, "started": False}
            follow_id = repo.insert_follow(conn, journey, sighting_id, alert_id, reason, by)
            follow = repo.follow_row(conn, follow_id)
            origin = repo.sightings_by_id(conn, [sighting_id])[0]
            for m in repo.members(conn, journey):
                if m.first_seen >= origin.first_seen:
                    info = repo.sightings_by_id(conn, [m.sighting_id])[0]
                    link = repo.link_into(conn, m.sighting_id) if m.sighting_id != sighting_id else None
                    self._hop(conn, follow, info, None if link is None else float(link.score),
                              {} if link is None else dict(link.evidence or {}))
        self.flush()
        audit.record(self.engine, by, "journey.follow", f"sighting:{sighting_id}",
                     {"follow": follow_id, "journey": journey, "alert": alert_id, "reason": reason})
        return {"follow": follow_id, "journey": journey, "started": True}

    def stop(self, follow_id: int, by: str, reason: str = "") -> dict[str, Any]:
        by = (by or "").strip()
        if not by:
            raise InputError("say who stops the follow (--by USER)")
        with write_transaction(self.engine) as conn:
            if repo.follow_row(conn, follow_id) is None:
                raise InputError(f"no follow with id {follow_id}; list the follows to find its id")
            repo.stop_follow(conn, follow_id)
        audit.record(self.engine, by, "journey.unfollow", f"follow:{follow_id}", {"reason": reason})
        return {"follow": follow_id, "active": False}

    def check_alerts(self) -> int:
        """Start a follow for every new face or plate alert whose track's sighting is linked.

        An alert whose sighting is not written yet (its track is still on camera) waits in memory and
        is retried on every call for up to ``linking.alert_wait_s``, without holding up later alerts.
        """
        with read_connection(self.engine) as conn:
            after = repo.position(conn, ALERT_CURSOR)
            fresh = [a for a in repo.alerts_after(conn, after) if a.kind in FOLLOWED_KINDS]
            newest = max([after, *(int(a.id) for a in repo.alerts_after(conn, after))])
        started = 0
        waiting: list[Any] = []
        for alert in self._pending + fresh:
            if alert.state == "dismissed":
                continue
            with read_connection(self.engine) as conn:
                sighting = repo.sighting_for_track(conn, alert.camera, int(alert.track_id), alert.at,
                                                   self.settings.linking.overlap_slack_s)
                linked = sighting is not None and repo.journey_of(conn, sighting) is not None
            if sighting is not None and linked:
                self.start(sighting, "system", f"alert {alert.id}: {alert.kind} match", alert_id=int(alert.id))
                started += 1
            elif (datetime.now(UTC) - alert.at).total_seconds() < self.settings.linking.alert_wait_s:
                waiting.append(alert)
        self._pending = waiting
        if newest != after:
            with write_transaction(self.engine) as conn:
                repo.set_position(conn, ALERT_CURSOR, newest)
        return started


def _place(sighting: repo.SightingInfo) -> dict[str, Any]:
    """Where and when a sighting puts the followed journey (an alert marker moves there)."""
    return {"sighting_id": sighting.id, "camera": sighting.camera, "lat": sighting.lat, "lon": sighting.lon,
            "time": sighting.first_seen.isoformat(), "track_id": sighting.track_id}
