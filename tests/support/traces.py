"""Search every stored value for what a test person typed: every table and column of the models.

Encrypted columns are found from the models (`storage.keys.encrypted_columns`, i.e. every column of
`Base.metadata` with an encrypted type), read as raw tokens and decrypted here with the cipher; plain
columns are searched as they are. A new table or column is searched without anyone listing it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import LargeBinary, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.crypto import Cipher
from storage.keys import encrypted_columns
from storage.models import Base


async def traces(factory: async_sessionmaker[AsyncSession], cipher: Cipher, markers: list[str]) -> list[str]:
    """Where any marker (case-insensitive) occurs: "table.column: marker", one per hit."""
    encrypted = {(table.name, column.name) for table, column in encrypted_columns()}
    assert encrypted, "no encrypted columns found in the models"
    found: list[str] = []
    async with factory() as session:
        for table in Base.metadata.sorted_tables:
            columns = [type_coerce(c, LargeBinary).label(c.name) if (table.name, c.name) in encrypted else c
                       for c in table.columns]
            for row in (await session.execute(select(*columns))).mappings():
                for name, value in row.items():
                    text = _plain(cipher, value) if (table.name, name) in encrypted else str(value)
                    found += [f"{table.name}.{name}: {m}" for m in markers if m.lower() in text.lower()]
    return found


def _plain(cipher: Cipher, token: Any) -> str:
    return "" if token is None else cipher.decrypt(bytes(token)).decode("utf-8")
