"""Key checks and rotation over every encrypted column.

The encrypted columns are enumerated from the models (`encrypted_columns`: every column of
`Base.metadata` whose type is one of the encrypted types), so a new encrypted column is checked and
rotated without anyone remembering to list it here. Rows are addressed by their whole primary key,
so tables with a composite key (the update inbox) are covered too.

`check` decrypts every stored token of every encrypted column, in batches, at start-up and in
`ipsbot keys check`, so a wrong `ENCRYPTION_KEY` stops the process with a clear message instead of
failing later on some person's answer. Every row, not one per column: a row written by a process that
still held only the old key after a rotation would pass a sample and fail later.
`rotate_all` re-encrypts every token with the newest key (after a new key was prepended), in batches,
so old keys can be retired. Tokens are read and written as raw bytes: nothing is decrypted into the
session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, LargeBinary, MetaData, Table, and_, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.crypto import Cipher, EncryptedJSON, EncryptedText, WrongKeyError
from storage.models import Base

ENCRYPTED_TYPES = (EncryptedJSON, EncryptedText)


def encrypted_columns(metadata: MetaData = Base.metadata) -> list[tuple[Table, Column[Any]]]:
    """(table, column) for every encrypted column of the schema, in table order."""
    return [(table, column) for table in metadata.sorted_tables for column in table.columns
            if isinstance(column.type, ENCRYPTED_TYPES)]


async def check(factory: async_sessionmaker[AsyncSession], cipher: Cipher, batch: int = 500,
                metadata: MetaData = Base.metadata) -> dict[str, int]:
    """Decrypt every stored token of each encrypted column; returns how many were read per table.column.

    Raises WrongKeyError, on one line, naming each column with rows that no configured key reads and
    how many."""
    counts: dict[str, int] = {}
    unreadable: dict[str, int] = {}
    first: WrongKeyError | None = None
    for table, column in encrypted_columns(metadata):
        name = f"{table.name}.{column.name}"
        key = list(table.primary_key.columns)
        raw = type_coerce(column, LargeBinary)
        counts[name], last = 0, None
        while True:
            async with factory() as session:
                rows = (await session.execute(_page(key, raw, last, batch))).all()
            for row in rows:
                try:
                    cipher.decrypt(bytes(row[-1]))
                    counts[name] += 1
                except WrongKeyError as exc:
                    first = first or exc
                    unreadable[name] = unreadable.get(name, 0) + 1
            if not rows:
                break
            last = tuple(rows[-1][:-1])
    if first is not None:
        where = ", ".join(f"{n} {unreadable[n]} of {unreadable[n] + counts[n]}" for n in unreadable)
        raise WrongKeyError(f"{first} Rows no configured key reads: {where}.")
    return counts


def _page(key: list[Column[Any]], raw: Any, last: tuple[Any, ...] | None, batch: int) -> Any:
    """The next `batch` stored tokens of a column after the row `last`, with their primary keys, in key order."""
    query = select(*key, raw).where(raw.is_not(None)).order_by(*key).limit(batch)
    return query if last is None else query.where(_after(key, last))


def _after(key: list[Column[Any]], last: tuple[Any, ...]) -> Any:
    """Rows whose primary key comes after `last` in key order (works for composite keys everywhere)."""
    if len(key) == 1:
        return key[0] > last[0]
    clauses = [and_(*(key[j] == last[j] for j in range(i)), key[i] > last[i]) for i in range(len(key))]
    return or_(*clauses)


async def rotate_all(factory: async_sessionmaker[AsyncSession], cipher: Cipher, batch: int = 500,
                     metadata: MetaData = Base.metadata) -> dict[str, int]:
    """Re-encrypt every stored token with the newest key; returns how many per table.column."""
    counts: dict[str, int] = {}
    for table, column in encrypted_columns(metadata):
        key = list(table.primary_key.columns)
        raw = type_coerce(column, LargeBinary)
        done, last = 0, None
        while True:
            async with factory() as session, session.begin():
                rows = (await session.execute(_page(key, raw, last, batch))).all()
                for row in rows:
                    fresh = type_coerce(cipher.rotate(bytes(row[-1])), LargeBinary)  # raw: no second encryption
                    match = and_(*(k == v for k, v in zip(key, row[:-1], strict=True)))
                    await session.execute(update(table).where(match).values({column.name: fresh}))
            if not rows:
                break
            done += len(rows)
            last = tuple(rows[-1][:-1])
        counts[f"{table.name}.{column.name}"] = done
    return counts


__all__ = ["ENCRYPTED_TYPES", "check", "encrypted_columns", "rotate_all"]
