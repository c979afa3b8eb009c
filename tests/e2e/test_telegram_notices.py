"""The notices that answer no question (a sticker, an edit, a group message) go through the outbox like
every other send: a person who blocked the bot is marked unreachable, and a repeat sends nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.channels.telegram.delivery import BLOCKED
from storage.models import Candidate, OutboxMessage
from tests.e2e.inprocess import runtime_in_process


async def test_a_notice_to_a_person_who_blocked_the_bot_marks_them_unreachable(tmp_path: Path) -> None:
    async with runtime_in_process(tmp_path) as (app, runtime, server):
        user = server.user(6100, "Bo", "da")
        assert await runtime.handle(await user.send_text("/start vejle")) is None
        server.block_user(6100)
        sticker = await user.send_sticker()
        assert await runtime.handle(sticker) is None
        async with app.uow() as uow:
            candidate = (await uow.session.scalars(select(Candidate))).one()
            assert candidate.unreachable
            rows = list(await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
            assert rows[-1].failure == BLOCKED and rows[-1].sent_at is not None
        count = len(rows)
        assert await runtime.handle(sticker) is None  # the same update again: handled before, nothing queued
        async with app.uow() as uow:
            assert len(list(await uow.session.scalars(select(OutboxMessage)))) == count


async def test_a_group_that_removed_the_bot_marks_nobody_unreachable(tmp_path: Path) -> None:
    async with runtime_in_process(tmp_path) as (app, runtime, server):
        user = server.user(6101, "Al", "da")
        assert await runtime.handle(await user.send_text("/start vejle")) is None
        group = {"update_id": 990_001, "message": {
            "message_id": 5, "date": 1, "chat": {"id": -4242, "type": "group"}, "from": dict(user.user), "text": "hej"}}
        server.block_user(-4242)
        assert await runtime.handle(group) is None
        async with app.uow() as uow:
            assert not (await uow.session.scalars(select(Candidate))).one().unreachable
