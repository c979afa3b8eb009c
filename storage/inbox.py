"""The update inbox: updates received and not yet handled, and those handled already (exactly once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import keyed_hash
from storage.models import InboxUpdate

__all__ = ["UpdateRepository", "sender_of"]

_updates = cast(Table, InboxUpdate.__table__)


def _mark_update(dialect_insert: Any) -> Any:
    """Handled now: a new row, or a waiting one; no row returned if it was handled before."""
    statement = dialect_insert(_updates)
    return statement.on_conflict_do_update(
        index_elements=["bot_id", "update_id"],
        set_={"processed_at": statement.excluded.processed_at, "payload": None, "sender_key": None},
        where=_updates.c.processed_at.is_(None),
    ).returning(_updates.c.update_id)


_DIALECT_INSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_MARK_UPDATE = {name: _mark_update(dialect_insert) for name, dialect_insert in _DIALECT_INSERTS.items()}
_RECEIVE_UPDATES = {
    name: dialect_insert(_updates).on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
    .returning(_updates.c.update_id)
    for name, dialect_insert in _DIALECT_INSERTS.items()
}
_FINISH_UPDATES = (
    update(_updates)
    .where(_updates.c.bot_id == bindparam("b_id"), _updates.c.update_id.in_(bindparam("ids", expanding=True)),
           _updates.c.processed_at.is_(None))
    .values(processed_at=bindparam("at"), payload=None, sender_key=None)
)


class UpdateRepository:
    """The update inbox, per bot: updates received and not yet handled, and those handled already.

    `receive` stores polled updates (raw) before they are confirmed to Telegram; `mark` is called in
    the same transaction as an update's effect and says whether the update is new, so each is
    handled once however often it arrives; `finish` closes updates that no handler marked (one that
    needed no answer, or one given up). Handled rows keep no payload.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _statement(self, statements: dict[str, Any]) -> Any:
        name = self.session.get_bind().dialect.name
        try:
            return statements[name]
        except KeyError:
            raise NotImplementedError(f"the update inbox needs SQLite or PostgreSQL, not {name}") from None

    async def seen(self, bot_id: int, update_id: int) -> bool:
        """Whether this update was handled."""
        query = select(exists().where(InboxUpdate.bot_id == bot_id, InboxUpdate.update_id == update_id,
                                      InboxUpdate.processed_at.is_not(None)))
        return bool(await self.session.scalar(query))

    async def mark(self, bot_id: int, update_id: int, at: datetime) -> bool:
        """Mark the update as handled; False if it already was (by this or a concurrent session)."""
        values = {"bot_id": bot_id, "update_id": update_id, "received_at": at, "processed_at": at}
        result = await self.session.execute(self._statement(_MARK_UPDATE), values)
        return result.first() is not None

    async def receive(self, bot_id: int, updates: list[dict[str, Any]], at: datetime) -> set[int]:
        """Store raw updates to handle; the ids of those not received before (the others are skipped)."""
        if not updates:
            return set()
        rows = [{"bot_id": bot_id, "update_id": u["update_id"], "received_at": at, "processed_at": None,
                 "payload": u, "sender_key": _sender_key(sender_of(u))} for u in updates]
        result = await self.session.execute(self._statement(_RECEIVE_UPDATES), rows)
        return {int(update_id) for update_id in result.scalars()}

    async def waiting(self, bot_id: int) -> list[dict[str, Any]]:
        """Raw updates received and not yet handled, oldest first (what a crash left behind)."""
        query = (select(InboxUpdate.payload)
                 .where(InboxUpdate.bot_id == bot_id, InboxUpdate.processed_at.is_(None))
                 .order_by(InboxUpdate.update_id))
        return [payload for payload in (await self.session.scalars(query)) if payload is not None]

    async def stamp_senders(self, bot_id: int) -> None:
        """Note again the sender of each waiting update: for rows stored before the inbox knew them
        (migration 0009), and after the hash key changed. Once, when the bot starts."""
        query = select(InboxUpdate).where(InboxUpdate.bot_id == bot_id, InboxUpdate.processed_at.is_(None))
        for row in (await self.session.scalars(query)):
            key = _sender_key(sender_of(row.payload)) if row.payload is not None else None
            if row.sender_key != key:
                row.sender_key = key

    async def waiting_of(self, bot_id: int, person_id: int, limit: int, after: int = -1) -> list[dict[str, Any]]:
        """One person's raw updates received and not yet handled, oldest first, at most `limit`, with
        update ids above `after` (to page through a long backlog)."""
        query = (select(InboxUpdate.payload)
                 .where(InboxUpdate.bot_id == bot_id, InboxUpdate.sender_key == _sender_key(person_id),
                        InboxUpdate.processed_at.is_(None), InboxUpdate.update_id > after)
                 .order_by(InboxUpdate.update_id).limit(limit))
        return [payload for payload in (await self.session.scalars(query)) if payload is not None]

    async def finish(self, bot_id: int, update_ids: list[int], at: datetime) -> int:
        """Close these updates unless a handler marked them already, and drop their payloads; how many
        were still open (in the caller's transaction, so a fold commits with its audit event)."""
        if not update_ids:
            return 0
        result = await self.session.execute(_FINISH_UPDATES, {"b_id": bot_id, "ids": update_ids, "at": at})
        return int(getattr(result, "rowcount", 0) or 0)

    async def drop_waiting_of(self, person_hash: str) -> int:
        """Remove the waiting updates this person sent (they are being erased); a copy the poller still
        holds in hand is handled as usual, as a new person's message."""
        rows = (await self.session.execute(
            select(InboxUpdate.bot_id, InboxUpdate.update_id, InboxUpdate.payload)
            .where(InboxUpdate.processed_at.is_(None))
        )).all()
        doomed = [(bot_id, update_id) for bot_id, update_id, payload in rows
                  if (sender := _sender(payload)) is not None and keyed_hash(f"telegram:{sender}") == person_hash]
        for bot_id, update_id in doomed:
            await self.session.execute(delete(InboxUpdate).where(InboxUpdate.bot_id == bot_id,
                                                                 InboxUpdate.update_id == update_id))
        return len(doomed)

    async def forget(self, handled_before: datetime) -> int:
        """Remove updates handled before this time (Telegram repeats an update within a day at most)."""
        result = await self.session.execute(delete(InboxUpdate).where(InboxUpdate.processed_at < handled_before))
        return int(getattr(result, "rowcount", 0) or 0)


def sender_of(update: dict[str, Any]) -> int | None:
    """Who sent a raw Telegram update (a message, an edit, a button press): their user id, or None."""
    for kind in ("message", "edited_message", "callback_query"):
        event = update.get(kind)
        if isinstance(event, dict):
            sender = event.get("from")
            if isinstance(sender, dict) and isinstance(sender.get("id"), int):
                return int(sender["id"])
    return None


def _sender_key(person_id: int | None) -> int | None:
    """The inbox's note of a sender: 60 bits of the keyed hash of their id (the id is not stored)."""
    return None if person_id is None else int(keyed_hash(f"inbox:telegram:{person_id}")[:15], 16)


def _sender(update: Any) -> int | None:
    """The Telegram user id an update came from (message, callback, member change ...), if any."""
    if not isinstance(update, dict):
        return None
    for value in update.values():
        if isinstance(value, dict) and isinstance(value.get("from"), dict) and "id" in value["from"]:
            return int(value["from"]["id"])
    return None
