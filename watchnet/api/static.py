"""Serves the dashboard (``watchnet/web``) from the same process: no build step, no CDN, no Node at run time.

Only the page shell and its scripts/styles are public (the login page needs them); every picture and
piece of data comes from /api behind a login.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles


def mount_dashboard(app: FastAPI, web_dir: Path) -> None:
    index = web_dir / "index.html"

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(index, headers={"cache-control": "no-cache"})

    app.mount("/static", StaticFiles(directory=web_dir), name="static")
