"""The poller in this process against the fake Bot API, with a dispatcher of the test's own: how many
updates it takes in hand, and what it stores before confirming."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiogram import Dispatcher, Router
from aiogram.types import Message

from bot.channels.telegram.aiogram.runtime import handle_update
from bot.channels.telegram.polling import Poller
from bot.channels.telegram.updates import inbox_source
from tests.e2e.inprocess import in_process


async def test_no_more_updates_in_hand_than_the_cap_and_the_rest_wait_with_telegram(tmp_path: Path) -> None:
    async with in_process(tmp_path) as (app, bot, server):
        release = asyncio.Event()
        running: list[int] = []
        most = 0
        handled: list[str] = []
        router = Router()

        @router.message()
        async def slow(message: Message) -> None:  # different people: nothing keeps them in turn
            nonlocal most
            running.append(message.message_id)
            most = max(most, len(running))
            await release.wait()
            running.remove(message.message_id)
            handled.append(message.text or "")

        dp = Dispatcher()
        dp.include_router(router)
        for n in range(12):
            await server.user(7000 + n, f"P{n}", "da").send_text(f"hej {n}")
        poller = Poller(app, bot, lambda raw: handle_update(dp, bot, raw), max_in_hand=5)
        polling = asyncio.create_task(poller.run())
        async with asyncio.timeout(10):
            while len(running) < 5:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)  # several busy poll intervals: nothing more is taken
        assert len(running) == 5 and len(server.pending_updates) == 12  # the 5 are stored, not yet confirmed
        async with app.uow() as uow:
            assert len(await uow.updates.waiting(inbox_source(bot.id))) == 5
        release.set()
        async with asyncio.timeout(10):
            while len(handled) < 12:
                await asyncio.sleep(0.02)
            await server.settle(5)
        poller.stop()
        await polling
        assert most == 5
        assert sorted(handled) == sorted(f"hej {n}" for n in range(12))
        assert all(int(c.params.get("limit", 100)) <= 5 for c in server.calls_to("getUpdates"))
        async with app.uow() as uow:
            assert await uow.updates.waiting(inbox_source(bot.id)) == []  # every one closed (no handler of ours marks)
