"""The watchlist's Python API: enrol, list, update and remove subjects; their photos and negative examples.

Every change is one database transaction that also bumps ``watchlist_state.version`` (so running
matchers reload their gallery), is written to the hash-chained audit log (``watchnet.store.audit``)
with who did it, and is announced to ``on_change`` listeners (e.g. an in-process ``GalleryIndex``).

Enrolment keeps a copy of each photo and of its face crop under ``settings.home / "watchlist"``: an
operator must be able to see what a match was made against, and the embedding can be recomputed from
them when the embedder changes. A photo must hold exactly one usable face, so nobody else's face ever
becomes a reference by accident; with several faces the operator picks one (``face_index``, largest
first). Only enrolled subjects are stored: nothing here ever keeps a face of an unenrolled person,
except negative examples an operator explicitly adds to a subject (they carry no identity).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from watchnet.core.config import Settings
from watchnet.core.errors import InputError
from watchnet.core.matching import template
from watchnet.core.plate_text import clean_plate_text
from watchnet.core.records import Face
from watchnet.store import audit
from watchnet.store import subjects as repo
from watchnet.store.alerts import AlertStore
from watchnet.store.db import Connection, Engine, write_transaction
from watchnet.store.schema_watchlist import SUBJECT_KINDS
from watchnet.store.subjects import Photo, SubjectInfo, bump_version
from watchnet.store.vectors import from_bytes
from watchnet.vision.analysis.face_tracks import face_crop
from watchnet.vision.analysis.faces import FaceAnalyzer
from watchnet.vision.photos import PhotoBytes, PhotoLimits, decode_photo, read_photo_file

__all__ = [
    "CheckedPhoto", "Photo", "PhotoBytes", "PhotoInput", "SubjectInfo", "Watchlist", "read_photo_file",
]
#: A photo handed to the watchlist: its bytes, or bytes with the name its sender knows it by (for messages).
PhotoInput = PhotoBytes | bytes

#: ``on_change(action, subject_id)``: called after every committed change.
ChangeHook = Callable[[str, int], None]
#: ``audit(engine, actor, action, target, details)``: the audit log's ``record`` by default.
AuditHook = Callable[[Engine, str, str, str, dict[str, Any]], object]
_KEEP = object()  # "leave this field as it is" in ``update``


@dataclass(frozen=True, slots=True)
class CheckedPhoto:
    """A photo checked and embedded, not stored yet (what ``check_photo`` returns)."""

    suffix: str  # the file suffix it is stored under (".jpg", ".png", ...)
    data: bytes
    sha256: str
    face: Face
    crop: np.ndarray
    embedding: np.ndarray


class Watchlist:
    """Subjects, their reference photos and negative examples, stored in ``engine``.

    ``analyzer`` (a ``FaceAnalyzer``) is created on first need: listing and removing need no models.
    """

    def __init__(
        self, settings: Settings, engine: Engine, analyzer: FaceAnalyzer | None = None,
        on_change: ChangeHook | None = None, audit_log: AuditHook | None = audit.record,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self._analyzer = analyzer
        self._listeners: list[ChangeHook] = [on_change] if on_change else []
        self._audit = audit_log
        self.root = settings.home / "watchlist"
        #: the one set of limits every enrolment photo is checked against (CLI, API, scripts alike)
        self.limits = PhotoLimits(settings.watchlist.max_photo_bytes, settings.watchlist.max_photo_pixels)

    @property
    def analyzer(self) -> FaceAnalyzer:
        if self._analyzer is None:
            self._analyzer = FaceAnalyzer(self.settings)
        return self._analyzer

    @property
    def model(self) -> str:
        """The embedder whose vectors new photos get (``settings.faces.embedder``)."""
        return self.settings.faces.embedder

    def subscribe(self, hook: ChangeHook) -> None:
        """Call ``hook(action, subject_id)`` after every committed change."""
        self._listeners.append(hook)

    # --- subjects -------------------------------------------------------------------------------
    def enrol(
        self, name: str, photos: Sequence[PhotoInput], *, by: str, reason: str = "", case_ref: str = "",
        expires_at: datetime | None = None, face_index: int | None = None, kind: str = "person",
    ) -> SubjectInfo:
        """Add a subject from one or a few photos (each with exactly one usable face, or ``face_index``)."""
        name, by = _required(name, "name"), _required(by, "by (who enrols)")
        if kind not in SUBJECT_KINDS:
            raise InputError(f"unknown subject kind {kind!r}; known: {', '.join(SUBJECT_KINDS)}")
        if not photos:
            raise InputError("give at least one photo of the person")
        expires_at = _future(expires_at)
        checked = [self.check_photo(p, face_index) for p in photos]
        now = datetime.now(UTC)
        written: list[Path] = []
        try:
            with write_transaction(self.engine) as conn:
                subject_id = repo.insert_subject(conn, kind=kind, name=name, reason=reason, case_ref=case_ref,
                                                 enrolled_by=by, expires_at=expires_at, now=now)
                for item in checked:
                    written += self._store_photo(conn, subject_id, item, by)
                bump_version(conn)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        self._changed("watchlist.enrol", subject_id, by, {
            "name": name, "kind": kind, "reason": reason, "case": case_ref,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "photos": [c.sha256 for c in checked],
        })
        return self.get(subject_id)

    def get(self, subject_id: int) -> SubjectInfo:
        """One subject with its photos, or InputError if there is no such subject."""
        found = self._load([subject_id])
        if not found:
            raise InputError(f"no watchlist subject with id {subject_id}; list the subjects to find its id")
        return found[0]

    def add_plate(
        self, plate: str, *, by: str, reason: str = "", case_ref: str = "", expires_at: datetime | None = None,
    ) -> SubjectInfo:
        """Put a licence plate on the hotlist: a subject of kind "plate" whose name is the plate text.

        The text is normalised like every plate read (upper case, no spaces or dashes), so "ab-123 cd"
        and a camera's read "AB123CD" meet; matching tolerates ``search.hotlist_max_edits`` edits.
        """
        text, by = clean_plate_text(_required(plate, "plate")), _required(by, "by (who enrols)")
        if len(text) < 3:
            raise InputError(f"{plate!r} is not a plate: give at least 3 letters or digits")
        expires_at = _future(expires_at)
        now = datetime.now(UTC)
        with write_transaction(self.engine) as conn:
            subject_id = repo.insert_subject(conn, kind="plate", name=text, reason=reason, case_ref=case_ref,
                                             enrolled_by=by, expires_at=expires_at, now=now)
            bump_version(conn)
        self._changed("watchlist.add_plate", subject_id, by, {
            "plate": text, "reason": reason, "case": case_ref, "expires_at": _iso(expires_at)})
        return self.get(subject_id)

    def list_subjects(
        self, *, kind: str | None = None, active: bool | None = None, include_expired: bool = True,
    ) -> list[SubjectInfo]:
        """Subjects, newest first, optionally only one kind, only (in)active, or without the expired."""
        return repo.load(self.engine, repo.subject_ids(
            self.engine, kind=kind, active=active, include_expired=include_expired))

    def update(
        self, subject_id: int, *, by: str, name: Any = _KEEP, reason: Any = _KEEP, case_ref: Any = _KEEP,
        expires_at: Any = _KEEP, active: Any = _KEEP,
    ) -> SubjectInfo:
        """Change a subject's fields; pass ``expires_at=None`` to remove the expiry. Unnamed fields stay."""
        by = _required(by, "by (who changes it)")
        before = self.get(subject_id)
        values: dict[str, Any] = {}
        if name is not _KEEP:
            values["name"] = _required(name, "name")
        if reason is not _KEEP:
            values["reason"] = str(reason)
        if case_ref is not _KEEP:
            values["case_ref"] = str(case_ref)
        if expires_at is not _KEEP:
            values["expires_at"] = _future(expires_at)
        if active is not _KEEP:
            values["active"] = bool(active)
        if not values:
            raise InputError("nothing to update; give at least one field to change")
        with write_transaction(self.engine) as conn:
            repo.update_subject(conn, subject_id, **values)
            bump_version(conn)
        changes = {
            k: {"from": _jsonable(getattr(before, k)), "to": _jsonable(v)} for k, v in values.items()
        }
        self._changed("watchlist.update", subject_id, by, {"name": before.name, "changes": changes})
        return self.get(subject_id)

    def remove(self, subject_id: int, *, by: str) -> None:
        """Delete a subject, its photos (files too) and negatives; its past alerts keep the name."""
        by = _required(by, "by (who removes it)")
        before = self.get(subject_id)
        with write_transaction(self.engine) as conn:
            repo.delete_subject(conn, subject_id)
            bump_version(conn)
        shutil.rmtree(self.root / str(subject_id), ignore_errors=True)
        self._changed("watchlist.remove", subject_id, by, {"name": before.name, "photos": len(before.photos)})

    # --- photos and negatives -------------------------------------------------------------------
    def photo_crop_path(self, photo_id: int) -> str | None:
        """Where a reference photo's face crop is stored (None: no such photo)."""
        return repo.photo_crop_path(self.engine, photo_id)

    def add_photo(self, subject_id: int, photo: PhotoInput, *, by: str, face_index: int | None = None) -> SubjectInfo:
        """Add one more reference photo to a subject."""
        by = _required(by, "by (who adds the photo)")
        self.get(subject_id)
        item = self.check_photo(photo, face_index)
        written: list[Path] = []
        try:
            with write_transaction(self.engine) as conn:
                written = self._store_photo(conn, subject_id, item, by)
                repo.update_subject(conn, subject_id)
                bump_version(conn)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        self._changed("watchlist.add_photo", subject_id, by, {"photo": item.sha256})
        return self.get(subject_id)

    def add_negative_photo(
        self, subject_id: int, photo: PhotoInput, *, by: str, face_index: int | None = None,
    ) -> int:
        """Record that the face in a photo is NOT this subject; returns the negative's id.

        Only the embedding is kept (no copy of the photo): the negative's only job is to veto matches.
        """
        by = _required(by, "by (who adds the negative)")
        self.get(subject_id)
        item = self.check_photo(photo, face_index)
        return self.add_negatives(subject_id, item.embedding[None, :], by=by, source=f"photo:{item.sha256[:16]}")[0]

    def add_negatives(
        self, subject_id: int, embeddings: np.ndarray, *, by: str, source: str, model: str | None = None,
    ) -> list[int]:
        """Store face embeddings as negative examples of a subject (they veto look-alike matches)."""
        with write_transaction(self.engine) as conn:
            ids = repo.insert_negatives(conn, subject_id, embeddings, model=model or self.model, by=by, source=source)
            bump_version(conn)
        self._changed("watchlist.negative", subject_id, by, {"source": source, "count": len(ids)})
        return ids

    def add_alert_faces(self, alert_id: int, *, by: str, subject_id: int | None = None) -> SubjectInfo:
        """Add the faces of a confirmed alert's track to its subject, as one more reference.

        Why: the people watching saw the subject as the cameras see them (angle, light, today's look),
        which is exactly what enrolment photos lack; once humans confirmed the match, those faces are
        the best references there are. They become one reference: the template of the track's faces
        (quality-weighted mean, ``watchnet.core.matching.template``), with the alert's face crop kept
        as its photo, so the reference can be shown, and recomputed when the embedder changes.
        Only a ``confirmed`` alert qualifies (a ``new`` one is one person's opinion; closed and
        dismissed ones no longer hold faces). With ``subject_id``, the alert must be about that subject.
        Audited as ``watchlist.add_alert_faces``.
        """
        by = _required(by, "by (who adds the faces)")
        found = AlertStore(self.engine).get(alert_id)
        if found is None:
            raise InputError(f"no alert with id {alert_id}; list the alerts to find its id")
        row = found[0]
        if row.state != "confirmed":
            raise InputError(f"alert {alert_id} is {row.state}; only a confirmed alert's faces can be added")
        if row.kind != "face" or row.subject_id is None or row.embeddings is None:
            raise InputError(f"alert {alert_id} holds no faces of a current subject; nothing to add")
        if subject_id is not None and int(row.subject_id) != subject_id:
            raise InputError(f"alert {alert_id} is about subject {row.subject_id}, not {subject_id}")
        subject_id = int(row.subject_id)
        self.get(subject_id)
        if row.model != self.model:
            raise InputError(
                f"alert {alert_id}'s faces were embedded by {row.model!r}, the watchlist now uses {self.model!r}; "
                "they cannot be mixed: add a photo instead"
            )
        crop_file = Path(row.crop_path or "")
        if not row.crop_path or not crop_file.is_file():
            raise InputError(f"alert {alert_id}'s face crop is gone (retention?); add a photo instead")
        details = dict(row.details or {})
        dim = int(details.get("embedding_dim") or self.analyzer.embedder.dim)
        vectors = from_bytes(row.embeddings, dim)
        data = crop_file.read_bytes()
        crop = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if crop is None:
            raise InputError(f"alert {alert_id}'s face crop cannot be read; add a photo instead")
        h, w = crop.shape[:2]
        face = Face(xyxy=(0.0, 0.0, float(w), float(h)), score=1.0, landmarks=None,
                    quality=float(details.get("face_quality", 0.5)))
        item = CheckedPhoto(".jpg", data, hashlib.sha256(data).hexdigest(), face, crop, template(vectors))
        written: list[Path] = []
        try:
            with write_transaction(self.engine) as conn:
                written = self._store_photo(conn, subject_id, item, by, suffix=".jpg")
                repo.update_subject(conn, subject_id)
                bump_version(conn)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        self._changed("watchlist.add_alert_faces", subject_id, by, {
            "alert": alert_id, "faces": len(vectors), "photo": item.sha256, "model": self.model})
        return self.get(subject_id)

    def reembed(self, *, by: str = "system", force: bool = False) -> int:
        """Recompute the stored embeddings of photos made by another embedder (all with ``force``).

        Why: vectors of different embedders cannot be compared, and the photos are kept precisely so that
        changing ``faces.embedder`` (or the fusion weights) does not mean enrolling everyone again. The
        face is found again in the kept photo (the detection nearest the stored box), else in the kept
        face crop. Photos whose face cannot be found keep their old vector (unused by the new embedder)
        and are named in the audit record. Returns how many photos were re-embedded.
        """
        rows = repo.photos_to_embed(self.engine, other_than=None if force else self.model)
        if not rows:
            return 0
        done, failed = 0, []
        for r in rows:
            vector, quality = self._embed_again(r.path, r.crop_path, r.box)
            if vector is None:
                failed.append(r.id)
                continue
            with write_transaction(self.engine) as conn:
                repo.set_photo_embedding(conn, r.id, model=self.model, embedding=vector, quality=quality)
                bump_version(conn)
            done += 1
        if self._audit is not None:
            self._audit(self.engine, by, "watchlist.reembed", "watchlist",
                        {"model": self.model, "photos": done, "failed_photo_ids": failed})
        for hook in self._listeners:
            hook("watchlist.reembed", 0)
        return done

    def _embed_again(self, path: str, crop_path: str, box: Sequence[float] | None) -> tuple[np.ndarray | None, float]:
        for file, want in ((path, box), (crop_path, None)):
            data = np.fromfile(file, np.uint8) if file and Path(file).is_file() else np.zeros(0, np.uint8)
            image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            if image is None:
                continue
            faces = [f for f in self.analyzer.detect(image) if f.landmarks is not None]
            if not faces:
                continue
            if want is not None and len(want) == 4:
                face = max(faces, key=lambda f: _iou(f.xyxy, tuple(float(v) for v in want)))
                if _iou(face.xyxy, tuple(float(v) for v in want)) < 0.3:
                    continue
            else:
                face = max(faces, key=_area)
            self.analyzer.embed(image, [face])
            if face.embedding is not None:
                return face.embedding, float(face.quality)
        return None, 0.0

    # --- internals ------------------------------------------------------------------------------
    def check_photo(self, photo: PhotoInput, face_index: int | None = None) -> CheckedPhoto:
        """Check (``decode_photo``, in memory, with ``self.limits``), find the one face, gate and embed a photo
        as enrolment would, storing nothing.

        Raises InputError (a ``PhotoError`` for the file itself) with the reason a photo cannot be used
        (not an image, too large, no face, several faces, too small...).
        """
        if isinstance(photo, bytes):
            photo = PhotoBytes(photo)
        data, path = photo.data, photo.label
        image = decode_photo(data, self.limits, photo.name)
        cfg = self.settings.faces
        faces = sorted(self.analyzer.detect(image), key=lambda f: -_area(f))
        if not faces:
            raise InputError(f"no face found in {path}; use a photo where the face is clearly visible and frontal")
        usable = [f for f in faces if min(f.xyxy[2] - f.xyxy[0], f.xyxy[3] - f.xyxy[1]) >= cfg.min_face_px]
        if not usable:
            side = min(faces[0].xyxy[2] - faces[0].xyxy[0], faces[0].xyxy[3] - faces[0].xyxy[1])
            raise InputError(
                f"the face in {path} is only {side:.0f} px; use a photo where it is at least {cfg.min_face_px} px"
            )
        if face_index is None:
            if len(usable) > 1:
                raise InputError(
                    f"{path} contains {len(usable)} faces; crop it to the one person or choose which face to use "
                    f"(face index 0 = largest ... {len(usable) - 1} = smallest)"
                )
            face = usable[0]
        else:
            if not 0 <= face_index < len(usable):
                raise InputError(f"face index {face_index} is out of range: {path} has {len(usable)} face(s)")
            face = usable[face_index]
        if not self.analyzer.passes_quality(face):
            raise InputError(
                f"the face in {path} is too blurred, small or turned away (quality {face.quality:.2f} < "
                f"{cfg.min_quality}); use a sharper, frontal photo"
            )
        self.analyzer.embed(image, [face])
        if face.embedding is None:
            raise InputError(f"the face in {path} has no landmarks to align; use a clearer photo")
        crop = face_crop(image, face.xyxy, self.settings.alerts.crop_margin)
        return CheckedPhoto(photo.suffix, data, hashlib.sha256(data).hexdigest(), face, crop, face.embedding)

    def _store_photo(
        self, conn: Connection, subject_id: int, item: CheckedPhoto, by: str, suffix: str | None = None,
    ) -> list[Path]:
        folder = self.root / str(subject_id)
        folder.mkdir(parents=True, exist_ok=True)
        suffix = suffix or item.suffix
        photo = folder / f"{item.sha256[:16]}{suffix}"
        crop = folder / f"{item.sha256[:16]}_face.jpg"
        written = [photo, crop]
        photo.write_bytes(item.data)
        if not cv2.imwrite(str(crop), item.crop, [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise InputError(f"cannot write the face crop to {crop}; check that {folder} is writable")
        repo.insert_photo(
            conn, subject_id, path=str(photo), crop_path=str(crop), sha256=item.sha256,
            box=[round(float(v), 1) for v in item.face.xyxy], quality=float(item.face.quality), model=self.model,
            embedding=item.embedding, added_by=by,
        )
        return written

    def _load(self, ids: Sequence[int]) -> list[SubjectInfo]:
        return repo.load(self.engine, ids)

    def _changed(self, action: str, subject_id: int, by: str, details: dict[str, Any]) -> None:
        if self._audit is not None:
            self._audit(self.engine, by, action, f"subject:{subject_id}", details)
        for hook in self._listeners:
            hook(action, subject_id)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _area(face: Face) -> float:
    return (face.xyxy[2] - face.xyxy[0]) * (face.xyxy[3] - face.xyxy[1])


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _required(value: object, what: str) -> str:
    text = str(value or "").strip()
    if not text:
        raise InputError(f"{what} must not be empty")
    return text


def _future(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when <= datetime.now(UTC):
        raise InputError(f"the expiry {when.isoformat()} is in the past; give a future date")
    return when


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value
