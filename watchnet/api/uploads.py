"""Uploaded pictures: limit the body before it is stored, then read what arrived.

``BodyLimit`` refuses an oversized request while it streams in (413), before the multipart parser
spools it to disk. What a photo must be (JPEG, PNG or WebP by content, sizes, decodable) is checked
once, in memory, by ``watchnet.vision.photos.decode_photo``: by the watchlist service for an enrolment
photo (its limits are ``watchlist.max_photo_bytes``/``max_photo_pixels``), here for a search photo.
"""

from __future__ import annotations

import json

import numpy as np
from fastapi import HTTPException, UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from watchnet.vision.photos import PhotoError, PhotoLimits, decode_photo

#: Largest search photo (w x h); enrolment photos have their own limit in the watchlist config.
MAX_PIXELS = 40_000_000
JSON_LIMIT = 1 << 20
#: 413 by number: Starlette renamed its constant (HTTP_413_CONTENT_TOO_LARGE) and warns on every use of the
#: old name, while older Starlette releases lack the new one.
TOO_LARGE = 413


class BodyLimit:
    """Refuse request bodies over ``max_upload_bytes`` (multipart) or 1 MiB (anything else) with 413."""

    def __init__(self, app: ASGIApp, max_upload_bytes: int) -> None:
        self.app = app
        self.max_upload = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
        limit = self.max_upload + 65536 if multipart else JSON_LIMIT  # room for the form's other fields
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _TooLarge:
            if not started:
                await _too_large(send, limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"the request is too large: the limit is {limit // 1024} KiB"}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The uploaded file's bytes, or 413 past ``max_bytes`` (``api.max_upload_bytes``: what the API takes in a
    request, like ``BodyLimit``; what a *photo* may be is the photo check's business)."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise HTTPException(TOO_LARGE, f"the upload is too large: the limit is {max_bytes / 1e6:.1f} MB")
    return data


def photo_refused(exc: PhotoError) -> HTTPException:
    """The HTTP answer to a refused photo: its status (413, 415 or 400) and its message."""
    return HTTPException(exc.status, str(exc))


async def read_image(upload: UploadFile, max_bytes: int, what: str = "photo") -> tuple[np.ndarray, bytes]:
    """Read an uploaded file (at most ``max_bytes`` + 1) and check it; returns (BGR image, raw bytes)."""
    data = await upload.read(max_bytes + 1)
    limits = PhotoLimits(max_bytes, MAX_PIXELS, bytes_key="api.max_upload_bytes", pixels_key=None)
    try:
        return decode_photo(data, limits, None if what == "photo" else f"the {what}"), data
    except PhotoError as exc:
        raise photo_refused(exc) from None
