"""The outbox (messages to send, committed with their cause) and the record of staff messages that
showed a person (to withdraw them when the person is erased)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict, cast

from sqlalchemy import Table, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Candidate, OutboxMessage, ShownMessage

__all__ = ["DocumentData", "EditData", "OutboxPayload", "OutboxRepository", "Payloads", "ShownData",
           "ShownRepository", "payload_of"]


class EditData(TypedDict):
    """A message sent before (the channel's reference), shown anew: as a screen (`flows.screens.screen_to_dict`),
    or as a channel's rendered text."""

    ref: int
    screen: NotRequired[dict[str, Any]]
    text: NotRequired[str]


class DocumentData(TypedDict):
    filename: str
    content: str
    caption: str


class ShownData(TypedDict):
    """A message sent before that showed an erased person: deleted where its channel still allows that
    (by `sent_at`, ISO 8601), otherwise replaced by the notice."""

    ref: int
    kind: str  # "text" | "document"
    sent_at: NotRequired[str]
    delete: NotRequired[bool]  # decided already: by the channel itself, or in a row written before `sent_at`


class OutboxPayload(TypedDict):
    """An outbox message (JSON, encrypted in the outbox), in the one form the services write
    (`bot.services.notify.payload`) and every channel reads."""

    to: dict[str, str]  # the recipient, `flows.address.Address.to_dict()`; the row's channel is its channel
    screens: list[dict[str, Any]]  # screens as data, each sent as a new message
    edit: EditData | None
    documents: list[DocumentData]  # files, sent after the screens
    offer_id: int | None  # the offer a sent summary belongs to (its reference is recorded, to edit it later)
    about: int | None  # the candidate a message to staff shows (its sent references are recorded for erasure)
    alert_copy: NotRequired[int]  # the escalation copy it is (its reference is recorded, for "Seen by")
    withdraw: NotRequired[list[ShownData]]  # erasure: messages sent before to delete or replace by `notice`
    notice: NotRequired[str]


Payloads = dict[int, OutboxPayload]  # outbox id -> payload, as just written


def payload_of(row: OutboxMessage) -> OutboxPayload:
    """A stored row's payload, in the form it was written in (the column is plain JSON)."""
    return cast(OutboxPayload, row.payload)

_outbox = cast(Table, OutboxMessage.__table__)
_ADD_OUTBOX = insert(_outbox).returning(_outbox.c.id)
_FINISH_OUTBOX = (
    update(_outbox)
    .where(_outbox.c.id == bindparam("outbox_id"))
    .values(attempts=_outbox.c.attempts + 1)
)


class OutboxRepository:
    """Messages to send, committed with their cause; a sender delivers and marks them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.added: list[int] = []  # ids written in this unit of work, for the caller to send after commit
        self.payloads: Payloads = {}  # and their payloads, so the sender need not read them back

    async def add(
        self, *, channel: str, payload: OutboxPayload, now: datetime, candidate_id: int | None = None,
        due_at: datetime | None = None, topic: str = "", subject_id: int | None = None,
    ) -> int:
        """A message to send now, or (`due_at`) not before then; `topic` groups messages to withdraw later.

        `candidate_id`: the candidate it is sent to; `subject_id`: the candidate it is about (erased with
        them, whoever receives it). Returns its id."""
        values = {"channel": channel, "payload": payload, "created_at": now, "candidate_id": candidate_id,
                  "subject_id": subject_id, "attempts": 0, "failure": "", "due_at": due_at, "topic": topic,
                  "sent_at": None}
        outbox_id: int = (await self.session.execute(_ADD_OUTBOX, values)).scalar_one()
        self.added.append(outbox_id)
        if due_at is None:
            self.payloads[outbox_id] = payload
        return outbox_id

    async def get(self, outbox_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, outbox_id)

    async def pending(self, channel: str, *, created_before: datetime, due_by: datetime | None = None,
                      limit: int = 100) -> list[OutboxMessage]:
        """Unsent messages of a channel, oldest first, created no later than `created_before` and due by
        `due_by` (default: the same time)."""
        result = await self.session.execute(
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == channel,
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.created_at <= created_before,
                or_(OutboxMessage.due_at.is_(None), OutboxMessage.due_at <= (due_by or created_before)),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        return list(result.scalars())

    async def finish(self, outbox_id: int, *, at: datetime, failure: str = "") -> None:
        """Sent (or given up, with a content-free reason); either way it is not sent again."""
        await self.session.execute(_FINISH_OUTBOX, {"outbox_id": outbox_id, "sent_at": at, "failure": failure})

    async def finish_many(self, sent: dict[int, datetime]) -> None:
        """Several messages sent, each at its time (one statement, executed for each)."""
        if sent:
            await self.session.execute(
                _FINISH_OUTBOX, [{"outbox_id": i, "sent_at": at, "failure": ""} for i, at in sent.items()])

    async def withdraw(self, topic: str) -> int:
        """Unsent messages of a topic are not sent after all (a cancelled meeting's reminders)."""
        result = await self.session.execute(
            delete(OutboxMessage).where(OutboxMessage.topic == topic, OutboxMessage.sent_at.is_(None))
            .returning(OutboxMessage.id)
        )
        return len(result.all())

    async def forget_replies(self, candidate_id: int, since: datetime) -> int:
        """A candidate's own replies written since then (an abandoned attempt: summary, /mydata file), sent
        or not; messages with a due time (a booked meeting's reminders) stay."""
        result = await self.session.execute(
            delete(OutboxMessage).where(OutboxMessage.candidate_id == candidate_id, OutboxMessage.created_at >= since,
                                        OutboxMessage.due_at.is_(None))
            .returning(OutboxMessage.id)
        )
        return len(result.all())

    async def forget_sent(self, sent_before: datetime) -> int:
        """Remove messages sent (or given up) before this time: once sent, a row has no further use."""
        result = await self.session.execute(
            delete(OutboxMessage).where(OutboxMessage.sent_at < sent_before).returning(OutboxMessage.id))
        return len(result.all())

    async def attempted(self, outbox_id: int) -> int:
        """Count a failed attempt; returns the attempts so far."""
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(attempts=OutboxMessage.attempts + 1)
        )
        return int(await self.session.scalar(select(OutboxMessage.attempts).where(OutboxMessage.id == outbox_id))
                   or 0)


class ShownRepository:
    """Which staff messages showed a person (content-free), to withdraw them when the person is erased."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, subject_id: int, address: dict[str, str], messages: list[tuple[int, str]],
                     at: datetime) -> bool:
        """Messages just sent to `address` about `subject_id`: (the channel's message reference, "text" |
        "document").

        False if the person was erased while the messages were on their way (the sender takes them back)."""
        if not await self.session.get(Candidate, subject_id):
            return False
        self.session.add_all([ShownMessage(subject_id=subject_id, address=address, message_ref=ref, kind=kind,
                                           sent_at=at) for ref, kind in messages])
        await self.session.flush()
        return True

    async def of(self, subject_id: int) -> list[ShownMessage]:
        result = await self.session.scalars(
            select(ShownMessage).where(ShownMessage.subject_id == subject_id).order_by(ShownMessage.id))
        return list(result.all())

    async def forget(self, subject_id: int) -> None:
        await self.session.execute(delete(ShownMessage).where(ShownMessage.subject_id == subject_id))
