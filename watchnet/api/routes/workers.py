"""Health of the camera workers (``watchnet.runtime.camera``): which process runs which camera, its restarts,
heartbeat age, CPU time and node. Empty when the cameras run as threads of the console."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from watchnet.api.deps import CAN_OPERATE, StateDep, require

router = APIRouter(prefix="/api/workers", tags=["workers"], dependencies=[Depends(require(*CAN_OPERATE, "auditor"))])


@router.get("")
def list_workers(state: StateDep) -> list[dict[str, Any]]:
    """One row per worker process (``[]`` without worker processes)."""
    return list(state.workers())
