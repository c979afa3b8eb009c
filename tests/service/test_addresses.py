"""Services know no channel: a consultant and a candidate reached on another channel (a "web" address)
get every message through that channel's outbox, keyed by their address, on each backend."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.services.casework import Casework
from bot.services.intake import IntakeService, Person
from bot.services.notify import Who
from flows.address import Address
from flows.answers import Tap, Text
from flows.intake import IntakeFlow
from flows.programmes import Registry
from flows.screens import InputKind
from locales import Translator
from storage.models import OutboxMessage
from storage.repositories import UnitOfWork
from tests.support.walk import TYPICAL

DA = Translator("da")
START = datetime(2026, 3, 5, 13, 30, tzinfo=UTC)


async def outbox(factory: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with UnitOfWork(factory) as uow:
        return list((await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


def texts(row: OutboxMessage) -> list[str]:
    return [s["text"] for s in row.payload["screens"]]


async def test_a_consultant_and_a_candidate_on_another_channel_are_reached_there(
        factory: async_sessionmaker[AsyncSession]) -> None:
    clock = ManualClock(START)
    registry = Registry.load()
    casework = Casework(registry)
    service = IntakeService(lambda: UnitOfWork(factory), IntakeFlow(registry), clock, casework)
    desk = Address("web", "session-7f3a")
    consultant = Who("web", "anna@jobcentre", desk, "da")
    async with UnitOfWork(factory) as uow:
        code = await casework.invite(uow, role="consultant", programme_id="reconnect", name="Anna", now=clock.now())
        await casework.join(uow, consultant, code, clock.now())

    home = Address("web", "form-91c2")
    person = Person("web", "candidate-1", language="da", address=home)
    plan: dict[str, Any] = {**TYPICAL, "q.name": "Wenche", "q.age": "24"}
    outcome = await service.start(person, "reconnect")
    while not outcome.finished:
        screen = next(s for s in reversed(outcome.screens) if s.asks)
        value = str(plan.get(screen.step, "1"))
        ids = [b.id for b in screen.buttons]
        answer = (Tap(screen.step, screen.version, value if value in ids else ids[0])
                  if screen.kind is InputKind.CHOICE else Text(value))
        outcome = await service.answer(person, answer)

    rows = await outbox(factory)
    to_desk = [r for r in rows if r.payload.get("to") == desk.to_dict()]
    assert to_desk and all(r.channel == "web" for r in to_desk)
    assert DA("staff.joined", name="Anna", programme=registry["reconnect"].name("da")) in texts(to_desk[0])
    (summary,) = [r for r in to_desk if r.payload["offer_id"] is not None]
    assert "Wenche" in texts(summary)[0] and summary.subject_id is not None

    async with UnitOfWork(factory) as uow:
        await uow.cases.record_message(summary.payload["offer_id"], desk.to_dict(), 41)  # as the channel would
    step = summary.payload["screens"][0]["step"]
    async with UnitOfWork(factory) as uow:
        await casework.press(uow, consultant, step, "claim", 41, clock.now())
    told = [r for r in await outbox(factory) if r.payload.get("to") == home.to_dict() and r.id > summary.id]
    assert [r.channel for r in told] and {r.channel for r in told} == {"web"}
    assert any(DA("consultant.assigned", name="Anna") in texts(r) for r in told)
    assert not [r for r in await outbox(factory) if "chat_id" in r.payload or r.channel == "telegram"]
