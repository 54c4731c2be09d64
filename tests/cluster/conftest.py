"""Fixtures of the Ray cluster tests: a short real clip, and a local Ray cluster (head node only; each test
adds the worker nodes it needs) shut down after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import pets_clip


@pytest.fixture()
def clip(shared_data: Path, tmp_path: Path) -> Path:
    return pets_clip(shared_data, tmp_path / "clip.mp4")


@pytest.fixture()
def cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="the cluster extra (pip install 'watchnet[cluster]') is not installed")
    from ray.cluster_utils import Cluster

    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        yield made
    finally:
        ray.shutdown()
        made.shutdown()
