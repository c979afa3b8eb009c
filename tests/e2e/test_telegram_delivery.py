"""The outbox for candidate replies, in one process against the fake Bot API: a crash between
commit and send loses nothing, a blocked bot marks the person unreachable, harmless errors pass."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.app import App
from bot.channels.telegram.api import TelegramApi
from bot.channels.telegram.delivery import BLOCKED, SentMarks, deliver, drain, plan
from bot.clock import ManualClock
from bot.services.intake import IntakeResult, Person
from bot.settings import FRAMEWORKS
from flows.answers import Command, Tap, Text
from flows.screens import Screen
from locales import Translator
from storage.models import Candidate, OutboxMessage
from storage.repositories import OutboxRepository
from tests.e2e.inprocess import in_process
from tests.fake_telegram import FakeTelegram
from tests.support.people import tg, tg_address
from tests.support.walk import TYPICAL

DA = Translator("da")


@pytest_asyncio.fixture(params=FRAMEWORKS)
async def world(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[tuple[App, TelegramApi, FakeTelegram]]:
    """The app and a `TelegramApi` of each runtime: the shared delivery on aiogram's and python-telegram-bot's
    client (403 and 400 mapped alike)."""
    async with in_process(tmp_path, framework=request.param) as parts:
        yield parts


async def start_without_sending(app: App, user_id: int, update_id: int) -> int:
    """What a handler does up to its commit: the answer and its replies are stored, nothing is sent."""
    person = Person("telegram", str(user_id), language="da", address=tg_address(user_id))
    outcome = await app.intake.answer(person, Command("start", "reconnect"), event_id=update_id,
                                      deliver=lambda o: plan(user_id, user_id, o))
    assert outcome.outbox_id is not None
    return outcome.outbox_id


async def test_replies_committed_but_not_sent_are_sent_once_by_the_drain(
    world: tuple[App, TelegramApi, FakeTelegram],
) -> None:
    app, bot, server = world
    await start_without_sending(app, 501, update_id=1)
    assert server.sent_messages(501) == []  # "crashed" before sending
    assert await drain(app, bot, min_age=timedelta(0)) == 1
    (question,) = server.sent_messages(501)
    assert question.text == DA("language.ask") and question.buttons
    assert await drain(app, bot, min_age=timedelta(0)) == 0  # sent once, not again
    assert len(server.sent_messages(501)) == 1


async def test_fresh_messages_are_left_to_their_handler(world: tuple[App, TelegramApi, FakeTelegram]) -> None:
    app, bot, server = world
    await start_without_sending(app, 502, update_id=2)
    assert await drain(app, bot) == 0  # younger than the default 30 s: another worker is sending it
    assert server.sent_messages(502) == []


async def test_a_blocked_bot_marks_the_person_unreachable_until_they_write_again(
    world: tuple[App, TelegramApi, FakeTelegram],
) -> None:
    app, bot, server = world
    server.block_user(503)
    outbox_id = await start_without_sending(app, 503, update_id=3)
    await deliver(app, bot, outbox_id)
    async with app.uow() as uow:
        row = await uow.outbox.get(outbox_id)
        assert row is not None and row.sent_at is not None and row.failure == BLOCKED
        candidate = (await uow.session.scalars(select(Candidate))).one()
        assert candidate.unreachable
    assert await drain(app, bot, min_age=timedelta(0)) == 0  # given up, not retried forever
    server.unblock_user(503)
    person = Person("telegram", "503", language="da", address=tg_address(503))
    await app.intake.answer(person, Command("help"), event_id=4)
    async with app.uow() as uow:
        assert not (await uow.session.scalars(select(Candidate))).one().unreachable


async def test_an_edit_that_changes_nothing_is_not_an_error(world: tuple[App, TelegramApi, FakeTelegram]) -> None:
    app, bot, server = world
    sent = await bot.send_text(504, "Hvor gammel er du?")
    planned = plan(504, 504, IntakeResult([Screen("næste")], {}, []), edit={"ref": sent, "text": "Hvor gammel er du?"})
    async with app.uow() as uow:
        message_id = await uow.outbox.add(channel="telegram", payload=planned, now=app.clock.now())
    await deliver(app, bot, message_id)
    assert [m.text for m in server.sent_messages(504)] == ["Hvor gammel er du?", "næste"]
    async with app.uow() as uow:
        done = await uow.session.get(OutboxMessage, message_id)
        assert done is not None and done.sent_at is not None and done.failure == ""


async def test_consultant_summaries_survive_a_crash_and_urgent_ones_go_out_again_after_24_hours(
    tmp_path: Path,
) -> None:
    clock = ManualClock(datetime(2026, 3, 5, 9, 0, tzinfo=UTC))
    async with in_process(tmp_path, clock) as (app, bot, server):
        async with app.uow() as uow:
            code = await app.intake.casework.invite(uow, role="consultant", programme_id="reconnect",
                                                    name="Mette", now=clock.now())
            await app.intake.casework.join(uow, tg(601), code, clock.now())
        await drain(app, bot, min_age=timedelta(0))
        # an urgent intake completes; the process "dies" after the commit, before any sending
        person = Person("telegram", "602", language="da", address=tg_address(602))
        reply = await app.intake.start(person, "reconnect")
        walker_plan = {"language": "da", "mdi.6": "3"}
        while not reply.finished:
            screen = next(s for s in reversed(reply.screens) if s.asks)
            value = walker_plan.get(screen.step, TYPICAL.get(screen.step, "1"))
            ids = {b.id for b in screen.buttons}
            choice = str(value) if str(value) in ids else (screen.buttons[0].id if ids else "")
            answer = Tap(screen.step, screen.version, choice) if ids else Text(str(value))
            reply = await app.intake.answer(person, answer)
        assert reply.state["result"]["triage"]["outcome"] == "eligible-urgent"
        assert [m for m in server.sent_messages(601) if "#" in m.text] == []
        await drain(app, bot, min_age=timedelta(0))  # after the restart
        summaries = [m for m in server.sent_messages(601) if DA("staff.summary.urgent") in m.text]
        assert len(summaries) == 1 and summaries[0].buttons
        await drain(app, bot, min_age=timedelta(0))
        assert len([m for m in server.sent_messages(601) if DA("staff.summary.urgent") in m.text]) == 1

        async def resend_at(moment: datetime) -> None:
            clock.set(moment)
            async with app.uow() as uow:
                await app.intake.casework.resend_urgent(uow, clock.now())
            await drain(app, bot, min_age=timedelta(0))

        await resend_at(datetime(2026, 3, 6, 8, 0, tzinfo=UTC))  # 23 hours: not yet
        assert not any(DA("staff.resent", hours=24) in m.text for m in server.sent_messages(601))
        await resend_at(datetime(2026, 3, 6, 10, 0, tzinfo=UTC))  # 25 hours, nobody claimed: again
        await resend_at(datetime(2026, 3, 7, 10, 0, tzinfo=UTC))  # and only once
        again = [m for m in server.sent_messages(601) if DA("staff.resent", hours=24) in m.text]
        assert len(again) == 1 and DA("staff.summary.urgent") in again[0].text


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_one_message_a_second_per_chat_also_when_telegram_says_wait(tmp_path: Path, framework: str) -> None:
    async with in_process(tmp_path, per_chat_interval=1.0, framework=framework) as (_app, bot, server):
        server.rate_limit_per_chat(per_second=1)
        server.fail_next("sendMessage", 429, retry_after=1, times=2, chat_id=505)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(bot.send_text(chat, f"m{n}") for n in range(4) for chat in (505, 506)))
        took = loop.time() - start
        assert sorted(m.text for m in server.sent_messages(505)) == ["m0", "m1", "m2", "m3"]  # nothing lost
        assert len(server.sent_messages(506)) == 4
        assert server.rate_violations == []
        assert 3.0 <= took < 8.0  # paced per chat; the two chats in parallel


async def _sent_at(app: App, message_id: int) -> datetime | None:
    async with app.uow() as uow:
        row = await uow.session.get(OutboxMessage, message_id)
        assert row is not None
        return row.sent_at


async def test_sent_marks_are_written_in_one_batch_and_kept_while_the_database_is_away(
    world: tuple[App, TelegramApi, FakeTelegram], monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, bot, server = world
    marks = app.sent_marks = SentMarks(app, delay=3600)  # written only when flushed here
    ids = [await start_without_sending(app, 510 + n, update_id=10 + n) for n in range(3)]
    for message_id in ids:
        await deliver(app, bot, message_id)
    assert [len(server.sent_messages(510 + n)) for n in range(3)] == [1, 1, 1]
    assert [await _sent_at(app, i) for i in ids] == [None, None, None]  # sent, mark still waiting

    batches: list[int] = []
    real_finish_many = OutboxRepository.finish_many

    async def away_once(self: OutboxRepository, sent: dict[int, datetime]) -> None:
        batches.append(len(sent))
        if len(batches) == 1:
            raise ConnectionError("database away")
        await real_finish_many(self, sent)

    monkeypatch.setattr(OutboxRepository, "finish_many", away_once)
    with pytest.raises(ConnectionError):
        await marks.flush()
    assert [await _sent_at(app, i) for i in ids] == [None, None, None]
    await marks.close()  # the marks were kept and go now, in one statement
    assert batches == [3, 3]
    assert None not in [await _sent_at(app, i) for i in ids]
    assert await drain(app, bot, min_age=timedelta(0)) == 0  # nothing is sent twice
    assert [len(server.sent_messages(510 + n)) for n in range(3)] == [1, 1, 1]


async def test_sent_marks_are_written_shortly_after_sending(world: tuple[App, TelegramApi, FakeTelegram]) -> None:
    app, bot, _ = world
    app.sent_marks = marks = SentMarks(app, delay=0.01)
    message_id = await start_without_sending(app, 520, update_id=20)
    await deliver(app, bot, message_id)
    for _ in range(200):
        if await _sent_at(app, message_id) is not None:
            break
        await asyncio.sleep(0.01)
    assert await _sent_at(app, message_id) is not None
    await marks.close()
