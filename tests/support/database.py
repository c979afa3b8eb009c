"""Fixtures for the storage and service tests: a migrated database on each backend, engines, a test cipher.

Backends: "sqlite" (a fresh file per test) and "postgres" (a fresh database per test module, made
on the server named by `TEST_POSTGRES_URL` and dropped afterwards; tables are emptied between tests).
Without `TEST_POSTGRES_URL` the postgres cases are skipped, except under `CI=true`, where a missing
variable or an unreachable server fails them.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import crypto
from storage.db import make_engine, make_session_factory, upgrade
from storage.models import Base

BACKENDS = ["sqlite", "postgres"]


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run admin work on a private loop, leaving pytest-asyncio's loops alone."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _create_database(url: str, name: str) -> None:
    connection = await asyncpg.connect(_admin_dsn(url), timeout=10)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_database(url: str, name: str) -> None:
    connection = await asyncpg.connect(_admin_dsn(url), timeout=10)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database for this test module."""
    server_url = os.environ.get("TEST_POSTGRES_URL")
    in_ci = os.environ.get("CI") == "true"
    if not server_url:
        if in_ci:
            pytest.fail("TEST_POSTGRES_URL not set (required when CI=true)")
        pytest.skip("TEST_POSTGRES_URL not set")
    module = re.sub(r"[^a-z0-9]+", "_", request.module.__name__.lower())[-20:]
    name = f"ipsbot_test_{module}_{uuid.uuid4().hex[:8]}"
    try:
        _run(_create_database(server_url, name))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        message = f"PostgreSQL at TEST_POSTGRES_URL unreachable: {error!r}"
        if in_ci:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _run(_drop_database(server_url, name))


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty (SQLite) or possibly migrated (PostgreSQL, shared per module) database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'ipsbot.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
async def database_url(backend_url: str) -> str:
    """URL of a database migrated to head and holding no rows."""
    await upgrade(backend_url)
    if make_url(backend_url).get_backend_name() == "postgresql":
        engine = make_engine(backend_url)
        try:
            async with engine.begin() as connection:
                tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
                await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        finally:
            await engine.dispose()
    return backend_url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_factory(engine)


@pytest.fixture(autouse=True)
def cipher() -> Iterator[crypto.Cipher]:
    """A fresh cipher for each test, registered for the encrypted column types."""
    test_cipher = crypto.Cipher([Fernet.generate_key()], Fernet.generate_key())
    crypto.configure(test_cipher)
    try:
        yield test_cipher
    finally:
        crypto.configure(None)


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
