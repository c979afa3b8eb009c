"""SQLite through `storage.inline_sqlite`: aiosqlite's interface without its thread."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage.db import make_engine, make_session_factory, upgrade
from storage.inline_sqlite import InlineConnection
from storage.repositories import UnitOfWork


def aiosqlite_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]


async def test_statements_run_on_the_event_loops_thread(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as connection:
            raw = await connection.get_raw_connection()
            assert isinstance(raw.driver_connection, InlineConnection)
            await connection.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
            await connection.execute(text("INSERT INTO t VALUES (1), (2), (3)"))
        async with engine.connect() as connection:
            streamed = [row.n async for row in await connection.stream(text("SELECT n FROM t ORDER BY n"))]
            assert streamed == [1, 2, 3]
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
            assert mode == "wal"  # the connect-time settings of storage.db still apply
        assert aiosqlite_threads() == []
    finally:
        await engine.dispose()


async def test_errors_reach_the_caller_and_the_connection_stays_usable(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
            await connection.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(OperationalError, match="no such table"):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT * FROM missing"))
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_concurrent_units_of_work_take_turns_without_locking_errors(tmp_path: Path) -> None:
    # Inline, a second BEGIN IMMEDIATE in the same process would block the loop on SQLite's busy
    # handler; units of work queue on their asyncio lock first, so 20 at once all commit.
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    await upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    now = datetime.now(UTC)
    try:
        async def record(n: int) -> None:
            async with UnitOfWork(factory) as uow:
                await uow.audit.record(actor="test", action=f"a{n}", at=now)
                await asyncio.sleep(0)  # let the others try to begin meanwhile

        await asyncio.wait_for(asyncio.gather(*(record(n) for n in range(20))), timeout=10)
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM audit_events"))).scalar() == 20
    finally:
        await engine.dispose()
