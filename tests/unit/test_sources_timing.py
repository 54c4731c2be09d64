"""Pure helpers of watchnet.vision.sources: timestamps, the fps cap, natural order, URL kinds and redaction."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from watchnet.core.errors import SourceError
from watchnet.vision.sources import source_kind
from watchnet.vision.sources.base import redact_url
from watchnet.vision.sources.folder import natural_key
from watchnet.vision.sources.timing import FpsCap, FrameClock

# (pts, dts) of the first frames PyAV decodes from the PETS AVI: pts come out in the wrong order.
AVI_PAIRS = [(1, 2), (4, 3), (3, 4), (5, 5), (2, 6), (8, 7), (7, 8), (9, 9)]


def test_clock_prefers_dts_when_pts_go_backwards() -> None:
    clock = FrameClock(Fraction(1, 10), 0.1)
    clock.decide(AVI_PAIRS)
    assert clock.mode == "dts"
    assert [clock.seconds(p, d) for p, d in AVI_PAIRS] == pytest.approx([i / 10 for i in range(8)])


def test_clock_keeps_good_pts_and_never_goes_backwards() -> None:
    clock = FrameClock(Fraction(1, 1000), 0.04, offset=5.0)
    clock.decide([(0, -80), (40, -40), (80, 0)])
    assert clock.mode == "pts"
    out = [clock.seconds(p, None) for p in (0, 40, 40, None, 200)]
    assert out == pytest.approx([5.0, 5.04, 5.08, 5.12, 5.2])


def test_fps_cap_admits_on_a_fixed_grid() -> None:
    cap = FpsCap(5)
    admitted = [i for i in range(30) if cap.admit(i / 10)]
    assert admitted == list(range(0, 30, 2))
    assert all(FpsCap(None).admit(i / 30) for i in range(10))


def test_natural_order() -> None:
    names = ["f10.jpg", "f2.jpg", "F1.jpg", "f2b.jpg"]
    assert sorted(names, key=lambda n: natural_key(Path(n))) == ["F1.jpg", "f2.jpg", "f2b.jpg", "f10.jpg"]


def test_source_kind(tmp_path: Path) -> None:
    assert source_kind("rtsp://cam.local/stream1") == "stream"
    assert source_kind("https://example.invalid/live.m3u8") == "stream"
    assert source_kind("0") == "webcam" and source_kind("/dev/video2") == "webcam"
    assert source_kind(str(tmp_path)) == "folder"
    assert source_kind(str(tmp_path / "clip.mp4")) == "file"
    assert source_kind(f"file://{tmp_path}") == "folder"
    with pytest.raises(SourceError, match="unsupported scheme"):
        source_kind("gopher://cam/1")


def test_redact_url_hides_passwords() -> None:
    assert redact_url("rtsp://admin:s3cret@10.0.0.5:554/h264") == "rtsp://admin:***@10.0.0.5:554/h264"
    assert redact_url("rtsp://10.0.0.5/h264") == "rtsp://10.0.0.5/h264"
