"""What the coordinator dashboard reads: a programme's cases, follow-ups and risk answers, as plain rows.

The dashboard (`bot.exports.dashboard`) aggregates; this module only selects. Clocks, statuses and
`urgent` are plain columns and cost no decryption; only MANSA at enrolment (the referral's payload)
and the answered follow-ups' states are decrypted, and only for the rows that need them.

Those decryptions are most of a dashboard's cost (about 11,000 for a programme with 10,000
referrals), and the values they give do not change while their ciphertext does not, so what the
dashboard needs of each (a MANSA mean; a follow-up's status and MANSA) is kept by a digest of the
ciphertext (`Derived`) until the next look at the same programme: a changed, re-encrypted or erased
row is not among the next look's ciphertexts, and its value goes then. A process that never draws
the dashboard keeps nothing.

"Seen" is read from the escalations (`risk_to_seen_durations`): every urgent case, from its
escalation's opening (the risk answer, or the urgent referral) to "Seen — I will make contact" or
the claim, or still waiting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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


# (kind, programme) -> ciphertext digest -> derived value; filled only by a look at the dashboard
KEPT: dict[tuple[str, str], dict[bytes, Any]] = {}


def forget() -> None:
    """Drop every value kept between looks (an erasure in this process: nothing of theirs stays in memory)."""
    KEPT.clear()


class Derived:
    """What the dashboard derives from one kind of ciphertext of one programme, by its digest.

    `look` starts a look at the programme, `value` derives (or finds) one value, `end` keeps exactly
    this look's values for the next one."""

    def __init__(self, kind: str, programme_id: str) -> None:
        self.key = (kind, programme_id)
        self.before = KEPT.get(self.key, {})
        self.now: dict[bytes, Any] = {}

    def value(self, token: bytes, derive: Callable[[bytes], Any]) -> Any:
        digest = hashlib.blake2b(token, digest_size=16).digest()
        found = self.before[digest] if digest in self.before else derive(token)
        self.now[digest] = found
        return found

    def end(self) -> None:
        KEPT[self.key] = self.now


def mansa_mean(token: bytes) -> float | None:
    """MANSA's mean in a referral's payload, if its intake asked it."""
    mansa = orjson.loads(crypto.current().decrypt(token)).get("instruments", {}).get("mansa")
    return float(mansa["mean"]) if mansa and "mean" in mansa else None


def answered_state(token: bytes) -> dict[str, Any]:
    """What the dashboard counts of an answered follow-up's state: its status and MANSA's results."""
    state = orjson.loads(crypto.current().decrypt(token))
    mansa = state.get("results", {}).get("mansa")
    return {"status": state.get("status"), "results": {"mansa": mansa} if mansa is not None else {}}


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

        The payload is encrypted, so every claimed case's payload is decrypted here (the first time the
        dashboard sees its ciphertext: `Derived`): fetched as its
        ciphertext a page at a time and read one by one, so that only the mean outlives the loop (a
        page of whole payloads kept alive costs more in allocation and garbage collection than the
        decryption itself).
        """
        found: dict[int, float] = {}
        last, derived = 0, Derived("mansa", programme_id)
        while True:
            rows = (await self.session.execute(
                select(Referral.id, type_coerce(Referral.payload, LargeBinary))
                .where(Referral.programme_id == programme_id, Referral.claimed_at.is_not(None), Referral.id > last)
                .order_by(Referral.id).limit(page))).all()
            for referral_id, token in rows:
                mean = derived.value(bytes(token), mansa_mean)
                if mean is not None:
                    found[referral_id] = mean
            if len(rows) < page:
                derived.end()
                return found
            last = rows[-1][0]

    async def followups(self, programme_id: str) -> list[FollowUpRow]:
        """The programme's follow-ups; of answered ones, the state's status and MANSA (decrypted)."""
        plain = await self.session.execute(
            select(FollowUp.id, FollowUp.referral_id, FollowUp.key, FollowUp.status)
            .where(FollowUp.programme_id == programme_id).order_by(FollowUp.id))
        rows = plain.all()
        answered = FollowUpStatus.ANSWERED.value
        states: dict[int, dict[str, Any]] = {}
        if any(status == answered for *_, status in rows):
            derived = Derived("followups", programme_id)
            states = {fid: derived.value(bytes(token), answered_state) for fid, token in (await self.session.execute(
                select(FollowUp.id, type_coerce(FollowUp.state, LargeBinary))
                .where(FollowUp.programme_id == programme_id, FollowUp.status == answered))).all()}
            derived.end()
        return [FollowUpRow(referral_id, key, status, states.get(fid)) for fid, referral_id, key, status in rows]

    async def risk_to_seen_durations(self, programme_id: str) -> list[RiskWait]:
        """Each urgent case of the programme (a risk answer in an intake or at a follow-up, an urgent
        referral, a case that lost its consultant) and when a named person saw it (None: not yet): from
        its escalation's opening, at the risk answer, to "Seen — I will make contact" or the claim."""
        rows = await self.session.execute(
            select(Escalation.opened_at, Escalation.seen_at).where(Escalation.programme_id == programme_id))
        return [RiskWait(opened, seen) for opened, seen in rows.all()]
