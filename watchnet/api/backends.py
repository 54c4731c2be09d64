"""The console's handle on the alert manager: the one of its process's services (``watchnet.services.container``),
shared with the cameras in ``serve`` so alerts raised there and decisions taken here go out on the same bus."""

from __future__ import annotations

from watchnet.api.state import ApiState
from watchnet.services.alerts import AlertManager


def alert_manager(state: ApiState) -> AlertManager:
    """The process's ``AlertManager`` (publishing on the app's bus)."""
    return state.services.alerts


def decide(state: ApiState, action: str, alert_id: int, actor: str, note: str, negative: bool = False) -> None:
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
