"""Offering referrals: a new eligible referral to the consultants with room (an urgent one to all),
the waiting list, urgent offers again, an urgent partial referral completed later, and a press on an
offer (claim within the caseload cap, or pass).

The rules are `flows.casework` (who is offered, the cap, what an open offer shows when a partial
referral is completed); this module loads, calls them, and stores and sends what they decide, in the
caller's unit of work. A press reaches `Offers.on_offer` only after `bot.services.policy.may_act`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from bot.services import staff_detail
from bot.services.escalation import Escalations
from bot.services.meetings import Meetings
from bot.services.notify import Notifier, staff_address
from flows.address import Address
from flows.casework import ClaimCheck, Routing, check_claim, due_again, update_on_completion, who_is_offered
from flows.programmes import Programme, Registry
from flows.screens import Screen, Tone
from flows.summary import summary_text
from flows.triage import goes_to_consultant
from locales import Translator
from storage.models import Offer, Referral, ReferralStatus, Staff
from storage.repositories import UnitOfWork

log = logging.getLogger(__name__)


async def subject_of(uow: UnitOfWork, referral: Referral) -> int | None:
    """The candidate a referral is about (None once erased)."""
    candidate = await uow.referrals.person_of(referral.id)
    return candidate.id if candidate else None


async def consent_at(uow: UnitOfWork, referral: Referral) -> datetime | None:
    intake = await uow.intakes.get(referral.intake_id)
    return intake.consent_at if intake else None


class Offers:
    def __init__(self, registry: Registry, notifier: Notifier, escalations: Escalations, meetings: Meetings) -> None:
        self.registry = registry
        self.notifier = notifier
        self.escalations = escalations
        self.meetings = meetings  # the first meeting follows a claim

    # --- a new referral ----------------------------------------------------------------------

    async def dispatch(self, uow: UnitOfWork, referral: Referral, consent: datetime | None,
                       now: datetime) -> int | None:
        """Offer a new eligible referral (`flows.casework.who_is_offered`); else the waiting list.

        Returns the candidate's place on the waiting list when all consultants are full, else None
        (also when the programme has no consultant: then nobody is "full", and the coordinator is told
        instead; of an urgent one, by its escalation, with the summary).
        """
        programme = self.registry[referral.programme_id]
        consultants = await uow.staff.consultants(programme.id)
        with_room = [] if referral.urgent or not consultants else await uow.cases.with_room(
            programme.id, programme.caseload_cap)
        offering = who_is_offered(referral.urgent, consultants, with_room)
        if offering.routing is Routing.NO_CONSULTANT:
            await uow.cases.wait(referral, now)
            if offering.tell_coordinators:
                await self._no_consultant(uow, referral, programme, now)
            return None
        if offering.routing is Routing.FULL:
            return await uow.cases.wait(referral, now)
        await self.offer(uow, referral, list(offering.to), programme, consent, now)
        return None

    async def _no_consultant(self, uow: UnitOfWork, referral: Referral, programme: Programme,
                             now: datetime) -> list[int]:
        """A referral waits in a programme without consultants: its coordinators must know."""
        coordinators = await uow.staff.with_role(programme.id, "coordinator")
        await uow.audit.record(actor="system", action="referral.no_consultant", at=now, referral_id=referral.id)
        if not coordinators:  # nobody to tell: loud in the log (no personal data) and in `ipsbot report`
            log.error("programme %s has no consultant and no coordinator; referral %s waits", programme.id,
                      referral.id)
            return []
        ids = []
        for member in coordinators:
            t = Translator(member.language)
            text = t("staff.coordinator.no_consultant", id=referral.id, programme=programme.name(t.lang))
            ids.append(await self.notifier.notify(uow, staff_address(member.contact), text, now))
        return ids

    async def offer(self, uow: UnitOfWork, referral: Referral, staff: list[Staff], programme: Programme,
                    consent: datetime | None, now: datetime, note: str = "") -> list[int]:
        referral.status, referral.waiting_since = ReferralStatus.NEW.value, None
        ids = []
        subject = await subject_of(uow, referral)
        for offer, member in zip(await uow.cases.offer(referral, staff, now), staff, strict=True):
            screen = staff_detail.offer(referral.id, referral.payload, programme, member.language, consent,
                                  note=Translator(member.language)(note) if note else "")
            ids.append(await self.notifier.queue(uow, staff_address(member.contact), [screen], now,
                                                 offer_id=offer.id, subject_id=subject))
            await uow.audit.record(actor=f"staff:{member.id}", action="referral.offered", at=now,
                                   referral_id=referral.id)
        return ids

    async def offer_waiting(self, uow: UnitOfWork, programme: Programme, now: datetime) -> list[int]:
        """When a consultant has room again, the oldest waiting referral is offered."""
        waiting = await uow.cases.oldest_waiting(programme.id)
        room = await uow.cases.with_room(programme.id, programme.caseload_cap)
        if waiting is None or not room:
            return []
        return await self.offer(uow, waiting, room, programme, await consent_at(uow, waiting), now)

    # --- urgent ones -----------------------------------------------------------------------------

    async def resend_urgent(self, uow: UnitOfWork, now: datetime) -> list[int]:
        """Urgent referrals nobody claimed within the programme's urgent window (default 24 hours) are
        offered again to all of its consultants, full or not (so that whoever passed it or joined since may
        claim it); telling the coordinators and further up is its escalation's part."""
        ids: list[int] = []
        programmes = self.registry.all()
        if not programmes:
            return ids
        shortest = min(p.urgent_window_hours for p in programmes)
        for referral in await uow.cases.unclaimed_urgent(now - timedelta(hours=shortest)):
            programme = self.registry.get(referral.programme_id)
            if programme is None or not due_again(referral.created_at, programme.urgent_window_hours, now):
                continue
            ids += await self.offer_again(uow, referral, programme, now, "staff.resent",
                                          hours=programme.urgent_window_hours)
            referral.resent_at = now
            await uow.audit.record(actor="system", action="referral.resent", at=now, referral_id=referral.id)
        return ids

    async def offer_again(self, uow: UnitOfWork, referral: Referral, programme: Programme, now: datetime,
                          note: str, **params: Any) -> list[int]:
        """An urgent referral offered again to every consultant, full or not, with a note on top: an offer
        for whoever had none (full then, or joined since), and whoever passed it may claim it now."""
        ids = []
        staff = await uow.staff.consultants(programme.id)
        consent = await consent_at(uow, referral)
        for member in staff:
            screen = staff_detail.offer(referral.id, referral.payload, programme, member.language, consent,
                                  note=Translator(member.language)(note, **params))
            offer = await uow.cases.offer_for(referral.id, member.id)
            if offer is None:
                (offer,) = await uow.cases.offer(referral, [member], now)
            else:
                offer.passed = False
            ids.append(await self.notifier.queue(uow, staff_address(member.contact), [screen], now,
                                                 offer_id=offer.id, subject_id=await subject_of(uow, referral)))
        if staff and referral.status == ReferralStatus.WAITING.value:
            referral.status, referral.waiting_since = ReferralStatus.NEW.value, None
        return ids

    async def completed_later(self, uow: UnitOfWork, referral: Referral, consent: datetime | None,
                              now: datetime) -> list[int]:
        """An urgent partial referral whose person came back and finished: never updated silently.

        The consultant holding it gets the whole summary (and, outside the target group now, the outcome:
        they keep the case). Nobody holding it: eligible, the open offers show the whole summary (edited in
        place, or sent again if not sent yet); outside the target group, the offers are withdrawn, it is
        redirected, and it climbs the ladder again so that a person checks they got help.
        """
        programme = self.registry[referral.programme_id]
        subject = await subject_of(uow, referral)
        eligible = goes_to_consultant(referral.outcome)
        holder = await uow.staff.get(referral.consultant_id) if referral.consultant_id else None
        if holder is not None and holder.active:
            return [await self._update_holder(uow, holder, referral, programme, consent, eligible, subject, now)]
        ids = []
        for offer in await uow.cases.offers(referral.id):
            member = await uow.staff.get(offer.staff_id)
            if member is not None and member.active and not offer.passed:
                ids += await self._update_offer(uow, offer, member, referral, programme, consent, eligible,
                                                subject, now)
        if eligible:
            return ids
        referral.status, referral.waiting_since = ReferralStatus.REDIRECTED.value, None
        await uow.audit.record(actor="system", action="referral.redirected", at=now, referral_id=referral.id)
        if subject is None:  # erased meanwhile: nobody to check on
            return ids
        return ids + await self.escalations.again(uow, referral, subject, now)

    async def _update_holder(self, uow: UnitOfWork, holder: Staff, referral: Referral, programme: Programme,
                             consent: datetime | None, eligible: bool, subject: int | None, now: datetime) -> int:
        t = Translator(holder.language)
        head = t("staff.partial.completed", id=referral.id)
        if not eligible:
            head += "\n" + t("staff.partial.outside_kept", reason=t(referral.reason))
        text = head + "\n\n" + summary_text(referral.id, referral.payload, programme, holder.language, consent)
        screen = staff_detail.completed(Screen(text, tone=Tone.CRISIS), referral.id, referral.payload, programme,
                                        holder.language)  # STAFF_CHAT_DETAIL
        await uow.audit.record(actor=f"staff:{holder.id}", action="referral.update_sent", at=now,
                               referral_id=referral.id)
        return await self.notifier.queue(uow, staff_address(holder.contact), [screen], now, subject_id=subject)

    async def _update_offer(self, uow: UnitOfWork, offer: Offer, member: Staff, referral: Referral,
                            programme: Programme, consent: datetime | None, eligible: bool, subject: int | None,
                            now: datetime) -> list[int]:
        t = Translator(member.language)
        sent_to = Address.from_dict(offer.address)
        shown = offer.message_ref is not None and sent_to is not None
        update = update_on_completion(eligible, shown)
        if update == "withdraw" and sent_to is not None:
            gone = Screen(t("staff.partial.redirected", id=referral.id))
            return [await self.notifier.queue(uow, sent_to, [], now, edit=(int(offer.message_ref or 0), gone))]
        if update == "none":
            return []
        screen = staff_detail.offer(referral.id, referral.payload, programme, member.language, consent,
                              note=t("staff.partial.completed", id=referral.id))
        if update == "edit" and sent_to is not None:  # the summary shown anew, in place
            sent = await self.notifier.queue(uow, sent_to, [], now, edit=(int(offer.message_ref or 0), screen),
                                             subject_id=subject)
        else:  # not sent yet: the whole one goes too (its reference replaces the first)
            sent = await self.notifier.queue(uow, staff_address(member.contact), [screen], now, offer_id=offer.id,
                                             subject_id=subject)
        await uow.audit.record(actor=f"staff:{member.id}", action="referral.update_sent", at=now,
                               referral_id=referral.id)
        return [sent]

    # --- a press on an offer -----------------------------------------------------------------------

    async def on_offer(self, uow: UnitOfWork, staff: Staff, referral: Referral, programme: Programme,
                       button: str, ref: int, now: datetime) -> list[int]:
        if button == "pass":
            return await self._pass(uow, staff, referral, ref, now)
        if button == "claim":
            return await self._claim(uow, staff, referral, programme, now)
        return []

    async def _pass(self, uow: UnitOfWork, staff: Staff, referral: Referral, ref: int, now: datetime) -> list[int]:
        offer = await uow.cases.offer_for(referral.id, staff.id)
        if offer is not None:
            offer.passed = True
        await uow.audit.record(actor=f"staff:{staff.id}", action="referral.passed", at=now, referral_id=referral.id)
        screen = Screen(Translator(staff.language)("staff.passed"))
        return [await self.notifier.queue(uow, staff_address(staff.contact), [], now, edit=(ref, screen))]

    async def _claim(self, uow: UnitOfWork, staff: Staff, referral: Referral, programme: Programme,
                     now: datetime) -> list[int]:
        t = Translator(staff.language)
        to = staff_address(staff.contact)
        cap = check_claim(await uow.cases.open_count(staff.id), programme.caseload_cap, referral.urgent)
        if cap is ClaimCheck.FULL:
            await uow.audit.record(actor=f"staff:{staff.id}", action="claim.refused_full", at=now,
                                   referral_id=referral.id)
            return [await self.notifier.queue(uow, to, [Screen(t("staff.full", cap=programme.caseload_cap))], now)]
        if not await uow.cases.claim(referral.id, staff.id, now):  # a race lost: say who has it
            holder = await uow.staff.get(referral.consultant_id) if referral.consultant_id else None
            await uow.referrals.refresh(referral)
            holder = await uow.staff.get(referral.consultant_id) if referral.consultant_id else holder
            return [await self.notifier.queue(uow, to, [Screen(t("staff.taken", name=holder.name if holder else "?"))],
                                              now)]
        await uow.referrals.refresh(referral)
        await uow.audit.record(actor=f"staff:{staff.id}", action="referral.claimed", at=now, referral_id=referral.id)
        if cap is ClaimCheck.OVER_CAP:  # kept on the referral (for `ipsbot report`) and in the audit trail
            referral.over_cap = True
            await uow.audit.record(actor=f"staff:{staff.id}", action="claim.over_cap", at=now,
                                   referral_id=referral.id)
        ids = [await self.notifier.queue(uow, to, [Screen(t("staff.you_claimed"))], now)]
        ids += await self.escalations.claimed(uow, referral, staff, now)  # the claimer saw it and makes contact
        ids += await self._taken_by(uow, staff, referral, now)
        ids += await self._tell_candidate(uow, referral, "consultant.assigned", now, name=staff.name)
        await self.meetings.offer_times(uow, referral, now)  # then the first meeting, within days
        return ids

    async def _taken_by(self, uow: UnitOfWork, staff: Staff, referral: Referral, now: datetime) -> list[int]:
        """Everyone else offered it sees who took it, in place of their offer."""
        ids = []
        for offer in await uow.cases.offers(referral.id):
            sent_to = Address.from_dict(offer.address)
            if offer.staff_id == staff.id or offer.message_ref is None or sent_to is None:
                continue
            other = await uow.staff.get(offer.staff_id)
            taken = Screen(Translator(other.language if other else staff.language)("staff.claimed_by",
                                                                                      name=staff.name))
            ids.append(await self.notifier.queue(uow, sent_to, [], now, edit=(int(offer.message_ref), taken)))
        return ids

    async def _tell_candidate(self, uow: UnitOfWork, referral: Referral, msgid: str, now: datetime,
                              **params: Any) -> list[int]:
        candidate = await uow.referrals.person_of(referral.id)
        to = Address.from_dict(candidate.contact) if candidate is not None else None
        if candidate is None or to is None or candidate.unreachable:
            return []
        text = Translator(referral.language)(msgid, **params)
        return [await self.notifier.queue(uow, to, [Screen(text)], now, candidate_id=candidate.id)]
