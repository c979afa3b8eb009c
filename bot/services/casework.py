"""The consultants' side: invites, offering referrals, claims within the caseload cap, the waiting
list, case steps and outcomes, and the audit trail of all of it.

Transport-neutral: every message to a person is an outbox row (written in the caller's unit of
work) holding screens as data; the channel renders them when it sends. Every press is checked on
the server at press time against who is pressing, by `bot.services.policy.may_act`: an active consultant of
the referral's programme whose offer of it is still open, or who holds the case. Anything else is
refused and audited.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.services import chat_detail
from bot.services.escalation import STEP as ESCALATION_STEP
from bot.services.escalation import Escalations
from bot.services.followup import FollowUps
from bot.services.meetings import Meetings
from bot.services.notify import Notifier, Who, staff_address
from bot.services.policy import may_act, record_id
from flows.address import Address
from flows.ips import CARD_CLOCKS, CASE_OUTCOMES, CASE_STEP_CLOCKS, CLOCKS
from flows.programmes import Programme, Registry
from flows.referral import export_record
from flows.screens import Screen, Tone
from flows.summary import case_screen, outcome_screen, summary_text
from flows.triage import goes_to_consultant
from locales import Translator
from storage.crypto import keyed_hash
from storage.models import EscalationCause, Referral, ReferralStatus, Staff
from storage.repositories import UnitOfWork

log = logging.getLogger(__name__)

INVITE_DAYS = 7
INVITE_TRIES = 5  # wrong invite codes a person may give per window; then nothing is tried until it ends
INVITE_WINDOW = timedelta(hours=1)
ALL_PROGRAMMES = "*"  # an operator's programme: every one


def new_code() -> str:
    return secrets.token_urlsafe(12)


def invite_window(now: datetime) -> datetime:
    """The start of the fixed window `now` falls in, for counting wrong invite codes."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    return now - (now - epoch) % INVITE_WINDOW


class Casework:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.notifier = Notifier()
        self.escalations = Escalations(registry, self.notifier)  # every urgent case ends with a person who saw it
        self.meetings = Meetings(registry, self.notifier)  # the first meeting follows a claim
        self.followups = FollowUps(registry, self.notifier, self.escalations)  # follow-ups of claimed cases

    # --- sending (through the shared notifier) ---------------------------------------------

    async def queue(self, uow: UnitOfWork, to: Address, screens: list[Screen], now: datetime, *,
                    edit: tuple[int, Screen] | None = None, offer_id: int | None = None,
                    documents: list[dict[str, str]] | None = None, candidate_id: int | None = None,
                    due_at: datetime | None = None, topic: str = "", subject_id: int | None = None) -> int:
        return await self.notifier.queue(uow, to, screens, now, edit=edit, offer_id=offer_id, documents=documents,
                                         candidate_id=candidate_id, due_at=due_at, topic=topic,
                                         subject_id=subject_id)

    @staticmethod
    async def subject_of(uow: UnitOfWork, referral: Referral) -> int | None:
        """The candidate a referral is about."""
        candidate = await uow.referrals.person_of(referral.id)
        return candidate.id if candidate else None

    async def notify(self, uow: UnitOfWork, to: Address, text: str, now: datetime) -> int:
        return await self.notifier.notify(uow, to, text, now)

    # --- joining ---------------------------------------------------------------------------

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
        subject = keyed_hash(f"{who.channel}:{who.external_id}")
        window = invite_window(now)
        if await uow.invites.wrong_codes(subject, window) >= INVITE_TRIES:
            # guessing codes: no code is tried until the window ends; counted, told and audited once
            tries = await uow.invites.count_wrong_code(subject, window)
            if tries > INVITE_TRIES + 1:
                return []
            await uow.audit.record(actor=f"{who.channel}:unknown", action="invite.limited", at=now,
                                   detail=f"{tries - 1} wrong codes")
            return [await self.queue(uow, who.address, [Screen(t("staff.invite.limited"))], now)]
        invite, problem = await uow.invites.redeem(code, now)
        if invite is None or problem:
            if await uow.invites.count_wrong_code(subject, window) == 1:  # one audit row per person and window
                await uow.audit.record(actor="staff:unknown", action="invite.refused", at=now, detail=problem)
            return [await self.queue(uow, who.address, [Screen(t(f"staff.invite.{problem or 'unknown'}"))], now)]
        current = await uow.staff.find(who.channel, who.external_id)
        if current is not None and (current.role, current.programme_id) != (invite.role, invite.programme_id):
            # no silent move to another programme or role: the coordinator removes them first (the invite stays)
            await uow.audit.record(actor=f"staff:{current.id}", action="invite.refused", at=now,
                                   detail=f"already {current.role} {current.programme_id}")
            programme = self.registry.get(current.programme_id)
            name = programme.name(t.lang) if programme else current.programme_id
            return [await self.queue(uow, who.address, [Screen(t("staff.invite.already", programme=name))], now)]
        staff = await uow.staff.join(invite, who.channel, who.external_id, contact=who.address.to_dict(),
                                     language=t.lang, now=now)
        await uow.audit.record(actor=f"staff:{staff.id}", action="staff.joined", at=now, detail=invite.role)
        if staff.role == "operator":  # every programme's urgent cases that reach nobody else, at the top
            ids = [await self.queue(uow, who.address, [Screen(t("staff.joined.operator", name=staff.name))], now)]
            return ids + await self.escalations.reach_waiting(uow, staff, now)
        programme = self.registry[staff.programme_id]
        welcome = {"peer": "staff.joined.peer", "coordinator": "staff.joined.coordinator"}.get(staff.role,
                                                                                             "staff.joined")
        ids = [await self.queue(uow, who.address, [Screen(t(welcome, name=staff.name,
                                                             programme=programme.name(t.lang)))], now)]
        # an urgent case that could reach nobody goes to whoever joins first
        ids += await self.escalations.reach_waiting(uow, staff, now)
        return ids + await self._offer_waiting(uow, programme, now)

    # --- offering --------------------------------------------------------------------------

    async def dispatch(self, uow: UnitOfWork, referral: Referral, consent_at: datetime | None,
                       now: datetime) -> int | None:
        """Offer a new eligible referral to every consultant with room; else the waiting list.

        An urgent referral goes to every consultant of the programme, full or not (an urgent claim
        may exceed the cap). Returns the candidate's place on the waiting list when all consultants
        are full, else None (also when the programme has no consultant: then nobody is "full", and
        the coordinator is told instead; of an urgent one, by its escalation, with the summary).
        """
        programme = self.registry[referral.programme_id]
        consultants = await uow.staff.consultants(programme.id)
        if not consultants:
            await uow.cases.wait(referral, now)
            if not referral.urgent:
                await self._no_consultant(uow, referral, programme, now)
            return None
        room = consultants if referral.urgent else await uow.cases.with_room(programme.id, programme.caseload_cap)
        if not room:
            return await uow.cases.wait(referral, now)
        await self._offer(uow, referral, room, programme, consent_at, now)
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
            ids.append(await self.notify(uow, staff_address(member.contact), text, now))
        return ids

    async def completed_later(self, uow: UnitOfWork, referral: Referral, consent_at: datetime | None,
                              now: datetime) -> list[int]:
        """An urgent partial referral whose person came back and finished: never updated silently.

        The consultant holding it gets the whole summary (and, outside the target group now, the outcome:
        they keep the case). Nobody holding it: eligible, the open offers show the whole summary (edited in
        place, or sent again if not sent yet); outside the target group, the offers are withdrawn, it is
        redirected, and it climbs the ladder again so that a person checks they got help.
        """
        programme = self.registry[referral.programme_id]
        subject = await self.subject_of(uow, referral)
        eligible = goes_to_consultant(referral.outcome)
        holder = await uow.staff.get(referral.consultant_id) if referral.consultant_id else None
        if holder is not None and holder.active:
            t = Translator(holder.language)
            head = t("staff.partial.completed", id=referral.id)
            if not eligible:
                head += "\n" + t("staff.partial.outside_kept", reason=t(referral.reason))
            text = head + "\n\n" + summary_text(referral.id, referral.payload, programme, holder.language, consent_at)
            text = chat_detail.text(text, referral.id, referral.payload, programme, holder.language)
            await uow.audit.record(actor=f"staff:{holder.id}", action="referral.update_sent", at=now,
                                   referral_id=referral.id)
            return [await self.queue(uow, staff_address(holder.contact), [Screen(text, tone=Tone.CRISIS)], now,
                                     subject_id=subject)]
        ids = []
        for offer in await uow.cases.offers(referral.id):
            member = await uow.staff.get(offer.staff_id)
            sent_to = Address.from_dict(offer.address)
            if member is None or not member.active or offer.passed:
                continue
            t = Translator(member.language)
            if eligible:
                screen = chat_detail.offer(referral.id, referral.payload, programme, member.language, consent_at,
                                      note=t("staff.partial.completed", id=referral.id))
                if offer.message_ref is not None and sent_to is not None:  # the summary shown anew, in place
                    ids.append(await self.queue(uow, sent_to, [], now, edit=(int(offer.message_ref), screen),
                                                subject_id=subject))
                else:  # not sent yet: the whole one goes too (its reference replaces the first)
                    ids.append(await self.queue(uow, staff_address(member.contact), [screen], now,
                                                offer_id=offer.id, subject_id=subject))
                await uow.audit.record(actor=f"staff:{member.id}", action="referral.update_sent", at=now,
                                       referral_id=referral.id)
            elif offer.message_ref is not None and sent_to is not None:  # withdrawn: no Claim left to press
                gone = Screen(t("staff.partial.redirected", id=referral.id))
                ids.append(await self.queue(uow, sent_to, [], now, edit=(int(offer.message_ref), gone)))
        if eligible:
            return ids
        referral.status, referral.waiting_since = ReferralStatus.REDIRECTED.value, None
        await uow.audit.record(actor="system", action="referral.redirected", at=now, referral_id=referral.id)
        if subject is None:  # erased meanwhile: nobody to check on
            return ids
        return ids + await self.escalations.again(uow, referral, subject, now)

    async def _offer(self, uow: UnitOfWork, referral: Referral, staff: list[Staff], programme: Programme,
                     consent_at: datetime | None, now: datetime, note: str = "") -> list[int]:
        referral.status, referral.waiting_since = ReferralStatus.NEW.value, None
        ids = []
        subject = await self.subject_of(uow, referral)
        for offer, member in zip(await uow.cases.offer(referral, staff, now), staff, strict=True):
            screen = chat_detail.offer(referral.id, referral.payload, programme, member.language, consent_at,
                                  note=Translator(member.language)(note) if note else "")
            ids.append(await self.queue(uow, staff_address(member.contact), [screen], now, offer_id=offer.id,
                                        subject_id=subject))
            await uow.audit.record(actor=f"staff:{member.id}", action="referral.offered", at=now,
                                   referral_id=referral.id)
        return ids

    async def _offer_waiting(self, uow: UnitOfWork, programme: Programme, now: datetime) -> list[int]:
        """When a consultant has room again, the oldest waiting referral is offered."""
        waiting = await uow.cases.oldest_waiting(programme.id)
        room = await uow.cases.with_room(programme.id, programme.caseload_cap)
        if waiting is None or not room:
            return []
        intake_consent = await self._consent_at(uow, waiting)
        return await self._offer(uow, waiting, room, programme, intake_consent, now)

    @staticmethod
    async def _consent_at(uow: UnitOfWork, referral: Referral) -> datetime | None:
        intake = await uow.intakes.get(referral.intake_id)
        return intake.consent_at if intake else None

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
            if programme is None or referral.created_at >= now - timedelta(hours=programme.urgent_window_hours):
                continue
            ids += await self._offer_again(uow, referral, programme, now, "staff.resent",
                                           hours=programme.urgent_window_hours)
            referral.resent_at = now
            await uow.audit.record(actor="system", action="referral.resent", at=now, referral_id=referral.id)
        return ids

    async def _offer_again(self, uow: UnitOfWork, referral: Referral, programme: Programme, now: datetime,
                           note: str, **params: Any) -> list[int]:
        """An urgent referral offered again to every consultant, full or not, with a note on top: an offer
        for whoever had none (full then, or joined since), and whoever passed it may claim it now."""
        ids = []
        staff = await uow.staff.consultants(programme.id)
        consent_at = await self._consent_at(uow, referral)
        for member in staff:
            screen = chat_detail.offer(referral.id, referral.payload, programme, member.language, consent_at,
                                  note=Translator(member.language)(note, **params))
            offer = await uow.cases.offer_for(referral.id, member.id)
            if offer is None:
                (offer,) = await uow.cases.offer(referral, [member], now)
            else:
                offer.passed = False
            ids.append(await self.queue(uow, staff_address(member.contact), [screen], now, offer_id=offer.id,
                                        subject_id=await self.subject_of(uow, referral)))
        if staff and referral.status == ReferralStatus.WAITING.value:
            referral.status, referral.waiting_since = ReferralStatus.NEW.value, None
        return ids

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
        t = Translator(staff.language if staff else who.language or "da")
        # role, programme, status, offer and holder, as they are now (see bot/services/policy.py)
        if staff is None or referral is None or not may_act(staff, referral, offer, kind, button):
            # a forged, replayed or out-of-date press: refuse and keep a trace
            await uow.audit.record(actor=await uow.staff.actor_of(who.channel, who.external_id),
                                   action="denied", at=now, referral_id=referral.id if referral else None,
                                   detail=f"{step}|{button}"[:120])
            text = t("staff.denied")
            if (button == "claim" and offer and referral and not offer.passed
                    and referral.consultant_id not in (None, offer.staff_id)):
                # a claim on their own offer, taken by someone else (often a race just lost): say who has it
                holder = await uow.staff.get(referral.consultant_id) if referral.consultant_id else None
                text = t("staff.taken", name=holder.name if holder else "?")
            return [await self.queue(uow, who.address, [Screen(text)], now)]
        programme = self.registry[referral.programme_id]
        if button == "export":
            return [await self._export(uow, staff, referral, now)]
        if kind == "ref" and button == "seen":  # an urgent offer is the consultant's copy of its escalation
            return await self.escalations.seen_on_offer(uow, staff, referral, ref, now)
        if kind == "ref":
            return await self._on_offer(uow, staff, referral, programme, button, ref, now)
        return await self._on_case(uow, staff, referral, programme, button, ref, now)

    async def _on_offer(self, uow: UnitOfWork, staff: Staff, referral: Referral, programme: Programme,
                        button: str, ref: int, now: datetime) -> list[int]:
        t = Translator(staff.language)
        to = staff_address(staff.contact)
        if button == "pass":
            offer = await uow.cases.offer_for(referral.id, staff.id)
            if offer is not None:
                offer.passed = True
            await uow.audit.record(actor=f"staff:{staff.id}", action="referral.passed", at=now,
                                   referral_id=referral.id)
            return [await self.queue(uow, to, [], now, edit=(ref, Screen(t("staff.passed"))))]
        if button != "claim":
            return []
        over_cap = await self._at_cap(uow, staff, programme)
        if over_cap and not referral.urgent:
            await uow.audit.record(actor=f"staff:{staff.id}", action="claim.refused_full", at=now,
                                   referral_id=referral.id)
            return [await self.queue(uow, to, [Screen(t("staff.full", cap=programme.caseload_cap))], now)]
        if not await uow.cases.claim(referral.id, staff.id, now):
            holder = await uow.staff.get(referral.consultant_id) if referral.consultant_id else None
            await uow.referrals.refresh(referral)
            holder = await uow.staff.get(referral.consultant_id) if referral.consultant_id else holder
            text = t("staff.taken", name=holder.name if holder else "?")
            return [await self.queue(uow, to, [Screen(text)], now)]
        await uow.referrals.refresh(referral)
        await uow.audit.record(actor=f"staff:{staff.id}", action="referral.claimed", at=now, referral_id=referral.id)
        if over_cap:
            await self._record_over_cap(uow, staff, referral, now)
        ids = [await self.queue(uow, to, [Screen(t("staff.you_claimed"))], now)]
        ids += await self.escalations.claimed(uow, referral, staff, now)  # the claimer saw it and makes contact
        for offer in await uow.cases.offers(referral.id):  # everyone else sees who took it
            sent_to = Address.from_dict(offer.address)
            if offer.staff_id == staff.id or offer.message_ref is None or sent_to is None:
                continue
            other = await uow.staff.get(offer.staff_id)
            lang = other.language if other else staff.language
            taken = Screen(Translator(lang)("staff.claimed_by", name=staff.name))
            ids.append(await self.queue(uow, sent_to, [], now, edit=(int(offer.message_ref), taken)))
        ids += await self._tell_candidate(uow, referral, "consultant.assigned", now, name=staff.name)
        await self.meetings.offer_times(uow, referral, now)  # then the first meeting, within days
        return ids

    @staticmethod
    async def _at_cap(uow: UnitOfWork, staff: Staff, programme: Programme) -> bool:
        """Whether the consultant's open cases already reach the cap (only an urgent claim may then go on)."""
        return await uow.cases.open_count(staff.id) >= programme.caseload_cap

    @staticmethod
    async def _record_over_cap(uow: UnitOfWork, staff: Staff, referral: Referral, now: datetime) -> None:
        """An urgent claim above the cap: kept on the referral (for `ipsbot report`) and in the audit trail."""
        referral.over_cap = True
        await uow.audit.record(actor=f"staff:{staff.id}", action="claim.over_cap", at=now, referral_id=referral.id)

    async def _tell_candidate(self, uow: UnitOfWork, referral: Referral, msgid: str, now: datetime,
                              **params: Any) -> list[int]:
        candidate = await uow.referrals.person_of(referral.id)
        to = Address.from_dict(candidate.contact) if candidate is not None else None
        if candidate is None or to is None or candidate.unreachable:
            return []
        text = Translator(referral.language)(msgid, **params)
        return [await self.queue(uow, to, [Screen(text)], now, candidate_id=candidate.id)]

    async def _on_case(self, uow: UnitOfWork, staff: Staff, referral: Referral, programme: Programme,
                       button: str, ref: int, now: datetime) -> list[int]:
        to = staff_address(staff.contact)
        if button == "outcome":
            return [await self.queue(uow, to, [outcome_screen(referral.id, staff.language)], now)]
        if button.startswith("outcome:") and button.removeprefix("outcome:") in CASE_OUTCOMES:
            referral.case_outcome, referral.outcome_at = button.removeprefix("outcome:"), now
        elif button in CASE_STEP_CLOCKS:
            if getattr(referral, CASE_STEP_CLOCKS[button]) is None:  # the first time counts for the IPS clocks
                setattr(referral, CASE_STEP_CLOCKS[button], now)
        elif button == "meetcancel":
            slot = await uow.slots.booked_for(referral.id)
            if slot is not None:
                await self.meetings.cancel(uow, slot, now, by=to)
            return []
        elif button == "close":
            referral.status, referral.closed_at = ReferralStatus.CLOSED.value, now
        else:
            return []
        await uow.referrals.flush()
        await uow.audit.record(actor=f"staff:{staff.id}", action=f"case.{button.partition(':')[0]}", at=now,
                               referral_id=referral.id, detail=button.partition(":")[2])
        t = Translator(staff.language)
        if referral.status == ReferralStatus.CLOSED.value:
            ids = [await self.queue(uow, to, [], now, edit=(ref, Screen(t("staff.case.closed",
                                                                                      id=referral.id))))]
            return ids + await self._offer_waiting(uow, programme, now)
        card = await self.followups.card(uow, referral, self.case_card(referral, staff.language, now), staff.language)
        card = chat_detail.card(card, referral.id, staff.language)  # STAFF_CHAT_DETAIL
        subject = await self.subject_of(uow, referral)
        if button.startswith("outcome:"):  # answered on the outcome question: show the card again
            return [await self.queue(uow, to, [card], now, subject_id=subject)]
        return [await self.queue(uow, to, [], now, edit=(ref, card), subject_id=subject)]

    @staticmethod
    def case_card(referral: Referral, lang: str, now: datetime) -> Screen:
        clocks = {k: getattr(referral, k) for k in CARD_CLOCKS}
        return case_screen(referral.id, referral.payload, lang, clocks, referral.case_outcome, now)

    async def cases(self, uow: UnitOfWork, who: Who, now: datetime) -> list[int]:
        staff = await uow.staff.find(who.channel, who.external_id)
        if staff is None:
            return []
        t = Translator(staff.language)
        programme = self.registry.get(staff.programme_id)  # an operator's is every programme: no cases of theirs
        open_cases = await uow.cases.open_cases(staff.id)
        head = Screen(t("staff.cases.title", n=len(open_cases), cap=programme.caseload_cap)
                      if open_cases and programme is not None else t("staff.cases.none"))
        to = staff_address(staff.contact)
        ids = [await self.queue(uow, to, [head], now)]
        for referral in open_cases:  # a message per case, each linked to its person (erased with them)
            await uow.audit.record(actor=f"staff:{staff.id}", action="case.viewed", at=now, referral_id=referral.id)
            card = await self.followups.card(uow, referral, self.case_card(referral, staff.language, now),
                                             staff.language)
            card = chat_detail.card(card, referral.id, staff.language)  # STAFF_CHAT_DETAIL
            ids.append(await self.queue(uow, to, [card],
                                        now, subject_id=await self.subject_of(uow, referral)))
        return ids

    async def _export(self, uow: UnitOfWork, staff: Staff, referral: Referral, now: datetime) -> int:
        from bot.exports.fhir import questionnaire_responses

        clocks = {k: (getattr(referral, k).isoformat() if getattr(referral, k) else None) for k in CLOCKS}
        record = export_record(referral.id, referral.created_at.isoformat(), referral.status, referral.payload,
                               clocks, referral.case_outcome)
        responses = questionnaire_responses(referral.id, referral.created_at.isoformat(), referral.payload)
        documents = [
            {"filename": f"referral-{referral.id}.json", "content": json.dumps(record, ensure_ascii=False, indent=2)},
            {"filename": f"referral-{referral.id}.fhir.json",
             "content": "[" + ",".join(r.model_dump_json(exclude_none=True) for r in responses) + "]"},
        ]
        await uow.audit.record(actor=f"staff:{staff.id}", action="referral.exported", at=now, referral_id=referral.id)
        caption = Screen(Translator(staff.language)("staff.export.caption", id=referral.id))
        return await self.queue(uow, staff_address(staff.contact), [caption], now, documents=documents,
                                subject_id=await self.subject_of(uow, referral))

    # --- leaving ---------------------------------------------------------------------------

    async def withdrawn(self, uow: UnitOfWork, candidate_id: int, now: datetime) -> list[int]:
        """Before a candidate is erased: whoever holds or was offered their referral is told only that."""
        ids = []
        for referral in await uow.referrals.of_candidate(candidate_id):
            told: set[int] = set()
            holders = [referral.consultant_id] if referral.consultant_id else []
            holders += [o.staff_id for o in await uow.cases.offers(referral.id)]
            for staff_id in holders:
                staff = await uow.staff.get(staff_id)
                if staff is None or not staff.active or staff_id in told:
                    continue
                told.add(staff_id)
                text = Translator(staff.language)("staff.withdrawn", id=referral.id)
                ids.append(await self.queue(uow, staff_address(staff.contact), [Screen(text)], now))
            await uow.audit.record(actor="candidate:erased", action="referral.withdrawn", at=now,
                                   referral_id=referral.id)
        return ids

    async def remove_staff(self, uow: UnitOfWork, staff_id: int, now: datetime) -> Staff | None:
        """A consultant who leaves sees nothing more; their open cases go back to the waiting list first.

        An urgent one is offered again at once to every consultant, full or not, and climbs the ladder
        again (nobody holds it now), instead of waiting its turn."""
        staff = await uow.staff.remove(staff_id, now)
        if staff is None:
            return None
        urgent = []
        for referral in await uow.cases.open_cases(staff.id):
            referral.consultant_id, referral.claimed_at = None, None
            await uow.cases.wait(referral, referral.created_at)  # keeps its place by referral date
            if referral.urgent:
                urgent.append(referral)
        await uow.audit.record(actor="cli", action="staff.removed", at=now, detail=f"staff:{staff.id}")
        for referral in urgent:
            await self._offer_again(uow, referral, self.registry[referral.programme_id], now, "staff.holder_left")
            subject = await self.subject_of(uow, referral)
            if subject is not None:
                await self.escalations.again(uow, referral, subject, now, cause=EscalationCause.HOLDER_LEFT)
        await self.escalations.staff_left(uow, staff, now)  # what only they were told goes up the ladder now
        programme = self.registry.get(staff.programme_id)
        if programme is not None:
            await self._offer_waiting(uow, programme, now)
        return staff
