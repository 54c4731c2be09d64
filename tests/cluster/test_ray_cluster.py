"""Cameras on a real two-node Ray cluster (``ray.cluster_utils.Cluster``, this machine), one PostgreSQL.

Checks: each node runs a camera and both write to the one database; stopping a node moves its camera to
the other node (the time is printed); a camera added through the API starts on the cluster, one removed
through the API stops. Nodes are small (1-3 camera slots, no CPUs reserved) to fit a 2-core CI machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import waiting
from tests.api.conftest import add_users, login, make_settings
from watchnet.api.app import create_app
from watchnet.store.queries import count_tracks

ray = pytest.importorskip("ray", reason="the cluster extra (pip install 'watchnet[cluster]') is not installed")
from ray.cluster_utils import Cluster  # noqa: E402

from watchnet.runtime.cluster.actors import CAMERA_RESOURCE, NAMESPACE, camera_actor_name  # noqa: E402
from watchnet.runtime.cluster.reconcile import ClusterReconciler  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
WAIT_S = 240.0


def until(check: Callable[[], Any], what: str, timeout: float = WAIT_S, during: Callable[[], None] | None = None,
          ) -> None:
    waiting.until(check, what, timeout, during)


def test_cameras_spread_move_off_a_lost_node_and_follow_the_api(
    cluster: Cluster, pg_url: str, clip: Path, tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "home", pg_url, stream={"loop_pause_s": 0.2},
                             cameras=[{"name": "north", "url": str(clip)}])
    app = create_app(settings)
    add_users(app)
    admin = login(TestClient(app), "admin")
    engine = app.state.watchnet.engine
    first = cluster.add_node(num_cpus=1, resources={CAMERA_RESOURCE: 1})
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
    reconciler = ClusterReconciler(settings, engine, loop=True)
    try:
        assert reconciler.reconcile()["added"] == ["north"]  # the only camera slot is on the first node
        second = cluster.add_node(num_cpus=1, resources={CAMERA_RESOURCE: 3})
        cluster.wait_for_nodes()
        assert admin.post("/api/cameras", json={"name": "south", "url": str(clip)}).status_code == 201
        assert reconciler.reconcile()["added"] == ["south"]  # through the API: the cluster follows

        def running(name: str) -> dict[str, Any] | None:
            row = reconciler.status().get(name, {})
            return row if row.get("state") == "running" and row.get("frames", 0) > 0 else None

        until(lambda: running("north") and running("south"), "both cameras to run")
        status = reconciler.status()
        assert status["north"]["node"] == first.node_id and status["south"]["node"] == second.node_id
        until(lambda: count_tracks(engine, camera="north") > 0 and count_tracks(engine, camera="south") > 0,
              "tracks of both nodes in the one PostgreSQL")
        north_tracks = count_tracks(engine, camera="north")

        lost = time.monotonic()
        cluster.remove_node(first)
        until(lambda: (running("north") or {}).get("node") == second.node_id, "the camera to move to the live node")
        print(f"camera moved to the other node and ran again {time.monotonic() - lost:.1f} s after its node stopped")
        assert count_tracks(engine, camera="north") >= north_tracks  # what the lost node committed stays
        until(lambda: count_tracks(engine, camera="north") > north_tracks, "the moved camera's new tracks")

        assert admin.post("/api/cameras", json={"name": "east", "url": str(clip)}).status_code == 201
        assert reconciler.reconcile()["added"] == ["east"]
        until(lambda: running("east"), "the camera added through the API to run")
        assert admin.delete("/api/cameras/east", params={"purge": True}).status_code == 204
        assert reconciler.reconcile()["removed"] == ["east"]
        with pytest.raises(ValueError):
            ray.get_actor(camera_actor_name("east"), namespace=NAMESPACE)
        assert set(reconciler.status()) == {"north", "south"}
    finally:
        reconciler.close()
        engine.dispose()
