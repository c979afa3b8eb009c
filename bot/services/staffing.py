"""Joining and leaving: one-time invite codes (guessing is limited per person and window), a member of
staff joining with one, and a consultant removed (their open cases go back to the waiting list; an
urgent one is offered again at once and climbs its ladder again).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from bot.services.escalation import Escalations
from bot.services.notify import Notifier, Who
from bot.services.offers import Offers, subject_of
from flows.programmes import Registry
from flows.screens import Screen
from locales import Translator
from storage.candidates import subject_hash
from storage.models import EscalationCause, Staff
from storage.repositories import UnitOfWork

INVITE_DAYS = 7
INVITE_TRIES = 5  # wrong invite codes a person may give per window; then nothing is tried until it ends
INVITE_WINDOW = timedelta(hours=1)
ALL_PROGRAMMES = "*"  # an operator's programme: every one
WELCOME = {"peer": "staff.joined.peer", "coordinator": "staff.joined.coordinator",
           "operator": "staff.joined.operator"}  # by role; a consultant's is "staff.joined"


def new_code() -> str:
    return secrets.token_urlsafe(12)


def invite_window(now: datetime) -> datetime:
    """The start of the fixed window `now` falls in, for counting wrong invite codes."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    return now - (now - epoch) % INVITE_WINDOW


class Staffing:
    def __init__(self, registry: Registry, notifier: Notifier, escalations: Escalations, offers: Offers) -> None:
        self.registry = registry
        self.notifier = notifier
        self.escalations = escalations  # an urgent case that reached nobody goes to whoever joins
        self.offers = offers  # a new consultant has room for the waiting list

    async def invite(self, uow: UnitOfWork, *, role: str, programme_id: str, name: str, now: datetime) -> str:
        """A one-time invite code; an operator's is for every programme (`ALL_PROGRAMMES`)."""
        if role == "operator":
            programme_id = ALL_PROGRAMMES
        code = new_code()
        await uow.invites.create(code, role=role, programme_id=programme_id, name=name, now=now,
                                 expires_at=now + timedelta(days=INVITE_DAYS))
        await uow.audit.record(actor="cli", action="invite.created", at=now, detail=f"{role} {programme_id}")
        return code

    async def join(self, uow: UnitOfWork, who: Who, code: str, now: datetime) -> list[int]:
        t = Translator(who.language or "da")
        subject = subject_hash(who.channel, who.external_id)
        window = invite_window(now)
        if await uow.invites.wrong_codes(subject, window) >= INVITE_TRIES:
            return await self._limited(uow, who, t, subject, window, now)
        invite, problem = await uow.invites.redeem(code, now)
        if invite is None or problem:
            if await uow.invites.count_wrong_code(subject, window) == 1:  # one audit row per person and window
                await uow.audit.record(actor="staff:unknown", action="invite.refused", at=now, detail=problem)
            return [await self._say(uow, who, t(f"staff.invite.{problem or 'unknown'}"), now)]
        current = await uow.staff.find(who.channel, who.external_id)
        if current is not None and (current.role, current.programme_id) != (invite.role, invite.programme_id):
            # no silent move to another programme or role: the coordinator removes them first (the invite stays)
            await uow.audit.record(actor=f"staff:{current.id}", action="invite.refused", at=now,
                                   detail=f"already {current.role} {current.programme_id}")
            programme = self.registry.get(current.programme_id)
            name = programme.name(t.lang) if programme else current.programme_id
            return [await self._say(uow, who, t("staff.invite.already", programme=name), now)]
        staff = await uow.staff.join(invite, who.channel, who.external_id, contact=who.address.to_dict(),
                                     language=t.lang, now=now)
        await uow.audit.record(actor=f"staff:{staff.id}", action="staff.joined", at=now, detail=invite.role)
        return await self._welcome(uow, who, t, staff, now)

    async def _limited(self, uow: UnitOfWork, who: Who, t: Translator, subject: str, window: datetime,
                       now: datetime) -> list[int]:
        """Guessing codes: no code is tried until the window ends; counted, told and audited once."""
        tries = await uow.invites.count_wrong_code(subject, window)
        if tries > INVITE_TRIES + 1:
            return []
        await uow.audit.record(actor=f"{who.channel}:unknown", action="invite.limited", at=now,
                               detail=f"{tries - 1} wrong codes")
        return [await self._say(uow, who, t("staff.invite.limited"), now)]

    async def _welcome(self, uow: UnitOfWork, who: Who, t: Translator, staff: Staff, now: datetime) -> list[int]:
        if staff.role == "operator":  # every programme's urgent cases that reach nobody else, at the top
            ids = [await self._say(uow, who, t(WELCOME["operator"], name=staff.name), now)]
            return ids + await self.escalations.reach_waiting(uow, staff, now)
        programme = self.registry[staff.programme_id]
        text = t(WELCOME.get(staff.role, "staff.joined"), name=staff.name, programme=programme.name(t.lang))
        ids = [await self._say(uow, who, text, now)]
        # an urgent case that could reach nobody goes to whoever joins first
        ids += await self.escalations.reach_waiting(uow, staff, now)
        return ids + await self.offers.offer_waiting(uow, programme, now)

    async def _say(self, uow: UnitOfWork, who: Who, text: str, now: datetime) -> int:
        return await self.notifier.queue(uow, who.address, [Screen(text)], now)

    async def remove_staff(self, uow: UnitOfWork, staff_id: int, now: datetime) -> Staff | None:
        """A consultant who leaves sees nothing more; their open cases go back to the waiting list first.

        An urgent one is offered again at once to every consultant, full or not, and climbs the ladder
        again (nobody holds it now), instead of waiting its turn."""
        staff = await uow.staff.remove(staff_id, now)
        if staff is None:
            return None
        await uow.staff_web.end_sessions(staff.id, now)  # else a later join would bring them back (T41)
        urgent = []
        for referral in await uow.cases.open_cases(staff.id):
            referral.consultant_id, referral.claimed_at = None, None
            await uow.cases.wait(referral, referral.created_at)  # keeps its place by referral date
            if referral.urgent:
                urgent.append(referral)
        await uow.audit.record(actor="cli", action="staff.removed", at=now, detail=f"staff:{staff.id}")
        for referral in urgent:
            await self.offers.offer_again(uow, referral, self.registry[referral.programme_id], now,
                                          "staff.holder_left")
            subject = await subject_of(uow, referral)
            if subject is not None:
                await self.escalations.again(uow, referral, subject, now, cause=EscalationCause.HOLDER_LEFT)
        await self.escalations.staff_left(uow, staff, now)  # what only they were told goes up the ladder now
        programme = self.registry.get(staff.programme_id)
        if programme is not None:
            await self.offers.offer_waiting(uow, programme, now)
        return staff
