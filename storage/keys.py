"""Key checks and rotation over every encrypted column.

`check` reads one stored token at start-up, so a wrong `ENCRYPTION_KEY` stops the process with a
clear message instead of failing later on some person's answer. `rotate_all` re-encrypts every
token with the newest key (after a new key was prepended), in batches, so old keys can be retired.
Tokens are read and written as raw bytes: nothing is decrypted into the session.
"""

from __future__ import annotations

from sqlalchemy import LargeBinary, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.crypto import Cipher
from storage.models import Candidate, Intake, OutboxMessage, Referral, RiskEvent

# (model, encrypted column name) for every encrypted column in the schema
ENCRYPTED = ((Candidate, "contact"), (Intake, "state"), (Referral, "payload"), (OutboxMessage, "payload"),
             (RiskEvent, "detail"))


async def check(factory: async_sessionmaker[AsyncSession], cipher: Cipher) -> None:
    """Decrypt one stored token of each kind; raises WrongKeyError if the keys do not fit."""
    async with factory() as session:
        for model, column in ENCRYPTED:
            raw = type_coerce(getattr(model, column), LargeBinary)
            token = await session.scalar(select(raw).where(raw.is_not(None)).limit(1))
            if token is not None:
                cipher.decrypt(bytes(token))


async def rotate_all(factory: async_sessionmaker[AsyncSession], cipher: Cipher, batch: int = 500) -> dict[str, int]:
    """Re-encrypt every stored token with the newest key; returns how many per table."""
    counts: dict[str, int] = {}
    for model, column in ENCRYPTED:
        table = model.__tablename__
        raw = type_coerce(getattr(model, column), LargeBinary)
        done, last_id = 0, 0
        while True:
            async with factory() as session, session.begin():
                rows = (await session.execute(
                    select(model.id, raw).where(model.id > last_id, raw.is_not(None)).order_by(model.id).limit(batch)
                )).all()
                for row_id, token in rows:
                    fresh = type_coerce(cipher.rotate(bytes(token)), LargeBinary)  # raw: no second encryption
                    await session.execute(update(model).where(model.id == row_id).values({column: fresh}))
            if not rows:
                break
            done += len(rows)
            last_id = rows[-1][0]
        counts[table] = done
    return counts
