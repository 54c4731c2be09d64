"""The audit log's hash chain: verify passes on an honest log and names modified, deleted and reordered
rows after direct SQL tampering, on SQLite and PostgreSQL; the CLI exits 0/1 accordingly."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import cast

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from watchnet.store import audit
from watchnet.store.db import make_engine, migrate
from watchnet.store.schema_auth import AuditEntry

_log = cast(sa.Table, AuditEntry.__table__)


@pytest.fixture()
def engine(db_url: str) -> sa.Engine:
    eng = make_engine(db_url)
    migrate(eng)
    for i in range(6):
        audit.record(eng, f"user{i % 2}", "search", "sightings", {"reason": f"case {i}", "n": i, "ok": True,
                                                                 "name": "Zoë"})
    return eng


def test_honest_chain_verifies(engine: sa.Engine) -> None:
    report = audit.verify(engine)
    assert report.ok and report.rows == 6 and report.head_seq == 6


def test_modified_row_is_detected(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(_log.update().where(_log.c.seq == 3).values(actor="mallory"))
    report = audit.verify(engine)
    assert not report.ok
    assert [(p.seq, p.kind) for p in report.problems] == [(3, "modified")]


def test_modified_details_are_detected(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(_log.update().where(_log.c.seq == 2).values(details={"reason": "nothing to see"}))
    assert [(p.seq, p.kind) for p in audit.verify(engine).problems] == [(2, "modified")]


def test_deleted_row_is_detected(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(_log.delete().where(_log.c.seq == 4))
    report = audit.verify(engine)
    assert not report.ok
    assert ("deleted", 5) in [(p.kind, p.seq) for p in report.problems]


def test_deleted_newest_rows_are_detected(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(_log.delete().where(_log.c.seq >= 5))
    kinds = [p.kind for p in audit.verify(engine).problems]
    assert kinds == ["deleted"]


def test_rehashed_forgery_is_still_caught_by_the_links(engine: sa.Engine) -> None:
    """Changing a row and recomputing its own hash breaks the next row's link."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(_log).where(_log.c.seq == 2)).mappings().one()
        forged = audit.row_hash(row["prev_hash"], 2, row["at"], "mallory", row["action"], row["target"],
                                row["details"])
        conn.execute(_log.update().where(_log.c.seq == 2).values(actor="mallory", hash=forged))
    problems = [(p.seq, p.kind) for p in audit.verify(engine).problems]
    assert problems == [(3, "reordered")]


def test_swapped_rows_are_detected(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(_log.update().where(_log.c.seq == 2).values(seq=-2))
        conn.execute(_log.update().where(_log.c.seq == 3).values(seq=2))
        conn.execute(_log.update().where(_log.c.seq == -2).values(seq=3))
    assert not audit.verify(engine).ok


def test_concurrent_appends_keep_the_chain(engine: sa.Engine) -> None:
    def work(n: int) -> None:
        for i in range(10):
            audit.record(engine, f"t{n}", "login", f"t{n}", {"i": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    report = audit.verify(engine)
    assert report.ok and report.rows == 46


def test_cli_verify_and_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from watchnet.cli.audit import app

    home = tmp_path / "home"
    monkeypatch.setenv("WATCHNET_HOME", str(home))
    engine = make_engine(f"sqlite:///{home / 'watchnet.db'}")
    migrate(engine)
    audit.record(engine, "alice", "login", "alice", {})
    audit.record(engine, "alice", "search", "sightings", {"reason": "case 7"})
    runner = CliRunner()
    ok = runner.invoke(app, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output
    out = tmp_path / "audit.jsonl"
    exported = runner.invoke(app, ["export", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["action"] for r in lines[:-1]] == ["login", "search", "export"]
    assert lines[-1]["verified"] is True and lines[-1]["head"]["hash"] == lines[-2]["hash"]
    with engine.begin() as conn:
        conn.execute(_log.update().where(_log.c.seq == 2).values(target="nothing"))
    bad = runner.invoke(app, ["verify"])
    assert bad.exit_code == 1
    assert "modified" in bad.output
