"""What the coordinator dashboard reads: a programme's cases, follow-ups and risk answers, as plain rows.

The dashboard (`bot.exports.dashboard`) aggregates; this module only selects. Clocks, statuses and
`urgent` are plain columns and cost no decryption; only MANSA at enrolment (the referral's payload)
and the answered follow-ups' states are decrypted, and only for the rows that need them.

"Seen" is read from the escalations (`risk_to_seen_durations`): every urgent case, from its
escalation's opening (the risk answer, or the urgent referral) to "Seen — I will make contact" or
the claim, or still waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import LargeBinary, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from storage import crypto
from storage.models import Escalation, FollowUp, FollowUpStatus, Referral, ReferralStatus

__all__ = ["CaseRow", "DashboardRepository", "FollowUpRow", "RiskWait"]

# Referrals the programme took on (every status but "redirected": pointed elsewhere at intake).
REFERRED = (*ReferralStatus.open(), ReferralStatus.CLOSED.value)


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One referral's IPS clocks and plain facts (no health content beyond `urgent`)."""

    id: int
    created_at: datetime
    status: str
    urgent: bool
    over_cap: bool
    claimed_at: datetime | None
    first_meeting_at: datetime | None
    job_search_at: datetime | None
    case_outcome: str | None


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    """One follow-up: its point, status and, when answered, its state (status and scores)."""

    referral_id: int
    key: str
    status: str
    state: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class RiskWait:
    """A risk answer and when a person said they had seen it (None: nobody yet)."""

    at: datetime
    seen_at: datetime | None


class DashboardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def programme_ids(self) -> list[str]:
        """Programmes with at least one referral."""
        return list((await self.session.scalars(
            select(Referral.programme_id).distinct().order_by(Referral.programme_id))).all())

    async def cases(self, programme_id: str) -> list[CaseRow]:
        """The referrals the programme took on, oldest first."""
        rows = await self.session.execute(
            select(Referral.id, Referral.created_at, Referral.status, Referral.urgent, Referral.over_cap,
                   Referral.claimed_at, Referral.first_meeting_at, Referral.job_search_at, Referral.case_outcome)
            .where(Referral.programme_id == programme_id, Referral.status.in_(REFERRED))
            .order_by(Referral.id))
        return [CaseRow(*row) for row in rows.all()]

    async def redirected(self, programme_id: str) -> int:
        """Finished intakes pointed elsewhere (not in the target group)."""
        return int(await self.session.scalar(
            select(func.count()).select_from(Referral)
            .where(Referral.programme_id == programme_id, Referral.status == ReferralStatus.REDIRECTED.value)) or 0)

    async def enrolment_mansa(self, programme_id: str, page: int = 2000) -> dict[int, float]:
        """MANSA mean at enrolment, by referral id, of the claimed cases whose intake asked it.

        The payload is encrypted, so every claimed case's payload is decrypted here: fetched as its
        ciphertext a page at a time and read one by one, so that only the mean outlives the loop (a
        page of whole payloads kept alive costs more in allocation and garbage collection than the
        decryption itself).
        """
        found: dict[int, float] = {}
        last, cipher = 0, crypto.current()
        while True:
            rows = (await self.session.execute(
                select(Referral.id, type_coerce(Referral.payload, LargeBinary))
                .where(Referral.programme_id == programme_id, Referral.claimed_at.is_not(None), Referral.id > last)
                .order_by(Referral.id).limit(page))).all()
            for referral_id, token in rows:
                mansa = orjson.loads(cipher.decrypt(bytes(token))).get("instruments", {}).get("mansa")
                if mansa and "mean" in mansa:
                    found[referral_id] = float(mansa["mean"])
            if len(rows) < page:
                return found
            last = rows[-1][0]

    async def followups(self, programme_id: str) -> list[FollowUpRow]:
        """The programme's follow-ups; the state (decrypted) only of answered ones."""
        plain = await self.session.execute(
            select(FollowUp.id, FollowUp.referral_id, FollowUp.key, FollowUp.status)
            .where(FollowUp.programme_id == programme_id).order_by(FollowUp.id))
        rows = plain.all()
        answered = FollowUpStatus.ANSWERED.value
        states: dict[int, dict[str, Any]] = {}
        if any(status == answered for *_, status in rows):
            states = dict((await self.session.execute(
                select(FollowUp.id, FollowUp.state)
                .where(FollowUp.programme_id == programme_id, FollowUp.status == answered))).all())
        return [FollowUpRow(referral_id, key, status, states.get(fid)) for fid, referral_id, key, status in rows]

    async def risk_to_seen_durations(self, programme_id: str) -> list[RiskWait]:
        """Each urgent case of the programme (a risk answer in an intake or at a follow-up, an urgent
        referral, a case that lost its consultant) and when a named person saw it (None: not yet): from
        its escalation's opening, at the risk answer, to "Seen — I will make contact" or the claim."""
        rows = await self.session.execute(
            select(Escalation.opened_at, Escalation.seen_at).where(Escalation.programme_id == programme_id))
        return [RiskWait(opened, seen) for opened, seen in rows.all()]
