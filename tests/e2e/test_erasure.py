"""Erasure leaves nothing behind, in one process against the fake Bot API with a controllable clock.

A person goes through the intake (replies through the outbox as in Telegram), is claimed, books a
first meeting with a peer, is exported and listed by the consultant, asks for their data, and has an
update waiting in the inbox. Then each erasure path runs: `/delete`, `ipsbot erase --referral`,
`ipsbot purge` of an expired person, and `/restart` for an abandoned attempt. Afterwards no stored
value (every column of every table, encrypted ones decrypted: `tests.support.traces`) and no staff message
still on screen holds what the person typed; the peer's calendar gets a cancelling update, and no
reminder is ever sent.

The same story fills every encrypted column of the models, so it also shows that key rotation covers
them all: rotate, drop the old key, read every row of every encrypted column.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from sqlalchemy import LargeBinary, func, select, type_coerce
from sqlalchemy.engine import make_url

from bot.app import App, open_app
from bot.channels.telegram.aiogram.runtime import create_bot
from bot.channels.telegram.delivery import plan
from bot.channels.telegram.updates import inbox_source, received
from bot.cli import records as cli
from bot.clock import ManualClock
from bot.services import staff_sessions
from bot.services.intake import IntakeResult, Person
from bot.settings import Settings
from flows.answers import Answer, Command, Tap, Text
from flows.escalation import Escalation as EscalationState
from flows.escalation import Status as EscalationStatus
from locales import Translator
from storage import crypto, keys
from storage.crypto import Cipher
from storage.models import EscalationCopy, FollowUp, OutboxMessage, ShownMessage
from tests.e2e.telegram_bot import TOKEN
from tests.e2e.test_meetings import CONSULTANT, PEER, START, World, publish_weekly
from tests.fake_telegram import FakeTelegram
from tests.support.database import _create_database, _drop_database
from tests.support.people import tg, tg_address
from tests.support.traces import traces
from tests.support.walk import TYPICAL

DA = Translator("da")
MARKERS = ["Zorrotrace", "Fyrtaarnsdroem", "Natteuro-unik", "Tracehavn"]
# a risk answer too (MDI 6), so that erasure and rotation meet a stored risk event
PLAN = {**TYPICAL, "language": "da", "q.name": "Zorrotrace", "q.dream": "Fyrtaarnsdroem",
        "q.worries": "Natteuro-unik", "q.municipality": "Tracehavn", "mdi.6": 1}
USER = 806
MEETING = datetime(2026, 3, 24, 9, 0, tzinfo=UTC)


class ErasureWorld(World):
    def __init__(self, app: App, bot: Any, server: FakeTelegram, clock: ManualClock, settings: Settings) -> None:
        super().__init__(app, bot, server, clock)
        self.settings = settings
        self.person = Person("telegram", str(USER), language="da", address=tg_address(USER))

    async def say(self, answer: Answer) -> IntakeResult:
        """An answer as the Telegram handler gives it: the replies go through the outbox, then out."""
        outcome = await self.app.intake.answer(self.person, answer, deliver=lambda o: plan(USER, USER, o))
        await self.send_all()
        return outcome

    async def tap(self, outcome: IntakeResult, button: str) -> IntakeResult:
        screen = next(s for s in reversed(outcome.screens) if s.asks)
        return await self.say(Tap(screen.step, screen.version, button))

    async def intake(self, until: str | None = None) -> IntakeResult:
        outcome = await self.say(Command("start", "reconnect"))
        while not outcome.finished:
            screen = next(s for s in reversed(outcome.screens) if s.asks)
            if screen.step == until:
                return outcome
            value = str(PLAN.get(screen.step, "1"))
            ids = [b.id for b in screen.buttons]
            outcome = await self.say(Tap(screen.step, screen.version, value if value in ids else ids[0]) if ids
                                     else Text(value))
        return outcome

    def showing(self) -> list[str]:
        """Staff messages still on screen (text, caption or file) that show the person."""
        hits = []
        for chat in (PEER.chat_id, CONSULTANT.chat_id):
            for message in self.chat(chat):
                content = message.content + (message.document.content.decode() if message.document else "")
                hits += [f"{chat}:{message.message_id}: {m}" for m in MARKERS if m in content]
        return hits

    def reminders(self) -> int:
        start = DA("meet.reminder", when="", place="").split(":")[0]
        return sum(m.text.startswith(start) for c in (USER, PEER.chat_id, CONSULTANT.chat_id) for m in self.chat(c))

    async def traces(self) -> list[str]:
        return await traces(self.app.sessions, crypto.current(), MARKERS)


@pytest_asyncio.fixture(params=["sqlite", "postgres", "sqlite-ptb"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ErasureWorld]:
    """The bot in this process on SQLite, and on PostgreSQL when `TEST_POSTGRES_URL` names a server; and
    on SQLite through python-telegram-bot's client (withdrawn messages deleted, or edited, files replaced)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    server_url = os.environ.get("TEST_POSTGRES_URL")
    if request.param == "postgres":
        if not server_url:
            if os.environ.get("CI") == "true":
                pytest.fail("TEST_POSTGRES_URL not set (required when CI=true)")
            pytest.skip("TEST_POSTGRES_URL not set")
        name = f"ipsbot_test_erasure_{uuid.uuid4().hex[:8]}"
        await _create_database(server_url, name)
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    clock = ManualClock(START)
    try:
        async with FakeTelegram(token=TOKEN) as server:
            settings = Settings(bot_token=TOKEN, telegram_api_url=server.url, database_url=url,
                                encryption_key=Fernet.generate_key().decode(), per_chat_interval=0.0)
            async with open_app(settings, clock, migrate=True) as app:
                if request.param == "sqlite-ptb":
                    from bot.channels.telegram.ptb.runtime import open_ptb

                    runtime = await open_ptb(app, settings)
                    api: Any = runtime.api
                    close: Any = runtime.close
                else:
                    api = create_bot(settings)
                    close = api.session.close
                try:
                    w = ErasureWorld(app, api, server, clock, settings)
                    await w.join(PEER, "peer")
                    await w.join(CONSULTANT, "consultant")
                    yield w
                finally:
                    await close()
    finally:
        if request.param == "postgres" and server_url:
            await _drop_database(server_url, name)


async def booked_and_exported(world: ErasureWorld) -> int:
    """The whole story up to a booked meeting; returns the referral id."""
    await publish_weekly(world, "20260324", "1000")
    await world.intake()
    summary = next(m for m in world.chat(CONSULTANT.chat_id) if "\nZorrotrace, " in m.text and m.buttons)
    referral_id = int(str(summary.buttons[0]["callback_data"]).split("|")[0].removeprefix("ref."))
    await world.press(CONSULTANT, summary, "claim")
    # a follow-up of the case (reconnect lists none: the row as the scheduler adds it)
    async with world.app.uow() as uow:
        referral = await uow.referrals.get(referral_id)
        person = await uow.candidates.find("telegram", str(USER))
        assert referral is not None and person is not None
        row = await uow.followups.add(candidate_id=person.id, referral_id=referral_id, programme_id="reconnect",
                                      key="story", due_at=world.clock.now(), now=world.clock.now(),
                                      state={"at": "done", "status": "job", "answers": {}, "results": {}})
        # and an escalation of a risk answer at it, with its copy to the consultant as the channel records it
        consultant = await uow.staff.find(CONSULTANT.channel, CONSULTANT.external_id)
        assert row is not None and consultant is not None
        escalation = await uow.escalations.open(
            candidate_id=person.id, programme_id="reconnect", cause="followup", referral_id=referral_id,
            followup_id=row.id, state=EscalationState(EscalationStatus.SENT, rung=0, next_at=world.clock.now()),
            now=world.clock.now())
        copy = await uow.escalations.add_copy(escalation.id, consultant.id, 0, world.clock.now())
        await uow.escalations.record_copy(copy.id, CONSULTANT.address.to_dict(), 999)
    offer = world.last_with_buttons(USER)
    await world.press(tg(USER), offer, world.button(offer, ""))  # the first time
    await world.press(CONSULTANT, summary, "export")
    await world.run(lambda uow, cw: cw.cases(uow, CONSULTANT, world.clock.now()))
    await world.say(Command("mydata"))
    async with world.app.uow() as uow:  # something the person sent that waits in the inbox
        await uow.updates.receive(inbox_source(1), received([{"update_id": 77, "message": {
            "message_id": 9, "from": {"id": USER}, "chat": {"id": USER}, "text": "Zorrotrace igen"}}]),
            world.clock.now())
    assert world.showing() and await world.traces()  # the markers are there to be found before
    assert world.reminders() == 0
    return referral_id


def calendar_files(world: ErasureWorld, chat_id: int) -> list[icalendar.Calendar]:
    """Every calendar file sent to the chat, in order (deleted ones too: the booking's was)."""
    return [icalendar.Calendar.from_ical(e.message.document.content) for e in world.server.history(chat_id)
            if e.kind == "send" and e.message.document is not None and e.message.document.filename == "meeting.ics"]


async def assert_nothing_left(world: ErasureWorld, *, meeting_ahead: bool = True) -> None:
    assert await world.traces() == []
    assert world.showing() == []
    async with world.app.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(ShownMessage)) == 0
        assert await uow.session.scalar(select(func.count()).select_from(FollowUp)) == 0  # follow-ups end too
        assert await uow.session.scalar(select(func.count()).select_from(EscalationCopy)) == 0  # and escalations
        assert await uow.updates.waiting(inbox_source(1)) == []
        due = await uow.session.scalar(select(func.count()).select_from(OutboxMessage)
                                       .where(OutboxMessage.due_at.is_not(None)))
        assert due == 0  # the reminders are gone, to everyone
    if not meeting_ahead:
        return
    # the peer's calendar: the same event, cancelled, a higher sequence
    booked, cancel = (c.walk("VEVENT")[0] for c in calendar_files(world, PEER.chat_id)[-2:])
    assert calendar_files(world, PEER.chat_id)[-1]["METHOD"] == "CANCEL"
    assert cancel["UID"] == booked["UID"] and int(cancel["SEQUENCE"]) > int(booked.get("SEQUENCE", 0))
    assert cancel["STATUS"] == "CANCELLED"
    world.clock.set(MEETING + timedelta(hours=1))  # past both reminder times
    await world.send_all()
    assert world.reminders() == 0


async def test_delete_in_the_chat_leaves_nothing_and_deletes_what_staff_were_shown(world: ErasureWorld) -> None:
    referral_id = await booked_and_exported(world)
    shown_before = [m.message_id for m in world.chat(CONSULTANT.chat_id) if "Zorrotrace" in m.content]
    asked = await world.say(Command("delete"))
    done = await world.tap(asked, "yes")
    assert any(DA("delete.done") in s.text for s in done.screens)
    assert DA("staff.withdrawn", id=referral_id) in [m.text for m in world.chat(CONSULTANT.chat_id)]
    deleted = {e.message_id for e in world.server.history(CONSULTANT.chat_id) if e.kind == "delete"}
    assert set(shown_before) <= deleted  # younger than 48 hours: deleted, not just edited
    async with world.app.uow() as uow:
        assert await uow.slots.booked_for(referral_id) is None
    await assert_nothing_left(world)


async def test_after_48_hours_the_staff_messages_are_replaced_by_a_notice(world: ErasureWorld) -> None:
    await booked_and_exported(world)
    world.clock.set(START + timedelta(days=3))  # Telegram no longer lets the bot delete them
    await world.tap(await world.say(Command("delete")), "yes")
    assert not [e for e in world.server.history(CONSULTANT.chat_id) if e.kind == "delete"]
    notice = DA("staff.withdrawn.shown")
    consultant = world.chat(CONSULTANT.chat_id)
    assert any(m.text == notice for m in consultant)
    replaced = [m for m in consultant if m.document is not None and m.document.filename == "withdrawn.txt"]
    assert len(replaced) == 3 and all(m.document.content.decode() == notice for m in replaced if m.document)
    await assert_nothing_left(world)


async def test_coordinator_erase_by_referral_leaves_nothing(world: ErasureWorld) -> None:
    referral_id = await booked_and_exported(world)
    assert await cli.rights(world.settings, "erase", referral_id, world.clock) == 0
    await world.send_all()  # what the running bot sends from the outbox
    assert DA("staff.withdrawn", id=referral_id) in [m.text for m in world.chat(CONSULTANT.chat_id)]
    await assert_nothing_left(world)


async def test_purge_of_an_expired_person_leaves_nothing(world: ErasureWorld) -> None:
    referral_id = await booked_and_exported(world)
    case = next(m for m in reversed(world.chat(CONSULTANT.chat_id))
                if m.buttons and str(m.buttons[0]["callback_data"]).startswith(f"case.{referral_id}|"))
    await world.press(CONSULTANT, case, "close")
    world.clock.set(MEETING + timedelta(days=40))
    await world.send_all()
    assert await cli.purge(world.settings, argparse.Namespace(older_than=30, unfinished_days=90), world.clock) == 0
    await world.send_all()
    assert DA("staff.withdrawn", id=referral_id) not in [m.text for m in world.chat(CONSULTANT.chat_id)]
    await assert_nothing_left(world, meeting_ahead=False)  # the meeting was long over


async def test_restart_keeps_nothing_of_the_abandoned_attempt(world: ErasureWorld) -> None:
    at_summary = await world.intake(until="summary")
    assert not at_summary.finished
    await world.say(Command("mydata"))
    assert await world.traces()
    await world.tap(await world.say(Command("restart")), "yes")
    assert await world.traces() == []
    assert world.server.uploaded_files[-1].filename == "mydata.json"  # it had been sent (and is gone here)


async def test_rotate_then_drop_the_old_key_and_read_every_encrypted_column(world: ErasureWorld) -> None:
    await booked_and_exported(world)
    async with world.app.uow() as uow:  # the consultant signs in to the staff area by a link, and asks for another
        consultant = await uow.staff.find("telegram", str(CONSULTANT.chat_id))
        assert consultant is not None
        whose = {"channel": "telegram", "id": str(CONSULTANT.chat_id)}
        now = world.clock.now()
        link = await staff_sessions.add_token(uow, "link", whose, now, staff_id=consultant.id)
        assert await staff_sessions.use_link(uow, link, now) is not None  # stores how they signed in
        await staff_sessions.add_token(uow, "link", whose, now, staff_id=consultant.id)  # not used yet
    old = crypto.current()
    columns = keys.encrypted_columns()
    async with world.app.sessions() as session:  # the story fills every encrypted column of the models
        empty = [f"{table.name}.{column.name}" for table, column in columns
                 if not await session.scalar(select(func.count()).select_from(table).where(column.is_not(None)))]
    assert empty == [], f"extend the story so that these are stored too, then rotation is tested on them: {empty}"

    new_key = Fernet.generate_key()
    assert world.settings.encryption_key is not None
    old_key = world.settings.encryption_key.get_secret_value().encode()
    both = Cipher([new_key, old_key], old.hash_key_text.encode())
    counts = await keys.rotate_all(world.app.sessions, both)
    assert set(counts) == {f"{t.name}.{c.name}" for t, c in columns} and all(counts.values())

    only_new = Cipher([new_key], old.hash_key_text.encode())
    crypto.configure(only_new)
    await keys.check(world.app.sessions, only_new)
    async with world.app.sessions() as session:
        for _table, column in columns:
            raw = type_coerce(column, LargeBinary)
            for token in (await session.scalars(select(raw).where(raw.is_not(None)))).all():
                only_new.decrypt(bytes(token))  # raises WrongKeyError if a token was left behind
    async with world.app.uow() as uow:  # and the application reads them: a staff look-up, the inbox, offers
        consultant = await uow.staff.find("telegram", str(CONSULTANT.chat_id))
        assert consultant is not None and consultant.contact == CONSULTANT.address.to_dict()
        assert [u["update_id"] for u in await uow.updates.waiting(inbox_source(1))] == [77]
        assert all(o.address == CONSULTANT.address.to_dict() for o in await uow.cases.offers(1))


async def test_a_staff_message_on_its_way_during_the_erasure_is_taken_back(world: ErasureWorld) -> None:
    from bot.channels.telegram.delivery import deliver
    from flows.screens import Screen

    referral_id = await booked_and_exported(world)
    casework = world.app.intake.casework
    async with world.app.uow() as uow:  # a summary about the person, committed, about to be sent
        referral = await uow.referrals.get(referral_id)
        assert referral is not None
        message_id = await casework.queue(uow, CONSULTANT.address, [Screen("Zorrotrace, 19 år")], world.clock.now(),
                                          subject_id=await casework.subject_of(uow, referral))
        payload = uow.outbox.payloads[message_id]
    assert await cli.rights(world.settings, "erase", referral_id, world.clock) == 0  # meanwhile, erased
    await deliver(world.app, world.bot, message_id, payload)  # the sender had it in hand already
    await world.send_all()
    assert world.showing() == []
    await assert_nothing_left(world)
