"""Login rate limiting: at most N failed logins per (user name, client address) in a sliding window.

Why per user *and* address: per user alone lets anyone lock an operator out from anywhere; per address
alone lets one address guess slowly across many names. Kept in memory: one API process serves a site,
and a restart forgetting the counts only gives an attacker one more window.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class LoginLimiter:
    """Counts failures; ``retry_after`` says how long a key must wait (0 when it may try)."""

    def __init__(self, max_failures: int, window_s: float, max_keys: int = 100_000) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, name: str, address: str) -> float:
        with self._lock:
            stamps = self._prune((name.lower(), address))
            if len(stamps) < self.max_failures:
                return 0.0
            return max(0.0, stamps[0] + self.window_s - time.monotonic())

    def failed(self, name: str, address: str) -> None:
        with self._lock:
            if len(self._failures) >= self.max_keys:  # bounded memory under a spray of names
                self._failures.clear()
            self._prune((name.lower(), address)).append(time.monotonic())

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop((name.lower(), address), None)

    def _prune(self, key: tuple[str, str]) -> deque[float]:
        stamps = self._failures.setdefault(key, deque())
        cutoff = time.monotonic() - self.window_s
        while stamps and stamps[0] < cutoff:
            stamps.popleft()
        return stamps
