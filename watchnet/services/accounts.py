"""Users and their sessions: argon2 password hashes, hashed session/bearer tokens with expiry.

Why argon2 (argon2-cffi's defaults, RFC 9106 low-memory profile): a stolen users table must not give
up passwords cheaply. Why tokens are stored as sha256: they are long random secrets (256 bits), so a
fast hash is enough, and a lookup by hash stays an indexed equality.

The first admin is made on the command line (``watchnet users create-admin``); there is no default
password anywhere.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from watchnet.core.errors import InputError
from watchnet.store import accounts as repo
from watchnet.store.accounts import Principal, UserRow
from watchnet.store.db import Engine
from watchnet.store.schema_auth import ROLES

__all__ = [
    "MIN_PASSWORD_LENGTH", "NAME_PATTERN", "Principal", "UserRow", "authenticate", "check_name", "check_password",
    "check_role", "count_admins", "create_session", "create_user", "get_user", "list_users", "resolve_session",
    "revoke_session", "token_digest", "update_user",
]

_hasher = PasswordHasher()
#: A hash to verify against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
MIN_PASSWORD_LENGTH = 10
NAME_PATTERN = r"^[A-Za-z0-9_.@\-]{1,64}$"


def check_role(role: str) -> str:
    """``role`` if it is one of ``ROLES``, else InputError naming them."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    """``password`` if it has at least ``MIN_PASSWORD_LENGTH`` characters, else InputError."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    return password


def check_name(name: str) -> str:
    """``name`` if it fits ``NAME_PATTERN`` (safe in logs, URLs and the audit log)."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise InputError("a user name is 1-64 letters, digits or _ . @ -")
    return name


def create_user(engine: Engine, name: str, password: str, role: str) -> int:
    """Add a user; raises InputError for a bad name, role, short password or a name already taken."""
    check_name(name)
    check_role(role)
    check_password(password)
    hashed = _hasher.hash(password)  # slow on purpose: outside the write transaction, which stays short
    user_id = repo.insert_user(engine, name, hashed, role, datetime.now(UTC))
    if user_id is None:
        raise InputError(f"a user named {name!r} already exists")
    return user_id


def list_users(engine: Engine) -> list[UserRow]:
    """Every user, by name, without password hashes."""
    return repo.list_users(engine)


def count_admins(engine: Engine) -> int:
    """Enabled admins: the last one may not be demoted or disabled."""
    return repo.count_admins(engine)


def get_user(engine: Engine, name: str) -> UserRow | None:
    """One user by name, or None."""
    return repo.get_user(engine, name)


def update_user(engine: Engine, name: str, *, role: str | None = None, disabled: bool | None = None,
                password: str | None = None) -> UserRow:
    """Change a user's role, disabled flag or password; disabling or a new password ends their sessions."""
    if role is not None:
        check_role(role)
    hashed = _hasher.hash(check_password(password)) if password is not None else None
    end_sessions = bool(disabled) or password is not None or role is not None
    if not repo.update_user(engine, name, datetime.now(UTC), role=role, disabled=disabled, password_hash=hashed,
                            end_sessions=end_sessions):
        raise InputError(f"no user named {name!r}")
    found = get_user(engine, name)
    assert found is not None
    return found


def authenticate(engine: Engine, name: str, password: str) -> Principal | None:
    """The user if the name and password are right and the account is enabled, else None."""
    row = repo.get_credentials(engine, name)
    if row is None:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(row.password_hash, password) or row.disabled:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        repo.set_password_hash(engine, row.id, _hasher.hash(password))
    return Principal(row.id, row.name, row.role)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    """How a token is stored and looked up: sha256 hex (the token itself is a 256-bit random secret)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_session(engine: Engine, user: Principal, kind: str, ttl_s: float,
                   address: str | None = None) -> tuple[str, datetime]:
    """A new random secret for ``user`` (kind 'session' or 'token'); returns it and its expiry."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=ttl_s)
    repo.insert_session(engine, token_digest(token), user.id, kind, now, expires, (address or "")[:64])
    return token, expires


def resolve_session(engine: Engine, token: str) -> Principal | None:
    """The enabled user a live (unexpired) token belongs to, else None."""
    return repo.session_principal(engine, token_digest(token), datetime.now(UTC))


def revoke_session(engine: Engine, token: str) -> None:
    """End the session or token ``token`` (logout); unknown tokens are ignored."""
    repo.delete_session(engine, token_digest(token))
