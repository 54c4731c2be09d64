"""The ``watchnet`` command. Each command group lives in its own module; this one only assembles them.

Commands are thin: parse arguments, call the library, print. Errors that reach a user are printed as
one clear line and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import typer

from watchnet.cli.common import plain_switches

plain_switches()  # no "<bool>" after switches in --help
app = typer.Typer(
    name="watchnet",
    help="Multi-camera video analytics: detect, track, match a watchlist, search history.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Imported here so `watchnet --help` stays fast and one broken group cannot hide the others.
    from watchnet.cli import alerts as alerts_cmd
    from watchnet.cli import audit as audit_cmd
    from watchnet.cli import demo as demo_cmd
    from watchnet.cli import export as export_cmd
    from watchnet.cli import faces as faces_cmd
    from watchnet.cli import journeys as journeys_cmd
    from watchnet.cli import models as models_cmd
    from watchnet.cli import plates as plates_cmd
    from watchnet.cli import retention as retention_cmd
    from watchnet.cli import run as run_cmd
    from watchnet.cli import search as search_cmd
    from watchnet.cli import serve as serve_cmd
    from watchnet.cli import users as users_cmd
    from watchnet.cli import watchlist as watchlist_cmd

    app.add_typer(models_cmd.app, name="models")
    app.add_typer(demo_cmd.app, name="demo")
    app.add_typer(faces_cmd.app, name="faces")
    app.add_typer(plates_cmd.app, name="plates")
    app.add_typer(watchlist_cmd.app, name="watchlist")
    app.add_typer(alerts_cmd.app, name="alerts")
    app.add_typer(export_cmd.app, name="export")
    app.add_typer(users_cmd.app, name="users")
    app.add_typer(audit_cmd.app, name="audit")
    app.command("run")(run_cmd.run)
    app.command("serve")(serve_cmd.serve)
    app.command("search")(search_cmd.search)
    app.command("detect")(__import__("watchnet.cli.detect", fromlist=["detect"]).detect)
    app.add_typer(retention_cmd.app, name="retention")
    app.add_typer(journeys_cmd.app, name="journeys")
    app.add_typer(__import__("watchnet.cli.reid", fromlist=["app"]).app, name="reid")
    app.add_typer(__import__("watchnet.cli.cluster", fromlist=["app"]).app, name="cluster")


_register()
