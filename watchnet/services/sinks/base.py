"""What every alert sink accepts, and the one JSON form of an alert that all of them send.

A sink's ``deliver`` is called on a camera thread (when an alert is raised) or an operator's request
(when one is decided), so it must return at once: network sinks queue and send from their own thread.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from watchnet.core.records import Alert

#: ``event`` values: a new alert, or a decision that changed one.
RAISED = "alert.raised"
UPDATED = "alert.updated"


class AlertSink(Protocol):
    """Somewhere alerts go. ``deliver`` must not block; ``close`` sends what it can within ``timeout``."""

    name: str

    def deliver(self, payload: dict[str, Any]) -> None: ...

    def close(self, timeout: float = 10.0) -> None: ...


def alert_json(alert: Alert) -> dict[str, Any]:
    """The alert as plain JSON types (what the WebSocket, webhooks and MQTT all carry)."""
    return {
        "id": alert.id,
        "state": str(alert.state),
        "kind": alert.kind,
        "subject": {"id": alert.subject_id, "name": alert.subject_name},
        "score": round(float(alert.score), 4),
        "camera": {"name": alert.camera, "lat": alert.lat, "lon": alert.lon},
        "track_id": alert.track_id,
        "frame_index": alert.frame_index,
        "time": datetime.fromtimestamp(alert.timestamp, UTC).isoformat(),
        "timestamp": alert.timestamp,
        "box": [round(float(v), 1) for v in alert.xyxy] if alert.xyxy is not None else None,
        "crop_path": alert.crop_path,
        "snapshot_path": alert.snapshot_path,
        "matches": alert.matches,
        "last_seen": datetime.fromtimestamp(alert.last_seen, UTC).isoformat() if alert.last_seen is not None else None,
        "track_ids": list(alert.track_ids or (alert.track_id,)),
    }


def payload(event: str, alert: Alert, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One message: the event name, the alert, and event details (e.g. who decided what)."""
    return {"event": event, "alert": alert_json(alert), **(extra or {})}


def with_crop(message: dict[str, Any]) -> dict[str, Any]:
    """The message plus the face crop as base64 JPEG (for receivers that cannot reach our files)."""
    path = message.get("alert", {}).get("crop_path")
    if not path or not Path(path).is_file():
        return message
    alert = {**message["alert"], "crop_jpeg_base64": base64.b64encode(Path(path).read_bytes()).decode("ascii")}
    return {**message, "alert": alert}
