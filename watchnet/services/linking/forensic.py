"""Forensic journeys: from any sighting, where this person or vehicle came from and went next.

One read of the journey's members, their joining links (score and evidence) and the candidate links
an operator might still confirm, plus the last known camera and the cameras predicted next. Every
query is audited. The journey carries a name only when one of its tracks raised a watchlist alert
that was confirmed (two operators): anonymous journeys expose no name and no subject id.
"""

from __future__ import annotations

from typing import Any

from watchnet.core.config import Settings
from watchnet.core.errors import InputError
from watchnet.services.linking.topology import Topology
from watchnet.store import audit
from watchnet.store import journeys as repo
from watchnet.store.db import Engine, read_connection


def _link_json(row: Any) -> dict[str, Any]:
    return {"id": int(row.id), "from": int(row.src_id), "to": int(row.dst_id), "score": round(float(row.score), 4),
            "state": row.state, "evidence": dict(row.evidence or {}), "decided_by": row.decided_by}


def journey(engine: Engine, settings: Settings, *, actor: str, reason: str, sighting_id: int | None = None,
            journey_id: int | None = None, topology: Topology | None = None) -> dict[str, Any]:
    """The journey of a sighting (or by id): trail, links, candidates, last known, predicted next."""
    actor, reason = (actor or "").strip(), (reason or "").strip()
    if not actor or not reason:
        raise InputError("journey queries are audited: give who asks (--by) and why (--reason)")
    with read_connection(engine) as conn:
        if journey_id is None:
            if sighting_id is None:
                raise InputError("give a sighting id or a journey id")
            journey_id = repo.journey_of(conn, sighting_id)
            if journey_id is None:
                raise InputError(f"sighting {sighting_id} is not in any journey (unknown, or not linked yet)")
        row = repo.journey_row(conn, journey_id)
        if row is None:
            raise InputError(f"no journey with id {journey_id}")
        members = repo.members(conn, journey_id)
        infos = {i.id: i for i in repo.sightings_by_id(conn, [m.sighting_id for m in members])}
        ids = [m.sighting_id for m in members]
        links = repo.links_touching(conn, ids)
        matches = repo.confirmed_matches(conn, members, settings.linking.overlap_slack_s)
        follows = repo.follows_of(conn, journey_id)
        learned = repo.transit_bins(conn)
    topo = topology or Topology.from_cameras(settings.cameras, settings.linking, learned)
    into = {int(link.dst_id): link for link in sorted(links, key=lambda r: float(r.score))
            if link.state in repo.JOINING and int(link.src_id) in infos}
    trail = []
    for m in members:
        info = infos.get(m.sighting_id)
        link = into.get(m.sighting_id)
        trail.append({
            "sighting_id": m.sighting_id, "camera": m.camera, "first_seen": m.first_seen.isoformat(),
            "last_seen": m.last_seen.isoformat(), "lat": info.lat if info else None,
            "lon": info.lon if info else None, "track_id": info.track_id if info else None,
            "link": _link_json(link) if link is not None else None,
        })
    member_set = set(ids)
    open_links = [_link_json(r) for r in links if r.state == "candidate"
                  and not (int(r.src_id) in member_set and int(r.dst_id) in member_set)]
    last = members[-1] if members else None
    out = {
        "journey": journey_id, "label": row.label, "first_seen": row.first_seen.isoformat(),
        "last_seen": row.last_seen.isoformat(), "cameras": sorted({m.camera for m in members}),
        "name": matches[0][1] if matches else None,
        "confirmed_alerts": [a for a, _ in matches],
        "trail": trail, "candidates": open_links,
        "last_known": {"camera": last.camera, "time": last.last_seen.isoformat()} if last else None,
        "predicted_next": topo.predict_next(last.camera) if last else [],
        "follows": [{"id": int(f.id), "active": bool(f.active), "alert_id": f.alert_id, "reason": f.reason}
                    for f in follows],
    }
    audit.record(engine, actor, "journey.query", f"journey:{journey_id}",
                 {"sighting": sighting_id, "reason": reason, "members": len(members)})
    return out


def follow_view(engine: Engine, settings: Settings, follow_id: int) -> dict[str, Any]:
    """A follow's timeline (hops), last known camera and time, and predicted next cameras.

    Hops taken back (their link was demoted or cut) leave the timeline and are listed under
    ``retracted`` with when and why, so an operator sees what was announced and withdrawn.
    """
    with read_connection(engine) as conn:
        follow = repo.follow_row(conn, follow_id)
        if follow is None:
            raise InputError(f"no follow with id {follow_id}")
        hops = repo.hops(conn, follow_id)
        learned = repo.transit_bins(conn)
        cams = {h.camera for h in hops}
    positions = {c.name: (c.lat, c.lon) for c in settings.cameras if c.name in cams}
    topo = Topology.from_cameras(settings.cameras, settings.linking, learned)
    entries = [{"camera": h.camera, "time": h.at.isoformat(), "sighting_id": int(h.sighting_id),
                "score": h.score, "evidence": dict(h.evidence or {}),
                "lat": positions.get(h.camera, (None, None))[0], "lon": positions.get(h.camera, (None, None))[1],
                **({"retracted_at": h.retracted_at.isoformat(), "retracted_reason": h.retracted_reason}
                   if h.retracted_at is not None else {})}
               for h in hops]
    timeline = [e for e in entries if "retracted_at" not in e]
    last = timeline[-1] if timeline else None
    return {
        "id": int(follow.id), "journey": follow.journey_id, "alert_id": follow.alert_id, "reason": follow.reason,
        "started_by": follow.started_by, "started_at": follow.started_at.isoformat(), "active": bool(follow.active),
        "timeline": timeline, "retracted": [e for e in entries if "retracted_at" in e],
        "last_known": {"camera": last["camera"], "time": last["time"]} if last else None,
        "predicted_next": topo.predict_next(str(last["camera"])) if last else [],
    }
