"""One ASGI middleware for what every response needs: security headers, an origin check, metrics.

Pure ASGI (not ``BaseHTTPMiddleware``) so MJPEG streams and WebSockets pass through untouched.

- Headers: a CSP that allows only this origin's scripts and styles (no inline script), no framing,
  no MIME sniffing, no referrer, ``no-store`` on API answers (they hold personal data).
- Origin check: a state-changing request or WebSocket that carries an ``Origin`` from another site is
  refused (403) unless that origin is configured for CORS. The session cookie is SameSite=strict
  already; this is the second lock on the same door.
- Metrics: count and time every request by route template (not raw path: bounded label values).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from watchnet.api.metrics import ApiMetrics

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def content_security_policy(tile_url: str | None) -> str:
    img = "'self' data: blob:"
    if tile_url:
        parts = urlsplit(tile_url.replace("{", "").replace("}", ""))
        if parts.scheme and parts.netloc:
            img += f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {img}; connect-src 'self'; font-src 'self'; media-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class SecurityMiddleware:
    """Adds headers, enforces same-origin for unsafe requests, records metrics."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, csp: str, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.allowed = {o.rstrip("/") for o in allowed_origins}
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if not self._origin_ok(scope):
            await self._refuse(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500
        is_api = scope["path"].startswith("/api/") or scope["path"] == "/metrics"

        async def send_with_headers(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                headers = list(message.get("headers", []))
                headers.extend(self.headers)
                if is_api and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or ("static" if not is_api else "unmatched")
            self.metrics.requests.labels(scope["method"], template, str(status_code)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)

    def _origin_ok(self, scope: Scope) -> bool:
        if scope["type"] == "http" and scope["method"] in _SAFE_METHODS:
            return True
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1").rstrip("/")
        if not origin:  # not a browser's cross-site call (curl, scripts); the session still has to check out
            return True
        host = headers.get(b"host", b"").decode("latin-1")
        if urlsplit(origin).netloc == host:
            return True
        return origin in self.allowed

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": "cross-site request refused: the Origin is not this server"}).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"), *self.headers]})
        await send({"type": "http.response.body", "body": body})
