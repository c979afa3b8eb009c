"""`purge` by age with a controllable clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.services.intake import IntakeService, Person
from flows.answers import Text
from storage.models import AuditEvent, Candidate, Intake, Referral
from storage.repositories import Received, UnitOfWork
from storage.retention import purge
from tests.service.test_intake_service import FLOW, run_intake

START = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


async def rows(factory: async_sessionmaker[AsyncSession], model: type[Any]) -> int:
    async with UnitOfWork(factory) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_purge_erases_what_is_past_its_time_and_keeps_the_rest(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(START)
    svc = IntakeService(lambda: UnitOfWork(factory), FLOW, clock)

    async def person(name: str) -> Person:
        return Person("console", name, language="da")

    # 25 months ago: an eligible referral (still open for a consultant) and a redirected one
    await run_intake(svc, await person("open"))
    redirected = await person("redirected")
    outcome = await svc.start(redirected, "reconnect")
    while not outcome.finished:
        outcome = await svc.answer(redirected, Text("40" if outcome.state["step"] == "q.age" else "1"))
    # ... and someone who declined
    declined = await person("declined")
    await svc.start(declined, "reconnect")
    for _ in range(4):
        await svc.answer(declined, Text("1"))
    await svc.answer(declined, Text("2"))
    clock.set(START + 700 * DAY)  # 23 months: not yet
    recent = await person("recent-decline")
    await svc.start(recent, "vejle")
    for _ in range(4):
        await svc.answer(recent, Text("1"))
    await svc.answer(recent, Text("2"))
    # unfinished: one left 91 days before the purge, one 10 days before
    clock.set(START + 670 * DAY)
    await svc.start(await person("stale"), "vejle")
    clock.set(START + 751 * DAY)
    await svc.start(await person("fresh"), "vejle")

    assert await rows(factory, Intake) == 6 and await rows(factory, Referral) == 2
    now = START + 761 * DAY
    retention = {"reconnect": timedelta(days=730), "vejle": timedelta(days=730)}
    async with UnitOfWork(factory) as uow:  # Telegram updates: handled 8 and 2 days ago, one still waiting
        await uow.updates.mark("telegram:1", 10, now - 8 * DAY)
        await uow.updates.mark("telegram:1", 11, now - 2 * DAY)
        await uow.updates.receive("telegram:1", [Received(9, None, {"update_id": 9})], now - 30 * DAY)
    async with UnitOfWork(factory) as uow:
        counts = await purge(uow, now=now, retention=retention, default_retention=timedelta(days=730))
    assert counts == {"intakes": 3, "referrals": 1, "candidates": 3, "updates": 1, "outbox": 0}
    async with UnitOfWork(factory) as uow:
        left = sorted((await uow.session.scalars(select(Intake.status))).all())
        assert left == ["active", "completed", "declined"]  # fresh, the open referral, the recent decline
        referral = (await uow.session.scalars(select(Referral))).one()
        assert referral.status == "waiting"  # an open referral (no consultant yet) is kept
        assert await uow.session.scalar(select(func.count()).select_from(Candidate)) == 3
        audit = (await uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "purge"))).one()
        assert audit.detail == "intakes=3 referrals=1 candidates=3 updates=1 outbox=0"
        assert await uow.updates.seen("telegram:1", 11)
        assert await uow.updates.waiting("telegram:1") == [{"update_id": 9}]
    async with UnitOfWork(factory) as uow:  # twice is harmless
        assert await purge(uow, now=now, retention=retention, default_retention=timedelta(days=730)) == {
            "intakes": 0, "referrals": 0, "candidates": 0, "updates": 0, "outbox": 0}


async def test_purge_removes_messages_sent_more_than_a_week_ago(factory: async_sessionmaker[AsyncSession]) -> None:
    from storage.models import OutboxMessage
    from storage.retention import SENT_MESSAGES_KEPT

    now = START + 30 * DAY
    async with UnitOfWork(factory) as uow:
        old = await uow.outbox.add(channel="telegram", payload={"chat_id": 7, "text": "a summary"}, now=now - 9 * DAY)
        recent = await uow.outbox.add(channel="telegram", payload={"chat_id": 7}, now=now - 3 * DAY)
        unsent = await uow.outbox.add(channel="telegram", payload={"chat_id": 7}, now=now - 20 * DAY,
                                      due_at=now + DAY)
        await uow.outbox.finish(old, at=now - SENT_MESSAGES_KEPT - DAY)
        await uow.outbox.finish(recent, at=now - 3 * DAY)
    async with UnitOfWork(factory) as uow:
        counts = await purge(uow, now=now, retention={}, default_retention=timedelta(days=730))
    assert counts["outbox"] == 1
    async with UnitOfWork(factory) as uow:
        left = sorted((await uow.session.scalars(select(OutboxMessage.id))).all())
    assert left == sorted([recent, unsent])  # a reminder still to come stays, however old its row
