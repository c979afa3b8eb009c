"""The first meeting: peers publish slots, candidates book one, everyone gets a calendar file and
reminders, and anyone of the three can cancel (which frees the slot and offers new times).

Transport-neutral like `Casework`: screens go out through the outbox in the caller's unit of work;
reminders are outbox messages with a due time and a topic, so a cancellation withdraws them and a
restart never sends one twice. Times are stored in UTC and shown in the programme's time zone.
Button payloads are stateless (``slot.day|0|20260305`` …): each one carries what was chosen so
far (`flows.slots.SlotDraft`), and `flows.slots` decides each step; every press is checked on the
server (`bot.services.policy`): the calendar is a peer's own, a time must be sane (`slot_fits`), and
a candidate books only a time of their programme within the window they were offered.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from babel.dates import format_time
from icalendar import Calendar, Event

from bot.services import staff_detail
from bot.services.notify import Notifier, Who, staff_address
from bot.services.policy import may_book, may_use_slot, record_id
from flows.address import Address
from flows.programmes import Programme, Registry
from flows.screens import Button, InputKind, Screen
from flows.slots import (
    BOOKING_WINDOW,
    DAY_END,
    DAY_START,
    SLOT_HORIZON,
    BookChoice,
    SlotContext,
    SlotVerdict,
    page_of,
    slot_step,
)
from locales import BABEL_LOCALES, Translator, format_when
from storage.models import Candidate, Referral, ReferralStatus, Slot, Staff
from storage.repositories import UnitOfWork

REMINDERS = (timedelta(hours=24), timedelta(hours=2))


def ics(slot: Slot, programme: Programme, lang: str, now: datetime, *, cancel: bool = False) -> str:
    """A calendar file for the meeting (UTC times; a new UID per booking so a re-booking is a new event).

    `cancel`: the update that removes it from the calendar (METHOD:CANCEL, same UID, higher SEQUENCE).
    """
    t = Translator(lang)
    calendar = Calendar()
    calendar.add("prodid", "-//IPS intake bot//ipsbot//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancel else "PUBLISH")
    event = Event()
    event.add("uid", f"slot-{slot.id}-{slot.bookings}@ipsbot")
    event.add("sequence", 1 if cancel else 0)
    if cancel:
        event.add("status", "CANCELLED")
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", slot.starts_at.astimezone(UTC))
    event.add("dtend", slot.starts_at.astimezone(UTC) + timedelta(minutes=slot.minutes))
    event.add("summary", t("ics.summary"))
    event.add("location", t(f"place.{slot.place}"))
    event.add("description", t("ics.description", programme=programme.name(t.lang)))
    calendar.add_component(event)
    ical: bytes = calendar.to_ical()  # icalendar's stubs leave this Any
    return ical.decode()


class Meetings:
    def __init__(self, registry: Registry, notifier: Notifier) -> None:
        self.registry = registry
        self.notifier = notifier

    # --- peers: publishing slots -----------------------------------------------------------

    async def slots(self, uow: UnitOfWork, who: Who, now: datetime) -> bool:
        staff = await uow.staff.find(who.channel, who.external_id)
        if staff is None:
            return False
        if not may_use_slot(staff):  # a consultant: the slot calendar is the peers'
            await self.notifier.refuse(uow, who, "slots", "", now)
            return True
        await self.notifier.queue(uow, who.address, [await self._slot_list(uow, staff, now)], now)
        return True

    async def _slot_list(self, uow: UnitOfWork, staff: Staff, now: datetime) -> Screen:
        t = Translator(staff.language)
        programme = self.registry[staff.programme_id]
        upcoming = await uow.slots.upcoming_of(staff.id, now)
        lines = [t("slots.title") if upcoming else t("slots.none")]
        buttons = []
        for slot in upcoming:
            when = format_when(slot.starts_at, t.lang, programme.timezone)
            booked = f" ({t('slots.booked')})" if slot.referral_id else ""
            lines.append(f"• {when}, {slot.minutes} min, {t(f'place.{slot.place}')}{booked}")
            buttons.append(Button(f"remove-{slot.id}", t("slots.remove", when=when)))
        buttons.append(Button("new", t("slots.add")))
        return Screen("\n".join(lines), "slot.list", 0, InputKind.CHOICE, tuple(buttons))

    async def slot_press(self, uow: UnitOfWork, who: Who, step: str, button: str, now: datetime) -> None:
        """A peer's press in the slot calendar: the next question, or the slots added.

        A malformed or foreign button is refused (and audited); a time no one should meet at is answered
        with the times that are possible. Anything else that goes wrong is a bug, and is not hidden."""
        staff = await uow.staff.find(who.channel, who.external_id)
        if staff is None or not may_use_slot(staff):
            await self.notifier.refuse(uow, who, step, button, now)
            return
        verdict = await self._slot_step(uow, staff, step, button, now)
        if verdict is SlotVerdict.REFUSED:
            await self.notifier.refuse(uow, who, step, button, now)
        elif verdict is SlotVerdict.OUT_OF_RANGE:  # a time no one should meet at: say which times are possible
            t = Translator(staff.language)
            await uow.audit.record(actor=f"staff:{staff.id}", action="slots.refused", at=now,
                                   detail=f"{step}|{button}"[:120])
            hours = {"first": format_time(DAY_START, "short", locale=BABEL_LOCALES[t.lang]),
                     "last": format_time(DAY_END, "short", locale=BABEL_LOCALES[t.lang])}
            await self.notifier.queue(uow, staff_address(staff.contact),
                                      [Screen(t("slots.out_of_range", days=SLOT_HORIZON.days, **hours))], now)

    async def _slot_step(self, uow: UnitOfWork, staff: Staff, step: str, button: str, now: datetime) -> SlotVerdict:
        """One step of publishing slots: `flows.slots` decides, this stores and sends what it decided."""
        t = Translator(staff.language)
        programme = self.registry[staff.programme_id]
        decision = slot_step(step, button, SlotContext(now, programme.timezone, t))
        to = staff_address(staff.contact)
        if decision.ask is not None:
            await self.notifier.queue(uow, to, [decision.ask], now)
        elif decision.remove is not None and not await self._remove(uow, staff, decision.remove, now):
            return SlotVerdict.REFUSED
        elif decision.publish is not None:
            moments = decision.publish.moments(programme.timezone)
            for moment in moments:
                await uow.slots.add(staff, starts_at=moment.astimezone(UTC), minutes=decision.publish.minutes or 0,
                                    place=decision.publish.place or "", now=now)
            await uow.audit.record(actor=f"staff:{staff.id}", action="slots.added", at=now, detail=str(len(moments)))
            await self.notifier.queue(uow, to, [Screen(t("slots.added", n=len(moments)))], now)
        return decision.verdict

    async def _remove(self, uow: UnitOfWork, staff: Staff, slot_id: int, now: datetime) -> bool:
        """Take back one of the peer's own slots (cancelling its meeting); False if it is not theirs."""
        slot = await uow.slots.get(slot_id)
        if slot is None or not may_use_slot(staff, slot):
            return False
        if slot.referral_id is not None:
            await self.cancel(uow, slot, now, by=staff_address(staff.contact))
        await uow.slots.withdraw(slot, now)
        programme = self.registry[slot.programme_id]
        when = format_when(slot.starts_at, staff.language, programme.timezone)
        await self.notifier.queue(uow, staff_address(staff.contact), [Screen(Translator(staff.language)(
            "slots.removed", when=when))], now)
        return True

    # --- candidates: booking ---------------------------------------------------------------

    async def offer_times(self, uow: UnitOfWork, referral: Referral, now: datetime, page: int = 0,
                          note: str = "meet.choose") -> None:
        """The free slots of the next 14 days, a few at a time; or, if none, the consultant is asked."""
        programme = self.registry[referral.programme_id]
        candidate = await self._candidate(uow, referral)
        free = await uow.slots.free(programme.id, now, now + BOOKING_WINDOW)
        t = Translator(referral.language)
        if not free:
            if candidate is not None:
                await self._to_candidate(uow, candidate, [Screen(t("meet.none_candidate"))], now)
            consultant = await uow.staff.get(referral.consultant_id) if referral.consultant_id else None
            if consultant is not None:
                text = Translator(consultant.language)("meet.none_consultant", id=referral.id)
                await self.notifier.queue(uow, staff_address(consultant.contact), [Screen(text)], now)
            return
        if candidate is None:
            return
        shown, more = page_of(free, page)
        buttons = [Button(BookChoice(slot_id=s.id).encode(),
                          t("meet.slot", when=format_when(s.starts_at, t.lang, programme.timezone),
                            place=t(f"place.{s.place}"))) for s in shown]
        if more:
            buttons.append(Button(BookChoice(page=page + 1).encode(), t("meet.more")))
        screen = Screen(t(note), f"book.{referral.id}", 0, InputKind.CHOICE, tuple(buttons))
        await self._to_candidate(uow, candidate, [screen], now)

    async def book_press(self, uow: UnitOfWork, who: Who, step: str, button: str, now: datetime) -> None:
        """A candidate's press on a time, "more", or "cancel"; only for their own, claimed referral."""
        number = step.removeprefix("book.")
        found = record_id(number)
        referral = await uow.referrals.get(found) if found is not None else None
        candidate = await self._candidate(uow, referral) if referral else None
        own = await uow.candidates.find(who.channel, who.external_id)
        if (referral is None or candidate is None or own is None or own.id != candidate.id
                or referral.status != ReferralStatus.CLAIMED.value):
            await self.notifier.refuse(uow, who, step, button, now)
            return
        choice = BookChoice.decode(button)
        if choice is None:
            await self.notifier.refuse(uow, who, step, button, now)
        elif choice.page is not None:
            await self.offer_times(uow, referral, now, page=choice.page)
        elif choice.cancel:
            slot = await uow.slots.booked_for(referral.id)
            if slot is not None:
                await self.cancel(uow, slot, now, by=who.address)
        elif choice.slot_id is not None:
            await self._book(uow, who, referral, candidate, choice.slot_id, (step, button), now)

    async def _book(self, uow: UnitOfWork, who: Who, referral: Referral, candidate: Candidate, slot_id: int,
                    press: tuple[str, str], now: datetime) -> None:
        slot = await uow.slots.get(slot_id)
        peer = await uow.staff.get(slot.staff_id) if slot is not None else None
        if not may_book(referral, slot, peer, now):  # another programme's, a gone peer's, out of the window
            await self.notifier.refuse(uow, who, *press, now)
        elif await uow.slots.booked_for(referral.id) is not None:
            await self.notifier.refuse(uow, who, *press, now)  # one meeting at a time
        elif slot is not None and await uow.slots.book(slot.id, referral.id, now, until=now + BOOKING_WINDOW,
                                                       programme_id=referral.programme_id):
            await uow.slots.refresh(slot)
            await self._booked(uow, referral, candidate, slot, now)
        else:
            await self.offer_times(uow, referral, now, note="meet.taken")

    async def _booked(self, uow: UnitOfWork, referral: Referral, candidate: Candidate, slot: Slot,
                      now: datetime) -> None:
        programme = self.registry[referral.programme_id]
        peer = await uow.staff.get(slot.staff_id)
        consultant = await uow.staff.get(referral.consultant_id) if referral.consultant_id else None
        name = referral.payload["candidate"].get("name", "")
        topic = f"slot:{slot.id}:{slot.bookings}"
        t = Translator(referral.language)
        when = format_when(slot.starts_at, t.lang, programme.timezone)
        cancel = (Button("cancel", t("meet.cancel")),)
        confirmation = Screen(t("meet.booked_candidate", when=when, place=t(f"place.{slot.place}"),
                                peer=peer.name if peer else "", consultant=consultant.name if consultant else ""),
                              f"book.{referral.id}", 0, InputKind.CHOICE, cancel)
        await self._to_candidate(uow, candidate, [confirmation], now, ics_for=(slot, programme))
        for lead in REMINDERS:
            reminder = Screen(t("meet.reminder", when=when, place=t(f"place.{slot.place}")))
            await self._to_candidate(uow, candidate, [reminder], now, due_at=slot.starts_at - lead, topic=topic)
        for member in (m for m in (peer, consultant) if m is not None):
            st = Translator(member.language)
            their_when = format_when(slot.starts_at, st.lang, programme.timezone)
            # no name in brief mode (staff_detail); the calendar file never carries one
            text = staff_detail.booking(referral.id, name, their_when, st(f"place.{slot.place}"), st.lang)
            document = {"filename": "meeting.ics", "content": ics(slot, programme, st.lang, now), "caption": ""}
            notice = Screen(text)
            if member is consultant:  # the consultant can cancel or move it from here
                notice = Screen(text, f"case.{referral.id}", 0, InputKind.CHOICE,
                                (Button("meetcancel", st("meet.cancel")),))
            notice = staff_detail.with_link(notice, referral.id, st.lang)
            await self.notifier.queue(uow, staff_address(member.contact), [notice], now, documents=[document],
                                      subject_id=candidate.id)
            for lead in REMINDERS:
                place = st(f"place.{slot.place}")
                reminder = Screen(st("meet.reminder", when=their_when, place=place) + f" (#{referral.id})")
                await self.notifier.queue(uow, staff_address(member.contact), [reminder], now,
                                          due_at=slot.starts_at - lead, topic=topic, subject_id=candidate.id)
        await uow.audit.record(actor="candidate", action="meeting.booked", at=now, referral_id=referral.id)

    async def cancel(self, uow: UnitOfWork, slot: Slot, now: datetime, *, by: Address) -> None:
        """Free the slot, withdraw its reminders, tell everyone else, and offer the candidate new times."""
        referral = await uow.referrals.get(slot.referral_id) if slot.referral_id else None
        await uow.outbox.withdraw(f"slot:{slot.id}:{slot.bookings}")
        await uow.slots.release(slot)
        if referral is None:
            return
        programme = self.registry[referral.programme_id]
        peer = await uow.staff.get(slot.staff_id)
        consultant = await uow.staff.get(referral.consultant_id) if referral.consultant_id else None
        for member in (m for m in (peer, consultant) if m is not None):
            if staff_address(member.contact) != by:
                text = Translator(member.language)("meet.cancelled", when=format_when(
                    slot.starts_at, member.language, programme.timezone)) + f" (#{referral.id})"
                await self.notifier.queue(uow, staff_address(member.contact), [Screen(text)], now)
        candidate = await self._candidate(uow, referral)
        if candidate is not None:
            text = Translator(referral.language)("meet.cancelled", when=format_when(
                slot.starts_at, referral.language, programme.timezone))
            await self._to_candidate(uow, candidate, [Screen(text)], now)
        await uow.audit.record(actor="system", action="meeting.cancelled", at=now, referral_id=referral.id)
        await self.offer_times(uow, referral, now)

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    async def _candidate(uow: UnitOfWork, referral: Referral) -> Candidate | None:
        return await uow.referrals.person_of(referral.id)

    async def _to_candidate(self, uow: UnitOfWork, candidate: Candidate, screens: list[Screen], now: datetime, *,
                            ics_for: tuple[Slot, Programme] | None = None, **extra: Any) -> None:
        to = Address.from_dict(candidate.contact)
        if to is None or candidate.unreachable:
            return
        documents = None
        if ics_for is not None:
            slot, programme = ics_for
            documents = [{"filename": "meeting.ics", "content": ics(slot, programme, candidate.language, now),
                          "caption": ""}]
        await self.notifier.queue(uow, to, screens, now, documents=documents,
                                  candidate_id=candidate.id, **extra)

