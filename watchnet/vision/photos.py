"""One check for a photo a person hands us (an enrolment photo, a search photo): bytes in, BGR image out.

Why one: an uploaded watchlist photo used to be checked twice, by the API (40 MP, 10 MB) and again by
the watchlist after a round trip through a temporary file (50 MP, 20 MB), and the two disagreed. Now the
bytes are checked once, in memory, against one set of limits (``PhotoLimits``, from the config section
of whoever owns the photo: ``watchlist.max_photo_bytes`` / ``max_photo_pixels`` for enrolment).

What is checked, in this order, so that nothing expensive happens to a hostile file: the length; the
content (a JPEG, PNG or WebP signature: the name and Content-Type are the sender's choice); the width
and height declared in the header, *before* decoding (a small file claiming 50000 x 50000 pixels is a
decompression bomb); that it decodes; that it is not too small to hold a face.

Every refusal is a ``PhotoError`` (an ``InputError``) that says what is wrong and what to do, names the
photo as its sender knows it (a file name, or "the photo" for an upload: never a server path), and
carries the HTTP status an API answers with (413 too large, 415 not an image, 400 otherwise).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from watchnet.core.errors import InputError

#: Smallest side (px) of a usable photo: a face in anything smaller cannot be recognised.
MIN_SIDE = 32
_SIGNATURES = {b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png"}
_SUFFIXES = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}


class PhotoError(InputError):
    """A photo that cannot be used; ``status`` is the HTTP status for it (413, 415 or 400)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class PhotoLimits:
    """How large a photo may be, in bytes and in pixels (width x height)."""

    max_bytes: int
    max_pixels: int
    min_side: int = MIN_SIDE
    #: the config keys that set the two limits, named in the refusal ("or raise ..."); None: not configurable
    bytes_key: str | None = "watchlist.max_photo_bytes"
    pixels_key: str | None = "watchlist.max_photo_pixels"


@dataclass(frozen=True, slots=True)
class PhotoBytes:
    """A photo as it arrived: its bytes, and the name its sender knows it by (None: an upload)."""

    data: bytes
    name: str | None = None

    @property
    def label(self) -> str:
        """How messages name the photo."""
        return self.name or "the uploaded photo"

    @property
    def suffix(self) -> str:
        """The file suffix to store it under: the sender's (lower case), else from its content."""
        given = Path(self.name).suffix.lower() if self.name else ""
        return given or _SUFFIXES.get(image_kind(self.data) or "", ".img")


def read_photo_file(path: Path | str) -> PhotoBytes:
    """A photo file's bytes, named by its path (for the CLI and scripts; the check is ``decode_photo``'s)."""
    file = Path(path)
    if not file.is_file():
        raise PhotoError(f"{file}: no such file; give the path of a JPEG or PNG photo")
    return PhotoBytes(file.read_bytes(), str(file))


def image_kind(data: bytes) -> str | None:
    """"jpeg", "png" or "webp" from the first bytes, or None."""
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


def decode_photo(data: bytes, limits: PhotoLimits, name: str | None = None) -> np.ndarray:
    """Decode ``data`` as a BGR image, or raise ``PhotoError`` saying what is wrong with it.

    ``name`` is how the sender knows the photo (a file name); None for an upload ("the photo").
    """
    what = name or "the photo"
    if not data:
        raise PhotoError(f"{what} is empty; send a JPEG, PNG or WebP photo")
    if len(data) > limits.max_bytes:
        raise PhotoError(
            f"{what}: {_size(len(data))} is larger than the {_size(limits.max_bytes)} allowed for a photo; "
            f"{_resize(limits.bytes_key)}", 413,
        )
    kind = image_kind(data)
    if kind is None:
        if name is None:
            raise PhotoError("the photo is not a JPEG, PNG or WebP image (its content, not its name, was checked)", 415)
        raise PhotoError(f"{name}: not a readable image; use a JPEG, PNG or WebP photo (its content was checked)", 415)
    size = declared_size(data, kind)
    if size is None:
        raise PhotoError(f"{what}: not a readable image: it looks like {kind.upper()} but its header is broken")
    width, height = size
    if width * height > limits.max_pixels:
        raise PhotoError(
            f"{what}: {width}x{height} px is more than the {limits.max_pixels:,} pixels allowed for a photo; "
            f"{_resize(limits.pixels_key)}", 413,
        )
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise PhotoError(f"{what}: the image is damaged (it could not be decoded as {kind.upper()}); "
                         "re-save it as JPEG or PNG")
    if min(image.shape[:2]) < limits.min_side:
        raise PhotoError(f"{what} is {image.shape[1]} x {image.shape[0]} pixels; use at least {limits.min_side} px "
                         "a side")
    return image


def _resize(key: str | None) -> str:
    return f"resize it (or raise {key})" if key else "resize it"


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


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
