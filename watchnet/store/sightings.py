"""The sightings write path: one searchable row per track, plus its vectors, in batches.

Why a separate writer from the track ``Recorder``: a sighting is written when its track has ended and
been described (and once before, provisionally, see below), while track rows are upserted as they
grow. Camera threads hand finished ``Sighting`` records to ``SightingWriter.put`` (cheap: a queue), and
one thread writes them about once a second in one transaction, so no camera waits for the database.

Provisional sightings: a track that has run ``linking.provisional_after_s`` is handed over early
(``Sighting.provisional``), so the linker and follow mode see a person while they are still in view. The
row is inserted with ``attributes["provisional"] = True``; when that track's final sighting comes (same
camera, track id and first_seen), the store UPDATES that row (times, colours, plate, thumbnail,
attributes, vectors: ``update_sighting``) instead of inserting a second one, so search keeps one row
per track. A provisional and its final in the same batch: only the final is written. Which rows are
still open is kept in memory by the ``SightingStore`` that wrote them (the camera's one writer); a final
whose provisional was written by another process (after a restart) is inserted as a new row.

Privacy is enforced here, at the last step before disk, whatever the analyzers produced: a face
embedding is only written in ``identity_mode == "keep-embeddings"`` (in "watchlist-only" mode nobody's
face vector reaches the store, so face-similarity search over history finds nothing there), and age
band / gender only when ``attributes.age_gender`` is enabled.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from watchnet.core.config import Settings
from watchnet.core.errors import StoreError
from watchnet.core.plate_text import fold_confusables
from watchnet.core.records import Sighting
from watchnet.store.db import public_url
from watchnet.store.schema import Camera
from watchnet.store.schema_sightings import SearchState, SightingRecord, SightingVector

log = logging.getLogger(__name__)

FACE = "face"
APPEARANCE = "appearance"
REID = "reid"  # the re-id embedding (watchnet.vision.analysis.reid); its dot product is the linker's similarity
VECTOR_KINDS = (FACE, APPEARANCE, REID)

_cameras = cast(sa.Table, Camera.__table__)
_sightings = cast(sa.Table, SightingRecord.__table__)
_vectors = cast(sa.Table, SightingVector.__table__)
_PLATE_KEY_CHARS = 16


def vector_bytes(vector: np.ndarray) -> bytes:
    """An embedding as little-endian float32 bytes (the stored form)."""
    return np.ascontiguousarray(np.asarray(vector, dtype="<f4").ravel()).tobytes()


def vector_from_bytes(data: bytes) -> np.ndarray:
    """Stored bytes back to a float32 vector."""
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def plate_key(text: str | None) -> str | None:
    """The form plates are searched by: cleaned, confusables folded (O->0, B->8 ...), so a misread
    O/0 is no miss. The same folding as the hotlist matcher in ``watchnet.vision.analysis.plates``."""
    if not text:
        return None
    return fold_confusables(text)[:_PLATE_KEY_CHARS] or None


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class SightingStore:
    """Writes sightings (rows + vectors) synchronously; one instance may be shared by threads."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.keep_faces = settings.identity_mode == "keep-embeddings"
        self.keep_age_gender = settings.attributes.age_gender
        self._camera_ids: dict[str, int] = {}
        #: provisional rows written by this store whose final sighting has not come yet: key -> row id
        self._open: dict[tuple[str, int, datetime], int] = {}
        self._lock = threading.Lock()

    def write(self, sightings: Sequence[Sighting], run_id: int | None = None) -> list[int]:
        """Insert sightings and their vectors in one transaction; return their ids, in order.

        A sighting whose track already has an open provisional row (see the module docstring) updates
        that row and returns its id. Cameras not yet registered (e.g. sightings imported from photos)
        are added by name.
        """
        if not sightings:
            return []
        finals = {_key(s) for s in sightings if not s.provisional}
        todo = [s for s in sightings if not (s.provisional and _key(s) in finals)]  # superseded in this batch
        try:
            with self._lock, self.engine.connect() as conn:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    ids = self._camera_ids_for(conn, {s.camera for s in todo})
                    fresh = [s for s in todo if _key(s) not in self._open]
                    rows = [self._row(s, ids[s.camera], run_id) for s in fresh]
                    new_ids: list[int] = []
                    if rows:
                        stmt = sa.insert(_sightings).returning(_sightings.c.id, sort_by_parameter_order=True)
                        new_ids = [int(i) for i in conn.execute(stmt, rows).scalars()]
                    vectors = [v for s, i in zip(fresh, new_ids, strict=True) for v in self._vectors(s, i)]
                    if vectors:
                        conn.execute(sa.insert(_vectors), vectors)
                    written = {_key(s): i for s, i in zip(fresh, new_ids, strict=True)}
                    for s in todo:
                        if _key(s) in self._open:
                            sid = self._open[_key(s)]
                            update_sighting(conn, sid, self._row(s, ids[s.camera], run_id), self._vectors(s, sid))
                            written[_key(s)] = sid
            for s in todo:  # committed: remember the open provisional rows, forget the finished ones
                if s.provisional:
                    self._open[_key(s)] = written[_key(s)]
                else:
                    self._open.pop(_key(s), None)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StoreError(f"writing sightings to {public_url(self.engine.url)} failed: {reason}") from exc
        return [written[_key(s)] for s in sightings]

    def _camera_ids_for(self, conn: Connection, names: set[str]) -> dict[str, int]:
        missing = names - self._camera_ids.keys()
        if missing:
            query = sa.select(_cameras.c.name, _cameras.c.id).where(_cameras.c.name.in_(missing))
            known: dict[str, int] = {name: id_ for name, id_ in conn.execute(query)}
            for name in sorted(missing - known.keys()):
                known[name] = conn.execute(
                    sa.insert(_cameras).values(name=name, url="", created_at=datetime.now(UTC)).returning(_cameras.c.id)
                ).scalar_one()
            self._camera_ids.update(known)
        return self._camera_ids

    def _row(self, s: Sighting, camera_id: int, run_id: int | None) -> dict[str, Any]:
        attrs = dict(s.attributes)
        if not self.keep_age_gender:
            attrs.pop("age_band", None)
            attrs.pop("gender", None)
        attrs.pop("provisional", None)
        if s.provisional:
            attrs["provisional"] = True
        plate = s.plate or _text(attrs.get("plate"))
        plate_score = attrs.get("plate_confidence")
        return {
            "camera_id": camera_id,
            "run_id": run_id,
            "track_id": int(s.track_id),
            "label": s.label,
            "first_seen": _as_utc(s.first_seen),
            "last_seen": _as_utc(s.last_seen),
            "upper_colour": _text(attrs.get("upper_colour")),
            "lower_colour": _text(attrs.get("lower_colour")),
            "vehicle_colour": _text(attrs.get("colour")) if s.label != "person" else None,
            "age_band": _text(attrs.get("age_band")),
            "gender": _text(attrs.get("gender")),
            "plate": plate[:_PLATE_KEY_CHARS] if plate else None,
            "plate_key": plate_key(plate),
            "plate_score": float(plate_score) if isinstance(plate_score, int | float) else None,
            "thumbnail_path": s.thumbnail_path,
            "attributes": attrs,
            "ends": {k: e.as_list() for k, e in (("entry", s.entry), ("exit", s.exit)) if e is not None} or None,
        }

    def _vectors(self, s: Sighting, sighting_id: int) -> list[dict[str, Any]]:
        out = []
        pairs = ((FACE, s.face_embedding if self.keep_faces else None), (APPEARANCE, s.appearance_embedding),
                 (REID, s.reid_embedding))
        for kind, vector in pairs:
            if vector is None or not np.all(np.isfinite(vector)) or not np.any(vector):
                continue
            unit = np.asarray(vector, np.float32).ravel()
            unit = unit / float(np.linalg.norm(unit))
            out.append({"sighting_id": sighting_id, "kind": kind, "dim": int(unit.size), "vector": vector_bytes(unit)})
        return out


def _is_provisional(attributes: object) -> bool:
    return isinstance(attributes, dict) and bool(attributes.get("provisional"))


def _key(s: Sighting) -> tuple[str, int, datetime]:
    """What ties a track's provisional sighting to its final one."""
    return s.camera, int(s.track_id), _as_utc(s.first_seen)


#: Columns a final sighting may change on its provisional row (camera, run, track and start stay).
_UPDATABLE = ("last_seen", "upper_colour", "lower_colour", "vehicle_colour", "age_band", "gender", "plate",
              "plate_key", "plate_score", "thumbnail_path", "attributes", "ends")


def update_sighting(conn: Connection, sighting_id: int, row: dict[str, Any], vectors: Sequence[dict[str, Any]]) -> None:
    """Replace a (provisional) sighting's description and vectors with the final ones, keeping its id.

    Why in place: the id is what journeys, links and follow hops point at, and search must keep one
    row per track. Search's in-memory indexes notice (``_IdIndex.open``) and re-read the row.
    """
    conn.execute(sa.update(_sightings).where(_sightings.c.id == sighting_id)
                 .values({k: row[k] for k in _UPDATABLE}))
    conn.execute(sa.delete(_vectors).where(_vectors.c.sighting_id == sighting_id))
    if vectors:
        conn.execute(sa.insert(_vectors), list(vectors))


class SightingWriter:
    """Queue + thread around ``SightingStore``: ``put`` from camera threads, one write per interval.

    Give it to ``DescribeAnalyzer(on_sighting=writer.put)``. ``run_id`` may be a callable so that the
    id of a run started later (``Runner.run_id``) is picked up when the batch is written. A failed write
    keeps its batch and retries on the next interval; ``close`` writes whatever is still queued.
    """

    def __init__(
        self, store: SightingStore, run_id: int | Callable[[], int | None] | None = None, interval_s: float = 1.0,
    ) -> None:
        self.store = store
        self._run_id = run_id
        self.interval_s = interval_s
        self.written = 0  # tracks whose final sighting was written (a provisional one is not counted)
        self.error: str | None = None
        self._queue: queue.Queue[Sighting | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="sightings-writer", daemon=True)
        self._thread.start()

    def put(self, sighting: Sighting) -> None:
        """Queue one sighting (never blocks on the database)."""
        self._queue.put(sighting)

    def close(self) -> None:
        """Write everything still queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _current_run(self) -> int | None:
        return self._run_id() if callable(self._run_id) else self._run_id

    def _loop(self) -> None:
        pending: list[Sighting] = []
        deadline = time.monotonic() + self.interval_s
        done = False
        while not done:
            try:
                item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
                if item is None:
                    done = True
                else:
                    pending.append(item)
            except queue.Empty:
                pass
            if pending and (done or time.monotonic() >= deadline):
                try:
                    self.store.write(pending, self._current_run())
                    self.written += sum(1 for s in pending if not s.provisional)  # rows: one per track
                    pending = []
                    self.error = None
                except StoreError as exc:
                    self.error = f"{exc}; will retry"
                    log.error(self.error)
            if time.monotonic() >= deadline:
                deadline = time.monotonic() + self.interval_s


# --- in-memory indexes for search ------------------------------------------------------------------

_state = cast(sa.Table, SearchState.__table__)
GENERATION = "sightings"  # bumped by every purge (any process): caches reload instead of appending
#: Ids re-read below the newest loaded one on each refresh: on PostgreSQL a transaction that drew a
#: smaller id can commit after a larger one, so a plain "id > newest" could skip it for ever.
_OVERLAP = 2048
#: How many of the newest ids a (re)load checks for provisional rows (only recent rows can be open).
_RECENT = 10_000


def generation(conn: Connection) -> int:
    """The current cache generation (0 before the first purge)."""
    value = conn.execute(sa.select(_state.c.generation).where(_state.c.name == GENERATION)).scalar()
    return int(value or 0)


def bump_generation(conn: Connection) -> None:
    """Tell every cache that rows were deleted (call inside the deleting transaction)."""
    updated = conn.execute(
        sa.update(_state).where(_state.c.name == GENERATION).values(generation=_state.c.generation + 1)
    ).rowcount
    if not updated:
        conn.execute(sa.insert(_state).values(name=GENERATION, generation=1))


class _IdIndex:
    """Sorted ids plus a growing row buffer: the common part of the vector and plate caches."""

    def __init__(self) -> None:
        self.ids = np.empty(0, np.int64)
        self.generation = -1
        self.loaded_at = 0.0
        self.open: set[int] = set()  # provisional sightings: their rows are re-read once they are final
        self.checked_upto = -1  # the newest sighting id whose provisional state has been looked at
        self._lock = threading.Lock()

    def refresh(self, engine: Engine) -> None:
        """Load everything (first use, or after a purge anywhere), else append rows added since."""
        with self._lock, engine.connect() as conn:
            gen = generation(conn)
            if gen != self.generation:
                self._reset()
                self.open, self.checked_upto = set(), -1
                self.generation = gen
                since = -1
            else:
                overlap = _OVERLAP if conn.dialect.name == "postgresql" else 0  # SQLite commits in id order
                since = int(self.ids[-1]) - overlap if self.ids.size else -1
            ids, rows = self._fetch(conn, since)
            if ids.size:
                fresh = ~np.isin(ids, self.ids[np.searchsorted(self.ids, since + 1) :])
                self._append(ids[fresh], rows[fresh])
            self._reread_settled(conn)
            self.loaded_at = time.monotonic()

    def _reread_settled(self, conn: Connection) -> None:
        """Replace the rows of provisional sightings that have become final (their row was updated in
        place, with the same id, so "id > newest" never sees it), and note the new provisional ones.

        Only sightings written since the last check are read (at most the newest ``_RECENT``: only
        recent rows can still be provisional), whatever this index holds, so a provisional row
        without this kind of row whose final gains one is found too.
        """
        lower = self.checked_upto
        if lower < 0:
            newest = conn.execute(sa.select(sa.func.max(_sightings.c.id))).scalar()
            lower = int(newest or 0) - _RECENT
        elif conn.dialect.name == "postgresql":
            lower -= _OVERLAP
        query = sa.select(_sightings.c.id, _sightings.c.attributes).where(_sightings.c.id > lower)
        checked = {int(i): _is_provisional(a) for i, a in conn.execute(query)}
        self.checked_upto = max([self.checked_upto, lower, *checked])
        if self.open:
            wanted = sorted(self.open - checked.keys())
            query = sa.select(_sightings.c.id, _sightings.c.attributes).where(_sightings.c.id.in_(wanted))
            checked.update({int(i): _is_provisional(a) for i, a in conn.execute(query)})
        settled = sorted(i for i in self.open if not checked.get(i, False))
        self.open = (self.open | {i for i, still in checked.items() if still}) - set(settled)
        if settled:
            ids, rows = self._fetch(conn, -1, settled)
            self._replace(np.asarray(settled, np.int64), ids, rows)

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Row positions of those of the given ids that are in the index."""
        if not self.ids.size:
            return np.empty(0, np.int64)
        pos: np.ndarray = np.searchsorted(self.ids, ids).clip(0, self.ids.size - 1)
        found: np.ndarray = pos[self.ids[pos] == ids]
        return found

    def _reset(self) -> None:
        raise NotImplementedError

    def _fetch(self, conn: Connection, since: int, only: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _append(self, ids: np.ndarray, rows: np.ndarray) -> None:
        raise NotImplementedError

    def _replace(self, settled: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
        """Give the ``settled`` ids the rows fetched for them (``ids``); those without one stop matching."""
        raise NotImplementedError


class VectorCache(_IdIndex):
    """All vectors of one kind as one float32 matrix (rows L2-normalised) with their sighting ids.

    Exact cosine search is one matrix-vector product: ~1 M x 128 floats in tens of milliseconds on one
    core. Beyond a few million vectors per kind, or with several processes each holding a copy, the
    next step is an ANN index (FAISS IVF/HNSW) or pgvector on PostgreSQL behind the same two calls.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._buf = np.empty((0, 0), np.float32)
        self.dim = 0

    @property
    def matrix(self) -> np.ndarray:
        return self._buf[: self.ids.size]

    @property
    def nbytes(self) -> int:
        return int(self.matrix.nbytes + self.ids.nbytes)

    def _reset(self) -> None:
        self.ids, self._buf, self.dim = np.empty(0, np.int64), np.empty((0, 0), np.float32), 0

    def _fetch(self, conn: Connection, since: int, only: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        query = (
            sa.select(_vectors.c.sighting_id, _vectors.c.vector)
            .where(_vectors.c.kind == self.kind, _vectors.c.sighting_id > since)
            .order_by(_vectors.c.sighting_id)
        )
        if only is not None:
            query = query.where(_vectors.c.sighting_id.in_(list(only)))
        ids: list[int] = []
        blobs: list[bytes] = []
        for sid, blob in conn.execution_options(yield_per=20_000).execute(query):
            if not self.dim:
                self.dim = len(blob) // 4
            if len(blob) == self.dim * 4:  # a vector of another embedder's size is never compared
                ids.append(sid)
                blobs.append(blob)
        if not ids:
            return np.empty(0, np.int64), np.empty((0, self.dim), np.float32)
        rows = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(ids), self.dim)
        return np.asarray(ids, np.int64), rows.astype(np.float32, copy=False)

    def _append(self, ids: np.ndarray, rows: np.ndarray) -> None:
        n, add = self.ids.size, ids.size
        if not add:
            return
        if self._buf.shape[0] < n + add or self._buf.shape[1] != self.dim:
            grown = np.empty((max(2 * n, n + add, 1024), self.dim), np.float32)
            if n:
                grown[:n] = self._buf[:n]
            self._buf = grown
        self._buf[n : n + add] = rows
        merged = np.concatenate([self.ids, ids])
        if n and ids[0] < self.ids[-1]:  # late commits below the newest id: keep ids sorted
            order = np.argsort(merged, kind="stable")
            merged, self._buf[: n + add] = merged[order], self._buf[: n + add][order]
        self.ids = merged

    def _replace(self, settled: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
        held = self.positions(settled)
        if held.size:
            self._buf[held] = 0.0  # a final without this vector: the row scores 0, never a match
        known = np.isin(ids, self.ids)
        if known.any():
            self._buf[self.positions(ids[known])] = rows[known]
        self._append(ids[~known], rows[~known])

    def scores(self, query: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
        """Cosine similarity of the (normalised) query with every row, or with the given rows."""
        matrix = self.matrix if positions is None else self.matrix[positions]
        return matrix @ query.astype(np.float32)


class PlateIndex(_IdIndex):
    """Every stored plate key as a fixed-width byte matrix, for vectorised fuzzy (edit distance) search."""

    WIDTH = _PLATE_KEY_CHARS

    def __init__(self) -> None:
        super().__init__()
        self.codes = np.empty((0, self.WIDTH), np.uint32)
        self.lengths = np.empty(0, np.int16)

    def _reset(self) -> None:
        self.ids = np.empty(0, np.int64)
        self.codes, self.lengths = np.empty((0, self.WIDTH), np.uint32), np.empty(0, np.int16)

    def _fetch(self, conn: Connection, since: int, only: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        query = (
            sa.select(_sightings.c.id, _sightings.c.plate_key)
            .where(_sightings.c.plate_key.is_not(None), _sightings.c.id > since)
            .order_by(_sightings.c.id)
        )
        if only is not None:
            query = query.where(_sightings.c.id.in_(list(only)))
        rows = conn.execute(query).all()
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        codes = np.zeros((len(rows), self.WIDTH + 1), np.uint32)  # last column: the length
        for i, (_, key) in enumerate(rows):
            chars = [ord(c) for c in key[: self.WIDTH]]
            codes[i, : len(chars)] = chars
            codes[i, -1] = len(chars)
        return ids, codes

    def _append(self, ids: np.ndarray, rows: np.ndarray) -> None:
        merged = np.concatenate([self.ids, ids])
        codes = np.concatenate([self.codes, rows[:, :-1]])
        lengths = np.concatenate([self.lengths, rows[:, -1].astype(np.int16)])
        order = np.argsort(merged, kind="stable")
        self.ids, self.codes, self.lengths = merged[order], codes[order], lengths[order]

    def _replace(self, settled: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
        held = self.positions(settled)
        if held.size:  # a final without a plate: a length no key reaches
            self.lengths[held] = np.iinfo(np.int16).max
        known = np.isin(ids, self.ids)
        if known.any():
            pos = self.positions(ids[known])
            self.codes[pos] = rows[known][:, :-1]
            self.lengths[pos] = rows[known][:, -1].astype(np.int16)
        self._append(ids[~known], rows[~known])

    def within(self, key: str, max_edits: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids of plates at most ``max_edits`` (Levenshtein) from ``key``, and their distances.

        One dynamic-programming row per stored character, computed for all plates at once; a plate
        leaves the computation as soon as its whole row exceeds ``max_edits`` (most do after 2-3
        characters), so the cost is a few passes over the index, not ``WIDTH``.
        """
        q = np.array([ord(c) for c in key[: self.WIDTH]], np.uint32)
        m = q.size
        alive = np.flatnonzero(np.abs(self.lengths.astype(np.int32) - m) <= max_edits)
        found_ids: list[np.ndarray] = []
        found_dist: list[np.ndarray] = []
        prev = np.tile(np.arange(m + 1, dtype=np.int16), (alive.size, 1))
        for j in range(1, self.WIDTH + 1):
            if not alive.size:
                break
            cur = np.empty_like(prev)
            cur[:, 0] = j
            cost = (self.codes[alive, j - 1, None] != q[None, :]).astype(np.int16)
            for i in range(1, m + 1):
                cur[:, i] = np.minimum(np.minimum(prev[:, i] + 1, cur[:, i - 1] + 1), prev[:, i - 1] + cost[:, i - 1])
            ends = self.lengths[alive] == j
            hit = ends & (cur[:, m] <= max_edits)
            found_ids.append(self.ids[alive[hit]])
            found_dist.append(cur[hit, m])
            keep = ~ends & (cur.min(axis=1) <= max_edits)
            alive, prev = alive[keep], cur[keep]
        if m == 0:  # an empty key is as far from a plate as the plate is long
            short = self.lengths <= max_edits
            return self.ids[short], self.lengths[short].astype(np.int16)
        if not found_ids:
            return np.empty(0, np.int64), np.empty(0, np.int16)
        return np.concatenate(found_ids), np.concatenate(found_dist)
