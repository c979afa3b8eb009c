"""Candidates and their intakes: found by a keyed hash of their channel identity, with the flow's
conversation state (saved with a version, so a concurrent save is refused).

Creating something that must exist only once (a candidate per channel identity, a referral per
intake) is safe against a concurrent creator: the database's unique constraint decides, the loser's
INSERT fails inside a SAVEPOINT, and it reads the winner's row instead (`add_unless_taken`).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from flows.address import Address
from locales import normalise
from storage.inbox import UpdateRepository, address_hash
from storage.models import (
    Candidate,
    Escalation,
    EscalationCopy,
    FollowUp,
    Intake,
    IntakeStatus,
    InviteAttempt,
    OutboxMessage,
    Referral,
    RiskEvent,
    ShownMessage,
)

__all__ = ["CandidateRepository", "IntakeRepository", "StaleStateError", "add_unless_taken", "known_address_hashes",
           "subject_hash"]

_FINAL_STATUSES = frozenset({IntakeStatus.COMPLETED, IntakeStatus.DECLINED, IntakeStatus.WITHDRAWN})

# A statement of the hot path (one answer), built once: building a statement and its cache key costs
# more than SQLite takes to run it. Core statements on the tables, so the ORM's bulk machinery is
# skipped; values come as parameters (column types, with their encryption, still apply).
_intakes = cast(Table, Intake.__table__)
_SAVE_STATE = (
    update(_intakes)
    .where(_intakes.c.id == bindparam("intake_id"), _intakes.c.state_version == bindparam("loaded_version"))
    .returning(_intakes.c.id)
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
    """The keyed hash that identifies a candidate: of "channel:external_id" (the `address_hash` of
    their identity as an address, which the update inbox's erasure relies on)."""
    return address_hash(Address(channel, external_id))


def known_address_hashes(candidate: Candidate) -> set[str]:
    """The hashes of every address a candidate is known by: the identity they came with (its hash is
    their `subject_hash`, made as `address_hash` makes it) and where they are reached (`contact`)."""
    hashes = {candidate.subject_hash}
    if (contact := Address.from_dict(candidate.contact)) is not None:
        hashes.add(address_hash(contact))
    return hashes


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

    async def rekey(self, candidate: Candidate, channel: str, external_id: str) -> None:
        """The candidate is known under a new identity from now on, and no longer under the old one
        (a web session's rotated token: a link someone else saw stops working)."""
        candidate.subject_hash = subject_hash(channel, external_id)
        await self.session.flush()

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
            if await add_unless_taken(self.session, new):
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

        Intakes, referrals (with their offers), risk events, follow-ups, escalations (with their copies),
        messages to them or about them (sent or not, to anyone), the record of staff messages that
        showed them, updates of theirs still waiting in the inbox, and their wrong-invite-code counter.
        Withdrawing what staff were shown is `bot.services.erasure.erase`'s part, before this.
        """
        candidate = await self.session.get(Candidate, candidate_id)
        intake_ids = select(Intake.id).where(Intake.candidate_id == candidate_id).scalar_subquery()
        # The foreign keys cascade too; deleting explicitly also drops the objects from the session.
        await self.session.execute(delete(EscalationCopy).where(EscalationCopy.escalation_id.in_(
            select(Escalation.id).where(Escalation.candidate_id == candidate_id).scalar_subquery())))
        await self.session.execute(delete(Escalation).where(Escalation.candidate_id == candidate_id))
        await self.session.execute(delete(FollowUp).where(FollowUp.candidate_id == candidate_id))
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
            hashes = known_address_hashes(candidate)
            await UpdateRepository(self.session).drop_waiting_of(hashes)
            # the count of wrong invite codes they typed, kept under their identity's hash
            await self.session.execute(delete(InviteAttempt).where(InviteAttempt.subject_hash.in_(hashes)))
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


async def add_unless_taken(session: AsyncSession, row: Any) -> bool:
    """Insert `row` in a savepoint; False (and the transaction still usable) on a unique conflict."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True
