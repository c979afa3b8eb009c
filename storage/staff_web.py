"""What the staff web area stores: sign-in identities, passkeys, sessions and one-time tokens.

Sessions and tokens are found by a hash of their random value (`token_hash`); the raw value lives
only in the browser's cookie or the link. The rules (how long a session lives, who may sign in)
are the service's (`bot/services/staff_sessions.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from storage.models import (
    Escalation,
    Offer,
    Referral,
    ReferralStatus,
    StaffCredential,
    StaffLogin,
    StaffSession,
    StaffToken,
)

__all__ = ["StaffWebRepository"]


class StaffWebRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- identities and passkeys ------------------------------------------------------------

    async def identity(self, staff_id: int) -> dict[str, Any] | None:
        row = await self.session.get(StaffLogin, staff_id)
        return dict(row.identity) if row is not None else None

    async def set_identity(self, staff_id: int, identity: dict[str, Any], now: datetime) -> None:
        row = await self.session.get(StaffLogin, staff_id)
        if row is None:
            self.session.add(StaffLogin(staff_id=staff_id, identity=identity, created_at=now))
        else:
            row.identity = identity
        await self.session.flush()

    async def add_credential(self, staff_id: int, credential_id: str, public_key: bytes, sign_count: int,
                             now: datetime) -> StaffCredential:
        row = StaffCredential(staff_id=staff_id, credential_id=credential_id, public_key=public_key,
                              sign_count=sign_count, created_at=now)
        self.session.add(row)
        await self.session.flush()
        return row

    async def credential(self, credential_id: str) -> StaffCredential | None:
        return await self.session.scalar(select(StaffCredential).where(StaffCredential.credential_id == credential_id))

    async def credentials_of(self, staff_id: int) -> list[StaffCredential]:
        result = await self.session.scalars(select(StaffCredential).where(StaffCredential.staff_id == staff_id)
                                            .order_by(StaffCredential.id))
        return list(result.all())

    # --- sessions ---------------------------------------------------------------------------

    async def open_session(self, token_hash: str, staff_id: int, now: datetime, *,
                           verified: bool) -> StaffSession:
        row = StaffSession(token_hash=token_hash, staff_id=staff_id, created_at=now, seen_at=now,
                           verified_at=now if verified else None)
        self.session.add(row)
        await self.session.flush()
        return row

    async def session_of(self, token_hash: str) -> StaffSession | None:
        return await self.session.scalar(select(StaffSession).where(StaffSession.token_hash == token_hash,
                                                                    StaffSession.ended_at.is_(None)))

    async def end_sessions(self, staff_id: int, now: datetime) -> int:
        result = await self.session.execute(
            update(StaffSession).where(StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None))
            .values(ended_at=now))
        return int(getattr(result, "rowcount", 0) or 0)

    # --- one-time tokens --------------------------------------------------------------------

    async def add_token(self, token_hash: str, kind: str, staff_id: int | None, data: dict[str, Any],
                        expires_at: datetime) -> None:
        self.session.add(StaffToken(token_hash=token_hash, kind=kind, staff_id=staff_id, data=data,
                                    expires_at=expires_at))
        await self.session.flush()

    async def take_token(self, token_hash: str, kind: str, now: datetime) -> StaffToken | None:
        """The token, used up now (one conditional update: a replay or a race gets None)."""
        result = await self.session.execute(
            update(StaffToken).where(StaffToken.token_hash == token_hash, StaffToken.kind == kind,
                                     StaffToken.used_at.is_(None), StaffToken.expires_at > now)
            .values(used_at=now))
        if not getattr(result, "rowcount", 0):
            return None
        return await self.session.get(StaffToken, token_hash)

    async def forget_tokens(self, before: datetime) -> None:
        """Expired tokens go (called when a new one is made, so the table stays small)."""
        await self.session.execute(delete(StaffToken).where(StaffToken.expires_at < before))

    # --- what the staff area lists ----------------------------------------------------------

    async def offered_to(self, staff_id: int) -> list[Referral]:
        """New referrals whose offer to this consultant is open (not passed), oldest first."""
        result = await self.session.scalars(
            select(Referral).join(Offer, Offer.referral_id == Referral.id)
            .where(Offer.staff_id == staff_id, Offer.passed.is_(False), Referral.status == ReferralStatus.NEW.value)
            .order_by(Referral.id))
        return list(result.all())

    async def waiting(self, programme_id: str, limit: int = 50) -> tuple[list[Referral], int]:
        """The first `limit` of the programme's waiting list, in its order, and how many wait in all.

        Only the plain columns a list shows are loaded (id, clocks, status, `urgent`): the encrypted
        ones (payload, outcome, reason, priority) would cost four decryptions a row and are not read;
        touching one of them on these rows raises rather than loading it behind the caller's back."""
        where = (Referral.programme_id == programme_id, Referral.status == ReferralStatus.WAITING.value)
        plain = load_only(Referral.id, Referral.programme_id, Referral.created_at, Referral.urgent, Referral.status,
                          Referral.waiting_since, Referral.consultant_id, Referral.claimed_at, raiseload=True)
        result = await self.session.scalars(select(Referral).options(plain).where(*where)
                                            .order_by(Referral.waiting_since, Referral.id).limit(limit))
        total = await self.session.scalar(select(func.count()).select_from(Referral).where(*where))
        return list(result.all()), int(total or 0)

    async def escalations_sent(self, programme_id: str, limit: int = 8) -> tuple[list[Escalation], int]:
        """The programme's oldest escalations sent to someone and not yet seen (what "Seen" is pressed on),
        and how many there are in all."""
        where = (Escalation.programme_id == programme_id, Escalation.seen_at.is_(None),
                 Escalation.sent_at.is_not(None))
        result = await self.session.scalars(select(Escalation).where(*where).order_by(Escalation.opened_at)
                                            .limit(limit))
        total = await self.session.scalar(select(func.count()).select_from(Escalation).where(*where))
        return list(result.all()), int(total or 0)
