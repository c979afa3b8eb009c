"""Repositories over an `AsyncSession`, and the `UnitOfWork` that bundles them per incoming message.

A unit of work is one transaction: everything a handler changes for one message or update is
committed together, or rolled back together if the handler raises.

Times are always passed in (the caller owns the clock) and must be timezone-aware.

Creating something that must exist only once (a candidate per channel identity, a referral per
intake, a processed update) is safe against a concurrent creator: the database's unique constraint
decides, the loser's INSERT fails inside a SAVEPOINT, and it reads the winner's row instead.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import AsyncGenerator
from datetime import datetime
from types import TracebackType
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, exists, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from locales import normalise
from storage.cases import CaseRepository, InviteRepository, SlotRepository, StaffRepository
from storage.crypto import keyed_hash
from storage.models import (
    AuditEvent,
    Candidate,
    InboxUpdate,
    Intake,
    IntakeStatus,
    OutboxMessage,
    Referral,
    RiskEvent,
    ShownMessage,
)
from storage.risks import RiskRepository

__all__ = [
    "AuditRepository",
    "CandidateRepository",
    "IntakeRepository",
    "OutboxRepository",
    "ReferralRepository",
    "ShownRepository",
    "StaleStateError",
    "UnitOfWork",
    "UpdateRepository",
    "subject_hash",
]

_FINAL_STATUSES = frozenset({IntakeStatus.COMPLETED, IntakeStatus.DECLINED, IntakeStatus.WITHDRAWN})


# Statements of the hot path (one answer), built once: building a statement and its cache key costs
# more than SQLite takes to run it. Core statements on the tables, so the ORM's bulk machinery is
# skipped; values come as parameters (column types, with their encryption, still apply).
_intakes, _outbox, _updates = (cast(Table, model.__table__) for model in (Intake, OutboxMessage, InboxUpdate))
_SAVE_STATE = (
    update(_intakes)
    .where(_intakes.c.id == bindparam("intake_id"), _intakes.c.state_version == bindparam("loaded_version"))
    .returning(_intakes.c.id)
)
_ADD_OUTBOX = insert(_outbox).returning(_outbox.c.id)
_FINISH_OUTBOX = (
    update(_outbox)
    .where(_outbox.c.id == bindparam("outbox_id"))
    .values(attempts=_outbox.c.attempts + 1)
)


def _mark_update(dialect_insert: Any) -> Any:
    """Handled now: a new row, or a waiting one; no row returned if it was handled before."""
    statement = dialect_insert(_updates)
    return statement.on_conflict_do_update(
        index_elements=["bot_id", "update_id"],
        set_={"processed_at": statement.excluded.processed_at, "payload": None},
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
    .values(processed_at=bindparam("at"), payload=None)
)


_NEWEST_INTAKE_FIRST = (Intake.started_at.desc(), Intake.id.desc())  # "latest" everywhere, ties by id
_LATEST_INTAKE_ID = (
    select(Intake.id)
    .where(Intake.candidate_id == Candidate.id)
    .order_by(*_NEWEST_INTAKE_FIRST)
    .limit(1)
    .correlate(Candidate)
    .scalar_subquery()
)
_CANDIDATE_WITH_LATEST = (
    select(Candidate, Intake)
    .outerjoin(Intake, Intake.id == _LATEST_INTAKE_ID)
    .where(Candidate.subject_hash == bindparam("hashed"))
)


class StaleStateError(Exception):
    """The intake's state was saved by someone else after this copy was loaded."""


def subject_hash(channel: str, external_id: str) -> str:
    """The keyed hash that identifies a candidate: of "channel:external_id"."""
    return keyed_hash(f"{channel}:{external_id}")


class CandidateRepository:
    """Candidates, found by channel and the channel's own id (e.g. a Telegram user id)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _by_hash(self, hashed: str) -> Candidate | None:
        result = await self.session.execute(select(Candidate).where(Candidate.subject_hash == hashed))
        return result.scalar_one_or_none()

    async def _with_latest(self, hashed: str) -> tuple[Candidate, Intake | None] | None:
        row = (await self.session.execute(_CANDIDATE_WITH_LATEST, {"hashed": hashed})).first()
        return None if row is None else (row[0], row[1])

    async def find(self, channel: str, external_id: str) -> Candidate | None:
        """The candidate known under this channel identity, if any."""
        return await self._by_hash(subject_hash(channel, external_id))

    async def get_or_create(
        self,
        channel: str,
        external_id: str,
        *,
        language: str,
        now: datetime,
        contact: dict[str, Any] | None = None,
    ) -> Candidate:
        """The candidate for this identity, created if new.

        `language` is used only when creating. A given `contact` replaces the stored one and clears
        `unreachable` (the person has just written to us).
        """
        candidate, _ = await self.get_or_create_with_latest(channel, external_id, language=language, now=now,
                                                            contact=contact)
        return candidate

    async def get_or_create_with_latest(
        self,
        channel: str,
        external_id: str,
        *,
        language: str,
        now: datetime,
        contact: dict[str, Any] | None = None,
    ) -> tuple[Candidate, Intake | None]:
        """`get_or_create`, and the candidate's latest intake (`IntakeRepository.latest`) in the same query."""
        hashed = subject_hash(channel, external_id)
        found = await self._with_latest(hashed)
        if found is None:
            new = Candidate(
                subject_hash=hashed,
                channel=channel,
                contact=contact,
                language=normalise(language),  # Telegram's codes run longer than the column (`zh-hans`)
                unreachable=False,
                created_at=now,
            )
            if await _add_unless_taken(self.session, new):
                return new, None
            found = await self._with_latest(hashed)  # created concurrently: take theirs
            if found is None:
                raise LookupError("candidate insert conflicted but no row is there")
        candidate, intake = found
        if contact is not None and (candidate.contact != contact or candidate.unreachable):
            candidate.contact = contact
            candidate.unreachable = False
            await self.session.flush()
        return candidate, intake

    async def mark_unreachable(self, channel: str, external_id: str) -> None:
        """The person blocked us: stop writing to them until they write again."""
        await self.session.execute(
            update(Candidate)
            .where(Candidate.subject_hash == subject_hash(channel, external_id))
            .values(unreachable=True)
        )

    async def delete(self, candidate_id: int) -> None:
        """Erase a candidate and every row that holds their content (audit events stay, content-free).

        Intakes, referrals (with their offers), messages to them or about them (sent or not, to anyone),
        the record of staff messages that showed them, and updates of theirs still waiting in the inbox.
        Withdrawing what staff were shown is `bot.services.erasure.erase`'s part, before this.
        """
        candidate = await self.session.get(Candidate, candidate_id)
        intake_ids = select(Intake.id).where(Intake.candidate_id == candidate_id).scalar_subquery()
        # The foreign keys cascade too; deleting explicitly also drops the objects from the session.
        await self.session.execute(
            delete(Referral).where(Referral.intake_id.in_(intake_ids)),
            execution_options={"synchronize_session": "fetch"},
        )
        await self.session.execute(delete(RiskEvent).where(RiskEvent.candidate_id == candidate_id))
        await self.session.execute(delete(Intake).where(Intake.candidate_id == candidate_id))
        await self.session.execute(delete(OutboxMessage).where(
            or_(OutboxMessage.candidate_id == candidate_id, OutboxMessage.subject_id == candidate_id)))
        await self.session.execute(delete(ShownMessage).where(ShownMessage.subject_id == candidate_id))
        if candidate is not None:
            await UpdateRepository(self.session).drop_waiting_of(candidate.subject_hash)
        await self.session.execute(delete(Candidate).where(Candidate.id == candidate_id))


class IntakeRepository:
    """Intakes: a candidate's run through a programme, with the flow's conversation state."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active(self, candidate_id: int) -> Intake | None:
        """The candidate's latest intake with status "active", if any."""
        result = await self.session.execute(
            select(Intake)
            .where(Intake.candidate_id == candidate_id, Intake.status == IntakeStatus.ACTIVE.value)
            .order_by(*_NEWEST_INTAKE_FIRST)
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def latest(self, candidate_id: int) -> Intake | None:
        """The candidate's latest intake whatever its status, if any."""
        result = await self.session.execute(
            select(Intake)
            .where(Intake.candidate_id == candidate_id)
            .order_by(*_NEWEST_INTAKE_FIRST)
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def all_of(self, candidate_id: int) -> list[Intake]:
        """Every intake of a candidate, oldest first (for their copy of their data)."""
        result = await self.session.execute(
            select(Intake).where(Intake.candidate_id == candidate_id).order_by(Intake.started_at, Intake.id)
        )
        return list(result.scalars())

    async def start(
        self, candidate_id: int, *, programme_id: str, language: str, state: dict[str, Any], now: datetime
    ) -> Intake:
        """A new active intake (state_version 0)."""
        intake = Intake(
            candidate_id=candidate_id,
            programme_id=programme_id,
            language=language,
            status=IntakeStatus.ACTIVE.value,
            state=state,
            state_version=0,
            actor_ref=secrets.token_hex(8),
            started_at=now,
            updated_at=now,
        )
        self.session.add(intake)
        await self.session.flush()
        return intake

    async def save_state(
        self,
        intake: Intake,
        state: dict[str, Any],
        *,
        programme_id: str | None,
        language: str,
        now: datetime,
    ) -> None:
        """Store the new conversation state and bump `state_version`.

        Refused with `StaleStateError` if the row's version is no longer the one `intake` was
        loaded with (a concurrent save won). `programme_id=None` keeps the programme.
        """
        values: dict[str, Any] = {
            "state": state,
            "state_version": intake.state_version + 1,
            "language": language,
            "updated_at": now,
            "programme_id": intake.programme_id if programme_id is None else programme_id,
        }
        result = await self.session.execute(
            _SAVE_STATE, {**values, "intake_id": intake.id, "loaded_version": intake.state_version}
        )
        if result.first() is None:
            raise StaleStateError(
                f"intake {intake.id} was saved concurrently (version {intake.state_version})"
            )
        for key, value in values.items():
            set_committed_value(intake, key, value)

    async def record_consent(self, intake: Intake, *, version: str, language: str, at: datetime) -> None:
        """Record which consent text (version, language) the candidate accepted, and when."""
        intake.consent_version = version
        intake.consent_language = language
        intake.consent_at = at
        intake.updated_at = at
        await self.session.flush()

    async def get(self, intake_id: int) -> Intake | None:
        """The intake with this id, if any."""
        return await self.session.get(Intake, intake_id)

    async def finish(self, intake: Intake, *, status: str, now: datetime) -> None:
        """Close the intake as "completed", "declined" or "withdrawn"."""
        if status not in _FINAL_STATUSES:
            raise ValueError(f"an intake cannot finish as {status!r}")
        intake.status = IntakeStatus(status).value
        intake.completed_at = now
        intake.updated_at = now
        await self.session.flush()


class ReferralRepository:
    """Referrals: exactly one per finished intake."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def person_of(self, referral_id: int) -> Candidate | None:
        """The candidate a referral is about (for access and erasure requests)."""
        result = await self.session.execute(
            select(Candidate)
            .join(Intake, Intake.candidate_id == Candidate.id)
            .join(Referral, Referral.intake_id == Intake.id)
            .where(Referral.id == referral_id)
        )
        return result.scalar_one_or_none()

    async def for_intake(self, intake_id: int) -> Referral | None:
        """The referral made from this intake, if any."""
        result = await self.session.execute(select(Referral).where(Referral.intake_id == intake_id))
        return result.scalar_one_or_none()

    async def create_once(
        self,
        intake: Intake,
        *,
        programme_id: str,
        language: str,
        outcome: str,
        reason: str,
        urgent: bool,
        priority: bool,
        status: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> tuple[Referral, bool]:
        """The intake's referral and True if made now, or the existing one and False."""
        existing = await self.for_intake(intake.id)
        if existing is not None:
            return existing, False
        referral = Referral(
            intake_id=intake.id,
            programme_id=programme_id,
            language=language,
            created_at=now,
            outcome=outcome,
            reason=reason,
            urgent=urgent,
            priority=priority,
            status=status,
            payload=payload,
        )
        if await _add_unless_taken(self.session, referral):
            return referral, True
        existing = await self.for_intake(intake.id)  # made concurrently: return theirs
        if existing is None:
            raise LookupError("referral insert conflicted but no row is there")
        return existing, False

    async def get(self, referral_id: int) -> Referral | None:
        """The referral with this id, if any."""
        return await self.session.get(Referral, referral_id)

    async def of_candidate(self, candidate_id: int) -> list[Referral]:
        """Every referral made from the candidate's intakes (for withdrawal and erasure)."""
        result = await self.session.scalars(
            select(Referral).join(Intake, Intake.id == Referral.intake_id).where(Intake.candidate_id == candidate_id)
            .order_by(Referral.id))
        return list(result.all())

    async def refresh(self, referral: Referral) -> None:
        """Read the referral's row again (after a conditional update by SQL, e.g. a claim)."""
        await self.session.refresh(referral)

    async def flush(self) -> None:
        """Write changes made to loaded referrals now (the unit of work commits them later)."""
        await self.session.flush()

    async def stream(
        self, *, since: datetime | None = None, programme_id: str | None = None, batch: int = 500
    ) -> AsyncGenerator[Referral, None]:
        """Referrals ordered by id, fetched `batch` rows at a time (never all at once).

        `since` keeps those created at or after it. Iterate it fully or wrap it in
        `contextlib.aclosing` to close the cursor when stopping early.
        """
        query = select(Referral).order_by(Referral.id)
        if since is not None:
            query = query.where(Referral.created_at >= since)
        if programme_id is not None:
            query = query.where(Referral.programme_id == programme_id)
        result = await self.session.stream_scalars(query, execution_options={"yield_per": batch})
        try:
            async for referral in result:
                yield referral
        finally:
            await result.close()


class AuditRepository:
    """The audit trail: who saw or changed what, when. Never put health data in `detail`."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self, *, actor: str, action: str, at: datetime, referral_id: int | None = None, detail: str = ""
    ) -> None:
        """Add an audit event (written with the rest of the unit of work)."""
        self.session.add(
            AuditEvent(at=at, actor=actor, action=action, referral_id=referral_id, detail=detail)
        )

    async def for_referral(self, referral_id: int) -> list[AuditEvent]:
        """The events about one referral, oldest first."""
        result = await self.session.execute(
            select(AuditEvent)
            .where(AuditEvent.referral_id == referral_id)
            .order_by(AuditEvent.at, AuditEvent.id)
        )
        return list(result.scalars())


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
                 "payload": u} for u in updates]
        result = await self.session.execute(self._statement(_RECEIVE_UPDATES), rows)
        return {int(update_id) for update_id in result.scalars()}

    async def waiting(self, bot_id: int) -> list[dict[str, Any]]:
        """Raw updates received and not yet handled, oldest first (what a crash left behind)."""
        query = (select(InboxUpdate.payload)
                 .where(InboxUpdate.bot_id == bot_id, InboxUpdate.processed_at.is_(None))
                 .order_by(InboxUpdate.update_id))
        return [payload for payload in (await self.session.scalars(query)) if payload is not None]

    async def finish(self, bot_id: int, update_ids: list[int], at: datetime) -> None:
        """Close these updates unless a handler marked them already, and drop their payloads."""
        if update_ids:
            await self.session.execute(_FINISH_UPDATES, {"b_id": bot_id, "ids": update_ids, "at": at})

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


def _sender(update: Any) -> int | None:
    """The Telegram user id an update came from (message, callback, member change ...), if any."""
    if not isinstance(update, dict):
        return None
    for value in update.values():
        if isinstance(value, dict) and isinstance(value.get("from"), dict) and "id" in value["from"]:
            return int(value["from"]["id"])
    return None


class OutboxRepository:
    """Messages to send, committed with their cause; a sender delivers and marks them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.added: list[int] = []  # ids written in this unit of work, for the caller to send after commit
        self.fresh: dict[int, dict[str, Any]] = {}  # and their payloads, so the sender need not read them back

    async def add(
        self, *, channel: str, payload: dict[str, Any], now: datetime, candidate_id: int | None = None,
        due_at: datetime | None = None, topic: str = "", subject_id: int | None = None,
    ) -> int:
        """A message to send now, or (`due_at`) not before then; `topic` groups messages to withdraw later.

        `candidate_id`: the candidate it is sent to; `subject_id`: the candidate it is about (erased with
        them, whoever receives it). Returns its id."""
        values = {"channel": channel, "payload": payload, "created_at": now, "candidate_id": candidate_id,
                  "subject_id": subject_id, "attempts": 0, "failure": "", "due_at": due_at, "topic": topic,
                  "sent_at": None}
        outbox_id = (await self.session.execute(_ADD_OUTBOX, values)).scalar_one()
        self.added.append(outbox_id)
        if due_at is None:
            self.fresh[outbox_id] = payload
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


async def _add_unless_taken(session: AsyncSession, row: Any) -> bool:
    """Insert `row` in a savepoint; False (and the transaction still usable) on a unique conflict."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True


class UnitOfWork:
    """One session and transaction per incoming message or update, with the repositories on it.

    ::

        async with UnitOfWork(factory) as uow:
            candidate = await uow.candidates.get_or_create("telegram", "123", language="da", now=now)
            ...
        # committed here; rolled back instead if the block raised

    Do not open a second unit of work while one is open in the same task: on SQLite every
    transaction takes the write lock at BEGIN (see `storage.db`), so the inner one would wait for
    the outer one for the busy timeout and then fail with "database is locked".
    """

    session: AsyncSession
    candidates: CandidateRepository
    intakes: IntakeRepository
    referrals: ReferralRepository
    audit: AuditRepository
    updates: UpdateRepository
    outbox: OutboxRepository
    staff: StaffRepository
    invites: InviteRepository
    cases: CaseRepository
    slots: SlotRepository
    risks: RiskRepository
    shown: ShownRepository

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory
        self._turn: asyncio.Lock | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._turn = _sqlite_turn(self._factory)
        if self._turn is not None:
            try:  # bounded, so a unit of work nested in another fails loudly instead of hanging
                await asyncio.wait_for(self._turn.acquire(), timeout=30)
            except TimeoutError:
                self._turn = None
                raise TimeoutError("waited 30 s for the SQLite write turn; is a unit of work nested?") from None
        try:
            self.session = self._factory()
            await self.session.begin()
        except BaseException:
            self._release()
            raise
        self.candidates = CandidateRepository(self.session)
        self.intakes = IntakeRepository(self.session)
        self.referrals = ReferralRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.updates = UpdateRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.staff = StaffRepository(self.session)
        self.invites = InviteRepository(self.session)
        self.cases = CaseRepository(self.session)
        self.slots = SlotRepository(self.session)
        self.risks = RiskRepository(self.session)
        self.shown = ShownRepository(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            try:
                await self.session.close()
            finally:
                self._release()

    def _release(self) -> None:
        if self._turn is not None:
            self._turn.release()
            self._turn = None


# SQLite has one writer at a time. Within a process, units of work queue on an asyncio lock
# instead of on SQLite's busy handler, which polls with sleeps of up to 100 ms and so turns a few
# concurrent writers into long tail latencies. Other processes still meet the busy timeout.
_SQLITE_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _sqlite_turn(factory: async_sessionmaker[AsyncSession]) -> asyncio.Lock | None:
    bind = factory.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return None
    per_loop = _SQLITE_TURNS.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(id(bind), asyncio.Lock())
