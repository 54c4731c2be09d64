"""The dashboard's files are cached for a year under a versioned path the page shell names, the shell
itself is revalidated (304 when nothing changed), and a file change makes a new version."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from watchnet.api.app import WEB_DIR
from watchnet.api.static import IMMUTABLE, mount_dashboard


def test_shell_names_versioned_files_cached_for_a_year(anon: TestClient) -> None:
    page = anon.get("/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert urls and all(u.startswith("/static/v/") for u in urls)
    version = urls[0].split("/")[3]
    assert all(u.split("/")[3] == version for u in urls)
    assert {f"/static/v/{version}/js/app.js", f"/static/v/{version}/js/boot.js"} <= set(urls)
    for url in urls:
        got = anon.get(url)
        assert got.status_code == 200 and got.headers["cache-control"] == IMMUTABLE, url
    # modules import each other relatively, so the version travels down the graph
    assert anon.get(f"/static/v/{version}/js/live.js").headers["cache-control"] == IMMUTABLE
    # revalidation: the shell and a file answer 304 to their ETag
    assert anon.get("/", headers={"if-none-match": page.headers["etag"]}).status_code == 304
    app_js = anon.get(f"/static/v/{version}/js/app.js")
    again = anon.get(f"/static/v/{version}/js/app.js", headers={"if-none-match": app_js.headers["etag"]})
    assert again.status_code == 304
    # an old version still loads (a page from before an upgrade) but is not kept; plain /static still works
    old = anon.get("/static/v/0123456789ab/js/app.js")
    assert old.status_code == 200 and old.headers["cache-control"] == "no-cache" and old.content == app_js.content
    assert anon.get("/static/js/app.js").status_code == 200
    # no way out of the folder, and the security headers are on the versioned files too
    assert anon.get(f"/static/v/{version}/../../watchnet.db").status_code == 404
    assert anon.get("/static/v/x/%2e%2e/%2e%2e/core/config.py").status_code == 404
    assert "script-src 'self'" in app_js.headers["content-security-policy"]


def test_a_changed_file_changes_the_version(tmp_path: Path) -> None:
    web = tmp_path / "web"
    shutil.copytree(WEB_DIR, web)
    app = FastAPI()
    mount_dashboard(app, web)
    with TestClient(app) as client:
        first = client.get("/").headers["etag"]
        live = web / "js" / "live.js"
        live.write_text(live.read_text() + "\n// changed\n")
        second = client.get("/")
        assert second.headers["etag"] != first
        version = second.headers["etag"].strip('"')
        assert f"/static/v/{version}/js/app.js" in second.text
        assert client.get(f"/static/v/{version}/js/live.js").text.endswith("// changed\n")
