"""Forensic search over sightings: filters, plate (exact or fuzzy), face and look-alike similarity.

How a query runs, fastest path first:
1. Filters (time window, cameras, class, colours, age band/gender, exact plate) are SQL on indexed
   columns; a fuzzy plate is matched in memory (``PlateIndex``) and joins the SQL as an id list.
2. Without a vector query, SQL orders by time and pages. With one (a face photo or a person crop),
   if the filters leave at most ``search.prefilter_max`` candidates their vectors are scored exactly
   (one matrix product over those rows of the in-memory ``VectorCache``); otherwise the whole matrix is
   scored, and the best ``candidate_factor`` pages are checked against the filters, widening until a
   page is full. Both are exact cosine similarity; ranking is score desc, then time desc.

Every search is audited (``watchnet.store.audit.record``: who, why, which filters; never the query
vectors). Face similarity needs ``identity_mode == "keep-embeddings"``: in "watchlist-only" mode no
face vector of anybody is stored with sightings, so a face search is refused with that explanation;
a watchlist subject's history (``where_was``) then consists of that subject's alerts only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from watchnet.core.config import Settings
from watchnet.core.errors import InputError
from watchnet.core.records import CLASSES
from watchnet.store import audit
from watchnet.store import search_queries as repo
from watchnet.store.db import Engine
from watchnet.store.search_queries import SearchResult, SightingFilter
from watchnet.store.sightings import APPEARANCE, FACE, PlateIndex, VectorCache, plate_key
from watchnet.vision.analysis.describe import appearance_embedding
from watchnet.vision.analysis.faces import FaceAnalyzer, load_image

__all__ = ["SearchPage", "SearchQuery", "SearchResult", "SightingSearch", "sighting_thumbnail"]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to look for. Every field is optional; unset filters match everything."""

    cameras: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    label: str | None = None
    upper_colour: str | None = None
    lower_colour: str | None = None
    vehicle_colour: str | None = None
    age_band: str | None = None
    gender: str | None = None
    plate: str | None = None
    fuzzy: bool = False
    max_edits: int | None = None  # fuzzy plate distance; None: search.fuzzy_max_edits
    face: np.ndarray | None = None  # query face embedding (same embedder as the store)
    like: np.ndarray | None = None  # query appearance vector (``appearance_embedding`` of a crop)
    min_score: float | None = None
    limit: int | None = None
    offset: int = 0

    def describe(self) -> dict[str, Any]:
        """The query as JSON-able filters for the audit log (vectors only as "given")."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name not in ("face", "like") and value not in (None, (), False):
                out[item.name] = value
        for key in ("since", "until"):
            if key in out:
                out[key] = out[key].isoformat()
        out["cameras"] = list(self.cameras)
        if self.face is not None:
            out["face"] = "photo"
        if self.like is not None:
            out["like"] = "crop"
        return out


@dataclass(slots=True)
class SearchPage:
    """A page of results, best first; ``total`` counts all matches where that is known cheaply."""

    results: list[SearchResult]
    total: int | None
    limit: int
    offset: int
    audit_id: int | None = None
    notes: list[str] = field(default_factory=list)


class SightingSearch:
    """The search API over one store. Keep one instance per process: it holds the vector caches."""

    def __init__(self, engine: Engine, settings: Settings, faces: FaceAnalyzer | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.cfg = settings.search
        self._faces = faces
        self.caches = {FACE: VectorCache(FACE), APPEARANCE: VectorCache(APPEARANCE)}
        self.plates = PlateIndex()

    # --- query helpers -----------------------------------------------------------------------------
    def embed_face_photo(self, photo: Path | str | np.ndarray) -> np.ndarray:
        """The embedding of the best face in a photo (largest x quality); InputError if there is none."""
        image = load_image(photo) if isinstance(photo, Path | str) else photo
        if self._faces is None:
            self._faces = FaceAnalyzer(self.settings)
        faces = self._faces.detect(image)
        if not faces:
            raise InputError("no face found in the query photo; give a photo with one clear, frontal face")
        best = max(faces, key=lambda f: (f.xyxy[2] - f.xyxy[0]) * (f.xyxy[3] - f.xyxy[1]) * max(f.quality, 0.05))
        self._faces.embed(image, [best])
        assert best.embedding is not None
        return best.embedding

    @staticmethod
    def embed_crop(crop: Path | str | np.ndarray) -> np.ndarray:
        """The appearance vector of a person crop (a picture of one person, head to feet)."""
        return appearance_embedding(load_image(crop) if isinstance(crop, Path | str) else crop)

    # --- search --------------------------------------------------------------------------------------
    def search(self, query: SearchQuery, *, actor: str, reason: str) -> SearchPage:
        """Run one audited search; see the module docstring for how."""
        query = self._checked(query, actor, reason)
        limit = query.limit or self.cfg.default_limit
        where = self._filters(query)
        page = SearchPage([], None, limit, query.offset)
        plate_scores: dict[int, float] = {}
        if query.plate and query.fuzzy:
            plate_scores = self._fuzzy_plates(query)
            where = replace(where, ids=tuple(plate_scores))
        kind, vector = (FACE, query.face) if query.face is not None else (APPEARANCE, query.like)
        if vector is not None:
            page.results, page.total = self._similar(kind, _unit(vector), where, query, limit)
        elif plate_scores:
            page.results, page.total = self._ranked_plates(plate_scores, where, query, limit)
        else:
            page.results, page.total = self._filtered(where, query.offset, limit)
        page.audit_id = self._audit(actor, reason, "search", "sightings", {**query.describe(), "found": page.total})
        return page

    def where_was(
        self, subject_id: int, *, actor: str, reason: str, days: float | None = None, limit: int | None = None,
    ) -> SearchPage:
        """Where a watchlist subject was in the last ``days``: their alerts, then face-similar sightings.

        Face-similar sightings (at the configured match threshold, against the subject's enrolled photos)
        are only possible in keep-embeddings mode; in watchlist-only mode the page holds alerts only and a
        note says why.
        """
        _require(actor, reason)
        since = datetime.now(UTC) - timedelta(days=days or self.cfg.subject_days)
        limit = min(limit or self.cfg.default_limit, self.cfg.max_limit)
        notes: list[str] = []
        if repo.has_alerts_table(self.engine):
            results = self._subject_alerts(subject_id, since, limit)
        else:  # the watchlist's migration is not in this database yet
            results = []
            notes.append("this database has no alerts table yet, so no alerts are shown")
        photos = self._subject_embeddings(subject_id)
        if self.settings.identity_mode != "keep-embeddings":
            notes.append("identity_mode is watchlist-only: sightings keep no face vectors, so only alerts are shown")
        elif not photos.size:
            notes.append("the subject has no enrolled face embeddings of the configured embedder")
        else:
            cache = self._cache(FACE)
            if cache.ids.size and cache.dim == photos.shape[1]:
                best = (cache.matrix @ photos.T).max(axis=1)
                keep = np.flatnonzero(best >= self.settings.faces.match_threshold)
                order = keep[np.argsort(-best[keep])][:limit]
                scored = dict(zip(cache.ids[order].tolist(), best[order].tolist(), strict=True))
                rows = repo.rows_by_id(self.engine, SightingFilter(started_since=since), list(scored))
                results += sorted(
                    (replace(r, score=round(scored[r.id], 4), match="face") for r in rows),
                    key=lambda r: (-(r.score or 0.0), -r.first_seen.timestamp()),
                )
        results.sort(key=lambda r: r.first_seen, reverse=True)
        page = SearchPage(results[:limit], len(results), limit, 0, notes=notes)
        details = {"subject_id": subject_id, "since": since.isoformat(), "found": len(results)}
        page.audit_id = self._audit(actor, reason, "search.subject", f"subject:{subject_id}", details)
        return page

    # --- internals -----------------------------------------------------------------------------------
    def _checked(self, query: SearchQuery, actor: str, reason: str) -> SearchQuery:
        _require(actor, reason)
        limit = query.limit or self.cfg.default_limit
        if not 1 <= limit <= self.cfg.max_limit or query.offset < 0:
            raise InputError(f"limit must be 1..{self.cfg.max_limit} and offset >= 0")
        if query.label is not None and query.label not in CLASSES:
            raise InputError(f"unknown class {query.label!r}; known: {', '.join(CLASSES)}")
        if query.face is not None and query.like is not None:
            raise InputError("give either a face photo or a look-alike crop, not both")
        if query.face is not None and self.settings.identity_mode != "keep-embeddings":
            raise InputError(
                "search by face photo is off: this site keeps no face data of people who are not on the "
                "watchlist (identity mode watchlist-only). Search a watchlist subject's history instead"
            )
        if query.plate is not None and not plate_key(query.plate):
            raise InputError(f"plate {query.plate!r} has no letters or digits")
        if query.since and query.until and query.since > query.until:
            raise InputError("the time window ends before it starts; swap its start and end")
        return query

    def _filters(self, q: SearchQuery) -> SightingFilter:
        """The query's SQL-side conditions; a sighting overlapping ``since`` started at most the slack before it
        (the bound lets the (camera, first_seen) index do the work)."""
        since = _utc(q.since) if q.since is not None else None
        return SightingFilter(
            cameras=q.cameras, seen_since=since,
            started_since=since - timedelta(seconds=self.cfg.window_slack_s) if since is not None else None,
            started_until=_utc(q.until) if q.until is not None else None,
            label=q.label, upper_colour=q.upper_colour, lower_colour=q.lower_colour,
            vehicle_colour=q.vehicle_colour, age_band=q.age_band, gender=q.gender,
            plate_key=plate_key(q.plate) if q.plate is not None and not q.fuzzy else None,
        )

    def _filtered(self, where: SightingFilter, offset: int, limit: int) -> tuple[list[SearchResult], int]:
        return repo.filtered_page(self.engine, where, offset, limit)

    def _fuzzy_plates(self, q: SearchQuery) -> dict[int, float]:
        key = plate_key(q.plate) or ""
        self.plates.refresh(self.engine)
        max_edits = self.cfg.fuzzy_max_edits if q.max_edits is None else q.max_edits
        ids, dist = self.plates.within(key, max_edits)
        return {int(i): round(1.0 - float(d) / max(len(key), 1), 4) for i, d in zip(ids, dist, strict=True)}

    def _ranked_plates(self, scores: dict[int, float], where: SightingFilter, q: SearchQuery,
                       limit: int) -> tuple[list[SearchResult], int]:
        rows = repo.rows_by_id(self.engine, where, list(scores))
        ranked = sorted(
            (replace(r, score=scores[r.id], match="plate") for r in rows),
            key=lambda r: (-(r.score or 0.0), -r.first_seen.timestamp()),
        )
        if q.min_score is not None:
            ranked = [r for r in ranked if (r.score or 0.0) >= q.min_score]
        return ranked[q.offset : q.offset + limit], len(ranked)

    def _similar(self, kind: str, vector: np.ndarray, where: SightingFilter, q: SearchQuery,
                 limit: int) -> tuple[list[SearchResult], int | None]:
        """Best matches by cosine; the total is known (candidates scored) only when filters came first."""
        cache = self._cache(kind)
        if not cache.ids.size:
            return [], 0
        if cache.dim != vector.size:
            raise InputError(
                f"the query {kind} vector has {vector.size} values but the stored ones have {cache.dim}: "
                "the embedder changed since they were written; search with the same embedder"
            )
        need = q.offset + limit
        candidates = repo.ids_if_at_most(self.engine, where, self.cfg.prefilter_max) if where.narrows() else None
        if candidates is not None:
            pos = cache.positions(candidates)
            scores = cache.scores(vector, pos)
            ids = cache.ids[pos]
            top = _top(scores, need, q.min_score)
            hits = {int(ids[i]): float(scores[i]) for i in top}
            total: int | None = int(pos.size if q.min_score is None else (scores >= q.min_score).sum())
        else:
            hits = self._vector_first(cache, vector, where, need, q.min_score)
            total = None
        rows = repo.rows_by_id(self.engine, SightingFilter(), list(hits)) if hits else []
        ranked = sorted(
            (replace(r, score=round(hits[r.id], 4), match=kind) for r in rows),
            key=lambda r: (-(r.score or 0.0), -r.first_seen.timestamp()),
        )
        return ranked[q.offset : q.offset + limit], total

    def _vector_first(self, cache: VectorCache, vector: np.ndarray, where: SightingFilter,
                      need: int, min_score: float | None) -> dict[int, float]:
        scores = cache.scores(vector)
        k = min(scores.size, need * self.cfg.candidate_factor)
        while True:
            top = _top(scores, k, min_score)
            ids = cache.ids[top]
            passing = set(repo.passing_ids(self.engine, where, ids.tolist()) if where.narrows() else ids.tolist())
            hits = {int(i): float(s) for i, s in zip(ids, scores[top], strict=True) if int(i) in passing}
            if len(hits) >= need or k >= scores.size or top.size < k:
                return dict(sorted(hits.items(), key=lambda kv: -kv[1])[:need])
            k = min(scores.size, k * 4)

    def _cache(self, kind: str) -> VectorCache:
        cache = self.caches[kind]
        cache.refresh(self.engine)
        return cache

    def _subject_alerts(self, subject_id: int, since: datetime, limit: int) -> list[SearchResult]:
        """A subject's alerts shaped as results (an alert's crop is its thumbnail), so one timeline holds both."""
        return [
            SearchResult(
                id=a.id, camera=a.camera, track_id=a.track_id, label="person" if a.kind == "face" else "car",
                first_seen=a.at, last_seen=a.at, plate=None, thumbnail_path=a.crop_path or a.snapshot_path,
                attributes={"alert_kind": a.kind, "state": a.state, "subject": a.subject_name},
                score=a.score, match="alert",
            )
            for a in repo.subject_alerts(self.engine, subject_id, since, limit)
        ]

    def _subject_embeddings(self, subject_id: int) -> np.ndarray:
        vectors = [_unit(v) for v in repo.subject_embeddings(self.engine, subject_id, self.settings.faces.embedder)]
        return np.stack(vectors) if vectors else np.empty((0, 0), np.float32)

    def _audit(self, actor: str, reason: str, action: str, target: str, details: dict[str, Any]) -> int:
        return audit.record(self.engine, actor, action, target, {"reason": reason, **details})


def _require(actor: str, reason: str) -> None:
    if not actor or not actor.strip() or not reason or not reason.strip():
        raise InputError("every search is audited: give who is searching (actor) and why (reason)")


def sighting_thumbnail(engine: Engine, sighting_id: int) -> str | None:
    """Where a sighting's thumbnail is stored, or None (no such sighting or no thumbnail)."""
    return repo.thumbnail_path(engine, sighting_id)


def _top(scores: np.ndarray, k: int, min_score: float | None) -> np.ndarray:
    """Positions of the ``k`` best scores, best first, at least ``min_score``."""
    if not scores.size or k <= 0:
        return np.empty(0, np.int64)
    k = min(k, scores.size)
    part = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
    part = part[np.argsort(-scores[part], kind="stable")]
    return part[scores[part] >= min_score] if min_score is not None else part


def _unit(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, np.float32).ravel()
    norm = float(np.linalg.norm(v))
    if norm == 0 or not np.isfinite(norm):
        raise InputError("the query vector is empty or invalid")
    return v / norm


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
