"""``watchnet cluster``: cameras as Ray actors over many machines, one PostgreSQL (extra ``watchnet[cluster]``).

Ray is imported inside the commands only: the rest of the CLI never needs it.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from watchnet.cli.common import friendly_errors, load_settings
from watchnet.core.errors import WatchnetError

app = typer.Typer(help="Run the cameras on a Ray cluster (pip install 'watchnet[cluster]').", no_args_is_help=True)


def _ray(address: str) -> Any:
    try:
        import ray
    except ImportError as exc:
        raise WatchnetError("Ray is not installed; install the extra: pip install 'watchnet[cluster]'") from exc
    ray.init(address=address, namespace="watchnet", log_to_driver=False)
    return ray


@app.command("up")
@friendly_errors
def up(
    address: Annotated[str, typer.Option(help="Ray cluster address (ray start --head prints it), or 'auto'")] = "auto",
    config: Annotated[Path | None, typer.Argument(help="YAML config (database_url must be PostgreSQL)")] = None,
    loop: Annotated[bool, typer.Option("--loop", help="Replay video files when they end")] = False,
    every: Annotated[float, typer.Option(help="Seconds between reconciling with the store's cameras")] = 2.0,
    shared_detector: Annotated[bool, typer.Option(help="One batched detector actor per node")] = True,
) -> None:
    """Place one actor per camera of the store across the cluster and keep them in line with it until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings(config, None)
    if not settings.resolved_database_url.startswith("postgresql"):
        raise WatchnetError("a cluster needs one shared PostgreSQL: set database_url (WATCHNET_DATABASE_URL)")
    _ray(address)
    from watchnet.runtime.cluster.reconcile import ClusterReconciler
    from watchnet.store.db import open_store

    engine = open_store(settings)
    reconciler = ClusterReconciler(settings, engine, loop=loop, shared_detector=shared_detector)
    typer.echo(f"cameras: {reconciler.reconcile()}", err=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker = threading.Thread(target=reconciler.run, args=(every,), daemon=True)
    worker.start()
    stop.wait()
    typer.echo("stopping the cluster's cameras (their tracks are written)", err=True)
    reconciler.close()
    engine.dispose()


@app.command("status")
@friendly_errors
def status(
    address: Annotated[str, typer.Option(help="Ray cluster address, or 'auto'")] = "auto",
) -> None:
    """Nodes of the cluster and the camera actors on each (JSON)."""
    ray = _ray(address)
    from ray.util.state import list_actors

    nodes = [{"node": n["NodeID"], "alive": n["Alive"], "address": n["NodeManagerAddress"],
              "resources": n.get("Resources", {})} for n in ray.nodes()]
    actors = [{"name": a.name, "state": a.state, "node": a.node_id, "pid": a.pid}
              for a in list_actors(filters=[("class_name", "=", "_CameraActor")])]
    typer.echo(json.dumps({"nodes": nodes, "cameras": actors}, indent=2))
