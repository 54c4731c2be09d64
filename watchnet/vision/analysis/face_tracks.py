"""Faces per track: look for each person track's face now and then, match the track, alert once.

Why per track: one person walking past a camera gives dozens of faces of very different quality. The
analyzer samples a track's face every ``watchlist.sample_every``-th frame the detector saw it (never on
carried boxes, which are guesses), in the upper part of its box (``faces.region_top``), keeps only faces
that pass the quality gate, and lets the track vote (``watchnet.core.matching``), its faces one by one
and, from ``faces.template_min_faces`` faces on, its quality-weighted template: one alert per (track,
subject), however long the person stays.

Privacy: faces of people who match no one stay anonymous and in memory. The ``keep_faces`` best faces of
a live track (crop + embedding) are held only to give a later alert its best evidence, and are dropped
when the track ends; nothing about them is written anywhere. Only a match writes: the alert's face crop
and frame snapshot (under ``settings.home / "alerts"``) and the embeddings of the faces that voted (so a
dismissal can make them negative examples). This holds in both identity modes; ``keep-embeddings`` is
for the search index, which keeps its own per-track vectors.

Why faces are matched to tracks by position: the face detector runs on all sampled tracks' regions in
one batch and returns faces in frame coordinates; a face belongs to the smallest person box whose upper
region holds the face's centre (the nearest person when boxes overlap), and each track gets at most one
face per frame (its best).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import cv2
import numpy as np
import supervision as sv

from watchnet.core.config import CameraConfig, Settings
from watchnet.core.matching import Decision, MatchPolicy, SubjectScores, TrackVote, counted
from watchnet.core.records import CLASS_ID, Alert, Face, Frame, Track
from watchnet.vision.analysis.faces import FaceAnalyzer

log = logging.getLogger("watchnet.faces.tracks")
Box = tuple[float, float, float, float]
_DUPLICATE = 0.98  # cosine from which a later face of an alerted track adds nothing as evidence


class Gallery(Protocol):
    """What the analyzer needs from the watchlist index (``watchnet.store.vectors.GalleryIndex``)."""

    def __len__(self) -> int: ...

    def refresh(self, force: bool = False) -> bool: ...

    def compare(self, embeddings: np.ndarray, at: float | None = None) -> list[SubjectScores]: ...

    def subject(self, subject_id: int) -> Any: ...


class AlertRaiser(Protocol):
    """What the analyzer needs from ``watchnet.services.alerts.AlertManager``."""

    def raise_alert(
        self, alert: Alert, embeddings: np.ndarray | None = None, model: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Alert: ...

    def attach_faces(self, alert_id: int, embeddings: np.ndarray) -> bool: ...


@dataclass(slots=True)
class _KeptFace:
    quality: float
    frame_index: int
    xyxy: tuple[float, float, float, float]
    embedding: np.ndarray
    crop: np.ndarray
    votes: dict[int, float]


@dataclass(slots=True)
class _Evidence:
    """The faces of an alerted track that counted for the subject, near-duplicates left out, capped."""

    alert: Alert
    vectors: list[np.ndarray]
    attached: int  # how many the alert record already holds

    def add(self, vector: np.ndarray, cap: int, duplicate: float) -> None:
        if len(self.vectors) >= cap or any(float(v @ vector) >= duplicate for v in self.vectors):
            return
        self.vectors.append(vector)


@dataclass(slots=True)
class _Binding:
    """A name on a track and the faces that earned it; it holds only while the track's faces support it."""

    name: str
    faces: list[np.ndarray]
    misses: int = 0  # sampled faces since the last one that counted for the subject


@dataclass(slots=True)
class _TrackFaces:
    vote: TrackVote
    seen: int = 0
    sampled: int = 0
    kept: list[_KeptFace] = field(default_factory=list)
    alerted: dict[int, _Evidence] = field(default_factory=dict)
    bound: dict[int, _Binding] = field(default_factory=dict)


class FaceTrackAnalyzer:
    """The ``TrackAnalyzer`` that matches person tracks against the watchlist. One per camera.

    Pass ``alert_manager`` to have alerts recorded (with the voting faces, for dismissal-as-negative)
    and delivered the moment they are decided; ``observe`` returns them either way, already recorded,
    so the runner's ``on_alert`` can display them (``raise_alert`` ignores an alert that has an id).
    """

    def __init__(
        self, settings: Settings, face_analyzer: FaceAnalyzer, watchlist_index: Gallery,
        alert_manager: AlertRaiser | None = None, camera: CameraConfig | None = None,
    ) -> None:
        self.settings = settings
        self.faces = face_analyzer
        self.index = watchlist_index
        self.alerts = alert_manager
        self.camera = camera
        self.policy = MatchPolicy.from_settings(settings)
        self.cfg = settings.watchlist
        self.alerts_dir = settings.home / "alerts"
        self._tracks: dict[int, _TrackFaces] = {}
        self._unbound: list[tuple[int, str]] = []
        self.faces_sampled = 0
        self.faces_embedded = 0

    # --- TrackAnalyzer ----------------------------------------------------------------------------
    def observe(self, frame: Frame, tracked: sv.Detections, tracks: dict[int, Track]) -> list[Alert]:
        """Sample the faces of this frame's detected person tracks and return the alerts they decide."""
        self.index.refresh()
        if not len(tracked) or not len(self.index) or tracked.tracker_id is None or tracked.class_id is None:
            return []
        carried = tracked.data.get("carried", np.zeros(len(tracked), bool))
        rows: list[int] = []
        for row in np.flatnonzero((tracked.class_id == CLASS_ID["person"]) & ~np.asarray(carried, bool)):
            state = self._state(int(tracked.tracker_id[row]))
            state.seen += 1
            if (state.seen - 1) % self.cfg.sample_every == 0:
                rows.append(int(row))
        if not rows:
            return []
        boxes = [_box(tracked.xyxy[i]) for i in rows]
        found = self.faces.detect(frame.image, regions=boxes)
        assigned = self._assign(found, boxes)
        pairs = [(rows[k], face) for k, face in assigned.items() if self.faces.passes_quality(face)]
        # A named track's face is looked at even below the quality gate: it can never earn a name, but a
        # face clearly not the one that earned it takes the name off (a stranger seen in profile, say).
        checks = [(rows[k], face) for k, face in assigned.items()
                  if not self.faces.passes_quality(face) and self._state(int(tracked.tracker_id[rows[k]])).bound]
        self.faces_sampled += len(assigned)
        if not pairs and not checks:
            return []
        self.faces.embed(frame.image, [face for _, face in pairs + checks])
        for i, face in checks:
            if face.embedding is not None:
                tid = int(tracked.tracker_id[i])
                self._check_names(tid, self._state(tid), face.embedding, None)
        pairs = [(i, f) for i, f in pairs if f.embedding is not None]
        self.faces_embedded += len(pairs)
        if not pairs:
            return []
        vectors = np.stack([f.embedding for _, f in pairs if f.embedding is not None])
        scores = self.index.compare(vectors, at=frame.timestamp)
        alerts: list[Alert] = []
        for (i, face), face_scores in zip(pairs, scores, strict=True):
            tid = int(tracked.tracker_id[i])
            state = self._state(tid)
            state.sampled += 1
            decisions = state.vote.add(face_scores)
            kept = self._keep(state, frame, face, face_scores)
            self._check_names(tid, state, kept.embedding, set(kept.votes))
            track_template = state.vote.extend_template(kept.embedding, face.quality)  # see matching.py
            if track_template is not None:
                decisions += state.vote.add_template(self.index.compare(track_template, at=frame.timestamp)[0])
            for subject in kept.votes.keys() & state.alerted.keys():
                state.alerted[subject].add(kept.embedding, self.cfg.evidence_faces, _DUPLICATE)
            for decision in decisions:
                alert = self._alert(frame, tid, _box(tracked.xyxy[i]), state, kept, decision)
                alerts.append(alert)
                faces = [k.embedding for k in state.kept if decision.subject_id in k.votes] or [kept.embedding]
                state.bound[decision.subject_id] = _Binding(alert.subject_name, faces)
        return alerts

    def take_unbound(self) -> list[tuple[int, str]]:
        """The (track id, name) pairs whose evidence stopped holding since the last call (see ``_check_names``)."""
        out, self._unbound = self._unbound, []
        return out

    def track_ended(self, track: Track) -> None:
        """Forget the track's faces; an alerted track first hands its later faces to its alert.

        Why: the faces that decided an alert may all come from one shot; if the operator dismisses it,
        every face of the track that matched should become a negative, or the same stranger, seen again
        from another angle, alerts again.
        """
        state = self._tracks.pop(track.track_id, None)
        if state is not None:
            self._unbound.extend((track.track_id, b.name) for b in state.bound.values())
        if state is None or self.alerts is None:
            return
        for evidence in state.alerted.values():
            if evidence.alert.id is not None and len(evidence.vectors) > evidence.attached:
                self.alerts.attach_faces(evidence.alert.id, np.stack(evidence.vectors))

    @property
    def live_tracks(self) -> int:
        """Tracks whose faces are held in memory right now."""
        return len(self._tracks)

    def held_embeddings(self) -> list[np.ndarray]:
        """Copies of the face embeddings held in memory now (for privacy audits: they must never reach disk)."""
        return [k.embedding.copy() for state in self._tracks.values() for k in state.kept]

    # --- internals ------------------------------------------------------------------------------
    def _check_names(self, tid: int, state: _TrackFaces, embedding: np.ndarray, votes: set[int] | None) -> None:
        """Drop a track's name at once when its faces no longer support it; the alert keeps its record.

        Why: a tracker can hand a box to someone else (a crossing, an occlusion, a view change it missed),
        and a name on the wrong person is the worst error a watchlist can make. A face that is not even
        ``faces.match_threshold`` close to any face that earned the name is someone else: unbound now.
        The same person, poorly seen, unbinds after ``watchlist.unbind_after`` sampled faces in a row that
        do not count for the subject. An unbound track can earn the name again by a fresh vote. ``votes``
        is None for a face below the quality gate: it only counts as a different face, never as a miss.
        """
        for subject, binding in list(state.bound.items()):
            if votes is not None and subject in votes:
                binding.misses = 0
                if len(binding.faces) < self.cfg.evidence_faces:
                    binding.faces.append(embedding)
                continue
            binding.misses += votes is not None
            same = max(float(v @ embedding) for v in binding.faces)
            if same < self.policy.threshold or binding.misses >= self.cfg.unbind_after:
                del state.bound[subject]
                state.vote.forget(subject)
                self._unbound.append((tid, binding.name))
                log.info("track %d on %s: name %r dropped (similarity to its matched faces %.3f, %d misses)",
                         tid, self.camera.name if self.camera else "?", binding.name, same, binding.misses)

    def _state(self, tid: int) -> _TrackFaces:
        state = self._tracks.get(tid)
        if state is None:
            state = self._tracks[tid] = _TrackFaces(TrackVote(self.policy))
        return state

    def _assign(self, faces: Sequence[Face], boxes: Sequence[Box]) -> dict[int, Face]:
        """Each region's best face: the face's centre must lie in the region's searched upper part."""
        top = self.settings.faces.region_top
        out: dict[int, Face] = {}
        for face in sorted(faces, key=lambda f: -f.quality):
            cx, cy = (face.xyxy[0] + face.xyxy[2]) / 2, (face.xyxy[1] + face.xyxy[3]) / 2
            holders = [
                k for k, (x1, y1, x2, y2) in enumerate(boxes)
                if x1 <= cx <= x2 and y1 <= cy <= y1 + top * (y2 - y1) and k not in out
            ]
            if holders:
                k = min(holders, key=lambda j: (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1]))
                out[k] = face
        return out

    def _keep(self, state: _TrackFaces, frame: Frame, face: Face, scores: SubjectScores) -> _KeptFace:
        """Hold the face if it is among the track's ``keep_faces`` best; returns it in any case."""
        assert face.embedding is not None
        mask = counted(scores, self.policy)
        votes = {int(s): float(r) for s, r in zip(scores.subject_ids[mask], scores.reference[mask], strict=True)}
        crop = face_crop(frame.image, face.xyxy, self.settings.alerts.crop_margin)
        kept = _KeptFace(face.quality, frame.index, face.xyxy, face.embedding, crop, votes)
        state.kept.append(kept)
        state.kept.sort(key=lambda k: -k.quality)
        del state.kept[self.cfg.keep_faces :]
        return kept

    def _alert(
        self, frame: Frame, tid: int, box: Box, state: _TrackFaces, current: _KeptFace,
        decision: Decision,
    ) -> Alert:
        subject = self.index.subject(decision.subject_id)
        name = getattr(subject, "name", f"subject {decision.subject_id}")
        # a decision by the track's template may have no single face that counted: its kept faces are the evidence
        voters = [k for k in state.kept if decision.subject_id in k.votes] or list(state.kept)
        if current not in voters and decision.subject_id in current.votes:
            voters.append(current)
        best = max(voters, key=lambda k: k.quality) if voters else current
        camera = self.camera or next((c for c in self.settings.cameras if c.name == frame.camera), None)
        crop_path, snapshot_path = self._write_evidence(frame, tid, decision.subject_id, best, box)
        alert = Alert(
            subject_id=decision.subject_id, subject_name=name, kind="face", score=decision.score,
            camera=frame.camera, track_id=tid, timestamp=frame.timestamp, frame_index=frame.index,
            xyxy=box, crop_path=crop_path, snapshot_path=snapshot_path,
            lat=camera.lat if camera else None, lon=camera.lon if camera else None,
        )
        if self.alerts is not None:
            details = {
                "votes": decision.votes, "single_face": decision.single, "threshold": self.policy.threshold,
                "faces_sampled": state.sampled, "face_box": [round(v, 1) for v in best.xyxy],
                "face_frame_index": best.frame_index, "face_quality": round(best.quality, 3),
            }
            vectors = [k.embedding for k in voters]
            self.alerts.raise_alert(alert, embeddings=np.stack(vectors) if vectors else None,
                                    model=self.settings.faces.embedder, details=details)
            state.alerted[decision.subject_id] = _Evidence(alert, vectors, len(vectors))
        return alert

    def _write_evidence(
        self, frame: Frame, tid: int, subject_id: int, face: _KeptFace, box: Box,
    ) -> tuple[str | None, str | None]:
        day = datetime.fromtimestamp(frame.timestamp, UTC).strftime("%Y-%m-%d")
        folder = self.alerts_dir / day / frame.camera
        stem = f"{frame.index:08d}-t{tid}-s{subject_id}"
        quality = [cv2.IMWRITE_JPEG_QUALITY, self.settings.alerts.jpeg_quality]
        snapshot = frame.image.copy()
        x1, y1, x2, y2 = (round(v) for v in box)
        cv2.rectangle(snapshot, (x1, y1), (x2, y2), (0, 0, 255), 2)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.error("cannot write alert evidence under %s: %s", folder, exc)
            return None, None
        paths: list[str | None] = []
        for path, image in ((folder / f"{stem}-face.jpg", face.crop), (folder / f"{stem}-frame.jpg", snapshot)):
            paths.append(str(path) if image.size and cv2.imwrite(str(path), image, quality) else None)
        return paths[0], paths[1]


def _box(row: np.ndarray) -> Box:
    return float(row[0]), float(row[1]), float(row[2]), float(row[3])


def face_crop(image: np.ndarray, box: Sequence[float], margin: float) -> np.ndarray:
    """The face box grown by ``margin`` of its size on every side, clipped to the image (a copy)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    h, w = image.shape[:2]
    return image[int(max(0, y1 - my)) : int(min(h, y2 + my)), int(max(0, x1 - mx)) : int(min(w, x2 + mx))].copy()
