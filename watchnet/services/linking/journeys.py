"""Journeys as one service for the console and the CLI: read a journey, decide a link, start or stop a follow.

The background linker (``LinkerService``) and these calls write through the same ``Linker`` and
``FollowDesk`` code, so a decision taken here is seen by a running ``watchnet run`` in another process.
Each call builds its ``Linker``/``FollowDesk`` afresh: they read the topology and the learned transit
times from the store, which other processes keep changing.
"""

from __future__ import annotations

from typing import Any

from watchnet.core.config import Settings
from watchnet.core.errors import WatchnetError
from watchnet.services.linking import forensic
from watchnet.services.linking.follow import FollowDesk
from watchnet.services.linking.linker import Linker
from watchnet.store import journeys as repo
from watchnet.store.db import Engine
from watchnet.store.evidence import linked_journeys


class Journeys:
    """What an operator does with journeys; every read states a reason and is audited by ``forensic``."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def journey(self, *, actor: str, reason: str, sighting_id: int | None = None,
                journey_id: int | None = None) -> dict[str, Any]:
        """The journey holding a sighting (or with an id): hops, links with their evidence, map trail."""
        return forensic.journey(self.engine, self.settings, actor=actor, reason=reason, sighting_id=sighting_id,
                                journey_id=journey_id)

    def of_sightings(self, sighting_ids: list[int], *, actor: str, reason: str) -> tuple[dict[str, Any] | None, str]:
        """The journey of the first of these sightings that is linked, or None and why not (for a person)."""
        linked = linked_journeys(self.engine, sighting_ids)
        if not linked:
            return None, "not linked to other cameras (yet)"
        sighting = next(s for s in sighting_ids if s in linked)
        try:
            return self.journey(actor=actor, reason=reason, sighting_id=sighting), ""
        except WatchnetError as exc:
            return None, str(exc)

    def follows(self, *, active: bool = True, limit: int = 50) -> list[dict[str, Any]]:
        """Follows with their live trail, last known camera and time, and predicted next cameras."""
        return [self.follow(i) for i in repo.follow_ids(self.engine, active=active, limit=limit)]

    def follow(self, follow_id: int) -> dict[str, Any]:
        return forensic.follow_view(self.engine, self.settings, follow_id)

    def start_follow(self, sighting_id: int, by: str, reason: str) -> dict[str, Any]:
        return FollowDesk(self.engine, self.settings).start(sighting_id, by, reason)

    def stop_follow(self, follow_id: int, by: str, note: str = "") -> dict[str, Any]:
        return FollowDesk(self.engine, self.settings).stop(follow_id, by, note)

    def confirm_link(self, link_id: int, by: str, note: str = "") -> dict[str, Any]:
        """Confirm a link: journeys join, and a follow of the first gains the second's cameras as hops."""
        return self._linker().confirm(link_id, by, note)

    def cut_link(self, link_id: int, by: str, note: str = "") -> dict[str, Any]:
        """Cut a link: the journey splits, and hops a follow no longer holds are taken back."""
        return self._linker().cut(link_id, by, note)

    def _linker(self) -> Linker:
        """A linker whose joins and splits reach follow mode (hops and retractions via the event log)."""
        desk = FollowDesk(self.engine, self.settings)
        return Linker(self.engine, self.settings, on_joined=desk.on_joined, after_commit=desk.flush,
                      on_split=desk.on_split)
