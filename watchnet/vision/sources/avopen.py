"""Opening anything PyAV can read, with the right ffmpeg options and bounded waits.

Network cameras hang rather than fail: a dead RTSP server can leave ``av_read_frame`` blocked for ever.
Two layers bound every wait: PyAV's ``timeout=(open, read)`` (an interrupt callback that works for every
protocol) and the protocol's own socket timeouts (``timeout``/``rw_timeout``, in microseconds), so the
socket gives up even inside calls that do not poll the interrupt callback. RTSP is forced onto TCP:
UDP loses packets behind NAT and firewalls and shows up as smeared, half-grey pictures.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

import av
from av.container import InputContainer

from watchnet.core.config import StreamConfig

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp"})
WEBCAM_PREFIX = "/dev/video"
#: Live streams: probe 1 s of stream, not ffmpeg's default 5 s (which delays every (re)connect ~4 s).
LIVE_PROBE = {"analyzeduration": "1000000"}


def scheme_of(url: str) -> str:
    """The lower-case URL scheme, or '' for a plain path (Windows drive letters are not schemes)."""
    scheme = urlsplit(url).scheme.lower()
    return scheme if len(scheme) > 1 else ""


def is_webcam(url: str) -> bool:
    """A webcam is an integer index (``0``) or a V4L2 device path (``/dev/video0``)."""
    return url.strip().isdigit() or url.startswith(WEBCAM_PREFIX)


def webcam_target(url: str) -> tuple[str, str]:
    """(device, ffmpeg input format) for a webcam index or device path on this platform."""
    url = url.strip()
    if sys.platform == "darwin":
        return (url if url.isdigit() else url.removeprefix(WEBCAM_PREFIX)), "avfoundation"
    if sys.platform.startswith("win"):
        return url, "dshow"  # dshow wants "video=<name>"; indices are not supported there
    return (f"{WEBCAM_PREFIX}{url}" if url.isdigit() else url), "v4l2"


def ffmpeg_options(url: str, cfg: StreamConfig) -> dict[str, str]:
    """Demuxer/protocol options for ``url``: TCP for RTSP and socket timeouts in microseconds."""
    read_us = str(int(cfg.read_timeout_s * 1_000_000))
    scheme = scheme_of(url)
    if scheme in ("rtsp", "rtsps"):
        # ``timeout`` is the RTSP socket I/O timeout (it replaced ``stimeout`` in ffmpeg 5).
        return {"rtsp_transport": "tcp", "timeout": read_us, **LIVE_PROBE}
    if scheme in ("http", "https"):
        return {"timeout": read_us, "rw_timeout": read_us}
    if scheme in ("rtmp", "rtmps"):
        return {"rw_timeout": read_us, **LIVE_PROBE}  # rtmp's ``timeout`` means "listen", in s: leave it
    if scheme in ("udp", "tcp", "srt", "rtp"):
        return {"rw_timeout": read_us, **LIVE_PROBE}
    return {}


def open_container(url: str, cfg: StreamConfig, input_format: str | None = None) -> InputContainer:
    """Open ``url`` for reading with bounded open and read waits. Raises PyAV's errors unchanged."""
    target = url
    if is_webcam(url):
        target, input_format = webcam_target(url)
    elif scheme_of(url) == "file":
        target = urlsplit(url).path
    container = av.open(
        target,
        mode="r",
        format=input_format,
        options=ffmpeg_options(url, cfg),
        timeout=(cfg.open_timeout_s, cfg.read_timeout_s),
    )
    assert isinstance(container, InputContainer)
    return container


def describe_error(exc: BaseException) -> str:
    """A short reason for a PyAV/OS error, without the (possibly credential-bearing) URL it carries."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(reason)


def local_path(url: str) -> Path | None:
    """The filesystem path for a plain path or ``file://`` URL; None for network URLs and webcams."""
    if is_webcam(url):
        return None
    scheme = scheme_of(url)
    if scheme == "file":
        return Path(urlsplit(url).path)
    return Path(url).expanduser() if scheme == "" else None
