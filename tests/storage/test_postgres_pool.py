"""The PostgreSQL pool: a fixed number of connections that units of work queue for, none opened and
closed again under load, and recovery without pre-ping after the server dropped every connection."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.settings import Settings
from storage.db import make_engine, make_session_factory
from storage.models import Candidate
from storage.repositories import UnitOfWork

POSTGRES_ONLY = pytest.mark.parametrize("backend_url", ["postgres"], indirect=True)


@POSTGRES_ONLY
async def test_units_of_work_queue_for_a_fixed_pool(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=3)
    opened: list[Any] = []
    event.listen(engine.sync_engine, "connect", lambda connection, record: opened.append(connection))
    factory = make_session_factory(engine)
    busy = peak = 0

    async def one() -> None:
        nonlocal busy, peak
        async with UnitOfWork(factory) as uow:
            await uow.session.execute(text("SELECT 1"))
            busy += 1
            peak = max(peak, busy)
            await asyncio.sleep(0.01)  # a transaction in progress while others want one
            busy -= 1

    try:
        await asyncio.gather(*(one() for _ in range(30)))
        await asyncio.gather(*(one() for _ in range(30)))
    finally:
        await engine.dispose()
    assert peak == 3  # never more at once than the pool holds ...
    assert len(opened) == 3  # ... and never a connection opened for a moment and closed again


@POSTGRES_ONLY
async def test_a_dropped_connection_fails_once_then_the_pool_recovers(database_url: str) -> None:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    try:
        async with UnitOfWork(factory) as uow:
            await uow.session.execute(text("SELECT 1"))
        name = make_url(database_url).database
        admin = make_url(database_url).set(drivername="postgresql", database="postgres")
        server = await asyncpg.connect(admin.render_as_string(hide_password=False))
        try:  # what a server restart does to every connection of the pool
            await server.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        finally:
            await server.close()
        with pytest.raises(DBAPIError) as failed:
            async with UnitOfWork(factory) as uow:
                await uow.session.execute(select(Candidate.id))
        assert failed.value.connection_invalidated  # the bot's signal to try the update again
        async with UnitOfWork(factory) as uow:  # and the next try gets a fresh connection
            assert (await uow.session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


def test_the_pool_size_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_POOL_SIZE", "25")
    assert Settings().database_pool_size == 25
    engine = make_engine("postgresql+asyncpg://u@127.0.0.1:1/x", pool_size=25)
    assert engine.pool.size() == 25 and engine.pool._max_overflow == 0  # type: ignore[attr-defined]
