"""The audit log for auditors and admins: list, verify the hash chain, export (the export is audited)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from watchnet.api.deps import CAN_AUDIT, AuditorUser, EngineDep, require
from watchnet.store import audit

router = APIRouter(prefix="/api/audit", tags=["audit"], dependencies=[Depends(require(*CAN_AUDIT))])


class AuditOut(BaseModel):
    """An ``AuditRow`` as the API lists it (the previous hash is left out: ``hash`` and ``seq`` chain the rows)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    hash: str


class ProblemOut(BaseModel):
    seq: int | None
    kind: str
    message: str


class VerifyOut(BaseModel):
    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    problems: list[ProblemOut]


@router.get("", response_model=list[AuditOut])
def entries(
    engine: EngineDep,
    actor: str | None = Query(None, max_length=64),
    action: str | None = Query(None, max_length=64),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10**7),
) -> list[AuditOut]:
    """Entries, newest first."""
    rows = audit.list_entries(engine, actor, action, since, until, limit, offset)
    return [AuditOut.model_validate(r) for r in rows]


@router.get("/verify", response_model=VerifyOut)
def verify(user: AuditorUser, engine: EngineDep) -> VerifyOut:
    """Recompute the whole chain: ``ok`` false names each modified, deleted or reordered row."""
    report = audit.verify(engine)
    audit.record(engine, user.name, "audit.verify", "audit_log",
                 {"ok": report.ok, "rows": report.rows})
    return VerifyOut.model_validate(report.as_dict())


@router.get("/export", response_class=StreamingResponse)
def export(user: AuditorUser, engine: EngineDep) -> StreamingResponse:
    """The whole chain as JSON lines (oldest first), ending with the head hash and the verification result."""
    audit.record(engine, user.name, "export", "audit_log", {"format": "jsonl"})
    lines: Iterator[str] = audit.export_lines(engine)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(lines, media_type="application/x-ndjson",
                             headers={"content-disposition": f'attachment; filename="watchnet-audit-{stamp}.jsonl"'})
