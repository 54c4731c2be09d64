"""The MQTT sink against a real Mosquitto broker (Debian ``mosquitto``, see scripts/system-deps.sh)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from watchnet.core.config import MqttConfig
from watchnet.core.records import Alert
from watchnet.services.sinks.base import RAISED, UPDATED, payload
from watchnet.services.sinks.mqtt import MqttSink

WAIT_S = 20.0
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").is_file() else None)
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="the mosquitto broker is not installed (apt-get install mosquitto, see system-deps.sh)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def broker(tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    assert MOSQUITTO is not None
    process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + WAIT_S
    while True:  # wait (bounded) until it accepts connections
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"mosquitto did not start: {process.stderr.read().decode() if process.stderr else ''}")
            time.sleep(0.05)
    yield port
    process.terminate()
    process.wait(10)


def test_alerts_are_published_to_the_topic(broker: int) -> None:
    received: list[tuple[str, dict]] = []
    arrived = threading.Condition()
    subscribed = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with arrived:
            received.append((message.topic, json.loads(message.payload)))
            arrived.notify_all()

    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    listener.on_message = on_message
    listener.on_subscribe = lambda *args: subscribed.set()
    listener.connect("127.0.0.1", broker)
    listener.subscribe("watchnet/test/#", qos=1)
    listener.loop_start()
    assert subscribed.wait(WAIT_S)

    sink = MqttSink(MqttConfig(host="127.0.0.1", port=broker, topic="watchnet/test"))
    assert sink.connected.wait(WAIT_S)
    alert = Alert(subject_id=4, subject_name="Test Subject", kind="face", score=0.97, camera="gate", track_id=9,
                  timestamp=1_760_000_000.0, frame_index=12, id=31)
    sink.deliver(payload(RAISED, alert))
    sink.deliver(payload(UPDATED, alert, {"decision": {"action": "confirm", "actor": "alice"}}))
    sink.close(WAIT_S)
    with arrived:
        assert arrived.wait_for(lambda: len(received) >= 2, WAIT_S)
    listener.loop_stop()
    listener.disconnect()
    topics = sorted(t for t, _ in received)
    assert topics == ["watchnet/test", "watchnet/test/updated"]
    raised = next(m for t, m in received if t == "watchnet/test")
    assert raised["event"] == "alert.raised" and raised["alert"]["id"] == 31
    assert raised["alert"]["subject"]["name"] == "Test Subject"


def test_messages_wait_for_a_broker_that_comes_up_later(tmp_path: Path) -> None:
    port = _free_port()
    sink = MqttSink(MqttConfig(host="127.0.0.1", port=port, topic="watchnet/late"))
    alert = Alert(subject_id=4, subject_name="x", kind="face", score=0.97, camera="gate", track_id=9,
                  timestamp=0.0, frame_index=1, id=1)
    sink.deliver(payload(RAISED, alert))  # no broker yet: must not block or raise
    assert not sink.connected.is_set()
    sink.close(0.5)
