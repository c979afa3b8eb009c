"""What the person reads about their stored answers is true, through the intake service on each backend
(issue 20 points 1 and 11): the service tells a new intake what is kept from before it (risk answers,
a referral), which the flow alone cannot know after a new start (`--reset`, a new intake after an
abandoned one)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.services.intake import IntakeService, Outcome, Person
from flows.answers import Command, Tap, Text
from flows.intake import IntakeFlow
from flows.programmes import Registry
from flows.screens import InputKind, Tone
from locales import Translator
from storage.models import Referral, RiskEvent
from storage.repositories import UnitOfWork
from tests.flows.walk import TYPICAL
from tests.people import tg_address

DA = Translator("da")
FLOW = IntakeFlow(Registry.load())
NOT_STORED = "Vi har ikke gemt nogen af dine svar."


def person(n: int) -> Person:
    return Person("telegram", str(n), language="da", address=tg_address(n))


async def step(svc: IntakeService, who: Person, outcome: Outcome, plan: dict[str, Any]) -> Outcome:
    screen = next(s for s in reversed(outcome.screens) if s.asks)
    value = str(plan.get(screen.step, TYPICAL.get(screen.step, "0")))
    if screen.kind is InputKind.CHOICE:
        ids = [b.id for b in screen.buttons]
        return await svc.answer(who, Tap(screen.step, screen.version, value if value in ids else ids[0]))
    return await svc.answer(who, Text(value))


async def until(svc: IntakeService, who: Person, outcome: Outcome, plan: dict[str, Any], stop: str) -> Outcome:
    for _ in range(200):
        if outcome.state.get("step") == stop and not outcome.state.get("overlay"):
            return outcome
        outcome = await step(svc, who, outcome, plan)
    raise AssertionError(f"never reached {stop}")


async def count(factory: async_sessionmaker[AsyncSession], model: type[Any]) -> int:
    async with UnitOfWork(factory) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_risk_answer_then_a_new_start_then_no_to_consent_is_told_truthfully(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    svc, who = IntakeService(lambda: UnitOfWork(factory), FLOW, ManualClock()), person(301)
    await until(svc, who, await svc.start(who, "reconnect"), {"mdi.6": "2"}, stop="mdi.7")
    # a new start (console --reset): a new state, so only the service knows the risk answer is kept
    outcome = await svc.start(who, "reconnect", fresh=True)
    assert outcome.state["risk_items"] == [] and outcome.state["kept"] == ["risk"]
    outcome = await until(svc, who, outcome, {}, stop="consent")
    outcome = await step(svc, who, outcome, {"consent": "no"})
    declined, crisis = outcome.screens
    assert NOT_STORED not in declined.text
    assert DA("declined.risk_kept") in declined.text and "/delete" in declined.text
    assert crisis.tone is Tone.CRISIS and "70 201 201" in crisis.text
    assert await count(factory, RiskEvent) == 1  # what the text says is kept, is


async def test_restart_after_a_finished_intake_and_declining_say_the_referral_stays(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    svc, who = IntakeService(lambda: UnitOfWork(factory), FLOW, ManualClock()), person(302)
    outcome = await until(svc, who, await svc.start(who, "reconnect"), {}, stop="result")
    outcome = await svc.answer(who, Command("restart"))
    assert DA("restart.ask_finished") in outcome.screens[-1].text
    outcome = await step(svc, who, outcome, {f"{outcome.state['step']}@restart": "yes"})
    assert DA("restart.done_finished") in outcome.screens[0].text
    assert DA("restart.done") not in outcome.screens[0].text
    outcome = await until(svc, who, outcome, {}, stop="consent")
    outcome = await step(svc, who, outcome, {"consent": "no"})
    assert NOT_STORED not in outcome.screens[0].text
    assert DA("declined.referral_kept") in outcome.screens[0].text
    assert await count(factory, Referral) == 1  # what the text says stays, stays

    # a new start later (no /restart in the flow): the service tells the new intake of the referral
    outcome = await svc.start(who, "reconnect", fresh=True)
    assert outcome.state["kept"] == ["referral"]
    outcome = await until(svc, who, outcome, {}, stop="consent")
    outcome = await step(svc, who, outcome, {"consent": "no"})
    assert DA("declined.referral_kept") in outcome.screens[0].text


async def test_a_first_decline_still_says_nothing_is_stored(factory: async_sessionmaker[AsyncSession]) -> None:
    svc, who = IntakeService(lambda: UnitOfWork(factory), FLOW, ManualClock()), person(303)
    outcome = await until(svc, who, await svc.start(who, "reconnect"), {}, stop="consent")
    outcome = await step(svc, who, outcome, {"consent": "no"})
    assert DA("declined.text") in outcome.screens[0].text and outcome.state["kept"] == []
