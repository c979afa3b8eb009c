"""One person cannot stall the bot for everyone (issue 14): a flood of messages from one person, with
the real handlers against the fake Bot API, polling in this process and the webhook's handler (fed by
the fake server one update at a time, as Telegram posts one chat's updates).

Not timed: the tests count what is in hand, what was sent to whom and in which order, and what the
inbox and the audit trail hold. On both runtimes (the share and the fold are the shared inbox loop's).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import App, open_app
from bot.channels.telegram.api import TelegramApi
from bot.channels.telegram.polling import FOLD_AFTER, PER_PERSON_IN_HAND, Poller
from bot.channels.telegram.runtime import Runtime, webhook_app
from bot.channels.telegram.updates import inbox_source, sender_address
from bot.clock import ManualClock
from bot.settings import Settings
from locales import Translator
from storage.models import AuditEvent, Intake
from tests.e2e.inprocess import in_process, runtime_in_process
from tests.e2e.telegram_bot import TOKEN, BotProcess, Candidate, bot_env, step_of
from tests.fake_telegram import FakeTelegram
from tests.support.net import free_port
from tests.support.walk import Plan
from tests.support.walk import walk as walk_plan

DA = Translator("da")
FLOODED = DA("telegram.flood_folded")


@contextlib.asynccontextmanager
async def polling(app: App, runtime: Runtime, **options: Any) -> AsyncIterator[Poller]:
    poller = Poller(app, runtime.api, runtime.handle, **options)
    task = asyncio.create_task(poller.run())
    try:
        yield poller
    finally:
        poller.stop()
        await task


@contextlib.asynccontextmanager
async def webhook(app: App, runtime: Runtime, *, hold: float) -> AsyncIterator[Poller]:
    """The webhook's handler on a local port, registered with the fake server, which then posts the
    queued updates to it one at a time, each after the previous was answered (as Telegram does in one chat)."""
    poller = Poller(app, runtime.api, runtime.handle, hold=hold)
    web_app = web.Application()
    web_app.router.add_post("/hook", webhook_app(runtime, "s3cret", poller=poller))
    runner = web.AppRunner(web_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    await runtime.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/hook", "s3cret")
    try:
        yield poller
    finally:
        await runtime.delete_webhook()
        poller.stop()
        await poller.settle()
        await runner.cleanup()


async def folded_counts(app: App) -> list[int]:
    async with app.uow() as uow:
        events = (await uow.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "telegram.flood_folded").order_by(AuditEvent.id))).all()
        refs = set((await uow.session.scalars(select(Intake.actor_ref))).all())
    # no lasting hash of the person: their intake's random reference (erased with it), as intakes audit
    assert {e.actor for e in events} <= {"candidate", *(f"candidate:{ref}" for ref in refs)}, [e.actor for e in events]
    return [int(e.detail.split()[0]) for e in events]


def sends(server: FakeTelegram, chat_id: int) -> list[str]:
    return [e.message.text for e in server.history(chat_id) if e.kind == "send"]


async def test_a_flood_keeps_to_its_share_and_another_person_is_answered_before_it_is_through(
        tmp_path: Path, framework: str) -> None:
    flood = 60
    # replies paced per chat as in production (faster here), so handling a message takes a while
    async with runtime_in_process(tmp_path, per_chat_interval=0.05, framework=framework) as (app, runtime, server):
        bot = runtime.api
        flooder = server.user(8001, "Flo", "da")
        other = server.user(8002, "Ole", "da")
        for n in range(flood):
            await flooder.send_text(f"spam {n}")
        start = await other.send_command("/start reconnect")
        most = 0
        sampling = True

        async def sample(poller: Poller) -> None:
            nonlocal most
            while sampling:
                most = max(most, len(poller._in_hand))
                await asyncio.sleep(0)

        # a small hand, so that without a share per person the flood would fill it
        async with polling(app, runtime, max_in_hand=10) as poller:
            sampler = asyncio.create_task(sample(poller))
            await server.settle(60)
            sampling = False
            await sampler

        # never more of the flood in hand than the share (and the other person's one update)
        assert 0 < most <= PER_PERSON_IN_HAND + 1
        # the other person was answered while the flood was still being worked through
        # (it came after the flood from Telegram, so it waits for a few polls, not for the flood's replies;
        # without a share per person about two replies per message of the flood came first)
        order = [(e.chat_id, e.message.text) for e in server.history() if e.kind == "send"]
        first_other = next(i for i, (chat, _) in enumerate(order) if chat == other.chat_id)
        flood_replies = [i for i, (chat, _) in enumerate(order) if chat == flooder.chat_id]
        folds = await folded_counts(app)
        assert first_other < flood_replies[-1]
        assert len([i for i in flood_replies if i < first_other]) <= 2 * PER_PERSON_IN_HAND + 3 * len(folds)
        # answered as one, not sixty times: a few replies, with the notice once per fold
        replies = sends(server, flooder.chat_id)
        assert len(folds) >= 1 and replies.count(FLOODED) == len(folds)
        assert len(replies) <= 2 * PER_PERSON_IN_HAND + 3 * len(folds), replies
        # every message stored and closed: answered, or folded (and audited, with how many)
        assert sum(folds) >= flood - 2 * PER_PERSON_IN_HAND - 2 * len(folds)
        async with app.uow() as uow:
            assert await uow.updates.waiting(inbox_source(bot.id)) == []
            assert await uow.updates.seen(inbox_source(bot.id), start["update_id"])
        assert not server.pending_updates


async def walk(person: Candidate, step: str) -> None:
    plan = {"language": "da", "q.name": "Flo", "q.age": "40"}
    await walk_plan(person, Plan.typical(plan), until=step, limit=40)


async def test_the_latest_text_of_a_flood_is_the_answer(tmp_path: Path, framework: str) -> None:
    async with runtime_in_process(tmp_path, framework=framework) as (app, runtime, server):
        bot = runtime.api
        person = Candidate(server, server.user(8101, "Flo", "da"))
        async with polling(app, runtime):
            await person.say("/start reconnect")
            await walk(person, "q.age")
        for n in range(20):  # all at once, taken in one poll
            await person.user.send_text(f"hov {n}")
        await person.user.send_text("40")
        mark = person.mark
        async with polling(app, runtime):
            await server.settle(30)
        replies = [m.text for m in person.sent_since(mark)]
        assert replies.count(FLOODED) == 1
        assert step_of(person.question()) == "q.municipality", replies  # 40 was taken as the age
        assert await folded_counts(app) == [20 - PER_PERSON_IN_HAND]
        async with app.uow() as uow:
            assert await uow.updates.waiting(inbox_source(bot.id)) == []


async def test_a_tap_inside_a_flood_is_handled(tmp_path: Path, framework: str) -> None:
    async with runtime_in_process(tmp_path, framework=framework) as (app, runtime, server):
        person = Candidate(server, server.user(8201, "Flo", "da"))
        async with polling(app, runtime):
            await person.say("/start reconnect")
            await walk(person, "consent")
        consent = person.question()
        for n in range(20):
            await person.user.send_text(f"hov {n}")
        await person.user.tap_button(lambda b: str(b.get("callback_data", "")).endswith("|yes"),
                                     message_id=consent.message_id)
        for _ in range(5):
            await person.user.send_sticker()
        mark = person.mark
        async with polling(app, runtime):
            await server.settle(30)
        replies = [m.text for m in person.sent_since(mark)]
        assert replies.count(FLOODED) == 1
        assert step_of(person.question()) == "q.name", replies  # the consent was given
        assert await folded_counts(app) == [25 - PER_PERSON_IN_HAND - 1]


async def test_a_flood_posted_one_update_at_a_time_to_the_webhook_is_folded(tmp_path: Path, framework: str) -> None:
    """Telegram posts one chat's updates one at a time, so a flood never has more than one in hand: an
    update that comes within the pacing of the person's last reply is parked, and the backlog folds the
    flood. The clock stands still, so every update after the first comes "at once"."""
    flood = 200
    async with runtime_in_process(tmp_path, ManualClock(), per_chat_interval=0.1,
                                  framework=framework) as (app, runtime, server):
        bot = runtime.api
        person = Candidate(server, server.user(8501, "Flo", "da"))
        other = server.user(8502, "Ole", "da")
        async with polling(app, runtime):
            await person.say("/start reconnect")
            await walk(person, "q.age")
        mark = person.mark
        updates = [await person.user.send_text(f"hov {n}") for n in range(flood // 2)]
        start = await other.send_command("/start reconnect")  # another person, in the middle of it
        updates += [await person.user.send_text(f"hov {n}") for n in range(flood // 2, flood)]
        updates.append(await person.user.send_text("40"))
        async with webhook(app, runtime, hold=0.1) as poller:
            await server.settle(60)  # all posted and answered 200
            async with asyncio.timeout(60):  # and the parked ones handled
                await poller.settle()

        replies = [m.text for m in person.sent_since(mark)]
        folds = await folded_counts(app)
        # answered as one, a fold at a time, not 2 x 201 times a tenth of a second apart
        assert replies.count(FLOODED) == len(folds) >= 1, replies
        assert len(replies) <= 2 + 2 * FOLD_AFTER + 3 * len(folds) and len(replies) < flood // 5, replies
        assert sum(folds) >= flood // 2
        assert step_of(person.question()) == "q.municipality", replies  # the latest text, 40, is the age
        # the other person was answered as usual, in the middle of the flood
        order = [(e.chat_id, e.message.text) for e in server.history() if e.kind == "send"]
        first_other = next(i for i, (chat, _) in enumerate(order) if chat == other.chat_id)
        last_flood = max(i for i, (chat, _) in enumerate(order) if chat == person.user.chat_id)
        assert first_other < last_flood
        assert FLOODED not in sends(server, other.chat_id) and other.messages[-1].buttons
        async with app.uow() as uow:  # every update stored before its 200, and closed: answered or folded
            source = inbox_source(bot.id)
            assert await uow.updates.waiting(source) == []
            for update in [*updates, start]:
                assert await uow.updates.seen(source, update["update_id"])
        assert {d.status for d in server.webhook_responses} == {200}


async def test_a_tap_inside_a_flood_posted_to_the_webhook_is_handled(tmp_path: Path, framework: str) -> None:
    async with runtime_in_process(tmp_path, ManualClock(), per_chat_interval=0.1,
                                  framework=framework) as (app, runtime, server):
        person = Candidate(server, server.user(8601, "Flo", "da"))
        async with polling(app, runtime):
            await person.say("/start reconnect")
            await walk(person, "consent")
        consent = person.question()
        mark = person.mark
        for n in range(100):
            await person.user.send_text(f"hov {n}")
        await person.user.tap_button(lambda b: str(b.get("callback_data", "")).endswith("|yes"),
                                     message_id=consent.message_id)
        for _ in range(20):
            await person.user.send_sticker()
        async with webhook(app, runtime, hold=0.1) as poller:
            await server.settle(60)
            async with asyncio.timeout(60):
                await poller.settle()
        replies = [m.text for m in person.sent_since(mark)]
        folds = await folded_counts(app)
        assert replies.count(FLOODED) == len(folds) >= 1, replies
        assert step_of(person.question()) == "q.name", replies  # the consent was given
        assert len(replies) <= 2 + 2 * FOLD_AFTER + 3 * len(folds), replies


async def test_an_answer_after_the_pacing_is_handled_before_the_webhook_answers(tmp_path: Path) -> None:
    """The hold parks only what comes within the pacing of the person's last reply: a person who reads
    and answers is handled in the request, as before (nothing parked, nothing in the inbox)."""
    clock = ManualClock()
    async with runtime_in_process(tmp_path, clock, per_chat_interval=0.1) as (app, runtime, server):
        person = Candidate(server, server.user(8701, "Ole", "da"))
        async with webhook(app, runtime, hold=0.1) as poller:
            for text in ("/start reconnect", "hov"):
                clock.advance(seconds=0.1)
                mark = person.mark
                await (person.user.send_command(text) if text.startswith("/") else person.user.send_text(text))
                await server.settle(20)
                # answered 200 only after it was handled: its replies are there, and nothing was parked
                assert person.sent_since(mark) and not poller._parked and not poller._backlogs
            async with app.uow() as uow:
                assert await uow.updates.waiting(inbox_source(runtime.api.id)) == []


class SlowRuntime:
    """A runtime whose handling of person 8301's messages waits for `release` (the webhook's share is the
    shared webhook handler's, whichever framework handles the update)."""

    def __init__(self, app: App, api: TelegramApi, release: asyncio.Event, handled: list[str]) -> None:
        self.app, self.api, self.release, self.handled = app, api, release, handled

    async def handle(self, raw: dict[str, Any], folded: int = 0) -> BaseException | None:
        message = raw.get("message") or {}
        if message.get("from", {}).get("id") == 8301:
            await self.release.wait()
        self.handled.append(message.get("text") or "")
        return None

    async def set_commands(self, menus: dict[str, list[tuple[str, str]]]) -> None: ...

    async def set_menu_button(self, text: str, url: str) -> None: ...

    async def set_webhook(self, url: str, secret: str) -> None: ...

    async def delete_webhook(self) -> None: ...

    async def close(self) -> None: ...


async def test_the_webhook_keeps_the_same_share_per_person(tmp_path: Path) -> None:
    """The flooder's updates beyond the share are stored and answered 200 at once, while the share is
    still being handled; another person is answered meanwhile; all are handled later, in order."""
    async with in_process(tmp_path) as (app, bot, server):
        release = asyncio.Event()
        handled: list[str] = []
        runtime = SlowRuntime(app, bot, release, handled)
        poller = Poller(app, bot, runtime.handle, fold_after=1000)
        web_app = web.Application()
        web_app.router.add_post("/hook", webhook_app(runtime, "s3cret", poller=poller))
        runner = web.AppRunner(web_app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        flooder, other = server.user(8301, "Flo", "da"), server.user(8302, "Ole", "da")
        flood = [await flooder.send_text(f"spam {n}") for n in range(20)]
        try:
            async with asyncio.timeout(30), aiohttp.ClientSession() as http:
                async def post(update: dict[str, Any]) -> int:
                    async with http.post(f"http://127.0.0.1:{port}/hook", json=update,
                                         headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}) as response:
                        return response.status

                posts = [asyncio.create_task(post(update)) for update in flood[:PER_PERSON_IN_HAND]]
                while sum(poller._count.values()) < PER_PERSON_IN_HAND:  # the share is in hand
                    await asyncio.sleep(0.01)
                rest = [await post(update) for update in flood[PER_PERSON_IN_HAND:]]
                assert rest == [200] * (20 - PER_PERSON_IN_HAND)  # stored, answered while the share waits
                assert not any(p.done() for p in posts) and handled == []
                async with app.uow() as uow:
                    waiting = await uow.updates.waiting_of(inbox_source(bot.id), sender_address(8301), 100)
                    assert len(waiting) == 20 - PER_PERSON_IN_HAND
                assert await post(await other.send_text("hej")) == 200
                assert handled == ["hej"]  # the other person is not behind the flood
                release.set()
                assert await asyncio.gather(*posts) == [200] * PER_PERSON_IN_HAND
            async with asyncio.timeout(20):
                await poller.settle()
        finally:
            await runner.cleanup()
        assert sorted(handled[1:PER_PERSON_IN_HAND + 1]) == sorted(f"spam {n}" for n in range(PER_PERSON_IN_HAND))
        assert handled[PER_PERSON_IN_HAND + 1:] == [f"spam {n}" for n in range(PER_PERSON_IN_HAND, 20)]
        async with app.uow() as uow:
            assert await uow.updates.waiting(inbox_source(bot.id)) == []


@pytest.mark.parametrize("mode", ["polling", "webhook"])
@pytest.mark.parametrize("kill_at", ["the first reply", "the notice"])
async def test_kill_9_in_the_middle_of_a_flood_loses_nothing_and_answers_nothing_twice(
        tmp_path: Path, kill_at: str, mode: str, framework: str) -> None:
    """`ipsbot run` as a process, killed with SIGKILL while it works through a flood (at its first
    reply to it, or when it has folded it), then started again; polling, or the webhook (which the fake
    server posts to one update at a time, and posts again what was not answered 200 before the kill)."""
    flood = 200
    async with FakeTelegram(token=TOKEN) as server:
        env = bot_env(server, tmp_path, framework, PER_CHAT_INTERVAL="0.1")  # paced, so the kill lands mid-flood
        process = BotProcess(server, env, tmp_path)
        person = Candidate(server, server.user(8401, "Flo", "da"))
        ready = "getUpdates"
        if mode == "webhook":  # the walk by polling (its steps wait for the replies); the flood by the webhook
            await process.start()
            await person.say("/start reconnect")
            await walk(person, "q.age")
            assert await process.stop() == 0
            port = free_port()
            env.update(WEBHOOK_URL=f"http://127.0.0.1:{port}/hook", WEBHOOK_SECRET="s3cret",
                       WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(port))
            ready = "setWebhook"
            await process.start(ready, fork=True)
        else:
            await process.start(fork=True)
            await person.say("/start reconnect")
            await walk(person, "q.age")
        mark = person.mark
        updates = [await person.user.send_text(f"hov {n}") for n in range(flood)]
        updates.append(await person.user.send_text("40"))
        await person.user.wait_for_reply(
            None if kill_at == "the first reply" else (lambda m: m.text == FLOODED), timeout=30)
        await process.kill()
        await process.start(ready, fork=True)
        await server.settle(60)
        # a webhook's parked updates are still being handled when the last is answered 200: until the age is taken
        await person.user.wait_for_reply(lambda m: bool(m.buttons) and step_of(m) == "q.municipality", timeout=60)
        assert await process.stop() == 0

        assert not server.pending_updates  # all confirmed to Telegram: nothing will come again
        replies = [m.text for m in person.sent_since(mark)]
        settings = Settings(bot_token=TOKEN, database_url=env["DATABASE_URL"], encryption_key=env["ENCRYPTION_KEY"])
        async with open_app(settings) as app:
            async with app.uow() as uow:
                source = inbox_source(server.bot_id)
                assert await uow.updates.waiting(source) == []  # nothing lost: each handled or folded
                for update in updates:
                    assert await uow.updates.seen(source, update["update_id"])
                assert await uow.outbox.pending("telegram", created_before=app.clock.now()) == []
            folds = await folded_counts(app)
        # answered once: the age (the latest text) taken, the next question asked once, a notice per fold
        # (a reply sent just before the kill may go once more from the outbox: see `bot.channels.telegram.delivery`)
        assert replies.count(FLOODED) == len(folds) >= 1, replies
        asked_next = [m for m in person.sent_since(mark) if m.buttons and step_of(m) == "q.municipality"]
        assert len(asked_next) == 1, replies
        # the webhook's first round of a backlog may be up to FOLD_AFTER messages, each answered
        first_round = 2 + 2 * FOLD_AFTER if mode == "webhook" else 0
        assert len(replies) <= 2 * PER_PERSON_IN_HAND * 2 + 3 * len(folds) + first_round, replies


def test_a_long_backlog_keeps_the_presses_and_the_latest_private_text_only() -> None:
    from bot.channels.telegram.polling import Backlog

    def message(update_id: int, *, text: str | None = "hov", chat: str = "private") -> dict[str, Any]:
        body: dict[str, Any] = {"from": {"id": 1}, "chat": {"id": 1, "type": chat}}
        if text is not None:
            body["text"] = text
        return {"update_id": update_id, "message": body}

    updates = [message(n) for n in range(1, 13)]
    updates += [{"update_id": 13, "callback_query": {"from": {"id": 1}, "data": "consent|yes"}},
                message(14, text="40"), message(15, text=None), message(16, chat="group")]
    short, long = Backlog(), Backlog()
    for raw in updates[:10]:
        short.add(raw["update_id"], raw, 10)
    for raw in updates:
        long.add(raw["update_id"], raw, 10)
    assert short.folded() == [] and [r["update_id"] for r in short.handled()] == list(range(1, 11))
    # the sticker (15) and the group message (16) came later, but the text 40 (14) is what counts
    assert long.answer_id == 14 and long.messages == 15
    assert [r["update_id"] for r in long.handled()] == [13, 14]
    assert long.folded() == [*range(1, 13), 15, 16]
