"""The online linker: joins each new sighting to the journey it most likely continues.

It reads sightings by id cursor (``linker_state``), so it works in the process that writes them or in
any other on the same database, and resumes after a restart. For each new sighting it scores the
earlier sightings of its neighbour cameras inside the linking window (one indexed query: cost per
track stays flat as history grows), refuses impossible ones, and:
- joins the best one at or above ``link_at`` whose journey has no simultaneous track in a camera that
  does not overlap this one (link state "auto");
- keeps the others at or above ``candidate_at`` as "candidate" links for an operator;
- else starts a new journey.
Operators confirm a link (candidates join the journeys; every confirmed link is one more trip in the
learned transit histogram) or cut it (the journey splits into what its remaining links still join).

Provisional sightings (written while their track still runs, ``linking.provisional_after_s``) are
linked like any other, so follow mode gets the hop while the person is in view. The linker remembers
them and, once the final description has updated the row, settles them with the final evidence:
- every auto or candidate link touching the sighting is re-scored (its evidence keeps the
  ``provisional_score``); an auto link whose final score falls below ``link_at`` is demoted to a
  candidate (decided by "linker", audited as ``journey.link.demote``) and the journey splits as after a
  cut; confirmed and cut links are operators' decisions and are never touched;
- a sighting that still heads its journey (no joining link into it) gets one more chance to join an
  earlier journey on the final evidence, by the same rules as a new sighting (its whole journey moves).
Follow hops already delivered stay on the timeline with the score they had; a hop whose sighting a
demotion or a cut moved off the followed journey is taken back (``on_split``: follow mode marks it
retracted and tells the same sinks that it was withdrawn).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from watchnet.core.config import Settings
from watchnet.core.errors import InputError
from watchnet.core.records import CLASSES
from watchnet.services.linking.evidence import Evidence, ceiling, compatible, score_pair
from watchnet.services.linking.topology import Topology
from watchnet.store import audit
from watchnet.store import journeys as repo
from watchnet.store.db import Connection, Engine, read_connection, write_transaction
from watchnet.store.journeys import SightingInfo

log = logging.getLogger("watchnet.services.linking")
CURSOR = "sightings"
#: How many uncertain links per new sighting are kept for operators (the best ones).
KEEP_CANDIDATES = 3
#: How many sightings below the cursor a starting linker checks for provisional ones still open.
RECHECK_ON_START = 5000


@dataclass(slots=True)
class Joined:
    """A sighting that became part of a journey (what follow mode hears about)."""

    journey_id: int
    sighting: SightingInfo
    link_id: int | None = None
    score: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


JoinHook = Callable[[Connection, list[Joined]], None]
#: Called inside the transaction after a journey split (a link demoted or cut): the journeys it became
#: and why, so follow mode can take back the hops that are no longer on the followed journey.
SplitHook = Callable[[Connection, list[int], str], None]


class Linker:
    """Scores and links sightings; thread-safe (one lock around every write)."""

    def __init__(self, engine: Engine, settings: Settings, on_joined: JoinHook | None = None,
                 after_commit: Callable[[], object] | None = None, on_split: SplitHook | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.cfg = settings.linking
        self.face_threshold = settings.faces.match_threshold
        self.on_joined = on_joined
        self.on_split = on_split
        self.after_commit = after_commit
        self.linked = 0
        self.timings_ms: deque[float] = deque(maxlen=10_000)
        self._lock = threading.Lock()
        self.topology = self.load_topology()
        #: provisional sightings already linked, waiting for their final description
        self.pending: set[int] = set()
        self._recovered = False  # the first step also picks up those a previous linker left open
        self.demoted = 0

    def load_topology(self) -> Topology:
        """The declared topology plus the transit histograms learned so far (any process)."""
        with read_connection(self.engine) as conn:
            learned = repo.transit_bins(conn)
        return Topology.from_cameras(self.settings.cameras, self.cfg, learned)

    # --- online ---------------------------------------------------------------------------------
    def step(self, limit: int = 200) -> int:
        """Link every sighting written since the last call (up to ``limit``); return how many."""
        import time

        demoted: list[dict[str, Any]] = []
        with self._lock, write_transaction(self.engine) as conn:
            after = repo.position(conn, CURSOR)
            if not self._recovered:
                self.pending.update(repo.provisional_ids(conn, after - RECHECK_ON_START, after))
                self._recovered = True
            fresh = repo.new_sightings(conn, after, limit)
            joined: list[Joined] = []
            for sighting in fresh:
                start = time.perf_counter()
                joined.append(self._link_one(conn, sighting))
                self.timings_ms.append((time.perf_counter() - start) * 1000)
            opened = {s.id for s in fresh if s.provisional}
            state = repo.still_provisional(conn, self.pending)
            settled = sorted(i for i in self.pending if not state.get(i, False))
            for final in repo.sightings_by_id(conn, [i for i in settled if i in state]):
                joined += self._settle(conn, final, demoted)
            if fresh:
                repo.set_position(conn, CURSOR, fresh[-1].id)
            if joined and self.on_joined is not None:
                self.on_joined(conn, joined)
            self.pending = (self.pending - set(settled)) | opened
        self.linked += len(fresh)
        self.demoted += len(demoted)
        for item in demoted:
            audit.record(self.engine, "linker", "journey.link.demote", f"link:{item['link']}", item)
        if (fresh or joined or demoted) and self.after_commit is not None:
            self.after_commit()
        return len(fresh)

    def _labels(self, label: str) -> list[str]:
        return [c for c in CLASSES if compatible(label, c)]

    def _scored(self, conn: Connection, b: SightingInfo) -> list[tuple[Evidence, SightingInfo]]:
        """Earlier sightings that reach a candidate with ``b``, best first, with their evidence."""
        cfg = self.cfg
        window = timedelta(seconds=cfg.window_s)
        found = repo.candidates(
            conn, before_id=b.id, cameras=self.topology.sources(b.camera), labels=self._labels(b.label),
            ends_after=b.first_seen - window, starts_before=b.last_seen,
            earliest_start=b.first_seen - window - timedelta(seconds=cfg.longest_track_s),
            limit=cfg.max_candidates,
        )
        scored: list[tuple[Evidence, SightingInfo]] = []
        floor = math.log(cfg.candidate_at / (1.0 - cfg.candidate_at)) if cfg.candidate_at < 1 else math.inf
        # cannot reach a candidate whatever the other cues say: not scored in full
        found = [a for a in found if ceiling(a, b, cfg, self.face_threshold, self.topology) >= floor]
        zoned = self.topology.zones and any((a.camera, b.camera) in self.topology.zones for a in found)
        ends = repo.track_ends(conn, [b, *found]) if zoned else {}
        for a in found:
            if a.first_seen > b.first_seen:  # only in overlapping views: score in time order
                ev = score_pair(b, a, self.topology, cfg, self.face_threshold, ends)
            else:
                ev = score_pair(a, b, self.topology, cfg, self.face_threshold, ends)
            if ev.feasible and ev.score >= cfg.candidate_at:
                scored.append((ev, a))
        scored.sort(key=lambda p: -p[0].score)
        return scored

    def _link_one(self, conn: Connection, b: SightingInfo) -> Joined:
        cfg = self.cfg
        scored = self._scored(conn, b)
        journeys = repo.journeys_of(conn, [a.id for _, a in scored])
        margin_ok = self._clear_winner([(ev.score, journeys.get(a.id)) for ev, a in scored])
        chosen: Joined | None = None
        kept = 0
        seen_journeys: set[int] = set()
        for ev, a in scored:
            journey = journeys.get(a.id)
            if journey is None or journey in seen_journeys:
                continue
            seen_journeys.add(journey)
            if chosen is None and ev.score >= cfg.link_at and margin_ok:
                clash = self._clash(conn, journey, b)
                if clash is None:
                    link_id = repo.insert_link(conn, a.id, b.id, ev.score, "auto", ev.as_dict())
                    repo.add_member(conn, journey, b)
                    chosen = Joined(journey, b, link_id, ev.score, ev.as_dict())
                    continue
                ev.facts["conflict"] = clash
            if kept < KEEP_CANDIDATES:
                repo.insert_link(conn, a.id, b.id, ev.score, "candidate", ev.as_dict())
                kept += 1
        if chosen is None:
            chosen = Joined(repo.create_journey(conn, b), b)
        return chosen

    def _rescore(self, conn: Connection, src: SightingInfo, dst: SightingInfo) -> Evidence:
        """A link's evidence recomputed from both sightings as they are now (time order, as when made)."""
        first, second = (dst, src) if src.first_seen > dst.first_seen else (src, dst)
        zoned = (first.camera, second.camera) in self.topology.zones
        ends = repo.track_ends(conn, [first, second]) if zoned else {}
        return score_pair(first, second, self.topology, self.cfg, self.face_threshold, ends)

    def _settle(self, conn: Connection, b: SightingInfo, demoted: list[dict[str, Any]]) -> list[Joined]:
        """Settle a provisional sighting on its final evidence (see the module docstring)."""
        cfg = self.cfg
        repo.refresh_member(conn, b)
        links = repo.links_touching(conn, [b.id], ("auto", "candidate"))
        others = {i.id: i for i in repo.sightings_by_id(conn, {int(lk.src_id) for lk in links}
                                                        | {int(lk.dst_id) for lk in links})}
        split = False
        for link in links:
            src, dst = others.get(int(link.src_id)), others.get(int(link.dst_id))
            if src is None or dst is None:
                continue
            ev = self._rescore(conn, src, dst)
            score = ev.score if ev.feasible else 0.0
            evidence = {**ev.as_dict(), "provisional_score": round(float(link.score), 4)}
            repo.rescore_link(conn, int(link.id), score, evidence)
            if link.state == "auto" and score < cfg.link_at:
                note = f"final evidence {score:.3f} below link_at {cfg.link_at} (was {float(link.score):.3f})"
                repo.set_link_state(conn, int(link.id), "candidate", "linker", note)
                demoted.append({"link": int(link.id), "sighting": b.id, "provisional_score": float(link.score),
                                "final_score": round(score, 4), "journey": repo.journey_of(conn, b.id)})
                split = True
        journey = repo.journey_of(conn, b.id)
        into = repo.link_into(conn, b.id)
        clash = self._clash(conn, journey, b) if journey is not None and into is not None else None
        if clash is not None and into is not None and into.state == "auto":  # final span meets the journey elsewhere
            repo.set_link_state(conn, int(into.id), "candidate", "linker", f"final time span: {clash}")
            demoted.append({"link": int(into.id), "sighting": b.id, "provisional_score": float(into.score),
                            "final_score": float(into.score), "journey": journey, "conflict": clash})
            split = True
        if split and journey is not None:
            self._split(conn, journey, f"link demoted: the final evidence of sighting {b.id} no longer holds")
            journey = repo.journey_of(conn, b.id)
        if journey is None or repo.link_into(conn, b.id) is not None:
            return []
        return self._join_late(conn, b, journey, {int(lk.src_id) for lk in links if int(lk.dst_id) == b.id})

    def _join_late(self, conn: Connection, b: SightingInfo, own: int, linked_from: set[int]) -> list[Joined]:
        """Join ``b``'s journey (which ``b`` heads) to an earlier one if the final evidence says so."""
        cfg = self.cfg
        scored = self._scored(conn, b)
        journeys = repo.journeys_of(conn, [a.id for _, a in scored])
        scored = [(ev, a) for ev, a in scored if journeys.get(a.id) not in (None, own)]
        if not scored:
            return []
        ev, a = scored[0]
        target = journeys[a.id]
        if ev.score < cfg.link_at or not self._clear_winner([(e.score, journeys.get(x.id)) for e, x in scored]):
            for ev2, a2 in scored[:KEEP_CANDIDATES]:
                if a2.id not in linked_from:
                    repo.insert_link(conn, a2.id, b.id, ev2.score, "candidate", ev2.as_dict())
            return []
        moving = repo.members(conn, own)
        if any(self._clash(conn, target, _as_info(m)) is not None for m in moving):
            if a.id not in linked_from:
                repo.insert_link(conn, a.id, b.id, ev.score, "candidate", ev.as_dict())
            return []
        existing = [lk for lk in repo.links_touching(conn, [b.id], ("candidate",))
                    if int(lk.src_id) == a.id and int(lk.dst_id) == b.id]
        if existing:
            link_id = int(existing[0].id)
            repo.rescore_link(conn, link_id, ev.score, ev.as_dict())
            repo.set_link_state(conn, link_id, "auto", "linker", "final evidence reaches link_at")
        else:
            link_id = repo.insert_link(conn, a.id, b.id, ev.score, "auto", ev.as_dict())
        repo.move_members(conn, [m.sighting_id for m in moving], target)
        return [Joined(target, info, link_id, ev.score, ev.as_dict())
                for info in repo.sightings_by_id(conn, [m.sighting_id for m in moving])]

    def _clear_winner(self, scored: list[tuple[float, int | None]]) -> bool:
        """Whether the best journey beats the runner-up journey by ``min_margin`` log-odds (ambiguity check)."""
        best: dict[int, float] = {}
        for score, journey in scored:
            if journey is not None and journey not in best:
                best[journey] = score
        top = sorted(best.values(), reverse=True)[:2]
        if len(top) < 2 or self.cfg.min_margin <= 0:
            return True
        logit = [math.log(max(p, 1e-9) / max(1 - p, 1e-9)) for p in top]
        return logit[0] - logit[1] >= self.cfg.min_margin

    def _clash(self, conn: Connection, journey_id: int, b: SightingInfo) -> str | None:
        """Why ``b`` cannot join the journey (a simultaneous track elsewhere), or None."""
        slack = timedelta(seconds=self.cfg.overlap_slack_s)
        if b.last_seen - b.first_seen <= 2 * slack:
            return None
        for m in repo.overlapping_members(conn, journey_id, b.first_seen + slack, b.last_seen - slack):
            if m.sighting_id != b.id and not self.topology.overlaps(m.camera, b.camera):
                return f"journey {journey_id} is on {m.camera} at the same time"
        return None

    # --- operators ------------------------------------------------------------------------------
    def confirm(self, link_id: int, by: str, note: str = "") -> dict[str, Any]:
        """Make a link a fact: its journeys join, and its trip teaches the transit histogram."""
        by = _actor(by)
        with self._lock, write_transaction(self.engine) as conn:
            link = _link(conn, link_id)
            if link.state == "cut":
                raise InputError(f"link {link_id} was cut; it cannot be confirmed")
            infos = {i.id: i for i in repo.sightings_by_id(conn, [link.src_id, link.dst_id])}
            src, dst = infos[int(link.src_id)], infos[int(link.dst_id)]
            journeys = repo.journeys_of(conn, [src.id, dst.id])
            joined: list[Joined] = []
            if journeys.get(src.id) != journeys.get(dst.id):
                target, moving = journeys[src.id], journeys[dst.id]
                moved = repo.members(conn, moving)
                for m in moved:
                    clash = self._clash(conn, target, _as_info(m))
                    if clash is not None:
                        raise InputError(f"link {link_id} cannot be confirmed: {clash}; cut that link first")
                repo.move_members(conn, [m.sighting_id for m in moved], target)
                joined = [Joined(target, info, link_id, float(link.score), dict(link.evidence or {}))
                          for info in repo.sightings_by_id(conn, [m.sighting_id for m in moved])]
            repo.set_link_state(conn, link_id, "confirmed", by, note)
            first, second = (src, dst) if src.first_seen <= dst.first_seen else (dst, src)
            gap = max((second.first_seen - first.last_seen).total_seconds(), 0.0)
            repo.add_transit(conn, first.camera, second.camera, int(gap // self.cfg.histogram_bin_s))
            if joined and self.on_joined is not None:
                self.on_joined(conn, joined)
            journey = repo.journey_of(conn, dst.id)
        self.topology = self.load_topology()
        if self.after_commit is not None:
            self.after_commit()
        audit.record(self.engine, by, "journey.link.confirm", f"link:{link_id}",
                     {"journey": journey, "score": float(link.score), "note": note})
        return {"link": link_id, "state": "confirmed", "journey": journey}

    def cut(self, link_id: int, by: str, note: str = "") -> dict[str, Any]:
        """Declare a link wrong: the journey splits into what its other links still join."""
        by = _actor(by)
        with self._lock, write_transaction(self.engine) as conn:
            link = _link(conn, link_id)
            repo.set_link_state(conn, link_id, "cut", by, note)
            journey = repo.journey_of(conn, int(link.dst_id))
            parts = self._split(conn, journey, f"link {link_id} cut by {by}") if journey is not None else []
        if self.after_commit is not None:
            self.after_commit()
        audit.record(self.engine, by, "journey.link.cut", f"link:{link_id}",
                     {"journey": journey, "parts": parts, "note": note})
        return {"link": link_id, "state": "cut", "journeys": parts}

    def _split(self, conn: Connection, journey_id: int, reason: str) -> list[int]:
        """Re-form a journey's connected components over its joining links; return the journey ids."""
        members = repo.members(conn, journey_id)
        ids = {m.sighting_id for m in members}
        parent = {i: i for i in ids}

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for link in repo.links_touching(conn, sorted(ids), repo.JOINING):
            if link.src_id in ids and link.dst_id in ids:
                parent[root(int(link.src_id))] = root(int(link.dst_id))
        groups: dict[int, list[int]] = {}
        for m in members:  # time order: the first group (earliest sighting) keeps the journey id
            groups.setdefault(root(m.sighting_id), []).append(m.sighting_id)
        out = [journey_id]
        follows = repo.follows_of(conn, journey_id)
        row = repo.journey_row(conn, journey_id)
        label = str(row.label) if row is not None else "person"
        for group in list(groups.values())[1:]:
            new_id = repo.new_journey_for(conn, group, label)
            out.append(new_id)
            for f in follows:
                if f.origin_sighting_id in group:
                    repo.set_follow_journey(conn, int(f.id), new_id)
        if len(out) > 1 and self.on_split is not None:
            self.on_split(conn, out, reason)
        return out


def _actor(by: str) -> str:
    name = (by or "").strip()
    if not name:
        raise InputError("say who decides (--by USER): every link decision is recorded with its author")
    return name


def _link(conn: Connection, link_id: int) -> Any:
    link = repo.link_row(conn, link_id)
    if link is None:
        raise InputError(f"no link with id {link_id}; show the journey to find its links")
    return link


def _as_info(m: repo.MemberRow) -> SightingInfo:
    return SightingInfo(m.sighting_id, m.camera, "", m.first_seen, m.last_seen)
