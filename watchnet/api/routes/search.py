"""Forensic search (operators, admins): every call states a reason and is audited by ``watchnet.services.search``.

Filters go as JSON to ``POST /api/search``; a face photo or a person crop ("look-alike") goes as a
multipart upload to ``POST /api/search/photo``; ``GET /api/search/subject/{id}`` is a watchlist
subject's history (alerts, plus face-similar sightings in keep-embeddings mode), which the dashboard
draws as a timeline and as a camera-to-camera path on the map. Thumbnails come from an authorised
route, never from an open static folder.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, computed_field
from starlette.concurrency import run_in_threadpool

from watchnet.api.deps import CAN_OPERATE, EngineDep, OperatorUser, SearchDep, SettingsDep, require
from watchnet.api.files import picture
from watchnet.api.schemas import Id, Strict
from watchnet.api.uploads import read_image
from watchnet.core.records import CLASSES
from watchnet.services.search import SearchPage, SearchQuery
from watchnet.services.search import sighting_thumbnail as sighting_thumbnail_path

router = APIRouter(prefix="/api", tags=["search"], dependencies=[Depends(require(*CAN_OPERATE))])
LABEL = "^(" + "|".join(CLASSES) + ")$"


class SearchIn(Strict):
    reason: str = Field(min_length=3, max_length=500, description="Why you search (audited)")
    cameras: list[str] = Field(default_factory=list, max_length=100)
    since: datetime | None = None
    until: datetime | None = None
    label: str | None = Field(default=None, pattern=LABEL)
    upper_colour: str | None = Field(default=None, max_length=16)
    lower_colour: str | None = Field(default=None, max_length=16)
    vehicle_colour: str | None = Field(default=None, max_length=16)
    plate: str | None = Field(default=None, min_length=1, max_length=16)
    fuzzy: bool = False
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=10**6)


class SightingOut(BaseModel):
    """A ``SearchResult`` as the API shows it: the stored thumbnail path becomes an authorised URL."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    camera: str
    track_id: int
    label: str
    first_seen: datetime
    last_seen: datetime
    plate: str | None
    attributes: dict[str, Any]
    score: float | None
    match: str
    thumbnail_path: str | None = Field(exclude=True)  # read from the row, never sent (it is a server path)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def thumbnail(self) -> str | None:
        """Where the client fetches the picture: an alert's crop or a sighting's thumbnail, behind the login."""
        if not self.thumbnail_path:
            return None
        return f"/api/alerts/{self.id}/crop.jpg" if self.match == "alert" else f"/api/sightings/{self.id}/thumbnail.jpg"


class SearchOut(BaseModel):
    total: int | None
    limit: int
    offset: int
    audit_id: int | None
    notes: list[str]
    results: list[SightingOut]


def _out(page: SearchPage) -> SearchOut:
    return SearchOut.model_validate(page, from_attributes=True)


@router.post("/search", response_model=SearchOut, responses={400: {}})
def search(body: SearchIn, user: OperatorUser, searcher: SearchDep) -> SearchOut:
    """Sightings matching every given filter, newest first (ranked by plate similarity with ``fuzzy``)."""
    query = SearchQuery(
        cameras=tuple(body.cameras), since=body.since, until=body.until, label=body.label,
        upper_colour=body.upper_colour, lower_colour=body.lower_colour, vehicle_colour=body.vehicle_colour,
        plate=body.plate, fuzzy=body.fuzzy, limit=body.limit, offset=body.offset,
    )
    return _out(searcher.search(query, actor=user.name, reason=body.reason))


class SearchCapabilities(BaseModel):
    face_photo: bool = Field(description="Whether history can be searched by a face photo (identity mode allows it)")
    look_alike: bool = Field(description="Whether history can be searched by a person crop (clothing)")
    face_photo_note: str | None = Field(description="Why face-photo search is off, for the user; null when on")


@router.get("/search/capabilities", response_model=SearchCapabilities)
def capabilities(settings: SettingsDep) -> SearchCapabilities:
    """What this site's configuration allows searching by, so a client offers only that."""
    keeps = settings.identity_mode == "keep-embeddings"
    note = None if keeps else ("Search by face photo is off: this site keeps no face data of people who are not on "
                               "the watchlist. Search a watchlist subject's history instead.")
    return SearchCapabilities(face_photo=keeps, look_alike=True, face_photo_note=note)


@router.post("/search/photo", response_model=SearchOut, responses={400: {}, 413: {}, 415: {}})
async def search_photo(
    user: OperatorUser,
    settings: SettingsDep,
    searcher: SearchDep,
    reason: Annotated[str, Form(min_length=3, max_length=500)],
    file: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
    mode: Annotated[str, Form(pattern="^(face|like)$", description="face: same person; like: clothing")] = "face",
    label: Annotated[str | None, Form(pattern=LABEL)] = None,
    limit: Annotated[int, Form(ge=1, le=500)] = 50,
) -> SearchOut:
    """Sightings most similar to a face photo or a person crop."""
    image, _ = await read_image(file, settings.api.max_upload_bytes)

    def run() -> Any:
        vector = searcher.embed_face_photo(image) if mode == "face" else searcher.embed_crop(image)
        query = (SearchQuery(label=label, limit=limit, face=vector) if mode == "face"
                 else SearchQuery(label=label, limit=limit, like=vector))
        return searcher.search(query, actor=user.name, reason=reason)

    return _out(await run_in_threadpool(run))


@router.get("/search/subject/{subject}", response_model=SearchOut, responses={400: {}})
def subject_history(
    subject: Id, user: OperatorUser, searcher: SearchDep,
    reason: str = Query(min_length=3, max_length=500), days: float | None = Query(None, gt=0, le=3650),
    limit: int = Query(200, ge=1, le=1000),
) -> SearchOut:
    """Where a watchlist subject was: their alerts (and face-similar sightings in keep-embeddings mode)."""
    page = searcher.where_was(subject, actor=user.name, reason=reason, days=days, limit=limit)
    return _out(page)


@router.get("/sightings/{sighting}/thumbnail.jpg", response_class=FileResponse, responses={404: {}})
def sighting_thumbnail(sighting: Id, settings: SettingsDep, engine: EngineDep) -> FileResponse:
    """A sighting's stored thumbnail."""
    path = sighting_thumbnail_path(engine, sighting)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no thumbnail for sighting {sighting}")
    return picture(settings, path, f"sighting {sighting}")
