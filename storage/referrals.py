"""Referrals: exactly one per finished intake, and the person each is about."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.candidates import add_unless_taken
from storage.models import Candidate, Intake, Referral

__all__ = ["ReferralRepository"]


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
        if await add_unless_taken(self.session, referral):
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
