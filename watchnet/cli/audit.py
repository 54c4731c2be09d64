"""``watchnet audit``: prove the audit log untampered (exit 0/1) and export it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from watchnet.cli.common import friendly_errors
from watchnet.core.config import Settings
from watchnet.store import audit
from watchnet.store.db import open_store

app = typer.Typer(help="The hash-chained audit log: verify, export.", no_args_is_help=True)


@app.command("verify")
@friendly_errors
def verify() -> None:
    """Recompute the chain; exit 0 if untampered, 1 (listing the problems) if not."""
    report = audit.verify(open_store(Settings.load()))
    if report.ok:
        typer.echo(f"audit log OK: {report.rows} entries, head seq {report.head_seq} hash {report.head_hash}")
        return
    typer.secho(f"audit log TAMPERED: {len(report.problems)} problem(s) in {report.rows} entries", fg="red", err=True)
    for problem in report.problems:
        typer.echo(f"  [{problem.kind}] {problem.message}", err=True)
    raise typer.Exit(1)


@app.command("export")
@friendly_errors
def export(out: Annotated[Path, typer.Option("--out", "-o", help="JSON-lines file to write")]) -> None:
    """Write the whole chain (oldest first) plus its head hash; the export itself is audited."""
    engine = open_store(Settings.load())
    audit.record(engine, "cli", "export", "audit_log", {"file": str(out)})
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with out.open("w", encoding="utf-8") as handle:
        for line in audit.export_lines(engine):
            handle.write(line)
            rows += 1
    typer.echo(f"wrote {rows - 1} entries to {out}")
