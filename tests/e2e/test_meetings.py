"""First meetings in one process against the fake Bot API, with a controllable clock: a peer
publishes slots (across a daylight-saving change), candidates race for one, cancel and rebook,
reminders fire once at the right times and never for a cancelled meeting, calendar files are right."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
import pytest_asyncio
from aiogram import Bot

from bot.app import App
from bot.channels.telegram.delivery import drain
from bot.clock import ManualClock
from bot.services.casework import Who
from bot.services.intake import Person
from bot.services.meetings import ics
from bot.settings import FRAMEWORKS
from locales import Translator, format_when
from storage.models import Slot
from tests.e2e.inprocess import in_process
from tests.fake_telegram import BotMessage, FakeTelegram
from tests.support.flow import REGISTRY
from tests.support.people import tg, tg_address
from tests.support.service import ServicePort, walk_until
from tests.support.walk import TYPICAL

DA, SV = Translator("da"), Translator("sv")
START = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)  # a Friday; summer time starts Sunday 29 March
PEER, CONSULTANT = tg(701), tg(702)


class World:
    def __init__(self, app: App, bot: Bot, server: FakeTelegram, clock: ManualClock) -> None:
        self.app, self.bot, self.server, self.clock = app, bot, server, clock

    async def send_all(self) -> None:
        await drain(self.app, self.bot, min_age=timedelta(0))

    async def run(self, action: Any) -> None:
        async with self.app.uow() as uow:
            await action(uow, self.app.intake.casework)
        await self.send_all()

    def chat(self, chat_id: int) -> list[BotMessage]:
        return self.server.sent_messages(chat_id)

    def last_with_buttons(self, chat_id: int) -> BotMessage:
        return [m for m in self.chat(chat_id) if m.buttons][-1]

    async def press(self, who: Who, message: BotMessage, button: str) -> None:
        step = str(message.buttons[0]["callback_data"]).split("|")[0]
        now = self.clock.now()
        if step.startswith("slot."):
            await self.run(lambda uow, cw: cw.meetings.slot_press(uow, who, step, button, now))
        elif step.startswith("book."):
            await self.run(lambda uow, cw: cw.meetings.book_press(uow, who, step, button, now))
        else:
            await self.run(lambda uow, cw: cw.press(uow, who, step, button, message.message_id, now))

    def button(self, message: BotMessage, label_part: str) -> str:
        return next(str(b["callback_data"]).rsplit("|", 1)[1] for b in message.buttons if label_part in b["text"])

    async def join(self, who: Who, role: str) -> None:
        async with self.app.uow() as uow:
            code = await self.app.intake.casework.invite(uow, role=role, programme_id="reconnect", name=role.title(),
                                                         now=self.clock.now())
            await self.app.intake.casework.join(uow, who, code, self.clock.now())
        await self.send_all()

    async def candidate(self, user_id: int, name: str) -> None:
        """A full intake that ends eligible, then the consultant claims it."""
        person = Person("telegram", str(user_id), language="da", address=tg_address(user_id))
        reply = await self.app.intake.start(person, "reconnect")
        plan = {**TYPICAL, "language": "da", "q.name": name}
        await walk_until(ServicePort(self.app.intake, person, reply), plan, default="1")
        await self.send_all()
        summary = next(m for m in self.chat(CONSULTANT.chat_id) if f"\n{name}, " in m.text and m.buttons)
        await self.press(CONSULTANT, summary, "claim")


@pytest_asyncio.fixture(params=FRAMEWORKS)
async def world(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """Peers and candidates in this process, on each runtime's client (calendar files are documents)."""
    clock = ManualClock(START)
    async with in_process(tmp_path, clock, framework=request.param) as (app, bot, server):
        w = World(app, bot, server, clock)
        await w.join(PEER, "peer")
        await w.join(CONSULTANT, "consultant")
        yield w


async def publish_weekly(world: World, day: str, hhmm: str) -> None:
    """The peer's taps: /slots, add, a day, a time, 45 minutes, the café, every week for 4 weeks."""
    await world.run(lambda uow, cw: cw.meetings.slots(uow, PEER, world.clock.now()))
    await world.press(PEER, world.last_with_buttons(PEER.chat_id), "new")
    await world.press(PEER, world.last_with_buttons(PEER.chat_id), day)
    await world.press(PEER, world.last_with_buttons(PEER.chat_id), f"{day}{hhmm}")
    await world.press(PEER, world.last_with_buttons(PEER.chat_id), f"{day}{hhmm}-45")
    await world.press(PEER, world.last_with_buttons(PEER.chat_id), f"{day}{hhmm}-45-cafe")
    await world.press(PEER, world.last_with_buttons(PEER.chat_id), f"{day}{hhmm}-45-cafe-4")


async def slots(world: World) -> list[Slot]:
    async with world.app.uow() as uow:
        return await uow.slots.upcoming_of(1, world.clock.now())


async def test_a_weekly_pattern_keeps_local_time_across_summer_time_and_lists_in_danish(world: World) -> None:
    await publish_weekly(world, "20260324", "1000")  # Tuesdays 10:00 Copenhagen time
    assert world.chat(PEER.chat_id)[-1].text == DA("slots.added", n=4)
    starts = [s.starts_at for s in await slots(world)]
    assert starts == [datetime(2026, 3, 24, 9, 0, tzinfo=UTC),  # CET, UTC+1
                      datetime(2026, 3, 31, 8, 0, tzinfo=UTC),  # CEST, UTC+2
                      datetime(2026, 4, 7, 8, 0, tzinfo=UTC), datetime(2026, 4, 14, 8, 0, tzinfo=UTC)]
    await world.run(lambda uow, cw: cw.meetings.slots(uow, PEER, world.clock.now()))
    listing = world.chat(PEER.chat_id)[-1].text
    assert "24. marts 2026 kl. 10.00" in listing and "31. marts 2026 kl. 10.00" in listing
    after_change = (await slots(world))[1]
    event = icalendar.Calendar.from_ical(ics(after_change, REGISTRY["reconnect"], "sv", START)).walk("VEVENT")[0]
    assert event.decoded("dtstart") == datetime(2026, 3, 31, 8, 0, tzinfo=UTC)  # 10:00 summer time in UTC
    assert str(event["location"]) == SV("place.cafe") and str(event["summary"]) == SV("ics.summary")


def test_dates_in_danish_and_swedish() -> None:
    moment = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
    assert format_when(moment, "da", "Europe/Copenhagen") == "5. marts 2026 kl. 15.30"
    assert format_when(moment, "sv", "Europe/Stockholm") == "5 mars 2026 15:30"


async def test_two_candidates_race_for_one_slot_then_cancel_and_rebook(world: World) -> None:
    await publish_weekly(world, "20260324", "1000")
    await world.candidate(801, "Ida")
    await world.candidate(802, "Jon")
    offers = {cid: world.last_with_buttons(cid) for cid in (801, 802)}
    assert all(DA("meet.choose") in m.text for m in offers.values())
    first = offers[801].buttons[0]["callback_data"].rsplit("|", 1)[1]
    assert first == offers[802].buttons[0]["callback_data"].rsplit("|", 1)[1]  # the same, earliest slot

    async def book(cid: int) -> None:
        who = tg(cid)
        step = offers[cid].buttons[0]["callback_data"].split("|")[0]
        async with world.app.uow() as uow:
            await world.app.intake.casework.meetings.book_press(uow, who, step, first, world.clock.now())

    await asyncio.gather(book(801), book(802))
    await world.send_all()
    booked = [cid for cid in (801, 802) if any(DA("meet.booked_candidate", when="", place="", peer="",
                                                  consultant="").split(":")[0] in m.text for m in world.chat(cid))]
    assert len(booked) == 1
    loser = 802 if booked == [801] else 801
    assert DA("meet.taken") in world.chat(loser)[-1].text  # and offered the times still free
    assert first not in [b["callback_data"].rsplit("|", 1)[1] for b in world.chat(loser)[-1].buttons]
    # peer and consultant are told, everyone has a calendar file with the right UTC time
    files = [f for f in world.server.uploaded_files if f.filename == "meeting.ics"]
    assert len(files) == 3
    for file in files:
        event = next(c for c in icalendar.Calendar.from_ical(file.content).walk("VEVENT"))
        assert event.decoded("dtstart") == datetime(2026, 3, 24, 9, 0, tzinfo=UTC)
        assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=45)
    # the winner cancels; the slot is free again and they can book it (or another) anew
    winner = tg(booked[0])
    confirmation = world.last_with_buttons(booked[0])
    await world.press(winner, confirmation, "cancel")
    when = format_when(datetime(2026, 3, 24, 9, 0, tzinfo=UTC), "da", "Europe/Copenhagen")
    assert any(m.text.startswith(DA("meet.cancelled", when=when)) for m in world.chat(PEER.chat_id))
    assert any(m.text.startswith(DA("meet.cancelled", when=when)) for m in world.chat(CONSULTANT.chat_id))
    again = world.last_with_buttons(booked[0])
    assert DA("meet.choose") in again.text and first in [b["callback_data"].rsplit("|", 1)[1] for b in again.buttons]
    await world.press(winner, again, first)
    uids = {str(next(c for c in icalendar.Calendar.from_ical(f.content).walk("VEVENT"))["uid"])
            for f in world.server.uploaded_files if f.filename == "meeting.ics"}
    assert len(uids) == 2  # a re-booking is a new calendar event
    # the consultant cancels from their notice; the candidate is told and offered times again
    notice = [m for m in world.chat(CONSULTANT.chat_id) if m.buttons and "meetcancel" in m.buttons[0]["callback_data"]]
    await world.press(CONSULTANT, notice[-1], "meetcancel")
    assert DA("meet.choose") in world.last_with_buttons(booked[0]).text
    assert any(m.text == DA("meet.cancelled", when=when) for m in world.chat(booked[0]))


async def test_reminders_fire_once_at_24_and_2_hours_and_never_for_a_cancelled_meeting(world: World) -> None:
    await publish_weekly(world, "20260324", "1000")
    await world.candidate(803, "Kai")
    offer = world.last_with_buttons(803)
    kai = tg(803)
    await world.press(kai, offer, offer.buttons[0]["callback_data"].rsplit("|", 1)[1])  # Tue 24 March 09:00 UTC
    meeting = datetime(2026, 3, 24, 9, 0, tzinfo=UTC)

    def reminders(chat_id: int) -> int:
        return sum(m.text.startswith(DA("meet.reminder", when="", place="").split(":")[0]) for m in world.chat(chat_id))

    for moment, expected in ((meeting - timedelta(hours=25), 0), (meeting - timedelta(hours=23), 1),
                             (meeting - timedelta(hours=20), 1), (meeting - timedelta(hours=1), 2),
                             (meeting + timedelta(hours=5), 2)):
        world.clock.set(moment)
        await world.send_all()
        await world.send_all()  # a second sweep (or a restart) sends nothing twice
        assert [reminders(c) for c in (803, PEER.chat_id, CONSULTANT.chat_id)] == [expected] * 3, moment
    # a second candidate books, then cancels: no reminder ever comes for that meeting
    world.clock.set(START)
    await world.candidate(804, "Liv")
    liv = tg(804)
    offer = world.last_with_buttons(804)
    await world.press(liv, offer, offer.buttons[0]["callback_data"].rsplit("|", 1)[1])
    await world.press(liv, world.last_with_buttons(804), "cancel")
    world.clock.set(datetime(2026, 4, 30, tzinfo=UTC))
    await world.send_all()
    assert reminders(804) == 0


async def test_no_free_time_asks_the_consultant_and_presses_are_checked(world: World) -> None:
    await world.candidate(805, "Mo")
    assert DA("meet.none_candidate") in world.chat(805)[-1].text
    assert any(DA("meet.none_consultant", id="")[:12] in m.text for m in world.chat(CONSULTANT.chat_id))
    await publish_weekly(world, "20260324", "1000")
    stranger = tg(999)
    await world.press(stranger, world.last_with_buttons(PEER.chat_id), "20260324")  # not a peer
    assert world.chat(999)[-1].text == DA("staff.denied")
    await world.run(lambda uow, cw: cw.meetings.book_press(uow, stranger, "book.1", "1", world.clock.now()))
    assert world.chat(999)[-1].text == DA("staff.denied")  # not their referral


async def test_a_forged_booking_and_an_odd_time_are_refused(world: World) -> None:
    """A candidate books only their programme's times within the window; a peer publishes only sane times."""
    other = tg(703)
    async with world.app.uow() as uow:  # a peer of another programme, with a time tomorrow
        code = await world.app.intake.casework.invite(uow, role="peer", programme_id="hjorring", name="Hj",
                                                      now=world.clock.now())
        await world.app.intake.casework.join(uow, other, code, world.clock.now())
        member = await uow.staff.find("telegram", "703")
        assert member is not None
        foreign = (await uow.slots.add(member, starts_at=START + timedelta(days=1), minutes=45, place="cafe",
                                       now=START)).id
    await world.send_all()
    await publish_weekly(world, "20260324", "1000")
    await world.candidate(806, "Nor")
    offer = world.last_with_buttons(806)
    assert str(foreign) not in [b["callback_data"].rsplit("|", 1)[1] for b in offer.buttons]
    nor = tg(806)
    await world.press(nor, offer, str(foreign))  # forged: a time of another programme
    assert world.chat(806)[-1].text == DA("staff.denied")
    async with world.app.uow() as uow:
        assert (await uow.slots.get(foreign)).referral_id is None  # type: ignore[union-attr]
        assert await uow.slots.booked_for(int(offer.buttons[0]["callback_data"].split("|")[0][5:])) is None
    # the peer forges a time at three in the night: refused, with the times that are possible
    await world.press(PEER, world.last_with_buttons(PEER.chat_id), "202603250300-45-cafe-1")
    assert world.chat(PEER.chat_id)[-1].text == DA("slots.out_of_range", days=90, first="07.00", last="21.00")


async def test_a_bug_in_publishing_slots_is_not_turned_into_denied(world: World,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault inside the slot calendar (here: storage refusing a value, as it does a naive datetime) is raised
    for the unit of work to roll back and the log to show, not answered as a forged press; malformed and
    foreign buttons are still refused."""
    from storage.cases import SlotRepository

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("naive datetime: a bug, not a forged press")

    await world.run(lambda uow, cw: cw.meetings.slots(uow, PEER, world.clock.now()))
    listing = world.last_with_buttons(PEER.chat_id)
    for button in ("new", "20260324", "202603241000", "202603241000-45", "202603241000-45-cafe"):
        await world.press(PEER, world.last_with_buttons(PEER.chat_id), button)
    repeat = world.last_with_buttons(PEER.chat_id)
    monkeypatch.setattr(SlotRepository, "add", broken)
    before = len(world.chat(PEER.chat_id))
    with pytest.raises(ValueError, match="a bug"):
        await world.press(PEER, repeat, "202603241000-45-cafe-1")
    assert world.chat(PEER.chat_id)[before:] == []  # rolled back: nothing sent, no "denied"
    for message, forged in ((repeat, "202602311000-45-cafe-1"), (repeat, "202603241000-x-cafe-1"),
                            (repeat, "202603241000-45-moon-1"), (repeat, "202603241000-45-cafe-3"),
                            (listing, "remove-x"), (listing, "remove-999")):
        await world.press(PEER, message, forged)
        assert world.chat(PEER.chat_id)[-1].text == DA("staff.denied"), forged
