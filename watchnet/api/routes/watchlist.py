"""Watchlist management (operators, admins): subjects, reference photos, negative examples.

An uploaded photo is read into memory (at most ``api.max_upload_bytes``, the API's limit on what a request
carries, also enforced while the body streams in) and handed,
as bytes, to ``watchnet.services.watchlist.Watchlist``, which checks it once (``watchnet.vision.photos``:
content sniffed, size and header dimensions within ``watchlist.max_photo_bytes``/``max_photo_pixels``,
decodable), requires exactly one usable face, stores the photo and crop under the data directory, and
writes the audit log entry. A refused photo answers 413, 415 or 400 with what is wrong. Photos are served back only
through ``/api/watchlist/photos/{id}/face.jpg`` behind the same roles.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, File, Form, HTTPException, Response, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer
from starlette.concurrency import run_in_threadpool

from watchnet.api.deps import CAN_OPERATE, OperatorUser, SettingsDep, WatchlistDep, require
from watchnet.api.files import picture
from watchnet.api.schemas import Id, Strict
from watchnet.api.uploads import photo_refused, read_upload
from watchnet.core.errors import InputError
from watchnet.services.watchlist import PhotoBytes, SubjectInfo, Watchlist
from watchnet.vision.photos import PhotoError

router = APIRouter(prefix="/api/watchlist", tags=["watchlist"], dependencies=[Depends(require(*CAN_OPERATE))])


class PhotoOut(BaseModel):
    """A reference photo (``watchnet.store.subjects.Photo``) as served: a URL, never the server path."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    quality: float
    model: str
    added_by: str

    @field_serializer("quality")
    def _rounded(self, quality: float) -> float:
        return round(quality, 3)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        return f"/api/watchlist/photos/{self.id}/face.jpg"


class SubjectOut(BaseModel):
    """A subject (``watchnet.store.subjects.SubjectInfo``) as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

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
    expired: bool
    negatives: int
    photos: list[PhotoOut]


class SubjectUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)
    case_ref: str | None = Field(default=None, max_length=128)
    expires_at: datetime | None = None
    clear_expiry: bool = False
    active: bool | None = None


def subject_out(info: SubjectInfo) -> SubjectOut:
    return SubjectOut.model_validate(info, from_attributes=True)


_T = TypeVar("_T")


def _checked(call: Callable[[], _T]) -> _T:
    """Run a watchlist call on an uploaded photo; a refused photo answers with its own status (413, 415, 400)."""
    try:
        return call()
    except PhotoError as exc:
        raise photo_refused(exc) from None


def _get(watchlist: Watchlist, subject: Id) -> SubjectInfo:
    try:
        return watchlist.get(subject)
    except InputError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.get("/subjects", response_model=list[SubjectOut])
def subjects(watchlist: WatchlistDep, active: bool | None = None) -> list[SubjectOut]:
    """Subjects, newest first (never their embeddings)."""
    return [subject_out(s) for s in watchlist.list_subjects(active=active)]


@router.post("/subjects", response_model=SubjectOut, status_code=201, responses={400: {}, 413: {}, 415: {}})
async def enrol(
    user: OperatorUser,
    watchlist: WatchlistDep,
    settings: SettingsDep,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    photo: Annotated[UploadFile, File(description="JPEG, PNG or WebP with exactly one clear face")],
    reason: Annotated[str, Form(min_length=3, max_length=2000, description="Why this person is enrolled")],
    case_ref: Annotated[str, Form(max_length=128)] = "",
    expires_at: Annotated[datetime | None, Form()] = None,
    face_index: Annotated[int | None, Form(ge=0, le=100)] = None,
) -> SubjectOut:
    """Enrol a subject from one photo (audited)."""
    data = await read_upload(photo, settings.api.max_upload_bytes)

    def run() -> SubjectInfo:
        return watchlist.enrol(name, [PhotoBytes(data)], by=user.name, reason=reason, case_ref=case_ref,
                               expires_at=expires_at, face_index=face_index)

    return subject_out(await run_in_threadpool(_checked, run))


@router.get("/subjects/{subject}", response_model=SubjectOut, responses={404: {}})
def subject(subject: Id, watchlist: WatchlistDep) -> SubjectOut:
    return subject_out(_get(watchlist, subject))


@router.patch("/subjects/{subject}", response_model=SubjectOut, responses={404: {}})
def update_subject(subject: Id, body: SubjectUpdate, user: OperatorUser, watchlist: WatchlistDep) -> SubjectOut:
    """Change name, reason, case, expiry or active flag (audited)."""
    _get(watchlist, subject)
    changes: dict[str, Any] = body.model_dump(exclude_none=True, exclude={"clear_expiry"})
    if body.clear_expiry:
        changes["expires_at"] = None
    if not changes:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "nothing to change: give at least one field")
    return subject_out(watchlist.update(subject, by=user.name, **changes))


@router.delete("/subjects/{subject}", status_code=204, response_class=Response, responses={404: {}})
def remove_subject(subject: Id, user: OperatorUser, watchlist: WatchlistDep) -> Response:
    """Remove a subject with its photos; past alerts keep the name (audited)."""
    _get(watchlist, subject)
    watchlist.remove(subject, by=user.name)
    return Response(status_code=204)


@router.post("/subjects/{subject}/photos", response_model=SubjectOut, responses={400: {}, 404: {}, 413: {}, 415: {}})
async def add_photo(
    subject: Id, user: OperatorUser, watchlist: WatchlistDep, settings: SettingsDep,
    photo: Annotated[UploadFile, File(description="JPEG, PNG or WebP with exactly one clear face")],
    face_index: Annotated[int | None, Form(ge=0, le=100)] = None,
) -> SubjectOut:
    """Add another reference photo (audited)."""
    data = await read_upload(photo, settings.api.max_upload_bytes)
    _get(watchlist, subject)

    def run() -> SubjectInfo:
        return watchlist.add_photo(subject, PhotoBytes(data), by=user.name, face_index=face_index)

    return subject_out(await run_in_threadpool(_checked, run))


class NegativeOut(BaseModel):
    id: int
    subject_id: int


@router.post("/subjects/{subject}/negatives", response_model=NegativeOut, status_code=201,
             responses={400: {}, 404: {}, 413: {}, 415: {}})
async def add_negative(
    subject: Id, user: OperatorUser, watchlist: WatchlistDep, settings: SettingsDep,
    photo: Annotated[UploadFile, File(description="A face that is NOT this subject")],
    face_index: Annotated[int | None, Form(ge=0, le=100)] = None,
) -> NegativeOut:
    """Record a look-alike as a negative example: it vetoes matches closer to it than to the subject."""
    data = await read_upload(photo, settings.api.max_upload_bytes)
    _get(watchlist, subject)

    def run() -> int:
        return int(watchlist.add_negative_photo(subject, PhotoBytes(data), by=user.name, face_index=face_index))

    return NegativeOut(id=await run_in_threadpool(_checked, run), subject_id=subject)


class AlertFacesIn(Strict):
    alert_id: int = Field(ge=1, description="A confirmed face alert of this subject")


@router.post("/subjects/{subject}/alert-faces", response_model=SubjectOut, responses={400: {}, 404: {}})
def add_alert_faces(subject: Id, body: AlertFacesIn, user: OperatorUser, watchlist: WatchlistDep) -> SubjectOut:
    """Add a confirmed alert's track faces to the subject as one more reference (audited)."""
    _get(watchlist, subject)
    return subject_out(watchlist.add_alert_faces(body.alert_id, by=user.name, subject_id=subject))


@router.get("/photos/{photo}/face.jpg", response_class=FileResponse, responses={404: {}})
def photo_face(photo: Id, watchlist: WatchlistDep, settings: SettingsDep) -> FileResponse:
    """The face crop of a reference photo."""
    return picture(settings, watchlist.photo_crop_path(photo), f"photo {photo}")
