"""API bench: alert fan-out latency to 50 WebSocket clients, and requests/s of the main read endpoints.

Both against a real uvicorn on 127.0.0.1 with a real SQLite store. Fan-out: the server runs in this
process (the bench publishes on its alert bus, as the alert manager does) and 50 clients, logged in,
wait on /api/alerts/ws; latency = client receive time - publish time (same clock). Read throughput:
the server runs in a child process (so the load generator does not share its GIL), the store holds
500 tracks and 200 alerts, and 8 concurrent clients call each endpoint for a bounded time.
Prints a table and writes bench/results/api.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
import uvicorn
import websockets

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from watchnet.api.app import create_app  # noqa: E402
from watchnet.core.config import CameraConfig, Settings  # noqa: E402
from watchnet.core.records import Alert, Track  # noqa: E402
from watchnet.services import accounts  # noqa: E402
from watchnet.store.alerts import AlertStore  # noqa: E402
from watchnet.store.db import open_store  # noqa: E402
from watchnet.store.recorder import Recorder  # noqa: E402
from watchnet.store.schema_watchlist import Subject  # noqa: E402

PASSWORD = "bench password 123"
CLIENTS = 50
ALERTS = 40
READ_SECONDS = 4.0
READ_MAX_REQUESTS = 3000
CONCURRENCY = 8
ENDPOINTS = ("/api/alerts?limit=50", "/api/tracks?limit=50", "/api/cameras")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(home: Path) -> Settings:
    settings = Settings.load(home=home)
    engine = open_store(settings)
    accounts.create_user(engine, "bench", PASSWORD, "admin")
    recorder = Recorder(engine)
    cams = [CameraConfig(name=f"cam{i}", url=f"/dev/null/{i}", lat=51.44 + i * 0.001, lon=-0.94)
            for i in range(4)]
    recorder.upsert_cameras(cams)
    run_id = recorder.start_run({})
    now = time.time()
    tracks = [Track(camera=f"cam{i % 4}", track_id=i, label="person", first_frame=i, last_frame=i + 50,
                    first_seen=now - 3600 + i, last_seen=now - 3500 + i, best_score=0.8, hits=50,
                    best_xyxy=(1, 2, 30, 80), path=[(i, 10.0, 20.0, 5.0, 9.0)]) for i in range(500)]
    recorder.write(tracks, [], run_id)
    with engine.begin() as conn:  # one enrolled subject the alerts point at (no photo needed to read alerts)
        now_utc = datetime.now(UTC)
        subject = conn.execute(sa.insert(Subject).values(
            kind="person", name="Subject", reason="bench", case_ref="", enrolled_by="bench", created_at=now_utc,
            updated_at=now_utc, active=True).returning(Subject.id)).scalar_one()
    store = AlertStore(engine)
    for i in range(200):
        store.insert(Alert(subject_id=subject, subject_name=f"Subject {i % 7}", kind="face", score=0.95,
                           camera=f"cam{i % 4}", track_id=i, timestamp=now - i, frame_index=i))
    engine.dispose()
    return settings


def serve_child(home: Path, port: int) -> None:
    """Child process: the console on ``port`` (read throughput)."""
    app = create_app(Settings.load(home=home))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


async def fanout(url: str, cookie: str, publish: object) -> list[float]:
    latencies: list[float] = []
    ready = asyncio.Event()
    connected = 0
    ws_url = url.replace("http", "ws") + "/api/alerts/ws"

    async def client() -> None:
        nonlocal connected
        async with websockets.connect(ws_url, additional_headers={"Cookie": f"watchnet_session={cookie}"},
                                      open_timeout=30, max_queue=None) as ws:
            connected += 1
            if connected == CLIENTS:
                ready.set()
            for _ in range(ALERTS):
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                latencies.append(time.time() - message["alert"]["timestamp"])

    tasks = [asyncio.create_task(client()) for _ in range(CLIENTS)]
    await asyncio.wait_for(ready.wait(), timeout=60)
    await asyncio.sleep(1.0)  # every handler has subscribed
    for i in range(ALERTS):
        await asyncio.to_thread(publish, i)  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    return latencies


def run_fanout(settings: Settings) -> dict[str, float]:
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           ws_ping_interval=None, timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    cookie = httpx.post(f"{url}/api/auth/login", json={"username": "bench", "password": PASSWORD}).cookies[
        "watchnet_session"]
    bus = app.state.watchnet.bus

    def publish(i: int) -> None:
        bus.publish(Alert(subject_id=1, subject_name="Bench", kind="face", score=0.95, camera="cam0", track_id=i,
                          timestamp=time.time(), frame_index=i, id=100_000 + i))

    try:
        lat = asyncio.run(fanout(url, cookie, publish))
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    lat_ms = sorted(x * 1000 for x in lat)
    return {"clients": CLIENTS, "alerts": ALERTS, "messages": len(lat_ms),
            "median_ms": round(statistics.median(lat_ms), 2),
            "p95_ms": round(lat_ms[int(0.95 * (len(lat_ms) - 1))], 2), "max_ms": round(lat_ms[-1], 2)}


async def hammer(url: str, token: str, path: str) -> dict[str, float]:
    count = 0
    errors = 0
    stop = time.monotonic() + READ_SECONDS
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        await client.get(path)  # warm

        async def worker() -> None:
            nonlocal count, errors
            while time.monotonic() < stop and count < READ_MAX_REQUESTS:
                response = await client.get(path)
                count += 1
                errors += response.status_code != 200

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.monotonic() - started
    return {"requests": count, "errors": errors, "rps": round(count / elapsed, 1)}


def run_reads(home: Path) -> dict[str, dict[str, float]]:
    port = _free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve-child", str(home), str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError("bench server did not start")
            time.sleep(0.2)
        token = httpx.post(f"{url}/api/auth/token", json={"username": "bench", "password": PASSWORD}).json()[
            "access_token"]
        return {path: asyncio.run(hammer(url, token, path)) for path in ENDPOINTS}
    finally:
        child.terminate()
        child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-child", nargs=2, metavar=("HOME", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "api.json")
    args = parser.parse_args()
    if args.serve_child:
        serve_child(Path(args.serve_child[0]), int(args.serve_child[1]))
        return
    with tempfile.TemporaryDirectory(prefix="watchnet-bench-api-") as tmp:
        settings = seed(Path(tmp) / "home")
        fan = run_fanout(settings)
        reads = run_reads(settings.home)
    print(f"\nalert fan-out to {fan['clients']} WebSocket clients ({fan['alerts']} alerts, {fan['messages']} messages)")
    print(f"  {'median':>8} {'p95':>8} {'max':>8}  (ms, publish -> received)")
    print(f"  {fan['median_ms']:>8} {fan['p95_ms']:>8} {fan['max_ms']:>8}")
    print(f"\nread endpoints ({CONCURRENCY} concurrent clients, {READ_SECONDS:.0f} s each, SQLite)")
    print(f"  {'endpoint':<24} {'req/s':>8} {'requests':>9} {'errors':>7}")
    for path, row in reads.items():
        print(f"  {path:<24} {row['rps']:>8} {row['requests']:>9} {row['errors']:>7}")
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
              "cpus": __import__("os").cpu_count(), "fanout": fan, "reads": reads,
              "settings": {"clients": CLIENTS, "alerts": ALERTS, "concurrency": CONCURRENCY,
                           "read_seconds": READ_SECONDS}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
