"""``watchnet alerts``: list and show alerts; confirm (two different users), dismiss or close them.

Decisions are recorded with their author and delivered to the configured webhooks/MQTT like new
alerts (``alert.updated``); the command waits up to ``--send-timeout`` seconds for that delivery.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from watchnet.cli.common import friendly_errors, open_services
from watchnet.services.alerts import AlertInfo, AlertManager

app = typer.Typer(help="Review watchlist alerts: confirm, dismiss, close.", no_args_is_help=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="watchnet YAML config")]
ByOption = Annotated[str, typer.Option("--by", help="Who decides (recorded with the decision)")]
IdArg = Annotated[int, typer.Argument(help="Alert id (see `watchnet alerts list`)")]
NoteOption = Annotated[str, typer.Option(help="Why (kept in the alert's history)")]
SendTimeout = Annotated[float, typer.Option(help="Seconds to wait for webhooks/MQTT to take the update")]


def _manager(config: Path | None) -> AlertManager:
    return open_services(config).alerts


@contextmanager
def _deciding(config: Path | None, send_timeout: float) -> Iterator[AlertManager]:
    """A manager for one decision; waits (bounded) for its webhook/MQTT deliveries before exiting."""
    manager = _manager(config)
    try:
        yield manager
    finally:
        manager.shutdown(send_timeout)


def _print(info: AlertInfo, pretty: bool = True) -> None:
    typer.echo(json.dumps(info.as_dict(), indent=2 if pretty else None, ensure_ascii=False))


@app.command("list")
@friendly_errors
def list_(
    state: Annotated[str | None, typer.Option(help="new, confirmed, closed or dismissed")] = None,
    subject: Annotated[int | None, typer.Option(help="Only this subject id")] = None,
    camera: Annotated[str | None, typer.Option(help="Only this camera")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    config: ConfigOption = None,
) -> None:
    """One JSON line per alert, newest first."""
    manager = _manager(config)
    for info in manager.list_alerts(state=state, subject_id=subject, camera=camera, limit=limit):
        _print(info, pretty=False)


@app.command()
@friendly_errors
def show(alert_id: IdArg, config: ConfigOption = None) -> None:
    """One alert with its decision history."""
    _print(_manager(config).get(alert_id))


@app.command()
@friendly_errors
def confirm(alert_id: IdArg, by: ByOption, note: NoteOption = "", config: ConfigOption = None,
            send_timeout: SendTimeout = 10.0) -> None:
    """Confirm a match; it becomes confirmed once two different users have confirmed it."""
    with _deciding(config, send_timeout) as manager:
        _print(manager.confirm(alert_id, by, note))


@app.command()
@friendly_errors
def dismiss(
    alert_id: IdArg, by: ByOption,
    negative: Annotated[bool, typer.Option("--negative", help="Keep the faces as look-alikes of the subject")] = False,
    note: NoteOption = "", config: ConfigOption = None, send_timeout: SendTimeout = 10.0,
) -> None:
    """Dismiss a false match (with --negative the same person will not match this subject again)."""
    with _deciding(config, send_timeout) as manager:
        _print(manager.dismiss(alert_id, by, add_negative=negative, note=note))


@app.command()
@friendly_errors
def close(alert_id: IdArg, by: ByOption, note: NoteOption = "", config: ConfigOption = None,
          send_timeout: SendTimeout = 10.0) -> None:
    """Close a confirmed alert once it has been dealt with."""
    with _deciding(config, send_timeout) as manager:
        _print(manager.close(alert_id, by, note))
