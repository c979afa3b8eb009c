"""Escalations: the stored state of `flows.escalation` for each urgent case, and its copies.

A due step is claimed by one process: `due` locks the rows it returns (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so two processes running the clocks never take the same step; SQLite has one writer).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flows.escalation import OPEN, Status
from flows.escalation import Escalation as State
from storage.models import Escalation, EscalationCopy, Staff

OPEN_VALUES = tuple(status.value for status in OPEN)


def state_of(row: Escalation) -> State:
    """The pure state of a stored escalation."""
    return State(Status(row.status), rung=row.rung, next_at=row.next_at, told=frozenset(row.told or ()),
                 seen_by=row.seen_by, seen_at=row.seen_at)


def store(row: Escalation, state: State) -> None:
    """Write a pure state back onto its row (the caller's unit of work commits it)."""
    row.status, row.rung, row.next_at = state.status.value, state.rung, state.next_at
    row.told, row.seen_by, row.seen_at = sorted(state.told), state.seen_by, state.seen_at


class EscalationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open(self, *, candidate_id: int, programme_id: str, cause: str, state: State, now: datetime,
                   referral_id: int | None = None, followup_id: int | None = None) -> Escalation:
        row = Escalation(candidate_id=candidate_id, programme_id=programme_id, cause=cause, referral_id=referral_id,
                         followup_id=followup_id, opened_at=now, told=[])
        store(row, state)
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, escalation_id: int) -> Escalation | None:
        return await self.session.get(Escalation, escalation_id)

    async def refresh(self, row: Escalation) -> None:
        await self.session.refresh(row)

    async def open_of(self, candidate_id: int, cause: str | None = None) -> list[Escalation]:
        """A person's escalations not seen yet, oldest first."""
        query = select(Escalation).where(Escalation.candidate_id == candidate_id,
                                         Escalation.status.in_(OPEN_VALUES))
        if cause is not None:
            query = query.where(Escalation.cause == cause)
        return list((await self.session.scalars(query.order_by(Escalation.id).with_for_update())).all())

    async def of_referral(self, referral_id: int) -> list[Escalation]:
        return list((await self.session.scalars(
            select(Escalation).where(Escalation.referral_id == referral_id).order_by(Escalation.id)
            .with_for_update())).all())

    async def all_open(self) -> list[Escalation]:
        return list((await self.session.scalars(
            select(Escalation).where(Escalation.status.in_(OPEN_VALUES)).order_by(Escalation.id)
            .with_for_update())).all())

    async def due(self, now: datetime, *, limit: int = 100) -> list[Escalation]:
        """Escalations whose next step is due, locked for this transaction (others skip them)."""
        query = (select(Escalation)
                 .where(Escalation.status.in_((Status.PENDING.value, Status.SENT.value)), Escalation.next_at <= now)
                 .order_by(Escalation.next_at, Escalation.id).limit(limit))
        return list((await self.session.scalars(query.with_for_update(skip_locked=True))).all())

    async def unreached(self, programme_ids: Sequence[str] | None = None) -> list[Escalation]:
        """Escalations waiting for anyone (of these programmes), locked for this transaction."""
        query = select(Escalation).where(Escalation.status == Status.UNREACHED.value)
        if programme_ids is not None:
            query = query.where(Escalation.programme_id.in_(programme_ids))
        return list((await self.session.scalars(query.order_by(Escalation.id).with_for_update(skip_locked=True)))
                    .all())

    async def mark_seen(self, escalation_id: int, staff_id: int, now: datetime) -> bool:
        """True for the one press that marks it seen; False if someone saw it already."""
        result = await self.session.execute(
            update(Escalation).where(Escalation.id == escalation_id, Escalation.status.in_(OPEN_VALUES))
            .values(status=Status.SEEN.value, seen_at=now, seen_by=staff_id, next_at=None)
            .returning(Escalation.id))
        return result.first() is not None

    # --- copies -----------------------------------------------------------------------------------

    async def add_copy(self, escalation_id: int, staff_id: int, rung: int, now: datetime) -> EscalationCopy:
        copy = EscalationCopy(escalation_id=escalation_id, staff_id=staff_id, rung=rung, created_at=now)
        self.session.add(copy)
        await self.session.flush()
        return copy

    async def record_copy(self, copy_id: int, address: dict[str, str], ref: int) -> None:
        """Where the copy was sent and the channel's reference to it (recorded by the channel)."""
        await self.session.execute(update(EscalationCopy).where(EscalationCopy.id == copy_id)
                                   .values(address=address, message_ref=ref))

    async def copies(self, escalation_id: int) -> list[EscalationCopy]:
        return list((await self.session.scalars(
            select(EscalationCopy).where(EscalationCopy.escalation_id == escalation_id)
            .order_by(EscalationCopy.id))).all())

    # --- who is on the ladder ---------------------------------------------------------------------

    async def operators(self) -> list[Staff]:
        return list((await self.session.scalars(
            select(Staff).where(Staff.role == "operator", Staff.active).order_by(Staff.id))).all())
