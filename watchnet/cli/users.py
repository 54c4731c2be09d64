"""``watchnet users``: console accounts. The first admin is made here; there is no default password.

Passwords are read from a prompt (typed twice), or from standard input or ``WATCHNET_PASSWORD`` for
scripts (``--password-stdin`` / ``--password-env``); they are never a command-line argument, which
other users could read from the process list.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from watchnet.cli.common import friendly_errors
from watchnet.core.config import Settings
from watchnet.core.errors import InputError
from watchnet.services import accounts
from watchnet.store import audit
from watchnet.store.db import open_store

app = typer.Typer(help="Console accounts: create the first admin, add, list, disable.", no_args_is_help=True)
PASSWORD_ENV = "WATCHNET_PASSWORD"
StdinOpt = Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input")]
EnvOpt = Annotated[bool, typer.Option("--password-env", help=f"Read the password from ${PASSWORD_ENV}")]


def prompt_password() -> str:
    while True:
        first = typer.prompt("password", hide_input=True)
        try:
            accounts.check_password(first)
        except InputError as exc:
            typer.secho(str(exc), fg="red", err=True)
            continue
        if typer.prompt("again", hide_input=True) == first:
            return str(first)
        typer.secho("the two passwords differ; try again", fg="red", err=True)


def read_password(stdin: bool, env: bool) -> str:
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif env:
        password = os.environ.get(PASSWORD_ENV, "")
        if not password:
            raise InputError(f"--password-env given but ${PASSWORD_ENV} is empty")
    elif sys.stdin.isatty():
        return prompt_password()
    else:
        raise InputError("no terminal to prompt on: pass --password-stdin or --password-env")
    return accounts.check_password(password)


@app.command("create-admin")
@friendly_errors
def create_admin(name: str, password_stdin: StdinOpt = False, password_env: EnvOpt = False) -> None:
    """Create an admin account (the first one, or another)."""
    _add(name, "admin", read_password(password_stdin, password_env))


@app.command("add")
@friendly_errors
def add(
    name: str,
    role: Annotated[str, typer.Option(help="admin | operator | auditor | viewer")] = "operator",
    password_stdin: StdinOpt = False,
    password_env: EnvOpt = False,
) -> None:
    """Create an account with a role."""
    accounts.check_role(role)
    _add(name, role, read_password(password_stdin, password_env))


def _add(name: str, role: str, password: str) -> None:
    engine = open_store(Settings.load())
    accounts.create_user(engine, name, password, role)
    audit.record(engine, "cli", "user.create", name, {"role": role})
    typer.echo(f"created {role} {name!r}")


@app.command("list")
@friendly_errors
def list_users() -> None:
    """Every account with its role and whether it is disabled."""
    for user in accounts.list_users(open_store(Settings.load())):
        flag = "  (disabled)" if user.disabled else ""
        typer.echo(f"{user.name:<24} {user.role:<9} since {user.created_at:%Y-%m-%d}{flag}")


@app.command("disable")
@friendly_errors
def disable(name: str) -> None:
    """Disable an account and end its sessions (accounts are never deleted: the audit log names them)."""
    engine = open_store(Settings.load())
    user = accounts.get_user(engine, name)
    if user is None:
        raise InputError(f"no user named {name!r}")
    if user.role == "admin" and not user.disabled and accounts.count_admins(engine) <= 1:
        raise InputError("this is the last enabled admin; create another admin first")
    accounts.update_user(engine, name, disabled=True)
    audit.record(engine, "cli", "user.update", name, {"disabled": True})
    typer.echo(f"disabled {name!r}")


@app.command("enable")
@friendly_errors
def enable(name: str) -> None:
    """Enable a disabled account again."""
    engine = open_store(Settings.load())
    accounts.update_user(engine, name, disabled=False)
    audit.record(engine, "cli", "user.update", name, {"disabled": False})
    typer.echo(f"enabled {name!r}")
