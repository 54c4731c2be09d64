"""Scale benchmark: where cameras run (threads of one process, worker processes, Ray actors) and what it costs.

Measures, on this machine, with the same video (PETS 2009 S2.L1 view 1, 480x360, 10 fps, played as fast
as possible) and the same full analysis per camera (detector, tracker, faces, descriptions):
- per-camera CPU seconds per frame and end-to-end fps of the thread runner, the process workers
  (``watchnet.runtime.camera``) and Ray camera actors (``watchnet.runtime.cluster``, local Ray, one detector per actor),
  for 1, 2, 4 and 8 cameras, and each one's overhead ratio against threads. CPU and fps are taken between
  the moment every camera has produced frames and the moment they all ended (model loading excluded);
- time to recover a SIGKILLed worker process (kill -> its camera has frames again in a new process);
- alert delivery latency across processes through the event log: alerts raised in another process,
  heard by an ``EventFollower`` here (SQLite: polling every 0.2 s; PostgreSQL: LISTEN/NOTIFY).
Prints a table and writes bench/results/scale.json.

Usage: python bench/scale.py [--frames 120] [--cameras 1,2,4,8] [--modes thread,process,ray] [--no-pg] [--merge]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("WATCHNET_SHARED_DATA", REPO.parent / "shared" / "data"))
VIDEO = DATA / "tracking/pets09_s2l1/pets09_s2l1_view001_480x360_10fps.avi"
OUT = REPO / "bench" / "results" / "scale.json"

from watchnet.core.config import Settings  # noqa: E402
from watchnet.store.db import open_store  # noqa: E402


def until(check: Callable[[], Any], timeout: float = 600.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise TimeoutError("benchmark step timed out")


def settings_for(home: Path, n: int, db_url: str | None = None, live: bool = False, **extra: Any) -> Settings:
    cameras = [{"name": f"cam{i}", "url": str(VIDEO), "live": live} for i in range(n)]
    return Settings.load(None, home=home, database_url=db_url, cameras=cameras, **extra)


def measure(sample: Callable[[], tuple[list[int], list[str], float]], n: int, frames: int) -> dict[str, float]:
    """``sample()`` -> (frames per camera, states, cpu seconds so far). Window: all cameras started -> all ended."""
    def started() -> tuple[float, int, float] | None:
        got, _, cpu = sample()
        return (time.monotonic(), sum(got), cpu) if len(got) == n and min(got) >= 5 else None

    t1, f1, c1 = until(started)

    def ended() -> tuple[float, int, float] | None:
        got, states, cpu = sample()
        done = len(got) == n and all(s in ("ended", "stopped", "failed") or g >= frames for g, s in zip(got, states,
                                                                                                      strict=True))
        return (time.monotonic(), sum(got), cpu) if done else None

    t2, f2, c2 = until(ended)
    window_frames = max(f2 - f1, 1)
    return {"cameras": n, "frames": f2, "fps_total": round(window_frames / (t2 - t1), 2),
            "fps_per_camera": round(window_frames / (t2 - t1) / n, 2),
            "cpu_ms_per_frame": round((c2 - c1) / window_frames * 1000, 1)}


def run_thread(home: Path, n: int, frames: int) -> dict[str, float]:
    from watchnet.runtime.camera.worker import CameraHost

    settings = settings_for(home, n)
    host = CameraHost(settings, list(settings.cameras), max_frames=frames)
    thread = threading.Thread(target=host.runner.run, daemon=True)
    thread.start()

    def sample() -> tuple[list[int], list[str], float]:
        rows: list[dict[str, Any]] = [s.as_dict() for s in host.runner.stats.values()]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return [int(r["frames"]) for r in rows], [str(r["state"]) for r in rows], usage.ru_utime + usage.ru_stime

    try:
        return measure(sample, n, frames)
    finally:
        host.runner.stop.set()
        thread.join(30)
        host.close()


def run_process(home: Path, n: int, frames: int) -> dict[str, float]:
    from watchnet.runtime.camera.supervisor import ProcessSupervisor

    settings = settings_for(home, n)
    engine = open_store(settings)
    sup = ProcessSupervisor(settings, engine, max_frames=frames)
    sup.start()

    def sample() -> tuple[list[int], list[str], float]:
        rows = [r for r in sup.status().values() if "frames" in r]
        return [int(r["frames"]) for r in rows], [str(r["state"]) for r in rows], \
            sum(w["cpu_s"] for w in sup.workers())

    try:
        return measure(sample, n, frames)
    finally:
        sup.stop()
        engine.dispose()


def run_ray(home: Path, n: int, frames: int) -> dict[str, float]:
    import ray

    from watchnet.runtime.cluster.reconcile import ClusterReconciler

    settings = settings_for(home, n)
    engine = open_store(settings)
    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False, namespace="watchnet")
    rec = ClusterReconciler(settings, engine, shared_detector=False, max_frames=frames)
    rec.reconcile()

    def sample() -> tuple[list[int], list[str], float]:
        rows = [r for r in rec.status().values() if "frames" in r]
        return [int(r["frames"]) for r in rows], [str(r["state"]) for r in rows], \
            sum(float(r.get("cpu_s", 0.0)) for r in rows)

    try:
        return measure(sample, n, frames)
    finally:
        rec.close()
        engine.dispose()
        ray.shutdown()


def worker_recovery(home: Path, tries: int = 2) -> list[float]:
    """SIGKILL the worker of a looping camera; seconds until its camera has frames in a new process."""
    from watchnet.runtime.camera.supervisor import ProcessSupervisor

    settings = settings_for(home, 1, live=True, workers={"restart_initial_s": 0.5}, stream={"loop_pause_s": 0.2})
    engine = open_store(settings)
    sup = ProcessSupervisor(settings, engine, loop=True)
    sup.start()
    times = []
    try:
        for attempt in range(tries):
            until(lambda: sup.status().get("cam0", {}).get("frames", 0) > 0 and sup.workers()[0]["alive"])
            pid = sup.workers()[0]["pid"]
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            def back(restarts: int = attempt + 1) -> bool:
                worker = sup.workers()[0]
                return bool(worker["restarts"] == restarts and worker["alive"]
                            and sup.status().get("cam0", {}).get("frames", 0) > 0)

            until(back, every=0.05)
            times.append(round(time.monotonic() - killed, 2))
    finally:
        sup.stop()
        engine.dispose()
    return times


RAISE = """
import sys, time
from watchnet.services.alerts import AlertManager
from watchnet.core.records import Alert
from watchnet.store.db import make_engine
engine = make_engine(sys.argv[1]); manager = AlertManager(engine)
for i in range(int(sys.argv[3])):
    manager.raise_alert(Alert(subject_id=int(sys.argv[2]), subject_name="ABC123", kind="plate", score=0.9,
                              camera=f"c{i}", track_id=i, timestamp=time.time(), frame_index=i))
    time.sleep(0.15)
engine.dispose()
"""


def alert_latency(db_url: str, home: Path, count: int = 30) -> dict[str, float]:
    """Alerts raised in another process -> heard here through the event log (ms: median, p95)."""
    from watchnet.services.watchlist import Watchlist
    from watchnet.store.outbox import EventFollower, LogEvent

    settings = Settings.load(None, home=home, database_url=db_url)
    engine = open_store(settings)
    subject = Watchlist(settings, engine).add_plate("ABC123", by="bench").id
    latencies: list[float] = []

    def heard(events: list[LogEvent]) -> None:
        now = time.time()
        latencies.extend(now - e.payload["alert"]["timestamp"] for e in events if e.topic == "alert")

    follower = EventFollower(engine, heard, poll_s=settings.workers.event_poll_s).start()
    try:
        subprocess.run([sys.executable, "-c", RAISE, db_url, str(subject), str(count)], check=True, timeout=300)
        until(lambda: len(latencies) >= count, timeout=60)
    finally:
        follower.close()
        engine.dispose()
    ms = sorted(v * 1000 for v in latencies)
    return {"alerts": len(ms), "median_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1)}


def postgres_url(stack: list[Callable[[], None]]) -> str | None:
    try:
        from tests.postgres import PostgresServer, _LocalServer, find_pg_bin
    except ImportError:
        return None
    bin_dir = find_pg_bin()
    if bin_dir is None:
        return None
    server = _LocalServer(bin_dir)
    admin = server.start()
    stack.append(server.stop)
    pg = PostgresServer(admin)
    return pg.url(pg.create_database())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120, help="frames per camera in the throughput runs")
    parser.add_argument("--cameras", default="1,2,4,8")
    parser.add_argument("--modes", default="thread,process,ray")
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL latency run")
    parser.add_argument("--keep-throughput", action="store_true",
                        help="keep the throughput rows of the existing scale.json (rerun the rest)")
    parser.add_argument("--merge", action="store_true",
                        help="add the rows measured now to those of the existing scale.json (same mode and count: "
                             "replaced), e.g. --cameras 8 --merge")
    args = parser.parse_args()
    counts = [int(c) for c in args.cameras.split(",") if c]  # --cameras "": only recovery and latency
    modes = args.modes.split(",")
    runners = {"thread": run_thread, "process": run_process, "ray": run_ray}
    result: dict[str, Any] = {
        "video": VIDEO.name, "frames_per_camera": args.frames,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "note": "measured once on this 2-core machine; absolute numbers depend on what else ran (load average "
                "below): compare modes measured back to back",
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "throughput": [], "recovery_s": {}, "alert_latency": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            for mode in modes:
                row = {"mode": mode, **runners[mode](Path(tmp) / f"{mode}{n}", n, args.frames)}
                result["throughput"].append(row)
                print(row, flush=True)
        if args.keep_throughput and OUT.is_file():
            result["throughput"] = json.loads(OUT.read_text())["throughput"]
        elif args.merge and OUT.is_file():
            new = {(r["mode"], r["cameras"]) for r in result["throughput"]}
            kept = [r for r in json.loads(OUT.read_text())["throughput"] if (r["mode"], r["cameras"]) not in new]
            result["throughput"] = sorted(kept + result["throughput"],
                                          key=lambda r: (r["cameras"], modes.index(r["mode"]) if r["mode"] in modes
                                                         else len(modes)))
        base = {r["cameras"]: r for r in result["throughput"] if r["mode"] == "thread"}
        for row in result["throughput"]:
            ref = base.get(row["cameras"])
            if ref:
                row["cpu_overhead_vs_thread"] = round(row["cpu_ms_per_frame"] / ref["cpu_ms_per_frame"], 2)
                row["fps_ratio_vs_thread"] = round(row["fps_total"] / ref["fps_total"], 2)
        killed = worker_recovery(Path(tmp) / "recovery")
        result["recovery_s"]["worker_sigkill"] = {"tries": killed, "median": statistics.median(killed)}
        result["recovery_s"]["ray_node_lost"] = {
            "runs": [14.3, 7.1],
            "source": "tests/cluster/test_ray_cluster.py on this machine (local 2-node cluster), two sessions"}
        print(result["recovery_s"], flush=True)
        result["alert_latency"]["sqlite_poll"] = alert_latency(f"sqlite:///{Path(tmp) / 'lat.db'}", Path(tmp) / "l1")
        stack: list[Callable[[], None]] = []
        try:
            url = None if args.no_pg else postgres_url(stack)
            if url:
                result["alert_latency"]["postgresql_listen"] = alert_latency(url, Path(tmp) / "l2")
        finally:
            for stop in stack:
                stop()
        if args.merge and OUT.is_file():  # what was not measured this time stays as it was
            result["alert_latency"] = {**json.loads(OUT.read_text()).get("alert_latency", {}),
                                       **result["alert_latency"]}
        print(result["alert_latency"], flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(f"\n{'mode':8} {'cams':>4} {'fps total':>9} {'fps/cam':>8} {'CPU ms/frame':>12} {'CPU x thread':>12}")
    for r in result["throughput"]:
        print(f"{r['mode']:8} {r['cameras']:>4} {r['fps_total']:>9} {r['fps_per_camera']:>8} "
              f"{r['cpu_ms_per_frame']:>12} {r.get('cpu_overhead_vs_thread', '-'):>12}")
    print(f"worker recovery after SIGKILL: {result['recovery_s']['worker_sigkill']}")
    print(f"alert latency across processes: {result['alert_latency']}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
