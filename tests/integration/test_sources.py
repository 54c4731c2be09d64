"""Camera sources against real inputs: the PETS video, MOT17 frames, damaged copies, a real RTSP server.

No timing assertions: every wait is bounded (a watchdog closes the source, which ends ``frames()``), and
only states and counts are asserted.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.rtsp_server import PETS_VIDEO, RtspServer, rtsp_server  # noqa: F401 (fixture)
from watchnet.core.config import CameraConfig, StreamConfig
from watchnet.core.errors import SourceError
from watchnet.core.records import Frame
from watchnet.vision.sources import (
    FileSource,
    FolderSource,
    Source,
    SourceState,
    StreamSource,
    open_source,
    probe,
)

MOT_IMAGES = "tracking/mot17_mini/MOT17-02-FRCNN/img1"
FAST_RETRY = StreamConfig(reconnect_initial_s=0.2, reconnect_max_s=1.0, open_timeout_s=5, read_timeout_s=5)


@pytest.fixture(scope="module")
def pets(shared_data: Path) -> Path:
    return shared_data / PETS_VIDEO


def camera(url: str | Path, **kwargs: object) -> CameraConfig:
    return CameraConfig(name="cam1", url=str(url), **kwargs)  # type: ignore[arg-type]


def take(source: Source, n: int | None, timeout_s: float) -> list[Frame]:
    """Up to ``n`` frames (all if None); a watchdog closes the source after ``timeout_s``: never hangs."""
    watchdog = threading.Timer(timeout_s, source.close)
    watchdog.start()
    frames: list[Frame] = []
    try:
        for frame in source.frames():
            frames.append(frame)
            if n is not None and len(frames) >= n:
                break
    finally:
        watchdog.cancel()
    return frames


def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- files ------------------------------------------------------------------------------------------
def test_video_file_decodes_every_frame_in_order(pets: Path) -> None:
    before = time.time()
    with open_source(camera(pets)) as source:
        assert isinstance(source, FileSource)
        frames = take(source, None, 60)
        status = source.status
    assert len(frames) == 795
    assert [f.index for f in frames] == list(range(795))
    assert all(f.image.shape == (360, 480, 3) and f.image.dtype == np.uint8 for f in frames[:: 50])
    pts = [f.pts for f in frames]
    assert pts[0] == 0.0
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert pts[-1] == pytest.approx(79.4, abs=0.01)  # 10 fps, although the AVI's own pts are out of order
    starts = {round(f.timestamp - f.pts, 6) for f in frames}
    assert len(starts) == 1 and starts.pop() >= before - 1e-3  # timestamp = start of processing + pts
    assert status.state == SourceState.ENDED
    assert status.frames_decoded == 795 and status.frames_dropped == 0 and status.last_error is None


def test_fps_cap_halves_the_frames_and_keeps_source_indices(pets: Path) -> None:
    with open_source(camera(pets, fps_cap=5)) as source:
        frames = take(source, None, 60)
        status = source.status
    indices = [f.index for f in frames]
    assert 390 <= len(frames) <= 400
    assert indices[0] == 0 and all(b - a >= 2 for a, b in itertools.pairwise(indices))
    assert all(f.pts == pytest.approx(f.index / 10) for f in frames)
    assert status.frames_decoded == 795 and status.frames_dropped == 795 - len(frames)


def test_truncated_file_gives_what_is_there_then_ends(pets: Path, tmp_path: Path) -> None:
    data = pets.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    with open_source(camera(cut)) as source:
        frames = take(source, None, 60)
        status = source.status
    assert 0 < len(frames) < 795
    assert [f.index for f in frames] == list(range(len(frames)))
    assert status.state == SourceState.ENDED
    assert status.last_error is not None and "truncated" in status.last_error


def test_damaged_packets_are_skipped(pets: Path, tmp_path: Path) -> None:
    data = bytearray(pets.read_bytes())
    noise = np.random.default_rng(7).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    for share in (0.3, 0.5, 0.7):
        at = int(len(data) * share)
        data[at : at + len(noise)] = noise
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(bytes(data))
    with open_source(camera(damaged)) as source:
        frames = take(source, None, 60)
    assert 700 < len(frames) <= 795  # the bad stretches are lost, the rest decodes
    assert source.status.state == SourceState.ENDED


@pytest.mark.parametrize("kind", ["random", "empty", "text", "missing"])
def test_unopenable_file_raises_source_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.mp4"
    if kind == "random":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a video\n")
    with pytest.raises(SourceError, match=r"cannot open video '.*\.mp4': \S"):
        open_source(camera(path))
    with pytest.raises(SourceError, match="cannot open video"):
        probe(str(path))


def test_missing_file_played_live_raises_too(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        open_source(camera(tmp_path / "gone.mp4", live=True))


def test_file_played_live_paces_and_drops_stale_frames(pets: Path) -> None:
    with open_source(camera(pets, live=True), FAST_RETRY) as source:
        assert isinstance(source, StreamSource)
        frames = take(source, 3, 20)
        # A slow pipeline: while it is busy, the camera moves on by three more frames.
        assert wait_until(lambda: source.status.frames_decoded >= frames[-1].index + 4, 20)
        frames += take(source, 3, 20)
        status = source.status
    indices = [f.index for f in frames]
    assert len(frames) == 6 and all(b > a for a, b in itertools.pairwise(indices))
    assert indices[3] - indices[2] > 1  # the consumer got the newest frame, not the next one
    assert status.frames_dropped > 0
    assert source.status.state == SourceState.ENDED  # after close()


# --- folders ----------------------------------------------------------------------------------------
def test_mot_folder_yields_frames_in_order(shared_data: Path) -> None:
    folder = shared_data / MOT_IMAGES
    with open_source(camera(folder)) as source:
        assert isinstance(source, FolderSource)
        frames = take(source, None, 30)
    files = sorted(folder.glob("*.jpg"))
    assert [f.index for f in frames] == list(range(len(files))) and len(files) == 4
    assert all(f.shape == (1080, 1920) for f in frames)
    assert np.array_equal(frames[-1].image, np.asarray(cv2.imread(str(files[-1]))))
    assert frames[1].pts == pytest.approx(1 / 30)  # frameRate from the sequence's seqinfo.ini
    info = probe(str(folder))
    assert info["frames"] == 4 and info["width"] == 1920 and info["fps"] == 30.0


def test_folder_sorts_naturally_and_skips_unreadable_images(shared_data: Path, tmp_path: Path) -> None:
    files = sorted((shared_data / MOT_IMAGES).glob("*.jpg"))
    shutil.copy(files[0], tmp_path / "frame2.jpg")
    shutil.copy(files[1], tmp_path / "frame10.jpg")
    (tmp_path / "frame5.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    with open_source(camera(tmp_path, fps_cap=4)) as source:
        frames = take(source, None, 30)
        status = source.status
    assert [f.index for f in frames] == [0, 2]  # frame2, (frame5 skipped), frame10
    assert np.array_equal(frames[0].image, np.asarray(cv2.imread(str(files[0]))))
    assert frames[1].pts == pytest.approx(0.5)  # no seqinfo.ini: fps_cap gives the rate
    assert status.decode_errors == 1 and status.state == SourceState.ENDED


def test_empty_folder_raises_source_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match="no images"):
        open_source(camera(tmp_path))


# --- streams ----------------------------------------------------------------------------------------
def test_unreachable_rtsp_reconnects_then_fails_without_raising(caplog: pytest.LogCaptureFixture) -> None:
    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    cfg = FAST_RETRY.model_copy(update={"max_reconnects": 2})
    seen: list[SourceState] = []

    def failed() -> bool:
        seen.append(source.status.state)
        return seen[-1] == SourceState.FAILED

    with open_source(camera(url), cfg) as source:
        assert isinstance(source, StreamSource)
        assert wait_until(failed, 20)
        assert take(source, None, 5) == []  # frames() simply ends
        status = source.status
    assert SourceState.RECONNECTING in seen
    warnings = [r.getMessage() for r in caplog.records if r.name == "watchnet.vision.sources"]
    assert sum("reconnecting in" in m for m in warnings) == 2 and "giving up" in warnings[-1]
    assert status.state == SourceState.FAILED and status.reconnects == 2
    assert status.last_error is not None
    assert url in status.last_error and "refused" in status.last_error.lower()


def test_rtsp_stream_delivers_frames(rtsp_server: Callable[..., RtspServer]) -> None:  # noqa: F811
    server = rtsp_server()  # the documented fixture other tests use: serves the PETS video
    with open_source(camera(server.url), FAST_RETRY) as source:
        frames = take(source, 10, 25)
        status = source.status
        info = probe(server.url, FAST_RETRY)
    assert len(frames) == 10
    assert all(f.shape == (360, 480) for f in frames)
    indices = [f.index for f in frames]
    assert all(b > a for a, b in itertools.pairwise(indices))
    assert all(b.pts > a.pts for a, b in itertools.pairwise(frames))
    assert status.state == SourceState.RUNNING and status.frames_decoded >= 10
    assert info["width"] == 480 and info["height"] == 360 and info["codec"] == "h264"


def test_rtsp_survives_server_death_and_resumes_on_restart(pets: Path) -> None:
    server = RtspServer(pets).start()
    try:
        with open_source(camera(server.url), FAST_RETRY) as source:
            before = take(source, 5, 25)
            assert len(before) == 5
            server.kill_publisher()  # SIGKILL ffmpeg mid-stream
            assert wait_until(lambda: source.status.state == SourceState.RECONNECTING, 10)
            server.stop()  # and the whole server goes away: the port is closed
            assert wait_until(lambda: "refused" in (source.status.last_error or ""), 10)
            server = RtspServer(pets, port=server.port).start()  # a new server on the same port
            after = take(source, 5, 25)
            status = source.status
    finally:
        server.stop()
    assert len(after) == 5
    assert after[0].index > before[-1].index and after[0].pts > before[-1].pts
    assert status.reconnects >= 1 and status.state == SourceState.RUNNING


def test_close_stops_a_connected_stream_promptly(pets: Path) -> None:
    with RtspServer(pets) as server:
        source = open_source(camera(server.url), FAST_RETRY)
        assert len(take(source, 1, 25)) == 1
        source.close()
        assert isinstance(source, StreamSource)
        assert not source._thread.is_alive()
        assert take(source, None, 5) == [] and source.status.state == SourceState.ENDED
