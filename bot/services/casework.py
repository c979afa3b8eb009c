"""The consultants' side, put together: joining (`staffing`), offering referrals and the waiting list
(`offers`), case steps and the export (`cases`), the first meeting (`meetings`), follow-ups
(`followup`) and escalations (`escalation`), with the routing of a press on a summary or a case card.

Transport-neutral: every message to a person is an outbox row (written in the caller's unit of
work) holding screens as data; the channel renders them when it sends. Every press is checked on the
server at press time against who is pressing, by `bot.services.policy.may_act`: an active consultant of
the referral's programme whose offer of it is still open, or who holds the case. Anything else is
refused and audited.
"""

from __future__ import annotations

from datetime import datetime

from bot.services.cases import Cases, case_card
from bot.services.escalation import STEP as ESCALATION_STEP
from bot.services.escalation import Escalations
from bot.services.followup import FollowUps
from bot.services.meetings import Meetings
from bot.services.notify import Notifier, Who
from bot.services.offers import Offers, subject_of
from bot.services.policy import may_act, record_id
from bot.services.staffing import ALL_PROGRAMMES, INVITE_TRIES, Staffing
from flows.programmes import Registry
from flows.screens import Screen
from locales import Translator
from storage.models import Offer, Referral, Staff
from storage.repositories import UnitOfWork

__all__ = ["ALL_PROGRAMMES", "INVITE_TRIES", "Casework", "Who"]


class Casework:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.notifier = Notifier()
        self.escalations = Escalations(registry, self.notifier)  # every urgent case ends with a person who saw it
        self.meetings = Meetings(registry, self.notifier)  # the first meeting follows a claim
        self.followups = FollowUps(registry, self.notifier, self.escalations)  # follow-ups of claimed cases
        self.offers = Offers(registry, self.notifier, self.escalations, self.meetings)
        self.caseload = Cases(registry, self.notifier, self.followups, self.meetings, self.offers)
        self.staffing = Staffing(registry, self.notifier, self.escalations, self.offers)
        # the jobs' entry points, as the app, the clocks, erasure and the channels call them
        self.invite, self.join, self.remove_staff = self.staffing.invite, self.staffing.join, self.staffing.remove_staff
        self.dispatch, self.completed_later = self.offers.dispatch, self.offers.completed_later
        self.resend_urgent = self.offers.resend_urgent
        self.cases, self.withdrawn = self.caseload.cases, self.caseload.withdrawn
        self.queue, self.notify = self.notifier.queue, self.notifier.notify  # sending, as erasure does

    subject_of = staticmethod(subject_of)
    case_card = staticmethod(case_card)

    # --- presses ---------------------------------------------------------------------------

    async def press(self, uow: UnitOfWork, who: Who, step: str, button: str, ref: int,
                    now: datetime) -> list[int]:
        """A button on a summary (``ref.<id>``), a case card (``case.<id>``) or an escalation's copy
        (``esc.<id>``: "Seen — I will make contact")."""
        kind, _, number = step.partition(".")
        if kind == ESCALATION_STEP:
            return await self.escalations.press(uow, who, number, button, ref, now)
        staff = await uow.staff.find(who.channel, who.external_id)
        found = record_id(number)
        referral = await uow.referrals.get(found) if found is not None else None
        offer = await uow.cases.offer_for(referral.id, staff.id) if staff and referral else None
        # role, programme, status, offer and holder, as they are now (see bot/services/policy.py)
        if staff is None or referral is None or not may_act(staff, referral, offer, kind, button):
            return [await self._denied(uow, who, (staff, referral, offer), step, button, now)]
        programme = self.registry[referral.programme_id]
        if button == "export":
            return [await self.caseload.export(uow, staff, referral, now)]
        if kind == "ref" and button == "seen":  # an urgent offer is the consultant's copy of its escalation
            return await self.escalations.seen_on_offer(uow, staff, referral, ref, now)
        if kind == "ref":
            return await self.offers.on_offer(uow, staff, referral, programme, button, ref, now)
        return await self.caseload.on_case(uow, staff, referral, programme, button, ref, now)

    async def _denied(self, uow: UnitOfWork, who: Who, found: tuple[Staff | None, Referral | None, Offer | None],
                      step: str, button: str, now: datetime) -> int:
        """A forged, replayed or out-of-date press: refused, with a trace."""
        staff, referral, offer = found
        await uow.audit.record(actor=await uow.staff.actor_of(who.channel, who.external_id), action="denied",
                               at=now, referral_id=referral.id if referral else None, detail=f"{step}|{button}"[:120])
        t = Translator(staff.language if staff else who.language or "da")
        text = t("staff.denied")
        if (button == "claim" and offer and referral and not offer.passed
                and referral.consultant_id not in (None, offer.staff_id)):
            # a claim on their own offer, taken by someone else (often a race just lost): say who has it
            holder = await uow.staff.get(referral.consultant_id) if referral.consultant_id else None
            text = t("staff.taken", name=holder.name if holder else "?")
        return await self.queue(uow, who.address, [Screen(text)], now)
