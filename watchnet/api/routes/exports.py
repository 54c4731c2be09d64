"""Evidence exports as ZIP downloads: one alert, or one page of search results (``watchnet.services.exports``).

Who: an alert export is for those who may read alerts (operators, admins, auditors); a search export runs
a search, so it is for those who may search (operators, admins): letting auditors export a search would
let them search by the back door. Viewers never export. Every export states a reason and is audited by
``watchnet.services.exports`` (who, what, why, blurred or not); the faces of non-matches are blurred unless the
caller asks for ``blur=false`` (the default is ``exports.blur_faces``), which the audit entry records.
"""

from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field

from watchnet.api.deps import (
    CAN_OPERATE,
    CAN_READ_ALERTS,
    AlertReader,
    ExportsDep,
    OperatorUser,
    SearchDep,
    StateDep,
    require,
)
from watchnet.api.routes.alerts import load_alert
from watchnet.api.routes.search import SearchIn
from watchnet.api.schemas import Id
from watchnet.services.search import SearchQuery

router = APIRouter(prefix="/api", tags=["exports"], dependencies=[Depends(require(*CAN_READ_ALERTS))])
_ZIP: dict[int | str, dict[str, Any]] = {200: {"content": {"application/zip": {}}}}


class SearchExportIn(SearchIn):
    blur: bool | None = Field(default=None, description="Blur non-matches' faces; default: exports.blur_faces")


def _zip(data: bytes, name: str) -> Response:
    return Response(data, media_type="application/zip",
                    headers={"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"})


@router.get("/alerts/{alert}/export.zip", response_class=Response, responses={**_ZIP, 404: {}})
def alert_export(
    alert: Id, user: AlertReader, state: StateDep, exports: ExportsDep,
    reason: str = Query(min_length=3, max_length=500, description="Why you export (audited)"),
    blur: bool | None = Query(None, description="Blur non-matches' faces; default: exports.blur_faces"),
) -> Response:
    """The alert's JSON, its face crop and its frame with everyone but the match blurred, as one ZIP."""
    load_alert(state, alert, with_decisions=False)  # 404 for an unknown alert
    buffer = io.BytesIO()
    exports.alert(alert, buffer, blur, actor=user.name, reason=reason)
    return _zip(buffer.getvalue(), f"watchnet-alert-{alert}.zip")


@router.post("/search/export.zip", response_class=Response, responses={**_ZIP, 400: {}},
             dependencies=[Depends(require(*CAN_OPERATE))])
def search_export(body: SearchExportIn, user: OperatorUser, searcher: SearchDep, exports: ExportsDep) -> Response:
    """Run the search (audited as a search) and export its page: JSON and thumbnails, non-matches blurred."""
    query = SearchQuery(
        cameras=tuple(body.cameras), since=body.since, until=body.until, label=body.label,
        upper_colour=body.upper_colour, lower_colour=body.lower_colour, vehicle_colour=body.vehicle_colour,
        plate=body.plate, fuzzy=body.fuzzy, limit=body.limit, offset=body.offset,
    )
    page = searcher.search(query, actor=user.name, reason=body.reason)
    buffer = io.BytesIO()
    exports.search(page, query.describe(), buffer, body.blur, actor=user.name, reason=body.reason)
    return _zip(buffer.getvalue(), "watchnet-search.zip")
