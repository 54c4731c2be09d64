"""The watchlist repository: subjects (people and plates), their reference photos and negative examples.

Every statement on ``subjects``, ``subject_photos``, ``subject_negatives`` and ``watchlist_state`` lives
here. The watchlist service (``watchnet.services.watchlist``) owns the rules (one usable face per photo,
audit, files on disk) and decides the transaction: writers take the ``Connection`` of a
``watchnet.store.db.write_transaction`` so that a subject, its photos and the version bump commit
together. Readers take the ``Engine`` and return frozen records (``SubjectInfo``, ``Photo``), never
embeddings: the gallery (``watchnet.store.vectors.GalleryIndex``) is the only reader of those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from watchnet.store.schema_watchlist import Subject, SubjectNegative, SubjectPhoto, WatchlistState
from watchnet.store.vectors import to_bytes

_subjects = cast(sa.Table, Subject.__table__)
_photos = cast(sa.Table, SubjectPhoto.__table__)
_negatives = cast(sa.Table, SubjectNegative.__table__)
_state = cast(sa.Table, WatchlistState.__table__)


@dataclass(frozen=True, slots=True)
class Photo:
    """A stored reference photo of a subject."""

    id: int
    path: str
    crop_path: str
    quality: float
    model: str
    added_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SubjectInfo:
    """A subject as the API, CLI and dashboard show it (never its embeddings)."""

    id: int
    kind: str
    name: str
    reason: str
    case_ref: str
    enrolled_by: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    active: bool
    photos: list[Photo] = field(default_factory=list)
    negatives: int = 0

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= datetime.now(UTC)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (datetimes as ISO 8601)."""
        iso = _iso
        return {
            "id": self.id, "kind": self.kind, "name": self.name, "reason": self.reason, "case": self.case_ref,
            "enrolled_by": self.enrolled_by, "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "expires_at": iso(self.expires_at), "active": self.active, "expired": self.expired,
            "photos": [{"id": p.id, "path": p.path, "crop": p.crop_path, "quality": round(p.quality, 3),
                        "model": p.model, "added_by": p.added_by} for p in self.photos],
            "negatives": self.negatives,
        }


@dataclass(frozen=True, slots=True)
class PhotoSource:
    """Where a stored photo's face can be found again (``Watchlist.reembed``)."""

    id: int
    subject_id: int
    path: str
    crop_path: str
    box: list[float] | None


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


# --- writes (inside the caller's write transaction) ---------------------------------------------
def bump_version(conn: Connection) -> None:
    """Tell running matchers the watchlist changed (call inside the change's transaction)."""
    conn.execute(_state.update().where(_state.c.id == 1).values(version=_state.c.version + 1))


def insert_subject(
    conn: Connection, *, kind: str, name: str, reason: str, case_ref: str, enrolled_by: str,
    expires_at: datetime | None, now: datetime,
) -> int:
    """A new active subject; returns its id."""
    return int(conn.execute(
        _subjects.insert().values(
            kind=kind, name=name, reason=reason, case_ref=case_ref, enrolled_by=enrolled_by, created_at=now,
            updated_at=now, expires_at=expires_at, active=True,
        ).returning(_subjects.c.id)
    ).scalar_one())


def update_subject(conn: Connection, subject_id: int, **values: Any) -> None:
    """Set the given columns of a subject and its ``updated_at`` (no values: only ``updated_at``)."""
    conn.execute(_subjects.update().where(_subjects.c.id == subject_id).values(**values, updated_at=datetime.now(UTC)))


def delete_subject(conn: Connection, subject_id: int) -> None:
    """Delete a subject; its photos and negatives go with it (ON DELETE CASCADE)."""
    conn.execute(_subjects.delete().where(_subjects.c.id == subject_id))


def insert_photo(
    conn: Connection, subject_id: int, *, path: str, crop_path: str, sha256: str, box: list[float], quality: float,
    model: str, embedding: np.ndarray, added_by: str,
) -> None:
    """A reference photo of a subject, with the embedding of its face."""
    conn.execute(_photos.insert().values(
        subject_id=subject_id, path=path, crop_path=crop_path, sha256=sha256, box=box, quality=quality, model=model,
        dim=int(embedding.shape[0]), embedding=to_bytes(embedding), added_by=added_by, created_at=datetime.now(UTC),
    ))


def set_photo_embedding(conn: Connection, photo_id: int, *, model: str, embedding: np.ndarray, quality: float) -> None:
    """Replace a photo's embedding (after the embedder changed)."""
    conn.execute(_photos.update().where(_photos.c.id == photo_id).values(
        model=model, dim=int(embedding.shape[0]), embedding=to_bytes(embedding), quality=quality))


def insert_negatives(
    conn: Connection, subject_id: int, embeddings: np.ndarray, *, model: str, by: str, source: str,
) -> list[int]:
    """Store face embeddings as negative examples of a subject; the caller bumps the version."""
    vectors = np.atleast_2d(np.asarray(embeddings, np.float32))
    now = datetime.now(UTC)
    return [
        int(conn.execute(
            _negatives.insert().values(
                subject_id=subject_id, source=source[:64], model=model, dim=int(vectors.shape[1]),
                embedding=to_bytes(v), added_by=by, created_at=now,
            ).returning(_negatives.c.id)
        ).scalar_one())
        for v in vectors
    ]


# --- reads ----------------------------------------------------------------------------------------
def subject_ids(
    engine: Engine, *, kind: str | None = None, active: bool | None = None, include_expired: bool = True,
) -> list[int]:
    """Subject ids, newest first, optionally only one kind, only (in)active, or without the expired."""
    query = sa.select(_subjects.c.id).order_by(_subjects.c.id.desc())
    if kind is not None:
        query = query.where(_subjects.c.kind == kind)
    if active is not None:
        query = query.where(_subjects.c.active.is_(active))
    if not include_expired:
        now = datetime.now(UTC)
        query = query.where(sa.or_(_subjects.c.expires_at.is_(None), _subjects.c.expires_at > now))
    with engine.connect() as conn:
        return [int(i) for i in conn.execute(query).scalars()]


def load(engine: Engine, ids: Sequence[int]) -> list[SubjectInfo]:
    """The subjects ``ids`` (in that order; unknown ids left out) with their photos and negative counts."""
    if not ids:
        return []
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_subjects).where(_subjects.c.id.in_(ids))).mappings().all()
        photos = conn.execute(
            sa.select(_photos.c.id, _photos.c.subject_id, _photos.c.path, _photos.c.crop_path, _photos.c.quality,
                      _photos.c.model, _photos.c.added_by, _photos.c.created_at)
            .where(_photos.c.subject_id.in_(ids)).order_by(_photos.c.id)
        ).all()
        negatives = {int(sid): int(n) for sid, n in conn.execute(
            sa.select(_negatives.c.subject_id, sa.func.count())
            .where(_negatives.c.subject_id.in_(ids)).group_by(_negatives.c.subject_id)
        )}
    by_subject: dict[int, list[Photo]] = {}
    for p in photos:
        by_subject.setdefault(int(p.subject_id), []).append(
            Photo(int(p.id), p.path, p.crop_path, float(p.quality), p.model, p.added_by, p.created_at)
        )
    order = {sid: i for i, sid in enumerate(ids)}
    out = [
        SubjectInfo(
            id=int(r["id"]), kind=r["kind"], name=r["name"], reason=r["reason"], case_ref=r["case_ref"],
            enrolled_by=r["enrolled_by"], created_at=r["created_at"], updated_at=r["updated_at"],
            expires_at=r["expires_at"], active=bool(r["active"]), photos=by_subject.get(int(r["id"]), []),
            negatives=int(negatives.get(int(r["id"]), 0)),
        )
        for r in rows
    ]
    return sorted(out, key=lambda s: order[s.id])


def photos_to_embed(engine: Engine, *, other_than: str | None) -> list[PhotoSource]:
    """Stored photos whose embedding was made by another model than ``other_than`` (None: all photos)."""
    query = sa.select(_photos.c.id, _photos.c.subject_id, _photos.c.path, _photos.c.crop_path, _photos.c.box)
    if other_than is not None:
        query = query.where(_photos.c.model != other_than)
    with engine.connect() as conn:
        return [PhotoSource(int(r.id), int(r.subject_id), r.path, r.crop_path, r.box) for r in conn.execute(query)]


def photo_crop_path(engine: Engine, photo_id: int) -> str | None:
    """Where a reference photo's face crop is stored (None: no such photo)."""
    with engine.connect() as conn:
        found = conn.execute(sa.select(_photos.c.crop_path).where(_photos.c.id == photo_id)).scalar_one_or_none()
    return None if found is None else str(found)
