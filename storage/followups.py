"""Follow-ups: the rows that say a programme's follow-up of a case was asked, and what came back.

The scheduler's queries find the claimed referrals whose trigger time has come (days after the
referral, or after a recorded case outcome) and that have no follow-up of that id yet; a unique
constraint on (referral, follow-up id) makes asking twice impossible, also for two schedulers at once.
Those whose whole window passed unasked are found too, to be recorded as missed. A risk answer at a
follow-up opens an escalation (`storage.escalations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.candidates import add_unless_taken
from storage.models import Candidate, FollowUp, FollowUpStatus, Intake, IntakeStatus, Referral


class FollowUpRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def due(self, programme_id: str, key: str, *, after: str, days: int, window_days: int,
                  outcomes: Sequence[str], now: datetime, consent_since: str
                  ) -> list[tuple[Referral, Intake, Candidate]]:
        """Claimed referrals of the programme whose follow-up `key` is due (its trigger time is in
        ``(now - window, now]``), not yet asked, of a person who has not stopped follow-ups and whose
        consent named them (`consent_since`: the first consent version that did)."""
        start = Referral.created_at if after == "referral" else Referral.outcome_at
        return await self._unasked(programme_id, key, after, outcomes, consent_since,
                                   start <= now - timedelta(days=days),
                                   start > now - timedelta(days=days + window_days))

    async def missed(self, programme_id: str, key: str, *, after: str, days: int, window_days: int,
                     outcomes: Sequence[str], now: datetime, consent_since: str, limit: int
                     ) -> list[tuple[Referral, Intake, Candidate]]:
        """Those whose whole window passed unasked (the trigger time is at or before ``now - window``):
        the bot was not running then. Too late to ask; to record as missed, at most `limit` at a time."""
        start = Referral.created_at if after == "referral" else Referral.outcome_at
        return await self._unasked(programme_id, key, after, outcomes, consent_since,
                                   start <= now - timedelta(days=days + window_days), limit=limit)

    async def _unasked(self, programme_id: str, key: str, after: str, outcomes: Sequence[str], consent_since: str,
                       *window: ColumnElement[bool], limit: int | None = None
                       ) -> list[tuple[Referral, Intake, Candidate]]:
        asked = exists().where(FollowUp.referral_id == Referral.id, FollowUp.key == key)
        later = aliased(Intake)  # a later intake whose consent they declined: they said no, so never asked
        declined = exists().where(later.candidate_id == Intake.candidate_id, later.id > Intake.id,
                                  later.status == IntakeStatus.DECLINED.value)
        query = (
            select(Referral, Intake, Candidate)
            .join(Intake, Intake.id == Referral.intake_id)
            .join(Candidate, Candidate.id == Intake.candidate_id)
            .where(Referral.programme_id == programme_id, Referral.claimed_at.is_not(None), *window,
                   Candidate.followups_stopped_at.is_(None), Intake.consent_version >= consent_since, ~asked, ~declined,
                   # only people who can be asked (an address, not the console, not blocked): the rest are
                   # never asked nor recorded, so they must not be read again at every pass
                   Candidate.contact.is_not(None), Candidate.channel != "console", Candidate.unreachable.is_(False))
            .order_by(Referral.id)
        )
        if after == "outcome":
            query = query.where(Referral.case_outcome.in_(list(outcomes)))
        if limit is not None:
            query = query.limit(limit)
        return [(r, i, c) for r, i, c in (await self.session.execute(query)).all()]

    async def add(self, *, candidate_id: int, referral_id: int, programme_id: str, key: str, due_at: datetime,
                  now: datetime, state: dict[str, Any], status: str = FollowUpStatus.OPEN.value) -> FollowUp | None:
        """The follow-up, asked now (or recorded as missed now); None if there is one already (the
        unique constraint)."""
        closed = now if status != FollowUpStatus.OPEN.value else None
        row = FollowUp(candidate_id=candidate_id, referral_id=referral_id, programme_id=programme_id, key=key,
                       due_at=due_at, sent_at=now, status=status, version=0, state=state, closed_at=closed)
        return row if await add_unless_taken(self.session, row) else None

    async def get(self, followup_id: int) -> FollowUp | None:
        return await self.session.get(FollowUp, followup_id)

    async def open_sent_before(self, before: datetime) -> list[FollowUp]:
        """Open follow-ups asked before this time (to lapse)."""
        return list((await self.session.scalars(
            select(FollowUp).where(FollowUp.status == FollowUpStatus.OPEN.value, FollowUp.sent_at < before)
            .order_by(FollowUp.id))).all())

    async def open_of(self, candidate_id: int) -> list[FollowUp]:
        return list((await self.session.scalars(
            select(FollowUp).where(FollowUp.candidate_id == candidate_id,
                                   FollowUp.status == FollowUpStatus.OPEN.value).order_by(FollowUp.id))).all())

    async def of_referral(self, referral_id: int) -> list[FollowUp]:
        """A case's follow-ups, in the order they were asked."""
        return list((await self.session.scalars(
            select(FollowUp).where(FollowUp.referral_id == referral_id).order_by(FollowUp.sent_at, FollowUp.id)
        )).all())

    async def of_programme(self, programme_id: str | None = None) -> list[FollowUp]:
        query = select(FollowUp).order_by(FollowUp.id)
        if programme_id is not None:
            query = query.where(FollowUp.programme_id == programme_id)
        return list((await self.session.scalars(query)).all())
