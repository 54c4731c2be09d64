"""Browser bench of the console with 16 cameras configured: page load, a layout change (click to first
paint) and the alert decision view (click an alert until its evidence panel is drawn and its pictures
decoded). Median and p95 over N runs.

Page load, two measures of one reload of the live wall with the login cookie set (the browser's cache
warm, as for an operator who opened the console before; the page shell is revalidated every time):
- ``page_load``: from the reload until all 16 tiles are built, each with its camera's name, state badge
  and error (the definition of the first measurement, kept for comparison);
- ``page_load_pictures``: until, besides, every tile shows its first picture or has been told there is
  none (a camera with no frame: its tile shows the state and error instead).
Both are timed here, around Playwright's calls, so they include its round trips to the browser (the
reload's wait for the load event, then the polling); the ``_in_page`` twins are the same moments on the
browser's own clock: from navigation start to the first frame painted after the condition held
(``performance.mark`` in watchnet/web/js/live.js), which is what the operator sees.

16 cameras: the PETS walk and the Hamilton clip looping (real video, real models, a real alert) plus 14
cameras whose video file is missing (state "failed" with the error on their tile): the wall has 16 tiles
without 16 decoders on a shared 2-core machine. Headless Debian Chromium via Playwright.

Usage: python bench/console.py DATA_DIR [--runs 20]  ->  bench/results/console.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import screenshots as demo  # noqa: E402  (the demo server and login helpers)

BUDGET_MS = 300.0
#: The first measurement (before the page-load work: camera list after the session check, alert list and
#: streams competing with the first requests, 4 MJPEG streams opened at once), load average ~20.
PREVIOUS = {"page_load": {"median_ms": 1048.6, "p95_ms": 1451.5, "runs": 20},
            "layout_change": {"median_ms": 31.1, "p95_ms": 80.4, "runs": 20},
            "alert_decision_view": {"median_ms": 183.9, "p95_ms": 254.5, "runs": 20}}


def config_16(data: Path, home: Path) -> Path:
    config = demo.demo_config(data, home)
    cams = yaml.safe_load(config.read_text())["cameras"]
    for i in range(14):
        cams.append({"name": f"gate-{i:02d}", "url": str(home.parent / f"missing-gate-{i:02d}.mp4"),
                     "lat": 51.4416 + 0.0002 * (i % 7), "lon": -0.9419 + 0.0004 * (i // 7)})
    config.write_text(yaml.safe_dump({"cameras": cams}))
    return config


def recorded_alert(url: str, data: Path, home: Path, config: Path) -> int:
    """When no camera worker got going (a busy shared machine), record a match as the pipeline would: the
    enrolled subject, a face crop and the whole frame from the Hamilton clip, through the AlertManager on
    the same store. The decision view then has the same pictures to load; the live path stays untested."""
    import cv2
    import httpx

    from watchnet.core.config import Settings
    from watchnet.core.records import Alert
    from watchnet.services.alerts import AlertManager
    from watchnet.store.db import make_engine

    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/api/auth/login", json={"username": "olivia", "password": demo.PASSWORD}).raise_for_status()
        subject = client.get("/api/watchlist/subjects").json()[0]
    capture = cv2.VideoCapture(str(data / "faces/face_recognition/short_hamilton_clip.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 40)
    ok, frame = capture.read()
    capture.release()
    assert ok, "cannot read the Hamilton clip"
    folder = home / "snapshots"
    folder.mkdir(parents=True, exist_ok=True)
    h, w = frame.shape[:2]
    box = (int(w * 0.35), int(h * 0.05), int(w * 0.65), int(h * 0.55))
    cv2.imwrite(str(folder / "bench-scene.jpg"), frame)
    cv2.imwrite(str(folder / "bench-crop.jpg"), frame[box[1]:box[3], box[0]:box[2]])
    settings = Settings.load(config, home=home)
    engine = make_engine(settings.resolved_database_url)
    alert = Alert(subject_id=subject["id"], subject_name=subject["name"], kind="face", score=0.9, camera="stage",
                  track_id=1, timestamp=time.time(), frame_index=40,
                  xyxy=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                  crop_path=str(folder / "bench-crop.jpg"), snapshot_path=str(folder / "bench-scene.jpg"),
                  lat=51.4430, lon=-0.9395)
    recorded = AlertManager.from_settings(settings, engine).raise_alert(alert)
    engine.dispose()
    assert recorded.id is not None
    return int(recorded.id)


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 1), "p95_ms": round(p95, 1), "runs": len(ordered),
            "under_budget": p95 < BUDGET_MS}


def measure(url: str, alert_id: int, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {"page_load": [], "page_load_pictures": [], "page_load_in_page": [],
                                   "page_load_pictures_in_page": [], "layout_change": [], "alert_decision_view": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=demo.CHROMIUM, headless=True, args=demo.FLAGS)
        context = browser.new_context(viewport={"width": 1600, "height": 900})
        page = context.new_page()
        demo.login(page, url, "olivia")
        page.wait_for_function("() => document.querySelectorAll('#live-grid .cam').length === 16")
        page.wait_for_timeout(3000)  # the two real cameras have delivered frames
        for _ in range(runs):
            start = time.perf_counter()
            page.reload()  # a full load of the live wall: HTML, modules, session check, camera list, 16 tiles
            page.wait_for_function("() => document.querySelectorAll('#live-grid .cam').length === 16", polling="raf")
            out["page_load"].append((time.perf_counter() - start) * 1000)
            page.wait_for_function("""() => [...document.querySelectorAll('#live-grid .cam')]
                .every((t) => t.dataset.picture)""", polling="raf")
            out["page_load_pictures"].append((time.perf_counter() - start) * 1000)
            shown = page.evaluate("() => document.querySelectorAll('#live-grid .cam[data-picture=shown]').length")
            assert shown >= 2, f"only {shown} tiles showed a picture (the two real cameras should)"
            page.wait_for_function("() => performance.getEntriesByName('watchnet:live-pictures').length > 0")
            marks = page.evaluate("""() => ['watchnet:live-tiles', 'watchnet:live-pictures']
                .map((name) => performance.getEntriesByName(name)[0].startTime)""")
            out["page_load_in_page"].append(marks[0])
            out["page_load_pictures_in_page"].append(marks[1])
        layouts = ["2x2", "3x3", "4x4", "auto", "1"]
        for i in range(runs):
            name = layouts[i % len(layouts)]
            out["layout_change"].append(page.evaluate("""async (name) => {
                const t = performance.now();
                document.querySelector(`[data-layout="${name}"]`).click();
                await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
                return performance.now() - t; }""", name))
        page.goto(f"{url}/#/alerts/{alert_id}")
        page.wait_for_selector(f'#decision[data-alert="{alert_id}"]')
        for _ in range(runs):
            page.evaluate("() => { document.querySelector('#decision').dataset.alert = ''; }")
            start = time.perf_counter()
            page.click(f'#alert-list .alert-card[data-alert="{alert_id}"] .title')
            page.wait_for_function(f"""() => document.querySelector('#decision').dataset.alert === '{alert_id}'
                && [...document.querySelectorAll('#decision img')].every((i) => i.complete)""", polling="raf")
            out["alert_decision_view"].append((time.perf_counter() - start) * 1000)
        browser.close()
    return {k: stats(v) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--alert-wait", type=float, default=180.0, help="seconds to wait for a live alert")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="watchnet-bench-", ignore_cleanup_errors=True) as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        config = config_16(args.data.resolve(), home)
        with demo.serve(config, home, demo._port()) as url:
            try:
                alert_id, source = demo.prepare(url, args.data.resolve(), wait_s=args.alert_wait), "live"
            except SystemExit:
                alert_id = recorded_alert(url, args.data.resolve(), home, config)
                source = "recorded by the bench (no camera worker started in time on the shared machine)"
            results = measure(url, alert_id, args.runs)
    report = {"cameras": 16, "budget_ms": BUDGET_MS, "viewport": "1600x900", "browser": "Debian chromium, headless",
              "note": "2 real looping videos + 14 cameras with a missing file (failed, error shown); "
                      "the 2-core machine may be shared with other jobs: see load_average",
              "load_average": [round(x, 1) for x in os.getloadavg()],
              "definitions": {"page_load": "reload until all 16 tiles are built (name, state badge, error), "
                                           "timed around Playwright's calls (the first measurement's definition)",
                              "page_load_pictures": "reload until every tile shows its first picture or "
                                                    "knows it has none, timed around Playwright's calls",
                              "page_load_in_page": "navigation start to the first frame painted with all 16 "
                                                   "tiles built, on the browser's clock",
                              "page_load_pictures_in_page": "navigation start to the first frame painted after "
                                                            "every tile has its first picture or knows it has "
                                                            "none, on the browser's clock"},
              "alert": source, **results,
              "before": PREVIOUS}
    print(f"{'measure':<28}{'median ms':>10}{'p95 ms':>10}  runs")
    for key, value in results.items():
        print(f"{key:<28}{value['median_ms']:>10}{value['p95_ms']:>10}  {value['runs']}")
    path = REPO / "bench" / "results" / "console.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(path)


if __name__ == "__main__":
    main()
