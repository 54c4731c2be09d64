"""MQTT: every alert published as JSON to a broker topic (QoS 1 by default), e.g. for a control room.

paho-mqtt (EPL-2.0 OR BSD-3-Clause; watchnet uses it under the BSD-3-Clause option, which is compatible
with Apache-2.0) runs its own network thread (``loop_start``), reconnects with back-off by itself and
keeps QoS >= 1 messages queued while the broker is away, so ``deliver`` never blocks. Messages are
published to ``<topic>`` for new alerts and ``<topic>/updated`` for decisions, not retained: an alert
is an event, not a state a late subscriber should receive as current.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from watchnet.core.config import MqttConfig
from watchnet.services.sinks.base import UPDATED

log = logging.getLogger("watchnet.mqtt")


class MqttSink:
    """Publishes alerts to one broker; connects in the background and reconnects on its own."""

    def __init__(self, config: MqttConfig, client_id: str = "") -> None:
        self.config = config
        self.name = f"mqtt {config.host}:{config.port}/{config.topic}"
        self.connected = threading.Event()
        self.published = 0
        self._pending: list[mqtt.MQTTMessageInfo] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if config.username:
            self._client.username_pw_set(config.username, config.password)
        if config.tls:
            self._client.tls_set()
        self._client.reconnect_delay_set(min_delay=1, max_delay=60)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.connect_async(config.host, config.port, keepalive=30)
        self._client.loop_start()

    def deliver(self, payload: dict[str, Any]) -> None:
        """Queue one message for the broker; returns at once."""
        topic = self.config.topic + ("/updated" if payload.get("event") == UPDATED else "")
        body = json.dumps(payload, separators=(",", ":"), default=str)
        info = self._client.publish(topic, body, qos=self.config.qos)
        with self._lock:
            self._pending = [m for m in self._pending if not _published(m)] + [info]
            self.published += 1

    def close(self, timeout: float = 10.0) -> None:
        """Wait up to ``timeout`` for queued messages to reach the broker, then disconnect."""
        deadline = time.monotonic() + timeout
        with self._lock:
            pending = list(self._pending)
        for info in pending:
            left = deadline - time.monotonic()
            if left <= 0 or not self.connected.is_set():
                break
            try:
                info.wait_for_publish(left)
            except (RuntimeError, ValueError):  # never queued (e.g. too large) or client gone
                continue
        unsent = sum(1 for m in pending if not _published(m))
        if unsent:
            log.error("%s: %d alert(s) not confirmed by the broker before shutdown", self.name, unsent)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.error("%s: connection refused: %s", self.name, reason)
            return
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()
        if getattr(reason, "is_failure", False):
            log.warning("%s: disconnected (%s); reconnecting", self.name, reason)


def _published(info: mqtt.MQTTMessageInfo) -> bool:
    """Whether the broker has the message; False too while it waits for a connection."""
    try:
        return bool(info.is_published())
    except (RuntimeError, ValueError):  # queued while disconnected, or never queued
        return False
