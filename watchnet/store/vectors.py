"""Exact cosine search over the watchlist gallery, as one numpy matrix in memory.

Why exact and in memory: a watchlist holds hundreds to a few thousand subjects with a handful of photos
each; 10,000 x 128 float32 is 5 MB, and scoring a face against all of it is one matrix product
(~0.1 ms), far below the cost of finding and embedding the face. Exact search also means no recall lost
to an approximate index exactly where a miss matters most.

The path to more: ``VectorIndex`` is the only place that scores vectors. Past ~1M reference vectors,
swap its matrix for a FAISS ``IndexFlatIP`` (same exact inner-product semantics, SIMD + threads) or an
``IndexHNSWFlat`` (approximate), keeping ``max_per_owner``'s contract by searching the top-k rows and
grouping them by owner; or, on PostgreSQL, keep the vectors in a pgvector column and let
``ORDER BY embedding <=> :q`` do the top-k. Neither is needed at watchlist scale.

``GalleryIndex`` loads the active, unexpired subjects' reference embeddings (one quality-weighted
template per subject, ``watchnet.core.matching.template``) and negative examples of one embedder from
the store, and reloads when the watchlist changes: at once when told (``reload``),
or when ``refresh`` sees ``watchlist_state.version`` move (a change made by another process).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from watchnet.core.matching import SubjectScores, templates
from watchnet.store.schema_watchlist import Subject, SubjectNegative, SubjectPhoto, WatchlistState

_subjects = cast(sa.Table, Subject.__table__)
_photos = cast(sa.Table, SubjectPhoto.__table__)
_negatives = cast(sa.Table, SubjectNegative.__table__)
_state = cast(sa.Table, WatchlistState.__table__)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); zero rows stay zero."""
    v = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    scaled: np.ndarray = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    return scaled


def to_bytes(vector: np.ndarray) -> bytes:
    """An embedding as the little-endian float32 bytes the store keeps."""
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes, dim: int) -> np.ndarray:
    """Bytes from the store back to float32 rows of ``dim``."""
    return np.frombuffer(blob, dtype="<f4").astype(np.float32).reshape(-1, dim)


class VectorIndex:
    """Unit vectors with an owner id each; the best cosine per owner for a batch of queries.

    Rows are kept sorted by owner so the per-owner maximum is one ``np.maximum.reduceat``. Updates copy
    the matrix (cheap at watchlist scale) and swap it in, so readers never see a half-updated index.
    """

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim
        self._owners = np.zeros(0, np.int64)
        self._matrix = np.zeros((0, dim or 0), np.float32)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._owners)

    @property
    def owners(self) -> np.ndarray:
        """Distinct owner ids, ascending."""
        return np.unique(self._owners)

    def replace(self, owners: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Rebuild from scratch with one owner id per vector row."""
        ids = np.asarray(owners, dtype=np.int64).reshape(-1)
        rows = normalise(vectors) if len(ids) else np.zeros((0, self.dim or 0), np.float32)
        if len(ids) != len(rows):
            raise ValueError(f"{len(ids)} owners for {len(rows)} vectors")
        if len(rows):
            if self.dim is not None and rows.shape[1] != self.dim:
                raise ValueError(f"vectors have {rows.shape[1]} dimensions, the index {self.dim}")
            self.dim = rows.shape[1]
        order = np.argsort(ids, kind="stable")
        with self._lock:
            self._owners, self._matrix = ids[order], np.ascontiguousarray(rows[order])

    def add(self, owner: int, vectors: np.ndarray) -> None:
        """Add vectors for one owner."""
        rows = normalise(vectors)
        with self._lock:
            owners = np.concatenate([self._owners, np.full(len(rows), owner, np.int64)])
            matrix = rows if not len(self._owners) else np.concatenate([self._matrix, rows])
        self.replace(owners, matrix)

    def remove(self, owner: int) -> None:
        """Drop every vector of one owner."""
        with self._lock:
            keep = self._owners != owner
            owners, matrix = self._owners[keep], self._matrix[keep]
        self.replace(owners, matrix)

    def max_per_owner(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(owners (S,), scores (Q, S)): each query's best cosine over each owner's vectors."""
        owners, matrix = self._owners, self._matrix  # one consistent pair (swapped together)
        q = normalise(queries)
        if not len(owners):
            return np.zeros(0, np.int64), np.zeros((len(q), 0), np.float32)
        sims = q @ matrix.T
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        return owners[starts], np.maximum.reduceat(sims, starts, axis=1)

    def search(self, query: np.ndarray, k: int = 10) -> list[tuple[int, float]]:
        """The ``k`` owners closest to one query, best first, as (owner, cosine)."""
        owners, scores = self.max_per_owner(query)
        if not len(owners):
            return []
        row = scores[0]
        top = np.argsort(-row, kind="stable")[:k]
        return [(int(owners[i]), float(row[i])) for i in top]


@dataclass(frozen=True, slots=True)
class GallerySubject:
    """What the matcher needs to know about a subject besides its vectors."""

    id: int
    name: str
    expires_at: float | None  # epoch seconds


@dataclass(slots=True)
class _Snapshot:
    subjects: dict[int, GallerySubject] = field(default_factory=dict)
    references: VectorIndex = field(default_factory=VectorIndex)
    negatives: VectorIndex = field(default_factory=VectorIndex)
    version: int = -1


class GalleryIndex:
    """The active watchlist of one embedder (``model``) in memory; safe to share between camera threads."""

    def __init__(self, engine: Engine, model: str, reload_s: float = 2.0, kind: str = "person") -> None:
        self.engine = engine
        self.model = model
        self.kind = kind
        self.reload_s = reload_s
        self._snapshot = _Snapshot()
        self._checked = 0.0
        self._reload_lock = threading.Lock()
        self.reload()

    @property
    def version(self) -> int:
        """The ``watchlist_state.version`` the loaded gallery reflects."""
        return self._snapshot.version

    def __len__(self) -> int:
        return len(self._snapshot.subjects)

    def subject(self, subject_id: int) -> GallerySubject | None:
        return self._snapshot.subjects.get(subject_id)

    def reload(self) -> None:
        """Load every active subject of this kind with its references and negatives for ``model``."""
        with self._reload_lock, self.engine.connect() as conn:
            version = int(conn.execute(sa.select(_state.c.version).where(_state.c.id == 1)).scalar_one())
            rows = conn.execute(
                sa.select(_subjects.c.id, _subjects.c.name, _subjects.c.expires_at)
                .where(_subjects.c.kind == self.kind, _subjects.c.active.is_(True))
            ).all()
            subjects = {
                int(r.id): GallerySubject(int(r.id), r.name, r.expires_at.timestamp() if r.expires_at else None)
                for r in rows
            }
            refs = conn.execute(
                sa.select(_photos.c.subject_id, _photos.c.embedding, _photos.c.dim, _photos.c.quality)
                .where(_photos.c.model == self.model)
            ).all()
            negs = conn.execute(
                sa.select(_negatives.c.subject_id, _negatives.c.embedding, _negatives.c.dim)
                .where(_negatives.c.model == self.model)
            ).all()
        snapshot = _Snapshot(subjects=subjects, version=version)
        rows_of: tuple[tuple[VectorIndex, Sequence[Any]], ...] = (
            (snapshot.references, refs), (snapshot.negatives, negs),
        )
        for index, loaded in rows_of:
            found = [r for r in loaded if int(r.subject_id) in subjects]
            if found:
                vectors = np.concatenate([from_bytes(r.embedding, int(r.dim)) for r in found])
                counts = [len(r.embedding) // 4 // int(r.dim) for r in found]
                owners = np.repeat([int(r.subject_id) for r in found], counts)
                if index is snapshot.references:  # a subject is matched as one template of its photos
                    weights = np.repeat([float(r.quality) for r in found], counts)
                    owners, vectors = templates(owners, vectors, weights)
                index.replace(owners, vectors)
        self._snapshot = snapshot
        self._checked = time.monotonic()

    def refresh(self, force: bool = False) -> bool:
        """Reload if the watchlist changed (checked at most every ``reload_s``); True when it reloaded."""
        if not force and time.monotonic() - self._checked < self.reload_s:
            return False
        self._checked = time.monotonic()
        with self.engine.connect() as conn:
            version = int(conn.execute(sa.select(_state.c.version).where(_state.c.id == 1)).scalar_one())
        if version == self._snapshot.version:
            return False
        self.reload()
        return True

    def compare(self, embeddings: np.ndarray, at: float | None = None) -> list[SubjectScores]:
        """Per face: every subject's best reference and negative cosine; expired subjects are left out.

        ``at`` (epoch seconds, default now) is when the face was seen: a subject whose ``expires_at`` is
        at or before it never matches.
        """
        snap = self._snapshot
        queries = np.atleast_2d(np.asarray(embeddings, np.float32))
        owners, ref = snap.references.max_per_owner(queries)
        when = time.time() if at is None else at
        live = np.array(
            [(s := snap.subjects.get(int(o))) is not None and (s.expires_at is None or s.expires_at > when)
             for o in owners],
            dtype=bool,
        )
        owners, ref = owners[live] if len(owners) else owners, ref[:, live] if len(owners) else ref
        neg = np.full(ref.shape, -1.0, np.float32)
        neg_owners, neg_scores = snap.negatives.max_per_owner(queries)
        if len(neg_owners) and len(owners):
            pos = np.searchsorted(owners, neg_owners)
            hit = (pos < len(owners)) & (owners[np.minimum(pos, len(owners) - 1)] == neg_owners)
            neg[:, pos[hit]] = neg_scores[:, hit]
        return [SubjectScores(owners, ref[i].astype(np.float32), neg[i]) for i in range(len(queries))]
