"""``watchnet watchlist`` and ``watchnet alerts`` commands, end to end on a real home and real photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from watchnet.cli.alerts import app as alerts_app
from watchnet.cli.watchlist import app, parse_expiry
from watchnet.core.config import Settings
from watchnet.core.records import Alert
from watchnet.services.alerts import AlertManager
from watchnet.store.db import open_store

runner = CliRunner()


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WATCHNET_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_add_list_show_update_negative_remove(home: Path, shared_data: Path) -> None:
    fr = shared_data / "faces" / "face_recognition"
    out = _ok(runner.invoke(app, ["add", "Lin-Manuel Miranda", "--photo", str(fr / "lin-manuel-miranda.png"),
                                  "--reason", "test", "--case", "C-7", "--by", "alice", "--expires", "2099-12-31"]))
    subject = json.loads(out)
    assert subject["name"] == "Lin-Manuel Miranda" and subject["case"] == "C-7" and len(subject["photos"]) == 1
    assert subject["expires_at"].startswith("2100-01-01T00:00:00")  # valid through the last day
    sid = subject["id"]
    listed = [json.loads(line) for line in _ok(runner.invoke(app, ["list"])).splitlines()]
    assert [s["id"] for s in listed] == [sid]
    assert json.loads(_ok(runner.invoke(app, ["show", str(sid)])))["reason"] == "test"

    updated = json.loads(_ok(runner.invoke(app, ["update", str(sid), "--by", "bob", "--inactive", "--expires",
                                                 "never", "--photo", str(fr / "lin-manuel-miranda.png")])))
    assert updated["active"] is False and updated["expires_at"] is None and len(updated["photos"]) == 2
    assert _ok(runner.invoke(app, ["list"])).strip() == ""  # inactive: hidden unless --all
    assert len(_ok(runner.invoke(app, ["list", "--all"])).splitlines()) == 1

    neg = json.loads(_ok(runner.invoke(app, ["negative", str(sid), "--photo", str(fr / "obama_small.jpg"),
                                             "--by", "bob"])))
    assert neg["negatives"] == 1
    assert json.loads(_ok(runner.invoke(app, ["remove", str(sid), "--by", "carol"]))) == {
        "removed": sid, "name": "Lin-Manuel Miranda"}
    assert _ok(runner.invoke(app, ["list", "--all"])).strip() == ""


def test_errors_are_one_line_and_exit_2(home: Path, shared_data: Path) -> None:
    fr = shared_data / "faces" / "face_recognition"
    result = runner.invoke(app, ["add", "Two", "--photo", str(fr / "two_people.jpg"), "--by", "alice"])
    assert result.exit_code == 2
    assert "contains 2 faces; crop it to the one person or choose which face to use" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["add", "X", "--photo", str(fr / "labels.csv"), "--by", "alice"])
    assert result.exit_code == 2 and "not a readable image" in result.output
    result = runner.invoke(app, ["show", "42"])
    assert result.exit_code == 2 and "no watchlist subject with id 42" in result.output
    result = runner.invoke(app, ["add", "X", "--photo", str(fr / "obama_small.jpg"), "--by", "a",
                                 "--expires", "soon"])
    assert result.exit_code == 2 and "--expires 'soon'" in result.output
    result = runner.invoke(app, ["add", "X", "--photo", str(fr / "obama_small.jpg")])
    assert result.exit_code != 0 and "--by" in result.output  # the author is required


def test_alert_commands_take_two_users_to_confirm(home: Path, shared_data: Path) -> None:
    fr = shared_data / "faces" / "face_recognition"
    sid = json.loads(_ok(runner.invoke(app, ["add", "Obama", "--photo", str(fr / "obama_small.jpg"),
                                             "--by", "alice"])))["id"]
    engine = open_store(Settings.load(home=home))
    alert = AlertManager(engine).raise_alert(Alert(
        subject_id=sid, subject_name="Obama", kind="face", score=0.96, camera="gate", track_id=1,
        timestamp=1_760_000_000.0, frame_index=10))
    aid = str(alert.id)
    assert json.loads(_ok(runner.invoke(alerts_app, ["list", "--state", "new"])))["id"] == alert.id
    assert json.loads(_ok(runner.invoke(alerts_app, ["confirm", aid, "--by", "alice"])))["state"] == "new"
    again = runner.invoke(alerts_app, ["confirm", aid, "--by", "alice"])
    assert again.exit_code == 2 and "a different user must confirm" in again.output
    assert json.loads(_ok(runner.invoke(alerts_app, ["confirm", aid, "--by", "bob"])))["state"] == "confirmed"
    closed = json.loads(_ok(runner.invoke(alerts_app, ["close", aid, "--by", "carol", "--note", "done"])))
    assert closed["state"] == "closed" and [d["actor"] for d in closed["decisions"]] == ["alice", "bob", "carol"]
    late = runner.invoke(alerts_app, ["dismiss", aid, "--by", "dave", "--negative"])
    assert late.exit_code == 2 and "already closed" in late.output
    assert json.loads(_ok(runner.invoke(alerts_app, ["show", aid])))["confirmed_by"] == ["alice", "bob"]
    engine.dispose()


def test_expiry_dates() -> None:
    assert parse_expiry("2030-05-01").isoformat() == "2030-05-02T00:00:00+00:00"
    assert parse_expiry("2030-05-01T12:30:00+02:00").isoformat() == "2030-05-01T12:30:00+02:00"
