"""Migrations: the stairway (each revision up, down, up) and models matching the migrated schema."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from storage.db import alembic_config, downgrade, make_engine, upgrade
from storage.models import Base


async def _table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names) - {"alembic_version"}


async def test_stairway(backend_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(backend_url))
    revisions = list(script.walk_revisions("base", "heads"))
    revisions.reverse()
    assert revisions, "no migrations found"

    await downgrade(backend_url, "base")
    assert await _table_names(backend_url) == set()
    for revision in revisions:
        await upgrade(backend_url, revision.revision)
        await downgrade(backend_url, "-1")
        await upgrade(backend_url, revision.revision)
    assert await _table_names(backend_url) == {table.name for table in Base.metadata.sorted_tables}

    await downgrade(backend_url, "base")
    assert await _table_names(backend_url) == set()


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_models_match_migrations(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def test_upgrade_is_idempotent_and_creates_sqlite_directory(backend_url: str) -> None:
    await upgrade(backend_url)
    await upgrade(backend_url)
    assert "candidates" in await _table_names(backend_url)
