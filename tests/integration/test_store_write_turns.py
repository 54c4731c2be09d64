"""SQLite write transactions take turns: a read-check-then-write from many threads never fails with
"database is locked", and plain reads never wait for a writer.

Before, such a transaction began DEFERRED (a reader) and SQLite refused its upgrade to a writer at once
whenever another writer was busy; creating users under load failed that way about half the time.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa

from watchnet.core.config import StoreConfig
from watchnet.store.db import make_engine

THREADS = 16
ROUNDS = 15


def _table(engine: sa.Engine) -> sa.Table:
    table = sa.Table("items", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("name", sa.String, unique=True))
    table.metadata.create_all(engine)
    return table


def test_read_then_write_transactions_from_many_threads_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    engine = make_engine(url)
    other = make_engine(url)  # a second engine: another process's writer, ordered by SQLite alone
    items = _table(engine)
    errors: list[BaseException] = []

    def worker(k: int, eng: sa.Engine) -> None:
        try:
            for r in range(ROUNDS):
                name = f"item-{k}-{r}"
                with eng.connect() as conn, conn.begin():
                    taken = conn.execute(sa.select(items.c.id).where(items.c.name == name)).first()
                    assert taken is None
                    time.sleep(0.002)  # the check takes a moment (validation, hashing): others get in
                    conn.execute(items.insert().values(name=name))
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k, engine if k % 4 else other)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(items)).scalar_one() == THREADS * ROUNDS
    engine.dispose()
    other.dispose()


def test_readers_do_not_wait_for_a_writer_and_a_blocked_writer_says_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    engine = make_engine(url, store=StoreConfig(busy_timeout_s=0.5))
    other = make_engine(url, store=StoreConfig(busy_timeout_s=0.5))
    items = _table(engine)
    with other.connect() as holder, holder.begin():  # holds the write lock
        holder.execute(items.insert().values(name="held"))
        with engine.connect() as reader:  # an implicit (DEFERRED) transaction: reads at once
            assert reader.execute(sa.select(sa.func.count()).select_from(items)).scalar_one() == 0
        started = time.monotonic()
        try:
            with engine.connect() as conn, conn.begin():
                conn.execute(items.insert().values(name="late"))
        except sa.exc.OperationalError as exc:
            assert "locked" in str(exc)
            assert time.monotonic() - started >= 0.4  # it waited its turn before giving up
        else:
            raise AssertionError("a writer got in while another held the write lock")
    engine.dispose()
    other.dispose()
