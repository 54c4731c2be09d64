"""Pictures from the data directory (track thumbnails, alert crops, subject photos), served only
through authorised routes and only from inside ``Settings.home``: a path read from the database is
never trusted to stay there by itself."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException, status
from fastapi.responses import FileResponse

from watchnet.core.config import Settings

_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
          ".mp4": "video/mp4"}


def picture(settings: Settings, stored: str | None, what: str) -> FileResponse:
    """A FileResponse for a stored picture path, or 404 when it is missing or outside the data directory."""
    if not stored:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what} has no picture")
    path = Path(stored).resolve()
    roots = [settings.home.resolve()]
    search = getattr(settings, "search", None)
    if search is not None and getattr(search, "thumbnails_dir", None):
        roots.append(Path(search.thumbnails_dir).resolve())
    media = _TYPES.get(path.suffix.lower())
    if not any(path.is_relative_to(root) for root in roots) or media is None or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the picture of {what} is no longer available")
    return FileResponse(path, media_type=media, headers={"cache-control": "private, max-age=300"})
