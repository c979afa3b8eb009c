"""The audit trail: who saw or changed what, when; content-free by construction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEvent

__all__ = ["AuditRepository"]


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
