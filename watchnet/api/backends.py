"""The console's handles on the alert manager: one per process, shared with the pipeline in ``serve``
(so alerts raised by cameras and decisions taken here go out on the same bus)."""

from __future__ import annotations

from typing import Any


def alert_manager(state: Any) -> Any:
    """The process's ``AlertManager`` (publishing on the app's bus), made on first use."""
    manager = state.extras.get("alerts")
    if manager is None:
        from watchnet.services.alerts import AlertManager

        manager = state.extras["alerts"] = AlertManager.from_settings(state.settings, state.engine, state.bus)
    return manager


def decide(state: Any, action: str, alert_id: int, actor: str, note: str, negative: bool = False) -> None:
    """Apply one decision through the alert manager (it enforces the rules, audits and publishes)."""
    manager = alert_manager(state)
    if action == "confirm":
        manager.confirm(alert_id, actor, note=note)
    elif action == "dismiss":
        manager.dismiss(alert_id, actor, add_negative=negative, note=note)
    elif action == "close":
        manager.close(alert_id, actor, note=note)
    else:
        raise ValueError(f"unknown alert action {action!r}")
