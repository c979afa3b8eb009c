"""Key checks and rotation over every encrypted column.

The encrypted columns are enumerated from the models (`encrypted_columns`: every column of
`Base.metadata` whose type is one of the encrypted types), so a new encrypted column is checked and
rotated without anyone remembering to list it here. Rows are addressed by their whole primary key,
so tables with a composite key (the update inbox) are covered too.

`check` decrypts one stored token of every encrypted column at start-up, so a wrong `ENCRYPTION_KEY`
stops the process with a clear message instead of failing later on some person's answer.
`rotate_all` re-encrypts every token with the newest key (after a new key was prepended), in batches,
so old keys can be retired. Tokens are read and written as raw bytes: nothing is decrypted into the
session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, LargeBinary, MetaData, Table, and_, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.crypto import Cipher, EncryptedJSON, EncryptedText
from storage.models import Base

ENCRYPTED_TYPES = (EncryptedJSON, EncryptedText)


def encrypted_columns(metadata: MetaData = Base.metadata) -> list[tuple[Table, Column[Any]]]:
    """(table, column) for every encrypted column of the schema, in table order."""
    return [(table, column) for table in metadata.sorted_tables for column in table.columns
            if isinstance(column.type, ENCRYPTED_TYPES)]


async def check(factory: async_sessionmaker[AsyncSession], cipher: Cipher,
                metadata: MetaData = Base.metadata) -> None:
    """Decrypt one stored token of each encrypted column; raises WrongKeyError if the keys do not fit."""
    async with factory() as session:
        for _, column in encrypted_columns(metadata):
            raw = type_coerce(column, LargeBinary)
            token = await session.scalar(select(raw).where(raw.is_not(None)).limit(1))
            if token is not None:
                cipher.decrypt(bytes(token))


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
                query = select(*key, raw).where(raw.is_not(None)).order_by(*key).limit(batch)
                if last is not None:
                    query = query.where(_after(key, last))
                rows = (await session.execute(query)).all()
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
