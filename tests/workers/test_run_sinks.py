"""``watchnet run`` beside a console: each alert event reaches a webhook exactly once.

Real pieces: the real CLI (``watchnet run``) on a short clip of a parked car whose plate is hotlisted, a real
HTTP server as the webhook, and a console's ``SinkDispatcher`` (the one ``watchnet serve`` runs) with the
same webhook, following the same SQLite store while the run goes. Both hand the event log to the webhook;
their shared per-sink cursor lets each event through once (before, the run also posted its alerts itself).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchnet.core.config import Settings, WebhookConfig
from watchnet.services.container import build_services
from watchnet.services.dispatch import SinkDispatcher
from watchnet.services.sinks.webhook import RetryPolicy, WebhookSink
from watchnet.store import outbox
from watchnet.store.db import open_store

pytestmark = pytest.mark.slow
SECRET = "a-test-secret-of-32-characters!!"


class Counting:
    """The console's webhook sink, counting what this dispatcher handed it (the ``AlertSink`` protocol)."""

    def __init__(self, sink: WebhookSink) -> None:
        self.sink = sink
        self.name = sink.name
        self.handed = 0

    def deliver(self, payload: dict[str, Any]) -> None:
        self.handed += 1
        self.sink.deliver(payload)

    def close(self, timeout: float = 10.0) -> None:
        self.sink.close(timeout)


def test_watchnet_run_beside_a_console_posts_each_alert_event_once(shared_data: Path, tmp_path: Path) -> None:
    posted: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                posted.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/alerts"

    home = tmp_path / "home"
    config = tmp_path / "watchnet.yaml"
    config.write_text(yaml.safe_dump({"alerts": {"webhooks": [{"url": url, "secret": SECRET}],
                                                 "group_window_s": 0.0}}))  # every match its own alert
    frames = tmp_path / "camera"
    frames.mkdir()
    photo = shared_data / "plates" / "openalpr_eu" / "test_006.jpg"  # a parked car, plate RK099AN
    for i in range(30):
        shutil.copy(photo, frames / f"{i:04d}.jpg")

    settings = Settings.load(config, home=home)
    engine = open_store(settings)
    build_services(settings, engine).watchlist.add_plate("RK099AN", by="alice")
    console = Counting(WebhookSink(WebhookConfig(url=url, secret=SECRET), RetryPolicy(3, 0.05)))
    dispatcher = SinkDispatcher(engine, [console], poll_s=0.2).start()  # a console on the same store
    try:
        env = {**os.environ, "WATCHNET_HOME": str(home)}
        run = subprocess.run([sys.executable, "-m", "watchnet", "run", str(config), "--source", f"car={frames}"],
                             env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "ALERT plate match: RK099AN" in run.stderr
    finally:
        dispatcher.close()
        console.close(30)
        server.shutdown()
        server.server_close()
    events = outbox.read_after(engine, 0, topics=["alert", "journey"])
    engine.dispose()
    assert events, "the run raised no alert"
    posts = Counter(m.get("event_id") for m in posted)  # a post without an id: the run posted it itself
    assert posts == Counter(e.id for e in events), "an event was posted twice or not at all"
    assert len({m["delivery_id"] for m in posted}) == len(posted)
    print(f"{len(events)} event(s), each posted once: {console.handed} by the console's dispatcher, "
          f"{len(events) - console.handed} by the run's")
