"""``watchnet search``: forensic search over sightings, printed as a ranked table or JSON.

Every search is written to the audit log with who ran it (``--actor``, default the OS user) and why
(``--reason``, required). Times are ISO 8601 (no zone: local time) or "ago" durations like 90m, 6h, 7d.
"""

from __future__ import annotations

import getpass
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from watchnet.cli.common import friendly_errors, open_services
from watchnet.core.errors import InputError
from watchnet.services.search import SearchPage, SearchQuery

_AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str | None, now: datetime | None = None) -> datetime | None:
    """ISO 8601 (naive = local time) or a duration ago ("90m", "6h", "7d"), as a UTC datetime."""
    if text is None:
        return None
    ago = _AGO.match(text.strip())
    if ago:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[ago.group(2)]: float(ago.group(1))})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"cannot read the time {text!r}; use ISO 8601 (2026-11-23T14:00) or 90m / 6h / 7d") from None
    return (value.astimezone() if value.tzinfo is None else value).astimezone(UTC)


def _print_table(page: SearchPage) -> None:
    for note in page.notes:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"{'score':>6}  {'time (UTC)':<19}  {'camera':<12} {'class':<10} {'track':>6}  description  thumbnail")
    for r in page.results:
        a = r.attributes
        described = " ".join(
            str(v) for v in (a.get("upper_colour"), a.get("lower_colour"), a.get("colour"), r.plate) if v
        ) or "-"
        score = f"{r.score:.3f}" if r.score is not None else "-"
        typer.echo(
            f"{score:>6}  {r.first_seen:%Y-%m-%d %H:%M:%S}  {r.camera:<12.12} {r.label:<10} {r.track_id:>6}  "
            f"{described}  {r.thumbnail_path or '-'}"
        )
    shown = f"{page.offset + 1}-{page.offset + len(page.results)}" if page.results else "0"
    typer.echo(f"({shown} of {page.total if page.total is not None else '?'}; audit entry {page.audit_id})", err=True)


@friendly_errors
def search(
    reason: Annotated[str, typer.Option("--reason", help="Why you search (written to the audit log)")],
    camera: Annotated[list[str] | None, typer.Option("--camera", help="Camera name (repeatable)")] = None,
    since: Annotated[str | None, typer.Option("--from", help="Start: ISO time or 90m/6h/7d ago")] = None,
    until: Annotated[str | None, typer.Option("--to", help="End: ISO time or 90m/6h/7d ago")] = None,
    label: Annotated[str | None, typer.Option("--class", help="person, car, bus, truck, bicycle, motorcycle")] = None,
    upper: Annotated[str | None, typer.Option("--upper", help="Upper-body colour")] = None,
    lower: Annotated[str | None, typer.Option("--lower", help="Lower-body colour")] = None,
    vehicle_colour: Annotated[str | None, typer.Option("--vehicle-colour", help="Vehicle colour")] = None,
    plate: Annotated[str | None, typer.Option("--plate", help="Plate text (spaces/dashes ignored)")] = None,
    fuzzy: Annotated[bool, typer.Option("--fuzzy", help="Also plates a few characters off")] = False,
    face: Annotated[Path | None, typer.Option("--face", help="Photo of a face (keep-embeddings mode)")] = None,
    like: Annotated[Path | None, typer.Option("--like", help="Crop of a person: find similar-looking people")] = None,
    subject: Annotated[int | None, typer.Option("--subject", help="Watchlist subject id: where was she/he")] = None,
    days: Annotated[float | None, typer.Option("--days", help="Window of a --subject search")] = None,
    min_score: Annotated[float | None, typer.Option("--min-score", help="Least similarity shown")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Results per page")] = None,
    offset: Annotated[int, typer.Option("--offset", help="Skip this many results (paging)")] = 0,
    actor: Annotated[str | None, typer.Option("--actor", help="Who searches; default: the OS user")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="watchnet YAML config")] = None,
) -> None:
    """Search the sightings history by time, camera, class, colours, plate, face or look-alike."""
    services = open_services(config)
    api = services.search
    who = actor or getpass.getuser()
    if subject is not None:
        page = api.where_was(subject, actor=who, reason=reason, days=days, limit=limit)
    else:
        query = SearchQuery(
            cameras=tuple(camera or ()), since=parse_time(since), until=parse_time(until), label=label,
            upper_colour=upper, lower_colour=lower, vehicle_colour=vehicle_colour, plate=plate, fuzzy=fuzzy,
            face=api.embed_face_photo(face) if face else None, like=api.embed_crop(like) if like else None,
            min_score=min_score, limit=limit, offset=offset,
        )
        page = api.search(query, actor=who, reason=reason)
    if as_json:
        typer.echo(json.dumps({
            "total": page.total, "limit": page.limit, "offset": page.offset, "audit_id": page.audit_id,
            "notes": page.notes, "results": [r.as_dict() for r in page.results],
        }, indent=2, default=str))
    else:
        _print_table(page)
