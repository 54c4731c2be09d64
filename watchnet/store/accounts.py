"""Users and their sessions as stored: the SQL behind ``watchnet.services.accounts``.

Why a repository of its own: the service decides (password policy, argon2, token secrets), this
module only reads and writes rows, so neither the hashing nor the token format leaks into SQL and no
statement leaks into the service. Every write that must see a consistent picture (a name check and its
insert, a role change and the sessions it ends) is one transaction here.

Passwords and tokens never arrive here in clear: the service passes argon2 hashes and sha256 digests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from watchnet.store.schema_auth import ApiSession, User

_users = cast(sa.Table, User.__table__)
_sessions = cast(sa.Table, ApiSession.__table__)
_LISTED = (_users.c.id, _users.c.name, _users.c.role, _users.c.disabled, _users.c.created_at)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user's id, name and role (what every route's authorisation looks at)."""

    id: int
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class UserRow:
    """A user as listed (never with the password hash)."""

    id: int
    name: str
    role: str
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a login checks: the user and their stored password hash (never leaves the accounts service)."""

    id: int
    name: str
    role: str
    disabled: bool
    password_hash: str


def insert_user(engine: Engine, name: str, password_hash: str, role: str, now: datetime) -> int | None:
    """Add an enabled user and return their id, or None when the name is taken (ignoring case)."""
    with engine.connect() as conn, conn.begin():
        taken = conn.execute(sa.select(_users.c.id).where(sa.func.lower(_users.c.name) == name.lower())).first()
        if taken is not None:
            return None
        return int(conn.execute(
            _users.insert().values(name=name, password_hash=password_hash, role=role, disabled=False,
                                   created_at=now, updated_at=now).returning(_users.c.id)
        ).scalar_one())


def list_users(engine: Engine) -> list[UserRow]:
    """Every user, by name."""
    with engine.connect() as conn:
        return [UserRow(**row) for row in conn.execute(sa.select(*_LISTED).order_by(_users.c.name)).mappings()]


def count_admins(engine: Engine) -> int:
    """Enabled admins (the last one may not be demoted or disabled)."""
    query = sa.select(sa.func.count()).where(_users.c.role == "admin", _users.c.disabled.is_(False))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def get_user(engine: Engine, name: str) -> UserRow | None:
    """One user by exact name, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(*_LISTED).where(_users.c.name == name)).mappings().first()
    return UserRow(**row) if row else None


def update_user(
    engine: Engine, name: str, now: datetime, *, role: str | None = None, disabled: bool | None = None,
    password_hash: str | None = None, end_sessions: bool = False,
) -> bool:
    """Change the given fields of a user (and end all their sessions if asked); False if there is no such user."""
    values: dict[str, object] = {"updated_at": now}
    if role is not None:
        values["role"] = role
    if disabled is not None:
        values["disabled"] = disabled
    if password_hash is not None:
        values["password_hash"] = password_hash
    with engine.connect() as conn, conn.begin():
        user_id = conn.execute(sa.select(_users.c.id).where(_users.c.name == name)).scalar_one_or_none()
        if user_id is None:
            return False
        conn.execute(_users.update().where(_users.c.id == user_id).values(**values))
        if end_sessions:
            conn.execute(_sessions.delete().where(_sessions.c.user_id == user_id))
    return True


def get_credentials(engine: Engine, name: str) -> Credentials | None:
    """The user named exactly ``name`` with their password hash, or None."""
    query = sa.select(_users.c.id, _users.c.name, _users.c.role, _users.c.disabled, _users.c.password_hash)
    with engine.connect() as conn:
        row = conn.execute(query.where(_users.c.name == name)).mappings().first()
    return Credentials(**row) if row else None


def set_password_hash(engine: Engine, user_id: int, password_hash: str) -> None:
    """Replace a user's stored hash (a rehash with newer argon2 parameters; sessions stay)."""
    with engine.connect() as conn, conn.begin():
        conn.execute(_users.update().where(_users.c.id == user_id).values(password_hash=password_hash))


def insert_session(engine: Engine, token_hash: str, user_id: int, kind: str, now: datetime, expires: datetime,
                   address: str) -> None:
    """Store a session/token digest, dropping every expired one in the same transaction (housekeeping)."""
    with engine.connect() as conn, conn.begin():
        conn.execute(_sessions.delete().where(_sessions.c.expires_at < now))
        conn.execute(_sessions.insert().values(token_hash=token_hash, user_id=user_id, kind=kind,
                                               created_at=now, expires_at=expires, address=address))


def session_principal(engine: Engine, token_hash: str, now: datetime) -> Principal | None:
    """The enabled user whose session with this digest is still live at ``now``, else None."""
    query = (
        sa.select(_users.c.id, _users.c.name, _users.c.role)
        .join(_sessions, _sessions.c.user_id == _users.c.id)
        .where(_sessions.c.token_hash == token_hash, _sessions.c.expires_at > now, _users.c.disabled.is_(False))
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return Principal(row.id, row.name, row.role) if row else None


def delete_session(engine: Engine, token_hash: str) -> None:
    """End one session or token by its digest (a no-op for an unknown one)."""
    with engine.connect() as conn, conn.begin():
        conn.execute(_sessions.delete().where(_sessions.c.token_hash == token_hash))
