"""Prometheus metrics of one API process: HTTP requests, frames, fps, detector latency, alerts.

Each app gets its own registry (not the global one), so several apps in one process (tests, bench)
never collide on metric names. Pipeline numbers are read from the runner's live stats at scrape time
(a custom collector), so the camera threads pay nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

StatusFn = Callable[[], dict[str, dict[str, Any]]]
DetectorFn = Callable[[], dict[str, float]]


class _PipelineCollector(Collector):
    def __init__(self, status: StatusFn, detector: DetectorFn) -> None:
        self.status = status
        self.detector = detector

    def collect(self) -> Iterator[Any]:
        frames = CounterMetricFamily("watchnet_frames_processed", "Frames processed per camera", labels=["camera"])
        fps = GaugeMetricFamily("watchnet_camera_fps", "Processing rate per camera (frames/s)", labels=["camera"])
        up = GaugeMetricFamily("watchnet_camera_running", "1 while a camera is running", labels=["camera"])
        lag = GaugeMetricFamily("watchnet_camera_lag_seconds", "Median capture-to-result lag per camera",
                                labels=["camera"])
        beat = GaugeMetricFamily("watchnet_camera_worker_heartbeat_age_seconds",
                                 "Seconds since the camera's worker process last reported", labels=["camera", "worker"])
        restarts = CounterMetricFamily("watchnet_camera_worker_restarts", "Restarts of the worker running a camera",
                                       labels=["camera", "worker", "node"])
        for name, row in self.status().items():
            frames.add_metric([name], float(row.get("frames") or 0))
            fps.add_metric([name], float(row.get("fps") or 0.0))
            up.add_metric([name], 1.0 if row.get("state") == "running" else 0.0)
            if row.get("lag_ms_median") is not None:
                lag.add_metric([name], float(row["lag_ms_median"]) / 1000)
            if row.get("worker") is not None:  # cameras in worker processes (watchnet.runtime.camera)
                restarts.add_metric([name, str(row["worker"]), str(row.get("node") or "local")],
                                    float(row.get("worker_restarts") or 0))
                if row.get("heartbeat_age_s") is not None:
                    beat.add_metric([name, str(row["worker"])], float(row["heartbeat_age_s"]))
        yield from (frames, fps, up, lag, restarts, beat)
        det = self.detector()
        calls = det.get("calls", 0.0)
        yield CounterMetricFamily("watchnet_detector_frames", "Frames the detector ran on", value=calls)
        yield GaugeMetricFamily(
            "watchnet_detector_latency_seconds", "Mean detector time per frame",
            value=det.get("busy_s", 0.0) / calls if calls else 0.0,
        )


class ApiMetrics:
    """The registry plus the counters the API itself updates."""

    def __init__(self, status: StatusFn, detector: DetectorFn) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "watchnet_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "watchnet_http_request_seconds", "HTTP request time", ["route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.alerts = Counter("watchnet_alerts", "Alerts raised", ["kind"], registry=self.registry)
        self.registry.register(_PipelineCollector(status, detector))

    def render(self) -> bytes:
        return generate_latest(self.registry)
