"""Tables of the operator's console: users, their sessions/tokens, and the hash-chained audit log.

Why sessions are stored hashed: a leaked database (or backup) must not hand out live logins, so only
``sha256(token)`` is kept and the token itself exists only in the client's cookie or header.

Why the audit log has ``seq`` and a one-row ``audit_head``: ids from a sequence can skip on a rolled
back insert, so gaps in ``id`` prove nothing; ``seq`` is assigned under a lock as previous + 1, so a gap
means a deleted row. ``audit_head`` keeps the last ``seq`` and hash, written in the same transaction,
so deleting the newest rows (which leaves a valid, shorter chain) is caught too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from watchnet.store.schema import Base, BigId, utcnow

ROLES: tuple[str, ...] = ("admin", "operator", "auditor", "viewer")


class User(Base):
    """A person who may use the console; never deleted (the audit log names them), only disabled."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiSession(Base):
    """A login session (cookie) or a bearer token, stored as the sha256 of the secret."""

    __tablename__ = "api_sessions"
    __table_args__ = (sa.Index("ix_api_sessions_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))  # "session" or "token"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    address: Mapped[str | None] = mapped_column(sa.String(64))


class AuditEntry(Base):
    """One audited action; ``hash = sha256(prev_hash + canonical JSON of the row)``."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_at", "at"), sa.Index("ix_audit_log_action", "action"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger(), unique=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64))
    target: Mapped[str] = mapped_column(sa.Text())
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditHead(Base):
    """The chain's newest ``seq`` and hash (one row, id 1), updated with every append."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger())
    hash: Mapped[str] = mapped_column(sa.String(64))
