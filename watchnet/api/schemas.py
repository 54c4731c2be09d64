"""Request and response bodies shared by several routes (route-specific ones live with their route)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from watchnet.services.accounts import NAME_PATTERN

#: A row id in a path: bounded, so an absurd number is a 422 and never reaches the database driver.
Id = Annotated[int, PathParam(ge=1, le=2**62)]


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error and not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class Message(BaseModel):
    detail: str


class Credentials(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    disabled: bool = False
    created_at: datetime | None = None


class LoginOut(BaseModel):
    user: UserOut
    expires_at: datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class UserCreate(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    password: str = Field(min_length=10, max_length=1024)
    role: str = Field(pattern=r"^(admin|operator|auditor|viewer)$")


class UserUpdate(Strict):
    role: str | None = Field(default=None, pattern=r"^(admin|operator|auditor|viewer)$")
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=10, max_length=1024)


class Page(BaseModel):
    """Common envelope of list answers."""

    total: int | None = None
    limit: int
    offset: int


class JsonObject(BaseModel):
    model_config = ConfigDict(extra="allow")


def as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}
