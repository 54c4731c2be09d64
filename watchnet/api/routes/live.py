"""Live pictures per camera: a JPEG snapshot and an MJPEG stream (an ``<img>`` can show both).

Operators and admins get the ``full`` drawing; viewers and auditors the ``private`` one, where people
who matched no one have their heads pixelated (see ``watchnet.services.live``). The stream sends at most
``api.live_fps`` frames a second and only when a new frame arrived; it ends when the client leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, HTTPException, Response, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from watchnet.api.deps import CAN_OPERATE, CAN_VIEW_LIVE, LiveDep, LiveUser, SettingsDep, require
from watchnet.services.accounts import Principal
from watchnet.services.live import Variant

router = APIRouter(prefix="/api/cameras", tags=["live"], dependencies=[Depends(require(*CAN_VIEW_LIVE))])
BOUNDARY = "watchnetframe"
#: An MJPEG stream ends after this long without any new frame (camera gone), so clients reconnect.
IDLE_END_S = 30.0


def variant_for(user: Principal) -> Variant:
    return "full" if user.role in CAN_OPERATE else "private"


@router.get("/{name}/snapshot.jpg", response_class=Response, responses={200: {"content": {"image/jpeg": {}}},
                                                                       404: {}})
async def snapshot(name: str, user: LiveUser, hub: LiveDep) -> Response:
    """The camera's latest frame with overlays, as JPEG."""
    data = await run_in_threadpool(hub.jpeg, name, variant_for(user))
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no live picture from camera {name!r} (not running?)")
    return Response(data, media_type="image/jpeg", headers={"cache-control": "no-store"})


@router.get("/{name}/live.mjpeg", response_class=StreamingResponse, responses={404: {}})
async def live_mjpeg(name: str, user: LiveUser, hub: LiveDep, settings: SettingsDep) -> StreamingResponse:
    """multipart/x-mixed-replace stream of the camera's frames with overlays."""
    if hub.seq(name) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no live picture from camera {name!r} (not running?)")
    variant = variant_for(user)
    interval = 1.0 / settings.api.live_fps

    async def frames() -> AsyncIterator[bytes]:
        last: int | None = None
        idle = 0.0
        while idle < IDLE_END_S:
            seq = hub.seq(name)
            if seq is not None and seq != last:
                data = await run_in_threadpool(hub.jpeg, name, variant)
                if data is not None:
                    last, idle = seq, 0.0
                    yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                           ).encode() + data + b"\r\n"
            else:
                idle += interval
            await asyncio.sleep(interval)

    return StreamingResponse(frames(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                             headers={"cache-control": "no-store"})
