"""Risk events: each risk answer stored the moment it is given, apart from the conversation state.

The state of an intake is emptied when it is restarted or abandoned; these rows are not, so a risk
answer is never lost (hazard H1): a later intake of the person is seeded with them, and an intake
left unfinished after one becomes an urgent partial referral (see `IntakeService.escalate_due`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import RiskEvent


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


def as_listed(events: list[RiskEvent]) -> list[dict[str, Any]]:
    """The risks for a referral payload: instrument, item, score and when (ISO 8601, UTC)."""
    return [{**event.detail, "at": event.at.isoformat()} for event in events]
