"""Users and their sessions: argon2 password hashes, hashed session/bearer tokens with expiry.

Why argon2 (argon2-cffi's defaults, RFC 9106 low-memory profile): a stolen users table must not give
up passwords cheaply. Why tokens are stored as sha256: they are long random secrets (256 bits), so a
fast hash is enough, and a lookup by hash stays an indexed equality.

The first admin is made on the command line (``watchnet users create-admin``); there is no default
password anywhere.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from watchnet.core.errors import InputError
from watchnet.store.schema_auth import ROLES, ApiSession, User

_users = cast(sa.Table, User.__table__)
_sessions = cast(sa.Table, ApiSession.__table__)
_hasher = PasswordHasher()
#: A hash to verify against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
MIN_PASSWORD_LENGTH = 10
NAME_PATTERN = r"^[A-Za-z0-9_.@\-]{1,64}$"


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


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    return password


def check_name(name: str) -> str:
    import re

    if not re.fullmatch(NAME_PATTERN, name):
        raise InputError("a user name is 1-64 letters, digits or _ . @ -")
    return name


def create_user(engine: Engine, name: str, password: str, role: str) -> int:
    """Add a user; raises InputError for a bad name, role, short password or a name already taken."""
    check_name(name)
    check_role(role)
    check_password(password)
    hashed = _hasher.hash(password)  # slow on purpose: outside the write transaction, which stays short
    now = datetime.now(UTC)
    with engine.connect() as conn, conn.begin():
        taken = conn.execute(sa.select(_users.c.id).where(sa.func.lower(_users.c.name) == name.lower())).first()
        if taken is not None:
            raise InputError(f"a user named {name!r} already exists")
        return int(conn.execute(
            _users.insert().values(name=name, password_hash=hashed, role=role, disabled=False,
                                   created_at=now, updated_at=now).returning(_users.c.id)
        ).scalar_one())


def list_users(engine: Engine) -> list[UserRow]:
    query = sa.select(_users.c.id, _users.c.name, _users.c.role, _users.c.disabled, _users.c.created_at)
    with engine.connect() as conn:
        return [UserRow(**row) for row in conn.execute(query.order_by(_users.c.name)).mappings()]


def count_admins(engine: Engine) -> int:
    query = sa.select(sa.func.count()).where(_users.c.role == "admin", _users.c.disabled.is_(False))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def get_user(engine: Engine, name: str) -> UserRow | None:
    query = sa.select(_users.c.id, _users.c.name, _users.c.role, _users.c.disabled, _users.c.created_at)
    with engine.connect() as conn:
        row = conn.execute(query.where(_users.c.name == name)).mappings().first()
    return UserRow(**row) if row else None


def update_user(engine: Engine, name: str, *, role: str | None = None, disabled: bool | None = None,
                password: str | None = None) -> UserRow:
    """Change a user's role, disabled flag or password; disabling or a new password ends their sessions."""
    values: dict[str, object] = {"updated_at": datetime.now(UTC)}
    if role is not None:
        values["role"] = check_role(role)
    if disabled is not None:
        values["disabled"] = disabled
    if password is not None:
        values["password_hash"] = _hasher.hash(check_password(password))
    with engine.connect() as conn, conn.begin():
        user_id = conn.execute(sa.select(_users.c.id).where(_users.c.name == name)).scalar_one_or_none()
        if user_id is None:
            raise InputError(f"no user named {name!r}")
        conn.execute(_users.update().where(_users.c.id == user_id).values(**values))
        if disabled or password is not None or role is not None:
            conn.execute(_sessions.delete().where(_sessions.c.user_id == user_id))
    found = get_user(engine, name)
    assert found is not None
    return found


def authenticate(engine: Engine, name: str, password: str) -> Principal | None:
    """The user if the name and password are right and the account is enabled, else None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(_users).where(_users.c.name == name)).mappings().first()
    if row is None:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(row["password_hash"], password) or row["disabled"]:
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        with engine.connect() as conn, conn.begin():
            conn.execute(_users.update().where(_users.c.id == row["id"]).values(password_hash=_hasher.hash(password)))
    return Principal(row["id"], row["name"], row["role"])


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_session(engine: Engine, user: Principal, kind: str, ttl_s: float,
                   address: str | None = None) -> tuple[str, datetime]:
    """A new random secret for ``user`` (kind 'session' or 'token'); returns it and its expiry."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=ttl_s)
    with engine.connect() as conn, conn.begin():
        conn.execute(_sessions.delete().where(_sessions.c.expires_at < now))  # housekeeping, indexed by nothing big
        conn.execute(_sessions.insert().values(token_hash=token_digest(token), user_id=user.id, kind=kind,
                                               created_at=now, expires_at=expires, address=(address or "")[:64]))
    return token, expires


def resolve_session(engine: Engine, token: str) -> Principal | None:
    """The enabled user a live (unexpired) token belongs to, else None."""
    query = (
        sa.select(_users.c.id, _users.c.name, _users.c.role)
        .join(_sessions, _sessions.c.user_id == _users.c.id)
        .where(_sessions.c.token_hash == token_digest(token), _sessions.c.expires_at > datetime.now(UTC),
               _users.c.disabled.is_(False))
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return Principal(row.id, row.name, row.role) if row else None


def revoke_session(engine: Engine, token: str) -> None:
    with engine.connect() as conn, conn.begin():
        conn.execute(_sessions.delete().where(_sessions.c.token_hash == token_digest(token)))
