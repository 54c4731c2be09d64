"""Evidence exports: an alert, or a page of search results, as one ZIP with the faces of non-matches blurred.

Why blur in exports: a ZIP leaves the system (to a case file, a court, a colleague), and everyone in it
who is not a confirmed watchlist match is a bystander. A machine's match is only a reading until two
people confirmed the alert (``AlertState.CONFIRMED``, or ``CLOSED`` after it), so by default
(``exports.blur_faces``) every face found in an alert's full-frame snapshot (person boxes plus a
whole-frame face search) is blurred by ``analysis.blur``, and so is the face crop, unless the alert is
confirmed: then the matched person's face and crop stay as recorded (they are the evidence). Search
thumbnails are blurred unless the sighting is a confirmed match. An export with ``blur=False`` is
possible (operators already see these pictures unblurred) and is audited as such.

Why exports audit themselves: the API and the CLI both export, and neither may forget to record who
exported what and why; so ``actor`` and ``reason`` are required here and every export is one
``audit.record`` (``export.alert`` / ``export.search``). Unreadable or out-of-place pictures (paths come
from the database and are only read inside the data directory) are left out and listed as missing.
"""

from __future__ import annotations

import hashlib
import json
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import cv2
import numpy as np

from watchnet import __version__
from watchnet.core.config import ExportsConfig, Settings
from watchnet.core.errors import InputError
from watchnet.core.records import AlertState
from watchnet.services.alerts import alert_info
from watchnet.store import audit
from watchnet.store.alerts import AlertStore
from watchnet.store.db import Engine
from watchnet.store.search_queries import confirmed_face_alerts
from watchnet.vision.analysis.blur import Box, blur_non_matches, blur_region, iou

if TYPE_CHECKING:
    from watchnet.services.search import SearchPage, SearchResult
    from watchnet.vision.analysis.detect import Detector
    from watchnet.vision.analysis.faces import FaceAnalyzer

#: A sighting is the track an alert was raised on when the alert falls within its time span, give or take this.
_ALERT_SLACK = timedelta(seconds=5)
#: States of an alert that two people confirmed: only these keep the match's face in an export.
CONFIRMED = (AlertState.CONFIRMED, AlertState.CLOSED)


class ExportTools:
    """The models an export needs (person detector, face detector), loaded on first use and then shared."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._detector: Detector | None = None
        self._faces: FaceAnalyzer | None = None

    @property
    def detector(self) -> Detector:
        with self._lock:
            if self._detector is None:
                from watchnet.vision.analysis.detect import Detector

                self._detector = Detector.from_settings(self.settings)
            return self._detector

    @property
    def faces(self) -> FaceAnalyzer:
        with self._lock:
            if self._faces is None:
                from watchnet.vision.analysis.faces import FaceAnalyzer

                self._faces = FaceAnalyzer(self.settings)
            return self._faces


@dataclass(slots=True)
class ExportResult:
    """What went into a ZIP: its files, how many faces and heads were blurred, and the audit entry."""

    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    faces_blurred: int = 0
    heads_blurred: int = 0
    audit_id: int | None = None


class Exports:
    """Evidence exports as ZIP files: one alert, or one page of search results; each audited with who, why,
    and whether faces were blurred. Non-matches' faces are blurred unless ``blur`` is false (``None``: the
    site's ``exports.blur_faces``); a match's face stays only once two people confirmed it."""

    def __init__(self, engine: Engine, settings: Settings, tools: ExportTools) -> None:
        self.engine = engine
        self.settings = settings
        self.tools = tools

    def alert(self, alert_id: int, out: Path | IO[bytes], blur: bool | None = None, *, actor: str,
              reason: str) -> ExportResult:
        """Write ``alert.json``, ``face.jpg`` (the match) and ``frame.jpg`` (non-matches blurred) to a ZIP."""
        _require(actor, reason)
        engine, settings, tools = self.engine, self.settings, self.tools
        blur = settings.exports.blur_faces if blur is None else blur
        info = alert_info(AlertStore(engine), alert_id)
        alert = info.alert
        result = ExportResult()
        is_match = alert.kind == "face" and alert.state in CONFIRMED
        pictures: dict[str, bytes] = {}
        crop = _read(settings, alert.crop_path)
        if crop is not None:
            if blur and not is_match:
                image = _decode(crop)
                whole = (0.0, 0.0, float(image.shape[1]), float(image.shape[0]))
                blur_region(image, whole, settings.exports.blur_cells)
                crop, result.faces_blurred = _encode(image, settings.alerts.jpeg_quality), 1
            pictures["face.jpg"] = crop
        elif alert.crop_path:
            result.missing.append("face.jpg")
        frame = _read(settings, alert.snapshot_path)
        if frame is not None:
            if blur:
                image = _decode(frame)
                keep = alert.xyxy if is_match else None  # an unconfirmed match is blurred like the rest
                _blur_snapshot(image, keep, alert.track_id, settings.exports, tools, result)
                frame = _encode(image, settings.alerts.jpeg_quality)
            pictures["frame.jpg"] = frame
        elif alert.snapshot_path:
            result.missing.append("frame.jpg")
        body = info.as_dict()
        body.pop("crop_path", None)
        body.pop("snapshot_path", None)
        details = {"reason": reason, "blur": blur, "treated_as_match": is_match, "files": sorted(pictures),
                   "missing": result.missing, "faces_blurred": result.faces_blurred,
                   "heads_blurred": result.heads_blurred}
        result.audit_id = audit.record(engine, actor, "export.alert", f"alert:{alert_id}", details)
        manifest = {"alert": body, "export": _stamp(actor, result, details), "files": _hashes(pictures)}
        result.files = _write_zip(out, "alert.json", manifest, pictures)
        return result


    def search(self, page: SearchPage, query: dict[str, Any], out: Path | IO[bytes], blur: bool | None = None, *,
               actor: str, reason: str) -> ExportResult:
        """Write ``results.json`` and ``thumbnails/<id>.jpg`` (non-matches blurred) for one page of results."""
        _require(actor, reason)
        engine, settings, tools = self.engine, self.settings, self.tools
        blur = settings.exports.blur_faces if blur is None else blur
        result = ExportResult()
        matches = _matching(engine, page.results)
        pictures: dict[str, bytes] = {}
        rows = []
        for found in page.results:
            row = found.as_dict()
            row.pop("thumbnail_path", None)
            name = f"thumbnails/{found.id:08d}.jpg"
            data = _read(settings, found.thumbnail_path)
            if data is not None:
                if blur and found.id not in matches:
                    image = _decode(data)
                    _blur_thumbnail(image, found.label, settings.exports, tools, result)
                    data = _encode(image, settings.alerts.jpeg_quality)
                pictures[name] = data
            elif found.thumbnail_path:
                result.missing.append(name)
            rows.append({**row, "thumbnail": name if data is not None else None,
                         "watchlist_match": found.id in matches})
        details = {"reason": reason, "blur": blur, "query": query, "results": len(rows),
                   "search_audit_id": page.audit_id,
                   "missing": len(result.missing), "faces_blurred": result.faces_blurred,
                   "heads_blurred": result.heads_blurred}
        result.audit_id = audit.record(engine, actor, "export.search", "sightings", details)
        manifest = {"query": query, "total": page.total, "limit": page.limit, "offset": page.offset,
                    "notes": list(page.notes), "results": rows, "export": _stamp(actor, result, details),
                    "files": _hashes(pictures)}
        result.files = _write_zip(out, "results.json", manifest, pictures)
        return result


def _blur_snapshot(image: np.ndarray, match: tuple[float, ...] | None, track_id: int, cfg: ExportsConfig,
                   tools: ExportTools, result: ExportResult) -> None:
    """People from the detector (the match is the alert's box) plus faces anywhere: all but the match blurred."""
    detections = tools.detector.detect([image])[0]
    confident = np.asarray(detections.data.get("confident", np.ones(len(detections), bool)), bool)
    people = [_box(b) for b, c, ok in zip(detections.xyxy, np.asarray(detections.class_id), confident, strict=True)
              if c == 0 and ok]
    boxes: list[Box] = []
    ids: list[int] = []
    if match is not None:
        mine = _box(match)
        overlaps = [iou(mine, b) for b in people]
        if overlaps and max(overlaps) >= 0.5:  # the detector's box of the match itself
            people.pop(int(np.argmax(overlaps)))
        boxes, ids = [mine], [track_id]
    boxes += people
    ids += [-1] * len(people)
    report = blur_non_matches(image, boxes, ids, {track_id} if match is not None else set(), cfg,
                              tools.faces, whole_frame=True)
    result.faces_blurred += len(report.faces)
    result.heads_blurred += len(report.heads)


def _blur_thumbnail(image: np.ndarray, label: str, cfg: ExportsConfig, tools: ExportTools,
                    result: ExportResult) -> None:
    """Faces are looked for everywhere (a second person may stand in a crop); a person crop with no face
    found gets its head region blurred."""
    h, w = image.shape[:2]
    person = label == "person"
    report = blur_non_matches(image, [(0.0, 0.0, float(w), float(h))] if person else [], [-1] if person else [],
                              set(), cfg, tools.faces, whole_frame=True)
    result.faces_blurred += len(report.faces)
    result.heads_blurred += len(report.heads)


def _matching(engine: Engine, results: list[SearchResult]) -> set[int]:
    """Result ids that are confirmed matches: a confirmed alert's own crop, or a sighting its track is."""
    confirmed = [str(s) for s in CONFIRMED]
    out = {r.id for r in results if r.match == "alert" and r.attributes.get("state") in confirmed}
    tracks = {(r.camera, r.track_id) for r in results if r.match != "alert"}
    if not tracks:
        return out
    hits = [(a.camera, a.track_id, _utc(a.at)) for a in confirmed_face_alerts(engine, list(tracks), confirmed)]
    for r in results:
        first, last = _utc(r.first_seen) - _ALERT_SLACK, _utc(r.last_seen) + _ALERT_SLACK
        if r.match != "alert" and any(c == r.camera and t == r.track_id and first <= at <= last for c, t, at in hits):
            out.add(r.id)
    return out


def _read(settings: Settings, stored: str | None) -> bytes | None:
    """A stored picture's bytes, only from inside the data directory (paths come from the database)."""
    if not stored:
        return None
    path = Path(stored).resolve()
    roots = [settings.home.resolve()]
    if settings.search.thumbnails_dir is not None:
        roots.append(settings.search.thumbnails_dir.resolve())
    if not any(path.is_relative_to(root) for root in roots) or not path.is_file():
        return None
    return path.read_bytes()


def _decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError("a stored picture is not a readable image; it cannot be exported blurred")
    return image


def _encode(image: np.ndarray, jpeg_quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise InputError("JPEG encoding of an exported picture failed")
    return buf.tobytes()


def _write_zip(out: Path | IO[bytes], manifest_name: str, manifest: dict[str, Any],
               pictures: dict[str, bytes]) -> list[str]:
    if isinstance(out, Path):
        out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(manifest_name, json.dumps(manifest, indent=2, ensure_ascii=False, default=str))
        for name, data in pictures.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)  # JPEGs do not deflate
    return [manifest_name, *pictures]


def _stamp(actor: str, result: ExportResult, details: dict[str, Any]) -> dict[str, Any]:
    return {"by": actor, "at": datetime.now(UTC).isoformat(), "watchnet": __version__,
            "audit_id": result.audit_id, **details}


def _hashes(pictures: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in pictures.items()}


def _require(actor: str, reason: str) -> None:
    if not actor.strip() or len(reason.strip()) < 3:
        raise InputError("every export is audited: give who exports (actor) and why (a reason of 3+ characters)")


def _box(values: Any) -> Box:
    return float(values[0]), float(values[1]), float(values[2]), float(values[3])


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
