"""Webhooks: every alert POSTed as JSON, signed with HMAC-SHA256, retried with exponential back-off.

Signing (the receiver checks it with ``verify_signature`` or the three lines it contains)::

    X-Watchnet-Timestamp: <unix seconds>
    X-Watchnet-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>
    X-Watchnet-Delivery:  <uuid, the same on every retry: use it to drop duplicates>
    X-Watchnet-Event:     alert.raised | alert.updated

The timestamp is inside the signed bytes, so a captured request cannot be replayed later than the
receiver's tolerance (5 minutes by default); each retry is signed afresh with its own timestamp.

Delivery runs on one background thread per endpoint: ``deliver`` only queues, so a slow or dead
receiver never holds up a camera. A 2xx answer is success; a network error, 408, 425, 429 or 5xx is
retried after ``initial_s``, then twice as long each time up to ``max_s``, at most ``attempts`` times;
any other answer (a 4xx: the receiver rejects the request itself) is not retried. Outcomes are counted
in ``stats`` and the last failure is kept in ``last_error``. Uses only the standard library's HTTP client.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from watchnet.core.config import AlertsConfig, WebhookConfig
from watchnet.services.sinks.base import with_crop

log = logging.getLogger("watchnet.webhook")

SIGNATURE_HEADER = "X-Watchnet-Signature"
TIMESTAMP_HEADER = "X-Watchnet-Timestamp"
DELIVERY_HEADER = "X-Watchnet-Delivery"
EVENT_HEADER = "X-Watchnet-Event"
_RETRY_STATUS = frozenset({408, 425, 429})


def sign(secret: str, body: bytes, timestamp: int | str) -> str:
    """The signature header value for a body sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, *,
    tolerance_s: float = 300.0, now: float | None = None,
) -> bool:
    """True if ``signature`` is ours for exactly this body and the timestamp is within the tolerance."""
    if not timestamp or not signature:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, sent), signature)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a delivery is retried."""

    attempts: int = 6
    initial_s: float = 1.0
    max_s: float = 60.0

    @classmethod
    def from_config(cls, cfg: AlertsConfig) -> RetryPolicy:
        return cls(cfg.retry_attempts, cfg.retry_initial_s, cfg.retry_max_s)

    def delay(self, attempt: int) -> float:
        """Wait before attempt number ``attempt + 1`` (``attempt`` >= 1 attempts already made)."""
        return min(self.max_s, self.initial_s * 2.0 ** (attempt - 1))


@dataclass(slots=True)
class _Delivery:
    body: bytes
    event: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempts: int = 0


@dataclass(slots=True)
class WebhookStats:
    delivered: int = 0
    failed: int = 0
    attempts: int = 0
    pending: int = 0


class WebhookSink:
    """One endpoint, one worker thread, a queue of deliveries ordered by when they are due."""

    def __init__(self, config: WebhookConfig, retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self.name = f"webhook {config.url}"
        self.stats = WebhookStats()
        self.last_error: str | None = None
        self._heap: list[tuple[float, int, _Delivery]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._closing = False
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="webhook", daemon=True)
        self._thread.start()

    def deliver(self, payload: dict[str, Any]) -> None:
        """Queue one message; returns at once."""
        message = with_crop(payload) if self.config.include_crop else payload
        body = json.dumps(message, separators=(",", ":"), default=str).encode("utf-8")
        with self._cond:
            if self._closing:
                log.warning("%s: closed, alert not sent", self.name)
                return
            heapq.heappush(self._heap, (time.monotonic(), next(self._seq), _Delivery(body, str(payload["event"]))))
            self.stats.pending += 1
            self._cond.notify()

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is queued or being sent (retries included); False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Keep sending (and retrying) for up to ``timeout`` seconds, then stop; what is left is dropped."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            self._stop = True
            dropped = len(self._heap)
            self._cond.notify_all()
        self._thread.join(1.0)
        if dropped:
            log.error("%s: %d alert(s) not delivered before shutdown", self.name, dropped)

    # --- worker ---------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop:
                    if not self._heap:
                        if self._closing:
                            return
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._stop:
                    return
                _, _, item = heapq.heappop(self._heap)
                self._in_flight += 1
            retry: float | None = None
            try:
                retry = self._attempt(item)
            except Exception:  # a bug must not kill the worker and strand every later alert
                self.stats.failed += 1
                log.exception("%s: delivery %s failed", self.name, item.id)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    if retry is not None:
                        heapq.heappush(self._heap, (time.monotonic() + retry, next(self._seq), item))
                    else:
                        self.stats.pending -= 1
                    self._cond.notify_all()

    def _attempt(self, item: _Delivery) -> float | None:
        """Send once; the delay before the next try, or None when done (delivered or given up)."""
        item.attempts += 1
        self.stats.attempts += 1
        timestamp = int(time.time())
        request = urllib.request.Request(
            self.config.url, data=item.body, method="POST",
            headers={
                "Content-Type": "application/json", "User-Agent": "watchnet-webhook/1",
                TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(self.config.secret, item.body, timestamp),
                DELIVERY_HEADER: item.id, EVENT_HEADER: item.event,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
                response.read(1024)
            self.stats.delivered += 1
            return None
        except urllib.error.HTTPError as exc:
            retryable = exc.code in _RETRY_STATUS or exc.code >= 500
            self.last_error = f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            retryable = True
            self.last_error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if retryable and item.attempts < self.retry.attempts:
            delay = self.retry.delay(item.attempts)
            log.warning("%s: attempt %d failed (%s); retrying in %.1f s", self.name, item.attempts,
                        self.last_error, delay)
            return delay
        self.stats.failed += 1
        log.error("%s: giving up on delivery %s after %d attempt(s): %s", self.name, item.id, item.attempts,
                  self.last_error)
        return None
