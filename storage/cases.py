"""Staff, invites, offers and cases: the consultant side of a referral.

Claims are decided by the database: an UPDATE that only succeeds while the referral is still
offered, so of two consultants claiming at once exactly one wins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from locales import normalise
from storage.candidates import subject_hash
from storage.models import Invite, InviteAttempt, Offer, Referral, ReferralStatus, Slot, Staff


def code_hash(code: str) -> str:
    """Invite codes are random and single-use; a plain SHA-256 is enough to not store them."""
    return hashlib.sha256(code.strip().encode()).hexdigest()


class StaffRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, channel: str, external_id: str) -> Staff | None:
        """The active staff member with this channel identity, if any."""
        result = await self.session.execute(
            select(Staff).where(Staff.subject_hash == subject_hash(channel, external_id), Staff.active)
        )
        return result.scalar_one_or_none()

    async def get(self, staff_id: int) -> Staff | None:
        return await self.session.get(Staff, staff_id)

    async def actor_of(self, channel: str, external_id: str) -> str:
        """Who pressed, for the audit trail: ``staff:<id>`` for a member of staff, removed ones included
        (a removed member's forged press must name them), else ``<channel>:unknown``."""
        hashed = subject_hash(channel, external_id)
        staff_id = await self.session.scalar(select(Staff.id).where(Staff.subject_hash == hashed))
        return f"staff:{staff_id}" if staff_id is not None else f"{channel}:unknown"

    async def join(self, invite: Invite, channel: str, external_id: str, *, contact: dict[str, Any],
                   language: str, now: datetime) -> Staff:
        """Register (or re-activate) the person behind an invite; the invite is used up."""
        hashed = subject_hash(channel, external_id)
        staff = (await self.session.execute(select(Staff).where(Staff.subject_hash == hashed))).scalar_one_or_none()
        if staff is None:
            staff = Staff(subject_hash=hashed, created_at=now)
            self.session.add(staff)
        staff.contact, staff.role, staff.programme_id = contact, invite.role, invite.programme_id
        # a supported language: what Telegram sends can be longer than the column (`zh-hans`)
        staff.name, staff.language, staff.active, staff.removed_at = invite.name, normalise(language), True, None
        invite.used_at = now
        await self.session.flush()
        return staff

    async def all(self) -> list[Staff]:
        return list((await self.session.scalars(select(Staff).order_by(Staff.id))).all())

    async def remove(self, staff_id: int, now: datetime) -> Staff | None:
        staff = await self.session.get(Staff, staff_id)
        if staff is not None and staff.active:
            staff.active, staff.removed_at = False, now
            await self.session.flush()
        return staff

    async def consultants(self, programme_id: str) -> list[Staff]:
        return await self.with_role(programme_id, "consultant")

    async def with_role(self, programme_id: str, role: str) -> list[Staff]:
        """The programme's active staff in one role (consultant, peer, coordinator)."""
        result = await self.session.scalars(
            select(Staff).where(Staff.programme_id == programme_id, Staff.role == role, Staff.active)
            .order_by(Staff.id)
        )
        return list(result.all())


class InviteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, code: str, *, role: str, programme_id: str, name: str, now: datetime,
                     expires_at: datetime) -> Invite:
        invite = Invite(code_hash=code_hash(code), role=role, programme_id=programme_id, name=name, created_at=now,
                        expires_at=expires_at)
        self.session.add(invite)
        await self.session.flush()
        return invite

    async def redeem(self, code: str, now: datetime) -> tuple[Invite | None, str]:
        """The invite for a code and "" if it can be used; else None or the invite and why not."""
        invite = (await self.session.execute(
            select(Invite).where(Invite.code_hash == code_hash(code)).with_for_update()
        )).scalar_one_or_none()
        if invite is None:
            return None, "unknown"
        if invite.used_at is not None:
            return invite, "used"
        if invite.expires_at <= now:
            return invite, "expired"
        return invite, ""

    async def wrong_codes(self, subject_hash: str, window_start: datetime) -> int:
        """How many wrong codes this person gave in the window starting at `window_start`.

        Counters of past windows are dropped first: they hold nothing anyone needs.
        """
        await self.session.execute(delete(InviteAttempt).where(InviteAttempt.window_start < window_start))
        return int(await self.session.scalar(
            select(InviteAttempt.attempts)
            .where(InviteAttempt.subject_hash == subject_hash, InviteAttempt.window_start == window_start)
        ) or 0)

    async def count_wrong_code(self, subject_hash: str, window_start: datetime) -> int:
        """Count one more wrong code in the window (one row per person and window); returns the new count.

        An upsert, so two attempts at once both count.
        """
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        first = insert(InviteAttempt).values(subject_hash=subject_hash, window_start=window_start, attempts=1)
        counted = first.on_conflict_do_update(
            index_elements=[InviteAttempt.subject_hash, InviteAttempt.window_start],
            set_={"attempts": InviteAttempt.attempts + 1},
        ).returning(InviteAttempt.attempts)
        return int((await self.session.execute(counted)).scalar_one())


class CaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open_count(self, staff_id: int) -> int:
        return int(await self.session.scalar(
            select(func.count()).select_from(Referral)
            .where(Referral.consultant_id == staff_id, Referral.status == ReferralStatus.CLAIMED.value)
        ) or 0)

    async def with_room(self, programme_id: str, cap: int) -> list[Staff]:
        """The programme's consultants whose open cases are under the cap."""
        room = []
        for staff in await StaffRepository(self.session).consultants(programme_id):
            if await self.open_count(staff.id) < cap:
                room.append(staff)
        return room

    async def offer(self, referral: Referral, staff: Sequence[Staff], now: datetime) -> list[Offer]:
        offers = [Offer(referral_id=referral.id, staff_id=s.id, passed=False, created_at=now) for s in staff]
        self.session.add_all(offers)
        await self.session.flush()
        return offers

    async def offers(self, referral_id: int) -> list[Offer]:
        return list((await self.session.scalars(select(Offer).where(Offer.referral_id == referral_id))).all())

    async def offer_for(self, referral_id: int, staff_id: int) -> Offer | None:
        """This consultant's newest offer of the referral (a referral back from the waiting list is offered anew)."""
        return (await self.session.execute(
            select(Offer).where(Offer.referral_id == referral_id, Offer.staff_id == staff_id)
            .order_by(Offer.id.desc()).limit(1)
        )).scalar_one_or_none()

    async def record_message(self, offer_id: int, address: dict[str, str], ref: int) -> None:
        """Where the offer's summary was sent (an address, as a dict) and the channel's reference to it."""
        await self.session.execute(update(Offer).where(Offer.id == offer_id).values(address=address, message_ref=ref))

    async def claim(self, referral_id: int, staff_id: int, now: datetime) -> bool:
        """True for the one consultant who gets it; False if it is taken (or not on offer)."""
        result = await self.session.execute(
            update(Referral)
            .where(Referral.id == referral_id, Referral.status == ReferralStatus.NEW.value)
            .values(status=ReferralStatus.CLAIMED.value, consultant_id=staff_id, claimed_at=now, waiting_since=None)
            .returning(Referral.id)
        )
        return result.first() is not None

    async def wait(self, referral: Referral, now: datetime) -> int:
        """Put a referral on its programme's waiting list; returns its place (1 = next)."""
        referral.status, referral.waiting_since = ReferralStatus.WAITING.value, now
        await self.session.flush()
        return await self.place(referral)

    async def place(self, referral: Referral) -> int:
        """Its place in line: urgent referrals first, then by time on the list (0: not on the list)."""
        if referral.waiting_since is None:
            return 0
        same_urgency = (Referral.urgent == referral.urgent) & (
            (Referral.waiting_since < referral.waiting_since)
            | ((Referral.waiting_since == referral.waiting_since) & (Referral.id < referral.id)))
        ahead_of_it = same_urgency if referral.urgent else (Referral.urgent | same_urgency)
        ahead = await self.session.scalar(
            select(func.count()).select_from(Referral).where(
                Referral.programme_id == referral.programme_id, Referral.status == ReferralStatus.WAITING.value,
                ahead_of_it,
            )
        )
        return int(ahead or 0) + 1

    async def oldest_waiting(self, programme_id: str) -> Referral | None:
        """The head of the waiting list: the oldest urgent referral, else the oldest one."""
        return (await self.session.execute(
            select(Referral)
            .where(Referral.programme_id == programme_id, Referral.status == ReferralStatus.WAITING.value)
            .order_by(Referral.urgent.desc(), Referral.waiting_since, Referral.id).limit(1)
        )).scalar_one_or_none()

    async def open_cases(self, staff_id: int) -> list[Referral]:
        return list((await self.session.scalars(
            select(Referral).where(Referral.consultant_id == staff_id, Referral.status == ReferralStatus.CLAIMED.value)
            .order_by(Referral.claimed_at)
        )).all())

    async def unclaimed_urgent(self, before: datetime) -> list[Referral]:
        """Urgent referrals on offer or waiting since before `before`, not yet sent again."""
        return list((await self.session.scalars(
            select(Referral).where(Referral.urgent,
                                   Referral.status.in_((ReferralStatus.NEW.value, ReferralStatus.WAITING.value)),
                                   Referral.created_at < before, Referral.resent_at.is_(None))
            .order_by(Referral.created_at, Referral.id)
        )).all())


class SlotRepository:
    """First-meeting slots. A booking is one conditional update, so a slot is never booked twice."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def refresh(self, slot: Slot) -> None:
        """Read the slot's row again (after a conditional update by SQL, e.g. a booking)."""
        await self.session.refresh(slot)

    async def add(self, staff: Staff, *, starts_at: datetime, minutes: int, place: str, now: datetime) -> Slot:
        slot = Slot(staff_id=staff.id, programme_id=staff.programme_id, starts_at=starts_at, minutes=minutes,
                    place=place, bookings=0, created_at=now)
        self.session.add(slot)
        await self.session.flush()
        return slot

    async def get(self, slot_id: int) -> Slot | None:
        return await self.session.get(Slot, slot_id)

    async def upcoming_of(self, staff_id: int, now: datetime) -> list[Slot]:
        return list((await self.session.scalars(
            select(Slot).where(Slot.staff_id == staff_id, Slot.withdrawn_at.is_(None), Slot.starts_at >= now)
            .order_by(Slot.starts_at)
        )).all())

    async def free(self, programme_id: str, start: datetime, end: datetime) -> list[Slot]:
        return list((await self.session.scalars(
            select(Slot).join(Staff, Staff.id == Slot.staff_id)
            .where(Slot.programme_id == programme_id, Slot.referral_id.is_(None), Slot.withdrawn_at.is_(None),
                   Slot.starts_at > start, Slot.starts_at <= end, Staff.active)
            .order_by(Slot.starts_at, Slot.id)
        )).all())

    async def book(self, slot_id: int, referral_id: int, now: datetime, *, programme_id: str,
                   until: datetime) -> bool:
        """Book a free slot of the programme, of an active peer, starting after `now` and by `until`."""
        active_staff = select(Staff.id).where(Staff.active)
        result = await self.session.execute(
            update(Slot)
            .where(Slot.id == slot_id, Slot.referral_id.is_(None), Slot.withdrawn_at.is_(None), Slot.starts_at > now,
                   Slot.starts_at <= until, Slot.programme_id == programme_id, Slot.staff_id.in_(active_staff))
            .values(referral_id=referral_id, booked_at=now, bookings=Slot.bookings + 1)
            .returning(Slot.id)
        )
        return result.first() is not None

    async def booked_for(self, referral_id: int) -> Slot | None:
        return (await self.session.execute(select(Slot).where(Slot.referral_id == referral_id))).scalar_one_or_none()

    async def release(self, slot: Slot) -> None:
        slot.referral_id, slot.booked_at = None, None
        await self.session.flush()

    async def withdraw(self, slot: Slot, now: datetime) -> None:
        slot.withdrawn_at = now
        await self.session.flush()
