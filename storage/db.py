"""Engines, session factories and schema migrations (Alembic, run from code).

`make_engine` sets up each backend the way the rest of `storage/` relies on:

- SQLite: calls run on the event loop's thread, not on aiosqlite's (`storage.inline_sqlite`), a
  WAL journal, a 5 s busy timeout, foreign keys enforced, and every transaction opened with
  `BEGIN IMMEDIATE`. The last point replaces the sqlite3 driver's own transaction handling, which
  does not begin a transaction before a SELECT (so SAVEPOINTs and repeatable reads misbehave) and
  which lets two read-then-write transactions fail with "database is locked" instead of waiting.
  SQLite has one writer at a time anyway; with IMMEDIATE, the second unit of work waits its turn.
- PostgreSQL: a fixed pool of `pool_size` connections per process that units of work queue for,
  with no overflow. Overflow connections were opened and closed again under load, and each new one
  costs PostgreSQL a backend process and its prepared statements; no pre-ping either, which costs
  three round trips per checkout. A connection that died (a server restart) fails its first use:
  SQLAlchemy then invalidates the whole pool, and the caller tries again (the bot retries an
  update as long as the database is away).

`upgrade` / `downgrade` run Alembic against `storage/migrations` without an alembic.ini. On SQLite
they switch foreign keys off while migrating (a batch migration copies and drops tables, and a drop
would otherwise cascade) and check them with `PRAGMA foreign_key_check` before committing.
Alembic is imported only when there is something to migrate: `upgrade` to head first reads the
database's revision, and at `HEAD_REVISION` it is done (importing Alembic costs a running bot
12 MB of memory for nothing).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage.inline_sqlite import inline_connector

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "MIGRATIONS_DIR", "alembic_config", "current_revision", "downgrade", "make_engine",
           "make_session_factory", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0016"  # the newest migration; a test checks it against Alembic's own view
BUSY_TIMEOUT_MS = 5000
POOL_SIZE = 10  # PostgreSQL connections per process (`DATABASE_POOL_SIZE`)
POOL_TIMEOUT = 60  # seconds a unit of work waits for a connection before it fails


def _dialect_of(url: str) -> Any:
    return make_url(url).get_dialect()()


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _ensure_sqlite_directory(url: str) -> None:
    """The SQLite file's directory, and the file itself made readable by its owner only (0600).

    SQLite gives the -wal and -shm files the database file's mode, so they are 0600 too; files made
    before this are narrowed to 0600 as well. The answers in it are encrypted, but names of
    programmes, times and statuses are not, and the file is nobody else's business."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # created 0600, whatever the umask
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if each.exists() and each.stat().st_mode & 0o077:
                each.chmod(0o600)
        except OSError:  # not ours to change (a shared volume): SQLite still works
            continue


def make_engine(url: str, *, foreign_keys: bool = True, pool_size: int = POOL_SIZE, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url`, configured for its backend (see the module docstring).

    `foreign_keys=False` is for migrations on SQLite only; `pool_size` for PostgreSQL only; other
    keyword arguments go to `create_async_engine`.
    """
    if not _is_sqlite(url):
        kwargs.setdefault("pool_size", pool_size)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", POOL_TIMEOUT)
        kwargs.setdefault("pool_recycle", 3600)  # a firewall may drop a connection idle for long
        return create_async_engine(url, **kwargs)

    _ensure_sqlite_directory(url)
    args, options = _dialect_of(url).create_connect_args(make_url(url))
    kwargs.setdefault("async_creator", inline_connector(*args, **options))
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Take over transaction control from the driver (BEGIN is emitted in _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            # another process's write (an operator's command) holds the event loop while it waits
            # (`storage.inline_sqlite`); long enough for a command's short transactions
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            # WAL + NORMAL: a killed process loses nothing committed; only a power cut can lose the
            # last transactions, never corrupt the file (https://www.sqlite.org/wal.html)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay usable after commit (no lazy reload under asyncio)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """An Alembic configuration for our migrations, made in code (no alembic.ini)."""
    from alembic.config import Config

    config = Config()
    # configparser interpolates "%": escape it in the path. The URL travels in `attributes`
    # instead, so a password with "%" in it needs no escaping.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["url"] = url
    return config


def _migrate(connection: Connection, config: Config, direction: str, revision: str) -> None:
    from alembic import command

    config.attributes["connection"] = connection
    if direction == "upgrade":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)
    if connection.dialect.name == "sqlite":
        problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"migration left rows that break foreign keys: {problems[:5]!r}")


async def _run_migration(url: str, direction: str, revision: str) -> None:
    engine = make_engine(url, foreign_keys=False)
    try:
        # One transaction for the whole run; Alembic sees it and does not open its own.
        async with engine.begin() as connection:
            await connection.run_sync(_migrate, alembic_config(url), direction, revision)
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    """The database's migration revision; None for a database never migrated (or not there yet)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except DBAPIError:  # no such table
        return None
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    if revision == "head" and await current_revision(url) == HEAD_REVISION:
        return
    await _run_migration(url, "upgrade", revision)


async def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" removes every table)."""
    await _run_migration(url, "downgrade", revision)
