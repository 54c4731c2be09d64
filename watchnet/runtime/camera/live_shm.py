"""Live frames across processes: one latest-frame slot per camera in shared memory.

Why shared memory and not a pipe or a socket: the console shows only the *latest* frame of a camera,
and only when someone watches. A queue would carry every frame of every camera across the process
boundary (and JPEG-encode it there) for nobody; a slot costs the worker one memcpy per frame and the
console nothing until a client asks, when it copies the slot out and draws/encodes it (``LiveHub``).

Layout of a slot (little-endian): a fixed header, the image (``h*w*3`` bytes, BGR), up to ``MAX_BOXES``
boxes (xyxy float32, class int32, track id int32) and the names on the boxes (UTF-8 JSON, track id ->
name, only tracks that matched the watchlist). Consistency without a lock between processes: a
seqlock. The writer makes ``seq`` odd, writes, then makes it even; a reader copies and retries if
``seq`` was odd or changed meanwhile. A frame larger than the slot gets a new slot (a new
``generation`` in the name) which the worker announces in its heartbeat.
"""

from __future__ import annotations

import contextlib
import json
import re
import struct
import zlib
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

#: seq, generation, frame index, timestamp, h, w, slot capacity h and w, boxes, names length
_HEADER = struct.Struct("<QQqdIIIIII")
MAX_BOXES = 512
_BOX_BYTES = 4 * 4 + 4 + 4
NAMES_BYTES = 16 * 1024
_READ_TRIES = 50


def slot_name(prefix: str, camera: str, generation: int) -> str:
    """A short, filesystem-safe shared-memory name (POSIX limits names to about 30 characters on macOS)."""
    safe = re.sub(r"[^A-Za-z0-9]", "", camera)[:12] or "cam"
    return f"{prefix}{safe}{zlib.crc32(camera.encode()) % 10_000:04d}g{generation}"


def _size(h: int, w: int) -> int:
    return _HEADER.size + h * w * 3 + MAX_BOXES * _BOX_BYTES + NAMES_BYTES


@dataclass(slots=True)
class SlotFrame:
    """One frame read out of a slot (copies: the slot may be overwritten at once)."""

    seq: int
    index: int
    timestamp: float
    image: np.ndarray
    xyxy: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray
    names: dict[int, str]


class SlotWriter:
    """The worker's side: writes each new frame of one camera into its slot (one memcpy, no encoding)."""

    def __init__(self, prefix: str, camera: str) -> None:
        self.prefix = prefix
        self.camera = camera
        self.generation = 0
        self._shm: shared_memory.SharedMemory | None = None
        self._shape = (0, 0)
        self._seq = 0

    @property
    def name(self) -> str | None:
        return self._shm.name if self._shm is not None else None

    def write(self, index: int, timestamp: float, image: np.ndarray, xyxy: np.ndarray, class_id: np.ndarray,
              tracker_id: np.ndarray, names: dict[int, str]) -> None:
        h, w = image.shape[:2]
        if self._shm is None or h > self._shape[0] or w > self._shape[1]:
            self._reopen(h, w)
        assert self._shm is not None
        buf = self._shm.buf
        assert buf is not None
        n = min(len(xyxy), MAX_BOXES)
        blob = json.dumps({str(k): v for k, v in names.items()}).encode()[:NAMES_BYTES]
        self._seq += 1  # odd: being written
        _HEADER.pack_into(buf, 0, self._seq, self.generation, index, timestamp, h, w, *self._shape, n, len(blob))
        off = _HEADER.size
        np.ndarray((h, w, 3), np.uint8, buffer=buf, offset=off)[:] = image[:, :, :3]
        off += self._shape[0] * self._shape[1] * 3
        np.ndarray((n, 4), np.float32, buffer=buf, offset=off)[:] = np.asarray(xyxy[:n], np.float32).reshape(-1, 4)
        off += MAX_BOXES * 16
        np.ndarray((n,), np.int32, buffer=buf, offset=off)[:] = np.asarray(class_id[:n], np.int32)
        off += MAX_BOXES * 4
        np.ndarray((n,), np.int32, buffer=buf, offset=off)[:] = np.asarray(tracker_id[:n], np.int32)
        off += MAX_BOXES * 4
        buf[off:off + len(blob)] = blob
        self._seq += 1  # even: complete
        struct.pack_into("<Q", buf, 0, self._seq)

    def _reopen(self, h: int, w: int) -> None:
        self.close()
        self.generation += 1
        self._shape = (max(h, self._shape[0]), max(w, self._shape[1]))
        name = slot_name(self.prefix, self.camera, self.generation)
        with contextlib.suppress(FileNotFoundError):  # a slot left by a killed worker of this camera
            stale = shared_memory.SharedMemory(name=name)
            stale.close()
            stale.unlink()
        self._shm = shared_memory.SharedMemory(name=name, create=True, size=_size(*self._shape))
        self._seq = 0

    def close(self) -> None:
        """Remove the slot (readers holding it keep their mapping until they let go)."""
        if self._shm is not None:
            self._shm.close()
            with contextlib.suppress(FileNotFoundError):
                self._shm.unlink()
            self._shm = None


class SlotReader:
    """The console's side: opens a slot by name and copies out its latest complete frame on demand."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._shm = shared_memory.SharedMemory(name=name)
        _untrack(self._shm)

    def read(self, known_seq: int = -1) -> SlotFrame | None:
        """The latest complete frame, or None if none yet or it is still ``known_seq``."""
        buf = self._shm.buf
        assert buf is not None
        for _ in range(_READ_TRIES):
            seq, _gen, index, timestamp, h, w, cap_h, cap_w, n, names_len = _HEADER.unpack_from(buf, 0)
            if seq == 0 or seq == known_seq:
                return None
            if seq % 2:
                continue
            stride = cap_h * cap_w * 3
            off = _HEADER.size
            image = np.ndarray((h, w, 3), np.uint8, buffer=buf, offset=off).copy()
            off += stride
            xyxy = np.ndarray((n, 4), np.float32, buffer=buf, offset=off).copy()
            off += MAX_BOXES * 16
            class_id = np.ndarray((n,), np.int32, buffer=buf, offset=off).copy()
            off += MAX_BOXES * 4
            tracker_id = np.ndarray((n,), np.int32, buffer=buf, offset=off).copy()
            off += MAX_BOXES * 4
            blob = bytes(buf[off:off + names_len])
            if struct.unpack_from("<Q", buf, 0)[0] != seq:
                continue  # overwritten while copying: read again
            names = {int(k): str(v) for k, v in json.loads(blob or b"{}").items()}
            return SlotFrame(seq, index, timestamp, image, xyxy, class_id, tracker_id, names)
        return None

    def close(self) -> None:
        self._shm.close()


def _untrack(shm: shared_memory.SharedMemory) -> None:
    """A reader must not let Python's resource tracker unlink the worker's slot when the console exits."""
    with contextlib.suppress(Exception):
        from multiprocessing import resource_tracker

        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
