"""A consultant's cases: the steps and outcome recorded on a case card, `/cases`, the export of one
case, and telling whoever holds or was offered a referral that its person withdrew.

What a button does to a case is `flows.casework.case_step`, and the export's files are
`flows.casework.case_documents`; this module loads the case, calls them, stores the result and
audits it. A press reaches `Cases.on_case` only after `bot.services.policy.may_act`.
"""

from __future__ import annotations

from datetime import datetime

from bot.services import staff_detail
from bot.services.followup import FollowUps
from bot.services.meetings import Meetings
from bot.services.notify import Notifier, Who, staff_address
from bot.services.offers import Offers, subject_of
from flows.casework import CaseMove, card_clocks, case_documents, case_step, export_clocks, told_of_withdrawal
from flows.programmes import Programme, Registry
from flows.screens import Screen
from flows.summary import case_screen, outcome_screen
from locales import Translator
from storage.models import Referral, ReferralStatus, Staff
from storage.repositories import UnitOfWork


def case_card(referral: Referral, lang: str, now: datetime) -> Screen:
    """The case card: the summary's head, the IPS clocks so far, and the steps to record."""
    return case_screen(referral.id, referral.payload, lang, card_clocks(referral), referral.case_outcome, now)


class Cases:
    def __init__(self, registry: Registry, notifier: Notifier, followups: FollowUps, meetings: Meetings,
                 offers: Offers) -> None:
        self.registry = registry
        self.notifier = notifier
        self.followups = followups  # their answers are on the card
        self.meetings = meetings  # the card cancels the first meeting
        self.offers = offers  # a closed case makes room for the oldest waiting referral

    async def on_case(self, uow: UnitOfWork, staff: Staff, referral: Referral, programme: Programme,
                      button: str, ref: int, now: datetime) -> list[int]:
        to = staff_address(staff.contact)
        step = case_step(button, card_clocks(referral), now)
        if step.move is CaseMove.ASK_OUTCOME:
            return [await self.notifier.queue(uow, to, [outcome_screen(referral.id, staff.language)], now)]
        if step.move is CaseMove.CANCEL_MEETING:
            slot = await uow.slots.booked_for(referral.id)
            if slot is not None:
                await self.meetings.cancel(uow, slot, now, by=to)
            return []
        if not step.recorded:
            return []
        for name, value in step.changes.items():
            setattr(referral, name, value)
        if step.closes:
            referral.status = ReferralStatus.CLOSED.value
        await uow.referrals.flush()
        await uow.audit.record(actor=f"staff:{staff.id}", action=step.audit, at=now, referral_id=referral.id,
                               detail=step.detail)
        if step.closes:
            closed = Screen(Translator(staff.language)("staff.case.closed", id=referral.id))
            ids = [await self.notifier.queue(uow, to, [], now, edit=(ref, closed))]
            return ids + await self.offers.offer_waiting(uow, programme, now)
        card = await self.sent_card(uow, referral, staff.language, now)
        subject = await subject_of(uow, referral)
        if step.card_again:  # answered on the outcome question: show the card again
            return [await self.notifier.queue(uow, to, [card], now, subject_id=subject)]
        return [await self.notifier.queue(uow, to, [], now, edit=(ref, card), subject_id=subject)]

    async def card(self, uow: UnitOfWork, referral: Referral, lang: str, now: datetime) -> Screen:
        """The case card with its follow-ups' answers."""
        return await self.followups.card(uow, referral, case_card(referral, lang, now), lang)

    async def sent_card(self, uow: UnitOfWork, referral: Referral, lang: str, now: datetime) -> Screen:
        """The card as a staff message carries it: whole, or its number and a link (`staff_detail`)."""
        return staff_detail.card(await self.card(uow, referral, lang, now), referral.id, lang)

    async def cases(self, uow: UnitOfWork, who: Who, now: datetime) -> list[int]:
        """`/cases`: a head line, then a card per open case, each a message linked to its person."""
        staff = await uow.staff.find(who.channel, who.external_id)
        if staff is None:
            return []
        t = Translator(staff.language)
        programme = self.registry.get(staff.programme_id)  # an operator's is every programme: no cases of theirs
        open_cases = await uow.cases.open_cases(staff.id)
        head = Screen(t("staff.cases.title", n=len(open_cases), cap=programme.caseload_cap)
                      if open_cases and programme is not None else t("staff.cases.none"))
        to = staff_address(staff.contact)
        ids = [await self.notifier.queue(uow, to, [head], now)]
        for referral in open_cases:  # a message per case, each linked to its person (erased with them)
            await uow.audit.record(actor=f"staff:{staff.id}", action="case.viewed", at=now, referral_id=referral.id)
            card = await self.sent_card(uow, referral, staff.language, now)
            ids.append(await self.notifier.queue(uow, to, [card], now, subject_id=await subject_of(uow, referral)))
        return ids

    async def export(self, uow: UnitOfWork, staff: Staff, referral: Referral, now: datetime) -> int:
        """One case's files to the consultant who may see it (checked by the caller), audited."""
        documents = case_documents(referral.id, referral.created_at, referral.status, referral.payload,
                                   export_clocks(referral), referral.case_outcome)
        # with a staff area (brief mode) the files go nowhere but the staff area's export, which asks for the
        # passkey again: a card sent before the switch, or a forged press, gets the number and a link
        caption, files = staff_detail.export(Screen(Translator(staff.language)("staff.export.caption", id=referral.id)),
                                             documents, referral.id, staff.language)
        action = "referral.exported" if files else "referral.export_linked"
        await uow.audit.record(actor=f"staff:{staff.id}", action=action, at=now, referral_id=referral.id)
        return await self.notifier.queue(uow, staff_address(staff.contact), [caption], now, documents=files,
                                         subject_id=await subject_of(uow, referral))

    async def withdrawn(self, uow: UnitOfWork, candidate_id: int, now: datetime) -> list[int]:
        """Before a candidate is erased: whoever holds or was offered their referral is told only that."""
        ids = []
        for referral in await uow.referrals.of_candidate(candidate_id):
            offered = [o.staff_id for o in await uow.cases.offers(referral.id)]
            for staff_id in told_of_withdrawal(referral.consultant_id, offered):
                staff = await uow.staff.get(staff_id)
                if staff is None or not staff.active:
                    continue
                text = Translator(staff.language)("staff.withdrawn", id=referral.id)
                ids.append(await self.notifier.queue(uow, staff_address(staff.contact), [Screen(text)], now))
            await uow.audit.record(actor="candidate:erased", action="referral.withdrawn", at=now,
                                   referral_id=referral.id)
        return ids
