"""aiosqlite's connection without its worker thread: each SQLite call runs at once on the event loop.

aiosqlite hands every call (execute, fetch, commit, ...) to a thread of its own and waits for the
answer. Under load that hand-over, not SQLite, is what a unit of work costs: an answer makes about
25 of them, and each waits for the interpreter lock while the event loop's thread is busy with other
people's updates (about 1 ms each on a 2-core machine, measured with `tests.benchmarks.load`).

SQLite itself answers our statements in microseconds (WAL, `synchronous=NORMAL`, small indexed
rows), and within a process the units of work already take turns on an asyncio lock
(`storage.repositories`), so running the calls inline blocks the loop for no longer than the
thread hand-over did. The one wait that is not short is another process holding the write lock
(an operator's `ipsbot purge` while the bot runs): the loop then waits with it, up to the busy
timeout set in `storage.db`, where with the thread only that unit of work waited (and the ones
queued behind it on the lock).

SQLAlchemy's `sqlite+aiosqlite` dialect drives this class unchanged (through `async_creator`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import aiosqlite


class _RunNow:
    """Stands in for aiosqlite's queue to its thread: runs each queued call right away."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as aiosqlite's thread does
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An `aiosqlite.Connection` whose calls run on the caller's thread; its thread never starts."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int = 64) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _RunNow()  # type: ignore[assignment]  # the queue's one method that aiosqlite calls

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()


def inline_connector(database: str, **kwargs: Any) -> Callable[[], Awaitable[InlineConnection]]:
    """An `async_creator` for `create_async_engine`: a new inline connection to `database`."""

    async def connect() -> InlineConnection:
        # made and used on the event loop's thread; closing may happen from the pool's finalizer
        def open_database() -> sqlite3.Connection:
            return sqlite3.connect(database, **{**kwargs, "check_same_thread": False})

        connection = InlineConnection(open_database)
        await connection
        return connection

    return connect
