"""Webhooks against a real HTTP server on 127.0.0.1: signed, verifiable, tamper-evident, retried."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from watchnet.core.config import WebhookConfig
from watchnet.core.records import Alert
from watchnet.services.sinks.base import RAISED, payload
from watchnet.services.sinks.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RetryPolicy,
    WebhookSink,
    sign,
    verify_signature,
)

SECRET = "a-shared-secret-of-some-length"
WAIT_S = 20.0  # an upper bound for delivery, never an expectation of speed


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """A real HTTP endpoint; answers each POST with the next status of ``statuses`` (then 200)."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def wait_for(self, count: int) -> list[Received]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, WAIT_S), (
                f"only {len(self.received)} of {count} requests arrived"
            )
            return list(self.received)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.arrived:
                state.received.append(Received(body, {k: v for k, v in self.headers.items()}))
                status = state.statuses.pop(0) if state.statuses else 200
                state.arrived.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _alert() -> Alert:
    return Alert(subject_id=3, subject_name="Test Subject", kind="face", score=0.96, camera="gate",
                 track_id=12, timestamp=1_700_000_000.5, frame_index=240, xyxy=(1, 2, 30, 40), id=99)


def _sink(receiver: Receiver, attempts: int = 4) -> WebhookSink:
    return WebhookSink(WebhookConfig(url=receiver.url, secret=SECRET), RetryPolicy(attempts, 0.05, 0.2))


def test_delivered_post_verifies_and_a_tampered_body_does_not(receiver: Receiver) -> None:
    sink = _sink(receiver)
    sink.deliver(payload(RAISED, _alert()))
    got = receiver.wait_for(1)[0]
    sink.close(WAIT_S)
    stamp, signature = got.headers[TIMESTAMP_HEADER], got.headers[SIGNATURE_HEADER]
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, got.body, stamp, signature)
    message = json.loads(got.body)
    assert message["event"] == "alert.raised"
    assert message["alert"]["subject"] == {"id": 3, "name": "Test Subject"} and message["alert"]["id"] == 99
    tampered = got.body.replace(b"Test Subject", b"Someone Else")
    assert not verify_signature(SECRET, tampered, stamp, signature)
    assert not verify_signature("another-secret-entirely", got.body, stamp, signature)
    assert not verify_signature(SECRET, got.body, str(int(stamp) + 1), signature)  # timestamp is signed
    assert not verify_signature(SECRET, got.body, None, signature)
    assert sink.stats.delivered == 1 and sink.stats.failed == 0


def test_old_timestamps_are_refused_even_with_a_good_signature() -> None:
    body, stamp = b'{"x":1}', int(time.time()) - 3600
    signature = sign(SECRET, body, stamp)
    assert verify_signature(SECRET, body, str(stamp), signature, tolerance_s=7200)
    assert not verify_signature(SECRET, body, str(stamp), signature)  # default tolerance: 5 minutes


def test_a_server_error_is_retried_with_the_same_delivery_id(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    sink = _sink(receiver)
    sink.deliver(payload(RAISED, _alert()))
    got = receiver.wait_for(3)
    assert sink.flush(WAIT_S)
    sink.close(WAIT_S)
    assert len({r.headers[DELIVERY_HEADER] for r in got}) == 1
    assert all(verify_signature(SECRET, r.body, r.headers[TIMESTAMP_HEADER], r.headers[SIGNATURE_HEADER])
               for r in got)
    assert (sink.stats.attempts, sink.stats.delivered, sink.stats.failed) == (3, 1, 0)


def test_a_client_error_is_not_retried_and_attempts_are_bounded(receiver: Receiver) -> None:
    receiver.statuses = [400]
    sink = _sink(receiver)
    sink.deliver(payload(RAISED, _alert()))
    assert sink.flush(WAIT_S)
    assert sink.stats.failed == 1 and sink.last_error == "HTTP 400 Bad Request"
    receiver.statuses = [500] * 10
    sink.deliver(payload(RAISED, _alert()))
    assert sink.flush(WAIT_S)
    sink.close(WAIT_S)
    assert len(receiver.received) == 1 + 4  # the 400 once, then the 500 until attempts ran out
    assert sink.stats.failed == 2


def test_an_unreachable_endpoint_is_retried_then_given_up() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = WebhookSink(WebhookConfig(url=f"http://127.0.0.1:{port}/x", secret=SECRET), RetryPolicy(3, 0.01, 0.02))
    sink.deliver(payload(RAISED, _alert()))
    assert sink.flush(WAIT_S)
    sink.close(1)
    assert sink.stats.attempts == 3 and sink.stats.failed == 1
    assert sink.last_error is not None and "Connection" in sink.last_error


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=8, initial_s=0.5, max_s=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
