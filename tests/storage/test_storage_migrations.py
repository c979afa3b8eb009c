"""Migrations: the stairway (each revision up, down, up) and models matching the migrated schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from storage.db import HEAD_REVISION, alembic_config, current_revision, downgrade, make_engine, upgrade
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


async def test_head_revision_is_alembics_head_and_an_upgraded_database_needs_no_alembic(
        backend_url: str, tmp_path: Path) -> None:
    assert ScriptDirectory.from_config(alembic_config(backend_url)).get_heads() == [HEAD_REVISION]
    assert await current_revision(backend_url) in (None, HEAD_REVISION)  # fresh, or shared and migrated
    await upgrade(backend_url)
    assert await current_revision(backend_url) == HEAD_REVISION
    # a bot starting on a migrated database (SQLite migrates at every start) does not load Alembic
    probe = ("import asyncio, sys; from storage.db import upgrade; asyncio.run(upgrade(sys.argv[1])); "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic'}))")
    done = subprocess.run([sys.executable, "-c", probe, backend_url], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2], check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    await downgrade(backend_url, "0004")
    assert await current_revision(backend_url) == "0004"
    await upgrade(backend_url)  # not at head: Alembic runs
    assert await current_revision(backend_url) == HEAD_REVISION


async def test_downgrading_past_the_inbox_waits_for_its_updates(backend_url: str) -> None:
    """Updates in the inbox were confirmed to Telegram already: dropping the table would lose them."""
    await upgrade(backend_url)
    engine = make_engine(backend_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM update_inbox"))
            await connection.execute(text(
                "INSERT INTO update_inbox (bot_id, update_id, received_at, processed_at, payload) "
                "VALUES (1, 10, CURRENT_TIMESTAMP, NULL, NULL), (1, 9, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, NULL)"))
        with pytest.raises(RuntimeError, match="still waiting in the inbox"):
            await downgrade(backend_url, "0004")
        assert await current_revision(backend_url) == HEAD_REVISION  # nothing was changed
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE update_inbox SET processed_at = CURRENT_TIMESTAMP"))
    finally:
        await engine.dispose()
    await downgrade(backend_url, "0004")
    engine = make_engine(backend_url)
    try:
        async with engine.connect() as connection:
            kept = (await connection.execute(text("SELECT update_id FROM processed_updates ORDER BY 1"))).scalars()
            assert list(kept) == [9, 10]  # the handled ones come back as processed updates
    finally:
        await engine.dispose()
    await upgrade(backend_url)
