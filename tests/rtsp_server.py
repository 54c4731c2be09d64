"""A real RTSP server for tests: the ffmpeg CLI publishes a video into a tiny in-process RTSP relay.

Why a relay: this ffmpeg build's RTSP *muxer* cannot listen (``-rtsp_flags listen`` exists only for
the demuxer), and no RTSP server binary is installed. So ffmpeg pushes the video (ANNOUNCE/RECORD,
RTP interleaved over TCP) to this relay, which serves it to any number of players (DESCRIBE/SETUP/
PLAY, RTP interleaved over TCP), like a minimal MediaMTX. The pictures, RTP packets and RTSP exchange
are real; the relay only copies bytes between sockets.

Usage::

    from tests.rtsp_server import RtspServer

    with RtspServer(video_path) as server:          # starts ffmpeg, waits until it is publishing
        source = open_source(CameraConfig(name="cam", url=server.url), StreamConfig())
        ...
        server.kill_publisher()                      # SIGKILL ffmpeg: players are disconnected (camera down)
        server.start_publisher()                     # a new ffmpeg publishes again on the same URL
        server.stop()                                # everything down, port closed
    RtspServer(video_path, port=old_port).start()    # a new server on the same port

or the ``rtsp_server`` pytest fixture (a factory; servers stop at teardown)::

    from tests.rtsp_server import rtsp_server  # noqa: F401  (registers the fixture in your module)

    def test_x(rtsp_server):                         # noqa: F811
        server = rtsp_server()                       # serves the PETS test video, looped, at 10 fps

Limits: RTSP over TCP only (players must use ``rtsp_transport=tcp``, as watchnet does), the one video
track of the published file, no authentication. Linux (uses SO_SNDTIMEO so a stuck player cannot stall
the relay). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import pytest

PETS_VIDEO = "tracking/pets09_s2l1/pets09_s2l1_view001_480x360_10fps.avi"
_STREAM_ID = re.compile(r"streamid=(\d+)")
_INTERLEAVED = re.compile(r"interleaved=(\d+)(?:-(\d+))?")


class _Conn:
    """One client connection: a socket, a lock so RTP frames and RTSP replies never interleave."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.channels: dict[int, int] = {}  # track id -> first interleaved channel (RTP; RTCP is +1)
        self.playing = False

    def send(self, data: bytes) -> bool:
        try:
            with self.lock:
                self.sock.sendall(data)
            return True
        except OSError:
            self.shutdown()
            return False

    def shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class RtspServer:
    """Serve ``video`` at ``rtsp://host:port/path``, published by an ffmpeg process (H.264, no audio)."""

    def __init__(
        self,
        video: str | Path,
        *,
        port: int = 0,
        path: str = "cam",
        host: str = "127.0.0.1",
        loop: bool = True,
        gop: int = 10,
        ready_timeout_s: float = 20.0,
        ffmpeg: str | None = None,
    ) -> None:
        self.video = Path(video)
        self.host, self.port, self.path = host, port, path
        self.loop, self.gop, self.ready_timeout_s = loop, gop, ready_timeout_s
        self.ffmpeg = ffmpeg or shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
        self._listener: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._proc_log: BinaryIO | None = None
        self._lock = threading.Lock()
        self._conns: set[_Conn] = set()
        self._threads: list[threading.Thread] = []
        self._publisher: _Conn | None = None
        self._sdp: bytes | None = None
        self._publisher_channels: dict[int, int] = {}  # publisher's RTP channel -> track id
        self._ready = threading.Event()
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"rtsp://{self.host}:{self.port}/{self.path}"

    @property
    def players(self) -> int:
        """How many players are currently receiving the stream."""
        with self._lock:
            return sum(1 for c in self._conns if c.playing)

    # --- life-cycle -------------------------------------------------------------------------------
    def start(self) -> RtspServer:
        """Listen, start ffmpeg, and return once it is publishing (or raise RuntimeError)."""
        if self._listener is None:
            self._stopping.clear()
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(16)
            listener.settimeout(0.2)
            self.port = listener.getsockname()[1]
            self._listener = listener
            self._spawn(self._accept_loop, listener)
        try:
            self.start_publisher()
        except BaseException:
            self.stop()
            raise
        return self

    def start_publisher(self) -> None:
        """Start an ffmpeg that publishes the video; wait (bounded) until it is recording."""
        self.kill_publisher()
        self._ready.clear()
        if self._proc_log is not None:
            self._proc_log.close()
        self._proc_log = tempfile.TemporaryFile()  # noqa: SIM115 (kept open while ffmpeg writes to it)
        cmd = [self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-re"]
        cmd += ["-stream_loop", "-1"] if self.loop else []
        cmd += ["-i", str(self.video), "-an", "-c:v", "libx264", "-preset", "ultrafast"]
        cmd += ["-tune", "zerolatency", "-g", str(self.gop), "-pix_fmt", "yuv420p"]
        cmd += ["-f", "rtsp", "-rtsp_transport", "tcp", self.url]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._proc_log
        )
        waited = 0.0
        while not self._ready.wait(0.1):
            waited += 0.1
            if self._proc.poll() is not None or waited >= self.ready_timeout_s:
                log = self.publisher_log()
                self.kill_publisher()
                raise RuntimeError(f"ffmpeg did not start publishing {self.url}: {log}")

    def kill_publisher(self) -> None:
        """SIGKILL the ffmpeg publisher (the camera dies); the relay then drops its players."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        with self._lock:
            publisher = self._publisher
        if publisher is not None:
            publisher.shutdown()
            for _ in range(50):  # wait (bounded) until the relay has let go of it
                with self._lock:
                    if self._publisher is not publisher:
                        break
                self._stopping.wait(0.1)

    def publisher_log(self) -> str:
        """The last lines ffmpeg wrote to stderr (for failure messages)."""
        if self._proc_log is None:
            return ""
        self._proc_log.seek(0)
        return self._proc_log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        """Kill ffmpeg, close the port and every connection; bounded."""
        self._stopping.set()
        self.kill_publisher()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if self._proc_log is not None:
            self._proc_log.close()
            self._proc_log = None

    def __enter__(self) -> RtspServer:
        return self.start() if self._listener is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- relay ------------------------------------------------------------------------------------
    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="rtsp-relay")
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 5, 0))
            conn = _Conn(sock)
            with self._lock:
                self._conns.add(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: _Conn) -> None:
        session = secrets.token_hex(4)
        stream = conn.sock.makefile("rb")
        try:
            while not self._stopping.is_set():
                first = stream.read(1)
                if not first:
                    return
                if first == b"$":  # interleaved RTP/RTCP: relay the publisher's, ignore players' reports
                    header = stream.read(3)
                    data = stream.read(int.from_bytes(header[1:3], "big")) if len(header) == 3 else b""
                    if len(header) < 3:
                        return
                    if conn is self._publisher:
                        self._relay(header[0], data)
                    continue
                if not self._request(conn, session, first + stream.readline(), stream):
                    return
        except OSError:
            return
        finally:
            self._drop(conn)
            stream.close()
            with contextlib.suppress(OSError):
                conn.sock.close()

    def _request(self, conn: _Conn, session: str, line: bytes, stream: BinaryIO) -> bool:
        headers: dict[str, str] = {}
        while (raw := stream.readline()) not in (b"", b"\r\n", b"\n"):
            key, _, value = raw.decode(errors="replace").partition(":")
            headers[key.strip().lower()] = value.strip()
        body = stream.read(int(headers.get("content-length", "0")))
        parts = line.decode(errors="replace").split()
        if len(parts) < 2:
            return False
        method, uri = parts[0].upper(), parts[1]
        reply: list[str] = [f"CSeq: {headers.get('cseq', '0')}", f"Session: {session};timeout=60"]
        status, payload = "200 OK", b""
        if method == "OPTIONS":
            reply.append("Public: OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, TEARDOWN, GET_PARAMETER")
        elif method == "ANNOUNCE":
            with self._lock:
                if self._publisher is not None and self._publisher is not conn:
                    status = "403 Forbidden"
                else:
                    self._publisher, self._sdp = conn, body
        elif method == "DESCRIBE":
            with self._lock:
                sdp = self._sdp if self._ready.is_set() else None
            if sdp is None:
                status = "404 Not Found"
            else:
                reply += ["Content-Type: application/sdp", f"Content-Base: {self.url}/"]
                payload = sdp
        elif method == "SETUP":
            match = _INTERLEAVED.search(headers.get("transport", ""))
            track_match = _STREAM_ID.search(uri)
            track = int(track_match.group(1)) if track_match else len(conn.channels)
            channel = int(match.group(1)) if match else 2 * track
            conn.channels[track] = channel
            transport = f"Transport: RTP/AVP/TCP;unicast;interleaved={channel}-{channel + 1}"
            if conn is self._publisher:
                self._publisher_channels[channel] = track
                transport += ";mode=record"
            reply.append(transport)
        elif method == "RECORD":
            if conn is self._publisher:
                self._ready.set()
        elif method == "PLAY":
            if conn is self._publisher or not self._ready.is_set():
                status = "404 Not Found"
            else:
                conn.playing = True
                reply.append("Range: npt=0.000-")
        elif method == "TEARDOWN":
            conn.send(_response("200 OK", reply, b""))
            return False
        elif method not in ("GET_PARAMETER", "SET_PARAMETER"):
            status = "501 Not Implemented"
        return conn.send(_response(status, reply, payload))

    def _relay(self, channel: int, data: bytes) -> None:
        rtcp = channel % 2 == 1
        track = self._publisher_channels.get(channel - 1 if rtcp else channel)
        if track is None:
            return
        with self._lock:
            players = [c for c in self._conns if c.playing and track in c.channels]
        for player in players:
            out = player.channels[track] + (1 if rtcp else 0)
            player.send(b"$" + bytes([out]) + len(data).to_bytes(2, "big") + data)

    def _drop(self, conn: _Conn) -> None:
        with self._lock:
            self._conns.discard(conn)
            players: list[_Conn] = []
            if conn is self._publisher:  # the source is gone: so is the stream, like a real server
                self._publisher, self._sdp = None, None
                self._publisher_channels.clear()
                self._ready.clear()
                players = [c for c in self._conns if c.playing]
        for player in players:
            player.shutdown()


def _response(status: str, headers: list[str], body: bytes) -> bytes:
    lines = [f"RTSP/1.0 {status}", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture()
def rtsp_server(shared_data: Path) -> Iterator[Callable[..., RtspServer]]:
    """Factory fixture: ``rtsp_server(video=None, **kwargs)`` starts an RtspServer (default: PETS video)."""
    servers: list[RtspServer] = []

    def make(video: str | Path | None = None, **kwargs: object) -> RtspServer:
        server = RtspServer(video or shared_data / PETS_VIDEO, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()
