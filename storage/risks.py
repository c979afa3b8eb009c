"""Risk events: each risk answer stored the moment it is given, apart from the conversation state.

The state of an intake is emptied when it is restarted or abandoned; these rows are not, so a risk
answer is never lost (hazard H1): a later intake of the person is seeded with them, and an intake
left unfinished after one becomes an urgent partial referral (see `IntakeService.sweep_abandoned`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Intake, IntakeStatus, Referral, RiskEvent


class RiskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, *, candidate_id: int, intake_id: int | None, instrument: str, item: str, score: int,
                     at: datetime) -> RiskEvent:
        event = RiskEvent(candidate_id=candidate_id, intake_id=intake_id, at=at,
                          detail={"instrument": instrument, "item": item, "score": score})
        self.session.add(event)
        await self.session.flush()
        return event

    async def of_candidate(self, candidate_id: int) -> list[RiskEvent]:
        """A person's risk events, oldest first."""
        return list((await self.session.scalars(
            select(RiskEvent).where(RiskEvent.candidate_id == candidate_id).order_by(RiskEvent.at, RiskEvent.id)
        )).all())

    async def abandoned(self, idle_since: datetime) -> list[Intake]:
        """Active intakes untouched since before `idle_since`, without a referral yet, whose person gave a
        risk answer that no referral carries yet (in this intake, or in one they restarted)."""
        referred = exists().where(Referral.intake_id == RiskEvent.intake_id)
        has_risk = exists().where(RiskEvent.candidate_id == Intake.candidate_id, ~referred)
        has_referral = exists().where(Referral.intake_id == Intake.id)
        return list((await self.session.scalars(
            select(Intake).where(Intake.status == IntakeStatus.ACTIVE.value, Intake.updated_at < idle_since,
                                 has_risk, ~has_referral).order_by(Intake.updated_at, Intake.id)
        )).all())


def as_listed(events: list[RiskEvent]) -> list[dict[str, Any]]:
    """The risks for a referral payload: instrument, item, score and when (ISO 8601, UTC)."""
    return [{**event.detail, "at": event.at.isoformat()} for event in events]
