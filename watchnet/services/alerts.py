"""The alert manager: record an alert, deliver it everywhere at once, and take the operators' decisions.

Life-cycle: ``new`` -> ``confirmed`` -> ``closed``, or ``new``/``confirmed`` -> ``dismissed``.
Why two people to confirm: a confirmed face match can send officers after someone, so one operator's
reading of a face is not enough; ``confirm`` records each confirmation and the alert becomes
``confirmed`` only when ``confirmations`` (default 2) *different* users have confirmed it. The same
user confirming twice is refused. One user may dismiss (a false match costs nobody anything) and a
confirmed alert is closed by one user when the matter is dealt with; a ``new`` alert cannot be closed
(confirm or dismiss it first). Dismissed and closed alerts take no further decisions.

Every decision is kept in the alert's history (who, when, from which state to which, a note) and in
the audit log. Dismissing with ``add_negative`` turns the faces that voted for the match into negative
examples of the subject, so the same stranger does not raise the alert again. The faces are kept with
the alert only while it is open, for exactly that purpose, and cleared when it is dismissed or closed.

Delivery: ``raise_alert`` records the alert (for its id), publishes it on the bus (never blocks) and
hands it to each sink (webhooks and MQTT queue and send on their own threads). Decisions are delivered
the same way as ``alert.updated``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from watchnet.core.config import Settings
from watchnet.core.errors import InputError
from watchnet.core.records import Alert, AlertState
from watchnet.services.bus import AlertBus
from watchnet.services.sinks.base import RAISED, UPDATED, AlertSink, alert_json, payload
from watchnet.services.sinks.webhook import RetryPolicy, WebhookSink
from watchnet.store import audit, outbox
from watchnet.store.alerts import AlertStore, DecisionInfo, StoredAlert, row_to_alert
from watchnet.store.db import STORE_ERRORS, Connection, Engine
from watchnet.store.subjects import bump_version, insert_negatives
from watchnet.store.vectors import from_bytes

log = logging.getLogger("watchnet.alerts")

AuditHook = Callable[[Engine, str, str, str, dict[str, Any]], object]


class AlertDecisionError(InputError):
    """A decision that the alert's state or history does not allow (the message says why)."""


@dataclass(slots=True)
class AlertInfo:
    """A stored alert with its history: what the CLI, API and dashboard show."""

    alert: Alert
    decisions: list[DecisionInfo] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def confirmed_by(self) -> list[str]:
        return [d.actor for d in self.decisions if d.action == "confirm"]

    def as_dict(self) -> dict[str, Any]:
        return {
            **alert_json(self.alert), "details": self.details, "confirmed_by": self.confirmed_by,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "decisions": [d.as_dict() for d in self.decisions],
        }


def _info(row: StoredAlert, decisions: list[DecisionInfo]) -> AlertInfo:
    return AlertInfo(row_to_alert(row), decisions, row.created_at, row.updated_at, dict(row.details or {}))


def alert_info(store: AlertStore, alert_id: int) -> AlertInfo:
    """One alert with its decision history, read without an ``AlertManager`` (no sinks, no bus)."""
    found = store.get(alert_id)
    if found is None:
        raise InputError(f"no alert with id {alert_id}; list the alerts to find its id")
    return _info(*found)


class AlertManager:
    """Records, delivers and decides alerts. Thread-safe: camera threads raise, operators decide."""

    def __init__(
        self, engine: Engine, bus: AlertBus | None = None, sinks: Sequence[AlertSink] = (), *,
        confirmations: int = 2, audit_log: AuditHook | None = audit.record,
        on_negative: Callable[[int], None] | None = None, group_window_s: float = 0.0, group_max_faces: int = 200,
    ) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be at least 1")
        self.engine = engine
        self.bus = bus
        self.sinks = list(sinks)
        self.confirmations = confirmations
        self.store = AlertStore(engine)
        self.group_window_s = group_window_s
        self.group_max_faces = group_max_faces
        self._audit = audit_log
        #: True where a ``SinkDispatcher`` hands the event log to the sinks (worker processes, consoles)
        self.sinks_from_log = False
        self._on_negative = [on_negative] if on_negative else []

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine, bus: AlertBus | None = None) -> AlertManager:
        """A manager with the webhook and MQTT sinks that ``settings.alerts`` configures."""
        cfg = settings.alerts
        sinks: list[AlertSink] = [WebhookSink(w, RetryPolicy.from_config(cfg)) for w in cfg.webhooks]
        if cfg.mqtt is not None:
            from watchnet.services.sinks.mqtt import MqttSink

            sinks.append(MqttSink(cfg.mqtt))
        return cls(engine, bus, sinks, confirmations=cfg.confirmations, group_window_s=cfg.group_window_s,
                   group_max_faces=cfg.group_max_faces)

    def on_negative(self, hook: Callable[[int], None]) -> None:
        """Call ``hook(subject_id)`` after a dismissal added negatives (e.g. to reload a gallery)."""
        self._on_negative.append(hook)

    # --- raising --------------------------------------------------------------------------------
    def raise_alert(
        self, alert: Alert, embeddings: np.ndarray | None = None, model: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Alert:
        """Record the alert (sets ``alert.id``) and deliver it at once; an already recorded alert is ignored.

        Grouping: a match of a subject on a camera whose open alert (new or confirmed) last matched within
        ``group_window_s`` updates that alert instead (see ``AlertStore.record``) and is delivered as
        ``alert.updated`` with the group's count, last match and tracks; ``alert`` then gets the group's id
        and counts but keeps its own track and frame (the live view names this track). Why: one person
        lingering in view made a new alert per track (seven in a few minutes); operators decide once.

        If the database cannot be written the alert is still delivered (without an id) and the error
        logged: operators hearing about a match matters more than its record.
        """
        if alert.id is not None:
            return alert
        grouped = False
        logged: list[int] = []

        def log_event(conn: Connection, alert_id: int, is_group: bool) -> None:
            """The event, written in the alert's own transaction (``watchnet.store.outbox``)."""
            if is_group:
                group = row_to_alert(_written(self.store.row(conn, alert_id)))
                message = payload(UPDATED, group, self._group_extra(group.matches, alert, details))
            else:
                body = dataclasses.replace(alert, id=alert_id, last_seen=alert.timestamp, track_ids=(alert.track_id,))
                message = payload(RAISED, body, {"details": details or {}})
            logged.append(outbox.append(conn, "alert", message))

        try:
            alert.id, grouped = self.store.record(
                alert, window_s=self.group_window_s, max_faces=self.group_max_faces, embeddings=embeddings,
                model=model, details=details, on_written=log_event,
            )
        except STORE_ERRORS as exc:
            log.error("could not record alert for %s on %s: %s", alert.subject_name, alert.camera, exc)
        event_id = logged[-1] if logged else None
        if not grouped:
            alert.last_seen, alert.track_ids = alert.timestamp, (alert.track_id,)
            self._deliver(RAISED, alert, {"details": details or {}}, event_id)
            return alert
        assert alert.id is not None
        group = self.get(alert.id).alert
        alert.matches, alert.last_seen, alert.track_ids = group.matches, group.last_seen, group.track_ids
        alert.state = group.state
        self._deliver(UPDATED, group, self._group_extra(group.matches, alert, details), event_id)
        return alert

    @staticmethod
    def _group_extra(matches: int, alert: Alert, details: dict[str, Any] | None) -> dict[str, Any]:
        return {"group": {"matches": matches, "track_id": alert.track_id, "frame_index": alert.frame_index,
                          "score": round(alert.score, 4)}, "details": details or {}}

    def attach_faces(self, alert_id: int, embeddings: np.ndarray) -> bool:
        """Add a track's later faces to an open alert (near-copies left out); False once decided.

        Called when an alerted track ends, so that a dismissal covers every face of the track.
        """
        return self.store.set_embeddings(alert_id, embeddings, self.group_max_faces)

    # --- decisions ------------------------------------------------------------------------------
    def confirm(self, alert_id: int, user: str, note: str = "") -> AlertInfo:
        """One user's confirmation; the alert is ``confirmed`` once enough different users confirmed."""
        user = _user(user)
        with self.store.locked(alert_id) as (conn, row):
            state = self._state(alert_id, row)
            if state is not AlertState.NEW:
                raise AlertDecisionError(f"alert {alert_id} is {state}; only a new alert can be confirmed")
            before = [d.actor for d in self.store.decisions(conn, alert_id) if d.action == "confirm"]
            if user in before:
                raise AlertDecisionError(
                    f"{user} has already confirmed alert {alert_id}; a different user must confirm it too"
                )
            done = len(before) + 1 >= self.confirmations
            to_state = AlertState.CONFIRMED if done else AlertState.NEW
            self.store.decide(conn, alert_id, action="confirm", actor=user, from_state=state, to_state=to_state,
                              note=note)
            extra = {"state": str(to_state), "note": note}
            event_id = self._log_decision(conn, alert_id, "confirm", user, extra)
        return self._after(alert_id, "confirm", user, extra, event_id)

    def dismiss(self, alert_id: int, user: str, add_negative: bool = False, note: str = "") -> AlertInfo:
        """Mark a false match; with ``add_negative`` its faces become negative examples of the subject."""
        user = _user(user)
        added = 0
        with self.store.locked(alert_id) as (conn, row):
            state = self._state(alert_id, row)
            if state not in (AlertState.NEW, AlertState.CONFIRMED):
                raise AlertDecisionError(f"alert {alert_id} is already {state}; it cannot be dismissed")
            assert row is not None
            if add_negative:
                if row.embeddings is None or row.subject_id is None:
                    why = "its subject was removed" if row.subject_id is None else "it was raised without faces"
                    raise AlertDecisionError(
                        f"alert {alert_id} cannot add a negative example ({why}); dismiss it without --negative"
                    )
                vectors = from_bytes(row.embeddings, _dim(row.embeddings, row.details))
                added = len(insert_negatives(conn, int(row.subject_id), vectors, model=row.model or "", by=user,
                                             source=f"alert:{alert_id}"))
                bump_version(conn)
            self.store.decide(conn, alert_id, action="dismiss", actor=user, from_state=state,
                              to_state=AlertState.DISMISSED, note=note, clear_embeddings=True)
            subject_id = row.subject_id
            extra = {"negatives_added": added, "note": note}
            event_id = self._log_decision(conn, alert_id, "dismiss", user, extra)
        if added and subject_id is not None:
            for hook in self._on_negative:
                hook(int(subject_id))
        return self._after(alert_id, "dismiss", user, extra, event_id)

    def close(self, alert_id: int, user: str, note: str = "") -> AlertInfo:
        """Close a confirmed alert (the matter is dealt with)."""
        user = _user(user)
        with self.store.locked(alert_id) as (conn, row):
            state = self._state(alert_id, row)
            if state is not AlertState.CONFIRMED:
                message = f"alert {alert_id} is {state}; only a confirmed alert can be closed"
                if state is AlertState.NEW:
                    message += f" (confirm it by {self.confirmations} different users, or dismiss it)"
                raise AlertDecisionError(message)
            self.store.decide(conn, alert_id, action="close", actor=user, from_state=state,
                              to_state=AlertState.CLOSED, note=note, clear_embeddings=True)
            event_id = self._log_decision(conn, alert_id, "close", user, {"note": note})
        return self._after(alert_id, "close", user, {"note": note}, event_id)

    # --- reading --------------------------------------------------------------------------------
    def decide(self, action: str, alert_id: int, actor: str, note: str = "", negative: bool = False) -> None:
        """Apply one operator decision by name (``confirm``, ``dismiss``, ``close``): what the console sends."""
        if action == "confirm":
            self.confirm(alert_id, actor, note=note)
        elif action == "dismiss":
            self.dismiss(alert_id, actor, add_negative=negative, note=note)
        elif action == "close":
            self.close(alert_id, actor, note=note)
        else:
            raise InputError(f"unknown alert action {action!r}; use confirm, dismiss or close")

    def get(self, alert_id: int) -> AlertInfo:
        """One alert with its decision history."""
        return alert_info(self.store, alert_id)

    def list_alerts(
        self, *, state: AlertState | str | None = None, subject_id: int | None = None, camera: str | None = None,
        since: datetime | None = None, until: datetime | None = None, limit: int = 100, offset: int = 0,
    ) -> list[AlertInfo]:
        """Alerts matching every given filter, newest first."""
        if state is not None and str(state) not in {s.value for s in AlertState}:
            raise InputError(f"unknown alert state {state!r}; use one of {', '.join(s.value for s in AlertState)}")
        found = self.store.find(state=None if state is None else str(state), subject_id=subject_id, camera=camera,
                                since=since, until=until, limit=limit, offset=offset)
        return [_info(row, decisions) for row, decisions in found]

    def shutdown(self, timeout: float = 10.0) -> None:
        """Let the sinks send what they have queued (up to ``timeout`` each), then stop them."""
        for sink in self.sinks:
            try:
                sink.close(timeout)
            except Exception:  # one broken sink must not keep the others from flushing
                log.exception("closing %s failed", getattr(sink, "name", sink))

    # --- internals ------------------------------------------------------------------------------
    def _state(self, alert_id: int, row: StoredAlert | None) -> AlertState:
        if row is None:
            raise InputError(f"no alert with id {alert_id}; list the alerts to find its id")
        return AlertState(row.state)

    def _log_decision(self, conn: Connection, alert_id: int, action: str, user: str, details: dict[str, Any],
                      ) -> int:
        """The decision's event, in the decision's transaction."""
        alert = row_to_alert(_written(self.store.row(conn, alert_id)))
        return outbox.append(conn, "alert", payload(UPDATED, alert, self._decision_extra(action, user, details)))

    @staticmethod
    def _decision_extra(action: str, user: str, details: dict[str, Any]) -> dict[str, Any]:
        return {"decision": {"action": action, "actor": user, **details}}

    def _after(self, alert_id: int, action: str, user: str, details: dict[str, Any], event_id: int | None = None,
               ) -> AlertInfo:
        info = self.get(alert_id)
        if self._audit is not None:
            self._audit(self.engine, user, f"alert.{action}", f"alert:{alert_id}",
                        {**details, "subject": info.alert.subject_name})
        self._deliver(UPDATED, info.alert, self._decision_extra(action, user, details), event_id)
        return info

    def _deliver(self, event: str, alert: Alert, extra: dict[str, Any], event_id: int | None = None) -> None:
        """Publish at once in this process (the bus drops the event's later copy from the log) and hand it to
        the sinks, unless ``sinks_from_log`` (then the consoles' ``SinkDispatcher`` delivers from the log)."""
        if self.bus is not None:
            self.bus.publish(alert, event_id)
        if self.sinks_from_log and event_id is not None:
            return
        message = payload(event, alert, extra)
        if event_id is not None:
            message["event_id"] = event_id
        for sink in self.sinks:
            try:
                sink.deliver(message)
            except Exception:  # a sink must never stop the others or the camera thread
                log.exception("delivering alert to %s failed", getattr(sink, "name", sink))


def _written(row: StoredAlert | None) -> StoredAlert:
    """The row this transaction just wrote (it cannot be missing)."""
    assert row is not None
    return row


def _user(user: str) -> str:
    name = (user or "").strip()
    if not name:
        raise InputError("say who decides (--by USER): every decision on an alert is recorded with its author")
    return name


def _dim(blob: bytes, details: dict[str, Any] | None) -> int:
    dim = (details or {}).get("embedding_dim")
    return dim if isinstance(dim, int) and dim > 0 else len(blob) // 4
