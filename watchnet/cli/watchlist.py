"""``watchnet watchlist``: enrol, list, show, update and remove watchlist subjects; add negative examples.

Every change names its author (``--by``), which goes to the audit log. Output is JSON (one object per
line for ``list``) so scripts can use it; errors are one red line and exit 2, like every command.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from watchnet.cli.common import friendly_errors, open_services
from watchnet.core.errors import InputError
from watchnet.services.watchlist import Watchlist, read_photo_file

app = typer.Typer(help="Manage the face watchlist (every change is audited).", no_args_is_help=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="watchnet YAML config")]
ByOption = Annotated[str, typer.Option("--by", help="Who makes the change (recorded in the audit log)")]
IdArg = Annotated[int, typer.Argument(help="Subject id (see `watchnet watchlist list`)")]
FaceIndex = Annotated[
    int | None, typer.Option("--face-index", help="Which face of a group photo (0 = largest)", min=0)
]


def parse_expiry(text: str) -> datetime:
    """``YYYY-MM-DD`` (valid through that day, UTC) or an ISO 8601 date-time (UTC unless it says)."""
    try:
        day = date.fromisoformat(text)
        return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--expires {text!r}: give a date (2027-01-31) or an ISO date-time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _open(config: Path | None) -> Watchlist:
    return open_services(config).watchlist


def _print(value: dict[str, Any], pretty: bool = True) -> None:
    typer.echo(json.dumps(value, indent=2 if pretty else None, ensure_ascii=False))


@app.command()
@friendly_errors
def add(
    name: Annotated[str, typer.Argument(help="Display name of the person")],
    photo: Annotated[list[Path], typer.Option("--photo", "-p", help="Photo with the person's face (repeatable)")],
    by: ByOption,
    reason: Annotated[str, typer.Option(help="Why the person is on the watchlist")] = "",
    case: Annotated[str, typer.Option("--case", help="Case or warrant reference")] = "",
    expires: Annotated[str | None, typer.Option(help="Last day the entry is valid (YYYY-MM-DD)")] = None,
    face_index: FaceIndex = None,
    config: ConfigOption = None,
) -> None:
    """Enrol a person from one or a few photos (each must show one face, or pass --face-index)."""
    photos = [read_photo_file(p) for p in photo]
    subject = _open(config).enrol(name, photos, by=by, reason=reason, case_ref=case, face_index=face_index,
                                  expires_at=parse_expiry(expires) if expires else None)
    _print(subject.as_dict())


@app.command("add-plate")
@friendly_errors
def add_plate(
    plate: Annotated[str, typer.Argument(help="The plate text, e.g. 'AB-123 CD' (spaces and dashes ignored)")],
    by: ByOption,
    reason: Annotated[str, typer.Option(help="Why the plate is on the hotlist")] = "",
    case: Annotated[str, typer.Option("--case", help="Case or warrant reference")] = "",
    expires: Annotated[str | None, typer.Option(help="Last day the entry is valid (YYYY-MM-DD)")] = None,
    config: ConfigOption = None,
) -> None:
    """Put a licence plate on the hotlist: a camera reading it raises an alert like a face match."""
    subject = _open(config).add_plate(plate, by=by, reason=reason, case_ref=case,
                                      expires_at=parse_expiry(expires) if expires else None)
    _print(subject.as_dict())


@app.command("list")
@friendly_errors
def list_(
    inactive: Annotated[bool, typer.Option("--all", help="Include inactive and expired subjects")] = False,
    config: ConfigOption = None,
) -> None:
    """One JSON line per subject, newest first (active and unexpired only, unless --all)."""
    wl = _open(config)
    subjects = wl.list_subjects() if inactive else wl.list_subjects(active=True, include_expired=False)
    for subject in subjects:
        _print(subject.as_dict(), pretty=False)


@app.command()
@friendly_errors
def show(subject_id: IdArg, config: ConfigOption = None) -> None:
    """One subject with its photos."""
    _print(_open(config).get(subject_id).as_dict())


@app.command()
@friendly_errors
def update(
    subject_id: IdArg,
    by: ByOption,
    name: Annotated[str | None, typer.Option(help="New display name")] = None,
    reason: Annotated[str | None, typer.Option(help="New reason")] = None,
    case: Annotated[str | None, typer.Option("--case", help="New case reference")] = None,
    expires: Annotated[str | None, typer.Option(help="New last valid day (YYYY-MM-DD), or 'never'")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive", help="Match this subject or not")] = None,
    photo: Annotated[list[Path] | None, typer.Option("--photo", "-p", help="Add a reference photo")] = None,
    face_index: FaceIndex = None,
    config: ConfigOption = None,
) -> None:
    """Change a subject's fields and/or add reference photos."""
    wl = _open(config)
    fields: dict[str, Any] = {}
    for key, value in (("name", name), ("reason", reason), ("case_ref", case), ("active", active)):
        if value is not None:
            fields[key] = value
    if expires is not None:
        fields["expires_at"] = None if expires.lower() == "never" else parse_expiry(expires)
    if not fields and not photo:
        raise InputError("nothing to update; give --name, --reason, --case, --expires, --active/--inactive or --photo")
    subject = wl.update(subject_id, by=by, **fields) if fields else wl.get(subject_id)
    for path in photo or []:
        subject = wl.add_photo(subject_id, read_photo_file(path), by=by, face_index=face_index)
    _print(subject.as_dict())


@app.command()
@friendly_errors
def remove(subject_id: IdArg, by: ByOption, config: ConfigOption = None) -> None:
    """Delete a subject and its stored photos (its past alerts keep the name)."""
    wl = _open(config)
    name = wl.get(subject_id).name
    wl.remove(subject_id, by=by)
    _print({"removed": subject_id, "name": name}, pretty=False)


@app.command()
@friendly_errors
def negative(
    subject_id: IdArg,
    photo: Annotated[Path, typer.Option("--photo", "-p", help="Photo of someone who is NOT this subject")],
    by: ByOption,
    face_index: FaceIndex = None,
    config: ConfigOption = None,
) -> None:
    """Record a look-alike: faces closer to this photo than to the subject's photos no longer match."""
    wl = _open(config)
    negative_id = wl.add_negative_photo(subject_id, read_photo_file(photo), by=by, face_index=face_index)
    _print({"subject": subject_id, "negative": negative_id, "negatives": wl.get(subject_id).negatives}, pretty=False)
