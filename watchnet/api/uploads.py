"""Uploaded pictures: limit the body before it is stored, then sniff and decode what arrived.

Why not trust the extension or the Content-Type: both are chosen by the client. The bytes must start
with a JPEG, PNG or WebP signature, declare a size we accept (checked from the header *before*
decoding, so a small file claiming 50000 x 50000 pixels cannot exhaust memory), and decode.
``BodyLimit`` refuses an oversized request while it streams in (413), before the multipart parser
spools it to disk.
"""

from __future__ import annotations

import json
import struct

import cv2
import numpy as np
from fastapi import HTTPException, UploadFile, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_PIXELS = 40_000_000
MIN_SIDE = 32
JSON_LIMIT = 1 << 20
#: 413 by number: Starlette renamed its constant (HTTP_413_CONTENT_TOO_LARGE) and warns on every use of the
#: old name, while older Starlette releases lack the new one.
TOO_LARGE = 413
_SIGNATURES = {b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png"}


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


def image_kind(data: bytes) -> str | None:
    for signature, kind in _SIGNATURES.items():
        if data.startswith(signature):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def declared_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """(width, height) from the file header, without decoding; None if the header is unreadable."""
    try:
        if kind == "png":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if kind == "jpeg":
            return _jpeg_size(data)
        if kind == "webp":
            return _webp_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def check_image_bytes(data: bytes, max_bytes: int, what: str = "photo") -> np.ndarray:
    """Decode ``data`` as a BGR image or raise a 4xx saying exactly what is wrong with it."""
    if not data:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"the {what} is empty")
    if len(data) > max_bytes:
        raise HTTPException(TOO_LARGE,
                            f"the {what} is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB")
    kind = image_kind(data)
    if kind is None:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"the {what} is not a JPEG, PNG or WebP image (its content, not its name, was checked)")
    size = declared_size(data, kind)
    if size is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            f"the {what} looks like {kind.upper()} but its header is broken")
    if size[0] * size[1] > MAX_PIXELS:
        raise HTTPException(TOO_LARGE,
                            f"the {what} is {size[0]} x {size[1]} pixels; the limit is {MAX_PIXELS // 1_000_000} MP")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"the {what} could not be decoded as {kind.upper()}")
    if min(image.shape[:2]) < MIN_SIDE:
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            f"the {what} is {image.shape[1]} x {image.shape[0]} pixels; use at least {MIN_SIDE} px")
    return image


async def read_image(upload: UploadFile, max_bytes: int, what: str = "photo") -> tuple[np.ndarray, bytes]:
    """Read an uploaded file (at most ``max_bytes`` + 1) and check it; returns (BGR image, raw bytes)."""
    data = await upload.read(max_bytes + 1)
    return check_image_bytes(data, max_bytes, what), data
