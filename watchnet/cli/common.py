"""Small helpers shared by the command modules: one-line errors, settings from options."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError

from watchnet.core.config import CameraConfig, Settings
from watchnet.core.errors import ConfigError, InputError, WatchnetError

if TYPE_CHECKING:
    from watchnet.services.container import Services

P = ParamSpec("P")
R = TypeVar("R")


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a WatchnetError (or invalid configuration) as one red line and exit 2, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except WatchnetError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            typer.secho(f"error: invalid configuration at '{where}': {first['msg']}", fg="red", err=True)
            raise typer.Exit(2) from None

    return wrapper


def plain_switches() -> None:
    """Show no value type after switches in ``--help`` (``--annotate``, ``--help``).

    Why: Typer's rich help (0.2x, up to 0.29.2 at least) prints ``<bool>`` after every flag, although a
    flag takes no value, so ``--annotate <bool>`` reads as if ``--annotate true`` were expected. Its plain
    help already skips flags; this makes the rich help do the same. Idempotent, and a no-op on a Typer
    without ``TyperOption.display_type_rich``.
    """
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "plain_switches", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        result: str | None = original(self, ctx)
        return result

    display_type_rich.plain_switches = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def parse_source(text: str) -> CameraConfig:
    """``NAME=URL`` or a bare URL/path (the name is then taken from the file name)."""
    name, sep, url = text.partition("=")
    if not sep or "://" in name or "/" in name:
        url, name = text, Path(text.rstrip("/")).stem or "camera"
    name = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in name)
    return CameraConfig(name=name, url=url)


def load_settings(config: Path | None, sources: list[str] | None = None, **overrides: object) -> Settings:
    """Settings from an optional YAML file plus ``--source`` cameras appended to it."""
    try:
        settings = Settings.load(config, **overrides)
    except (FileNotFoundError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ConfigError(str(exc)) from exc
    if sources:
        cameras = list(settings.cameras) + [parse_source(s) for s in sources]
        settings = Settings.load(config, **{**overrides, "cameras": [c.model_dump() for c in cameras]})
    return settings


def open_services(config: Path | None) -> Services:
    """The services of a one-off CLI command (``watchnet.services.container``), over the configured store."""
    from watchnet.services.container import build_services

    return build_services(load_settings(config))


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def print_per_image(images: list[Path], describe: Callable[[Path], dict[str, Any]]) -> None:
    """One JSON line per image for scripts: ``{"file": ..., **describe(path)}``, or ``{"file": ..., "error": ...}``
    for an image that cannot be used, the others still processed; exit code 1 if any failed."""
    import json

    failed = False
    for path in images:
        try:
            line = {"file": str(path), **describe(path)}
        except InputError as exc:
            failed = True
            line = {"file": str(path), "error": str(exc)}
        typer.echo(json.dumps(line))
    if failed:
        raise typer.Exit(1)
