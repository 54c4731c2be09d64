"""User administration (admins only); every change is audited. Users are disabled, never deleted,
because the audit log refers to them by name."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, status

from watchnet.api.deps import ADMIN, AdminUser, EngineDep, require
from watchnet.api.schemas import UserCreate, UserOut, UserUpdate
from watchnet.services import accounts
from watchnet.store import audit

router = APIRouter(prefix="/api/users", tags=["users"], dependencies=[Depends(require(*ADMIN))])


def _out(row: accounts.UserRow) -> UserOut:
    return UserOut(id=row.id, name=row.name, role=row.role, disabled=row.disabled, created_at=row.created_at)


@router.get("", response_model=list[UserOut])
def list_users(engine: EngineDep) -> list[UserOut]:
    return [_out(u) for u in accounts.list_users(engine)]


@router.post("", response_model=UserOut, status_code=201)
def create_user(body: UserCreate, admin: AdminUser, engine: EngineDep) -> UserOut:
    accounts.create_user(engine, body.name, body.password, body.role)
    audit.record(engine, admin.name, "user.create", body.name, {"role": body.role})
    row = accounts.get_user(engine, body.name)
    assert row is not None
    return _out(row)


@router.patch("/{name}", response_model=UserOut, responses={404: {}})
def update_user(name: str, body: UserUpdate, admin: AdminUser, engine: EngineDep) -> UserOut:
    """Change role, disable/enable, or set a new password (ends the user's sessions)."""
    target = accounts.get_user(engine, name)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user named {name!r}")
    demoting = target.role == "admin" and (body.disabled or (body.role not in (None, "admin")))
    if demoting and not target.disabled and accounts.count_admins(engine) <= 1:
        raise HTTPException(status.HTTP_409_CONFLICT, "this is the last enabled admin; make another admin first")
    row = accounts.update_user(engine, name, role=body.role, disabled=body.disabled, password=body.password)
    changes = body.model_dump(exclude_none=True)
    if "password" in changes:
        changes["password"] = "changed"
    audit.record(engine, admin.name, "user.update", name, changes)
    return _out(row)
