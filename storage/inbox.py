"""The update inbox: events received and not yet handled, and those handled already (exactly once).

Channel-neutral: rows are keyed by a `source` the channel chooses (one per bot or account, e.g.
"telegram:<bot id>") and the channel's own event id, which grows with each event of that source.
Storage never reads a payload: the channel passes each event's id, sender (`flows.address.Address`)
and payload (`Received`), and keeps the payload's meaning to itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from flows.address import Address
from storage.crypto import keyed_hash
from storage.models import InboxUpdate

__all__ = ["Received", "UpdateRepository", "address_hash"]

_updates = cast(Table, InboxUpdate.__table__)


@dataclass(frozen=True, slots=True)
class Received:
    """One raw event as the channel received it: its id, who sent it (if anyone), and the payload."""

    event_id: int
    sender: Address | None
    payload: Any


def address_hash(address: Address) -> str:
    """The keyed hash of an address, derived as a candidate's `subject_hash` is from their identity
    (so a person's hash is the hash of the address they are known by)."""
    return keyed_hash(f"{address.channel}:{address.id}")


def sender_key(hashed: str) -> int:
    """The inbox's note of a sender: 60 bits of a keyed hash of their address's hash. Domain-separated
    (not a prefix of `subject_hash`), so a database copy cannot link waiting rows to a candidate."""
    return int(keyed_hash(f"inbox:{hashed}")[:15], 16)


def _key_of(sender: Address | None) -> int | None:
    return None if sender is None else sender_key(address_hash(sender))


def _mark_update(dialect_insert: Any) -> Any:
    """Handled now: a new row, or a waiting one; no row returned if it was handled before."""
    statement = dialect_insert(_updates)
    return statement.on_conflict_do_update(
        index_elements=["source", "event_id"],
        set_={"processed_at": statement.excluded.processed_at, "payload": None, "sender_key": None},
        where=_updates.c.processed_at.is_(None),
    ).returning(_updates.c.event_id)


_DIALECT_INSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_MARK_UPDATE = {name: _mark_update(dialect_insert) for name, dialect_insert in _DIALECT_INSERTS.items()}
_RECEIVE_UPDATES = {
    name: dialect_insert(_updates).on_conflict_do_nothing(index_elements=["source", "event_id"])
    .returning(_updates.c.event_id)
    for name, dialect_insert in _DIALECT_INSERTS.items()
}
_FINISH_UPDATES = (
    update(_updates)
    .where(_updates.c.source == bindparam("src"), _updates.c.event_id.in_(bindparam("ids", expanding=True)),
           _updates.c.processed_at.is_(None))
    .values(processed_at=bindparam("at"), payload=None, sender_key=None)
)


class UpdateRepository:
    """The update inbox, per source: events received and not yet handled, and those handled already.

    `receive` stores polled events (raw) before they are confirmed to the channel; `mark` is called
    in the same transaction as an event's effect and says whether the event is new, so each is
    handled once however often it arrives; `finish` closes events that no handler marked (one that
    needed no answer, or one given up). Handled rows keep no payload and no sender.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _statement(self, statements: dict[str, Any]) -> Any:
        name = self.session.get_bind().dialect.name
        try:
            return statements[name]
        except KeyError:
            raise NotImplementedError(f"the update inbox needs SQLite or PostgreSQL, not {name}") from None

    async def seen(self, source: str, event_id: int) -> bool:
        """Whether this event was handled."""
        query = select(exists().where(InboxUpdate.source == source, InboxUpdate.event_id == event_id,
                                      InboxUpdate.processed_at.is_not(None)))
        return bool(await self.session.scalar(query))

    async def mark(self, source: str, event_id: int, at: datetime) -> bool:
        """Mark the event as handled; False if it already was (by this or a concurrent session)."""
        values = {"source": source, "event_id": event_id, "received_at": at, "processed_at": at}
        result = await self.session.execute(self._statement(_MARK_UPDATE), values)
        return result.first() is not None

    async def receive(self, source: str, events: list[Received], at: datetime) -> set[int]:
        """Store raw events to handle; the ids of those not received before (the others are skipped)."""
        if not events:
            return set()
        rows = [{"source": source, "event_id": e.event_id, "received_at": at, "processed_at": None,
                 "payload": e.payload, "sender_key": _key_of(e.sender)} for e in events]
        result = await self.session.execute(self._statement(_RECEIVE_UPDATES), rows)
        return {int(event_id) for event_id in result.scalars()}

    async def waiting(self, source: str) -> list[Any]:
        """Raw events received and not yet handled, oldest first (what a crash left behind)."""
        query = (select(InboxUpdate.payload)
                 .where(InboxUpdate.source == source, InboxUpdate.processed_at.is_(None))
                 .order_by(InboxUpdate.event_id))
        return [payload for payload in (await self.session.scalars(query)) if payload is not None]

    async def stamp_senders(self, source: str, sender_of: Callable[[Any], Address | None]) -> list[Any]:
        """Note again the sender of each waiting event, as the channel reads it from the payload: for
        rows stored before the inbox knew senders (migration 0009), and after the hash key changed.
        Once, when the channel starts; returns the waiting raw events, oldest first (as `waiting`:
        the payloads are read and decrypted once)."""
        query = (select(InboxUpdate)
                 .where(InboxUpdate.source == source, InboxUpdate.processed_at.is_(None))
                 .order_by(InboxUpdate.event_id))
        waiting = []
        for row in (await self.session.scalars(query)):
            key = _key_of(sender_of(row.payload)) if row.payload is not None else None
            if row.sender_key != key:
                row.sender_key = key
            if row.payload is not None:
                waiting.append(row.payload)
        return waiting

    async def waiting_of(self, source: str, sender: Address, limit: int, after: int = -1) -> list[Any]:
        """One sender's raw events received and not yet handled, oldest first, at most `limit`, with
        event ids above `after` (to page through a long backlog)."""
        query = (select(InboxUpdate.payload)
                 .where(InboxUpdate.source == source, InboxUpdate.sender_key == _key_of(sender),
                        InboxUpdate.processed_at.is_(None), InboxUpdate.event_id > after)
                 .order_by(InboxUpdate.event_id).limit(limit))
        return [payload for payload in (await self.session.scalars(query)) if payload is not None]

    async def finish(self, source: str, event_ids: list[int], at: datetime) -> int:
        """Close these events unless a handler marked them already, and drop their payloads; how many
        were still open (in the caller's transaction, so a fold commits with its audit event)."""
        if not event_ids:
            return 0
        result = await self.session.execute(_FINISH_UPDATES, {"src": source, "ids": event_ids, "at": at})
        return int(getattr(result, "rowcount", 0) or 0)

    async def drop_waiting_of(self, address_hashes: Iterable[str]) -> int:
        """Remove the waiting events sent from any of these addresses (`address_hash`; a person being
        erased), from every source. Found by the sender note alone: no payload is read. A copy the
        channel still holds in hand is handled as usual, as a new person's message."""
        keys = sorted({sender_key(hashed) for hashed in address_hashes})
        if not keys:
            return 0
        result = await self.session.execute(
            delete(InboxUpdate).where(InboxUpdate.processed_at.is_(None), InboxUpdate.sender_key.in_(keys)))
        return int(getattr(result, "rowcount", 0) or 0)

    async def forget(self, handled_before: datetime) -> int:
        """Remove events handled before this time (Telegram, for one, repeats an update within a day)."""
        result = await self.session.execute(delete(InboxUpdate).where(InboxUpdate.processed_at < handled_before))
        return int(getattr(result, "rowcount", 0) or 0)
