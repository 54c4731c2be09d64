"""The audit log: an append-only, hash-chained record of who did what (logins, enrolments, searches...).

Why a hash chain: the log is evidence about the operators themselves, so it must show when someone
with database access edited it. Each row stores ``hash = sha256(prev_hash + canonical JSON of the row)``;
changing any field breaks that row's hash, deleting or reordering rows breaks the ``prev_hash`` links
or the gap-free ``seq`` numbering, and deleting the newest rows no longer matches ``audit_head``.
It cannot stop someone who rewrites the whole chain and the head: for that, export it regularly
(``watchnet audit export``) and keep the newest hash elsewhere.

Appends are serialised (``BEGIN IMMEDIATE`` on SQLite, a row lock on the head on PostgreSQL), so
``seq`` and the links are assigned without races between threads or processes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import SQLAlchemyError

from watchnet.core.errors import StoreError
from watchnet.store.db import public_url
from watchnet.store.schema_auth import AuditEntry, AuditHead

GENESIS = "0" * 64
_log = cast(sa.Table, AuditEntry.__table__)
_head = cast(sa.Table, AuditHead.__table__)


def canonical_json(value: Any) -> str:
    """One byte-exact JSON form: sorted keys, no spaces, UTF-8 kept (so the hash is reproducible)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _at_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, target: str,
             details: dict[str, Any]) -> str:
    """The chain hash of one row given its predecessor's hash."""
    body = canonical_json(
        {"seq": seq, "at": _at_text(at), "actor": actor, "action": action, "target": target, "details": details}
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def record(engine: Engine, actor: str, action: str, target: str = "", details: dict[str, Any] | None = None) -> int:
    """Append one entry and return its id. ``details`` must be JSON-serialisable (others become str)."""
    clean: dict[str, Any] = json.loads(canonical_json(details or {}))  # what the JSON column will give back
    now = datetime.now(UTC)
    at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # milliseconds survive every backend
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                return _append(conn, actor, action, target, clean, at)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"writing the audit log to {public_url(engine.url)} failed: {reason}") from exc


def _append(conn: Connection, actor: str, action: str, target: str, details: dict[str, Any], at: datetime) -> int:
    query = sa.select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    head = conn.execute(query).first()
    if head is None:
        raise StoreError("the audit log has no head row; the database was not migrated by watchnet")
    seq = int(head.seq) + 1
    digest = row_hash(head.hash, seq, at, actor, action, target, details)
    row_id = conn.execute(
        _log.insert().values(seq=seq, at=at, actor=actor, action=action, target=target, details=details,
                             prev_hash=head.hash, hash=digest).returning(_log.c.id)
    ).scalar_one()
    conn.execute(_head.update().where(_head.c.id == 1).values(seq=seq, hash=digest))
    return int(row_id)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the chain: where, what kind (modified, deleted, reordered, head), and why."""

    seq: int | None
    kind: str
    message: str


@dataclass(slots=True)
class VerifyReport:
    """The outcome of ``verify``: ``ok`` when the chain and the head agree with every row."""

    rows: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "rows": self.rows, "head_seq": self.head_seq, "head_hash": self.head_hash,
                "problems": [{"seq": p.seq, "kind": p.kind, "message": p.message} for p in self.problems]}


def verify(engine: Engine, max_problems: int = 100) -> VerifyReport:
    """Walk the whole chain in ``seq`` order and report every modified, deleted or reordered row."""
    report = VerifyReport()
    prev_hash, prev_seq, prev_id = GENESIS, 0, 0
    with engine.connect() as conn:
        head = conn.execute(sa.select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)).first()
        rows = conn.execution_options(yield_per=1000).execute(sa.select(_log).order_by(_log.c.seq)).mappings()
        for row in rows:
            report.rows += 1
            _check_row(row, prev_hash, prev_seq, prev_id, report.problems)
            prev_hash, prev_seq, prev_id = row["hash"], row["seq"], row["id"]
    if head is None:
        report.problems.append(Problem(None, "head", "the audit_head row is missing"))
    else:
        report.head_seq, report.head_hash = int(head.seq), head.hash
        if head.seq != prev_seq or head.hash != prev_hash:
            report.problems.append(Problem(
                prev_seq, "deleted",
                f"the newest row is seq {prev_seq} but the head records seq {head.seq}: rows at the end were "
                "deleted (or added without the log's code)",
            ))
    del report.problems[max_problems:]
    return report


def _check_row(row: RowMapping, prev_hash: str, prev_seq: int, prev_id: int, problems: list[Problem]) -> None:
    seq = int(row["seq"])
    if seq != prev_seq + 1:
        missing = f"{prev_seq + 1}" if seq == prev_seq + 2 else f"{prev_seq + 1}..{seq - 1}"
        problems.append(Problem(seq, "deleted", f"rows with seq {missing} are missing before seq {seq}"))
    elif row["prev_hash"] != prev_hash:
        problems.append(Problem(seq, "reordered", f"seq {seq} does not link to the row before it"))
    if row["id"] <= prev_id:
        problems.append(Problem(seq, "reordered", f"seq {seq} has id {row['id']}, not after id {prev_id}"))
    expected = row_hash(row["prev_hash"], seq, row["at"], row["actor"], row["action"], row["target"],
                        row["details"])
    if expected != row["hash"]:
        problems.append(Problem(seq, "modified", f"seq {seq} (id {row['id']}) was changed after it was written"))


@dataclass(frozen=True, slots=True)
class AuditRow:
    """A stored audit entry as the API and exports show it."""

    id: int
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


def list_entries(
    engine: Engine, actor: str | None = None, action: str | None = None, since: datetime | None = None,
    until: datetime | None = None, limit: int = 100, offset: int = 0,
) -> list[AuditRow]:
    """Entries matching every given filter, newest first."""
    query = sa.select(_log).where(*_filters(actor, action, since, until))
    query = query.order_by(_log.c.seq.desc()).limit(limit).offset(offset)
    with engine.connect() as conn:
        return [AuditRow(**row) for row in conn.execute(query).mappings()]


def iter_entries(engine: Engine, since: datetime | None = None, until: datetime | None = None) -> Iterator[AuditRow]:
    """Every entry in chain order (oldest first), streamed: what an export writes."""
    query = sa.select(_log).where(*_filters(None, None, since, until)).order_by(_log.c.seq)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=1000).execute(query).mappings():
            yield AuditRow(**row)


def _filters(actor: str | None, action: str | None, since: datetime | None,
             until: datetime | None) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if actor is not None:
        where.append(_log.c.actor == actor)
    if action is not None:
        where.append(_log.c.action == action)
    if since is not None:
        where.append(_log.c.at >= since)
    if until is not None:
        where.append(_log.c.at <= until)
    return where


def export_lines(engine: Engine) -> Iterator[str]:
    """The chain as JSON lines, oldest first, then one line with the head and the verification result."""
    for row in iter_entries(engine):
        yield canonical_json({**_as_json(row)}) + "\n"
    report = verify(engine)
    yield canonical_json({"head": {"seq": report.head_seq, "hash": report.head_hash}, "verified": report.ok}) + "\n"


def _as_json(row: AuditRow) -> dict[str, Any]:
    return {"id": row.id, "seq": row.seq, "at": _at_text(row.at), "actor": row.actor, "action": row.action,
            "target": row.target, "details": row.details, "prev_hash": row.prev_hash, "hash": row.hash}
