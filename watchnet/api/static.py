"""Serves the dashboard (``watchnet/web``) from the same process: no build step, no CDN, no Node at run time.

Only the page shell and its scripts/styles are public (the login page needs them); every picture and
piece of data comes from /api behind a login.

Caching without a build step. The page shell (``/``) is always revalidated; it names its scripts and
styles under ``/static/v/<version>/...``, where ``<version>`` is a hash of every file's name, size and
modification time, and those answers may be kept for a year (``immutable``): a browser that has the
console open once loads it again without asking for any of its ~20 files. The ES modules import each
other with relative paths (``./api.js``), so the version travels down the module graph by itself. A
change to any file changes the version, hence every URL; a stale version is served like plain
``/static`` (revalidated, never cached for long), so a page from before an upgrade still loads.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

#: Served under this prefix, the dashboard's files carry the version and may be cached for a year.
VERSIONED = "/static/v"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def web_version(web_dir: Path) -> str:
    """A short hash of the dashboard's files (name, size, mtime): it changes whenever any file does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in web_dir.rglob("*") if p.is_file() and p.suffix in {".js", ".css", ".html"}):
        stat = path.stat()
        digest.update(f"{path.relative_to(web_dir)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:12]


class _Shell:
    """``index.html`` with its static URLs versioned; re-read only when a file under ``web_dir`` changed."""

    def __init__(self, web_dir: Path) -> None:
        self.web_dir = web_dir
        self._key: tuple[str, int] | None = None
        self._html = ""
        self._version = ""

    def current(self) -> tuple[str, str]:
        """(version, html) now: a stat of each file (~20) per page load, which is far below a millisecond."""
        version = web_version(self.web_dir)
        index = self.web_dir / "index.html"
        key = (version, index.stat().st_mtime_ns)
        if key != self._key:
            html = index.read_text(encoding="utf-8")
            self._html = html.replace('"/static/', f'"{VERSIONED}/{version}/')
            self._version, self._key = version, key
        return self._version, self._html


class _VersionedFiles(StaticFiles):
    """``/static/v/<version>/<path>``: the file at ``<path>``, cached for a year when ``<version>`` is current."""

    def __init__(self, web_dir: Path, shell: _Shell) -> None:
        super().__init__(directory=web_dir)
        self.shell = shell

    def get_path(self, scope: Scope) -> str:
        path = super().get_path(scope)
        _version, _, rest = path.replace(os.sep, "/").partition("/")
        return os.path.normpath(rest) if rest else ""

    def file_response(self, full_path: os.PathLike[str] | str, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        version = super().get_path(scope).replace(os.sep, "/").partition("/")[0]
        response.headers["cache-control"] = IMMUTABLE if version == self.shell.current()[0] else REVALIDATE
        return response


def mount_dashboard(app: FastAPI, web_dir: Path) -> None:
    shell = _Shell(web_dir)

    @app.get("/", include_in_schema=False)
    def dashboard(request: Request) -> Response:
        version, html = shell.current()
        # revalidated on every load (it names the current version), answered 304 when nothing changed
        headers = {"cache-control": REVALIDATE, "etag": f'"{version}"'}
        if request.headers.get("if-none-match") == headers["etag"]:
            return Response(status_code=304, headers=headers)
        return HTMLResponse(html, headers=headers)

    # the versioned files first: the plain mount below would take /static/v/... for a file path
    app.mount(VERSIONED, _VersionedFiles(web_dir, shell), name="static-versioned")
    app.mount("/static", StaticFiles(directory=web_dir), name="static")
