"""What the person reads about their stored answers is true, and what staff export carries every risk
answer, through the intake service on each backend (issue 20 points 1, 7 and 11): the service tells a
new intake what is kept from before it (risk answers, a referral), which the flow alone cannot know
after a new start (`--reset`, a new intake after an abandoned one)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.exports.fhir import RISK_SIGNAL
from bot.services.intake import IntakeResult, IntakeService, Person
from flows.answers import Command
from flows.intake import IntakeFlow
from flows.programmes import Registry
from flows.screens import Tone
from locales import Translator
from storage.models import OutboxMessage, Referral, RiskEvent
from storage.repositories import UnitOfWork
from tests.support.people import tg, tg_address
from tests.support.service import ServicePort, answer_one, service_plan
from tests.support.walk import walk

DA = Translator("da")
FLOW = IntakeFlow(Registry.load())
NOT_STORED = "Vi har ikke gemt nogen af dine svar."


def person(n: int) -> Person:
    return Person("telegram", str(n), language="da", address=tg_address(n))


async def step(svc: IntakeService, who: Person, outcome: IntakeResult, plan: dict[str, Any]) -> IntakeResult:
    return await answer_one(ServicePort(svc, who, outcome), plan)


async def until(svc: IntakeService, who: Person, outcome: IntakeResult, plan: dict[str, Any],
                stop: str) -> IntakeResult:
    port = ServicePort(svc, who, outcome, overlay_stops=False)
    await walk(port, service_plan(plan), until=stop)
    return port.outcome


async def count(factory: async_sessionmaker[AsyncSession], model: type[Any]) -> int:
    async with UnitOfWork(factory) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_risk_answer_then_a_new_start_then_no_to_consent_is_told_truthfully(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    svc, who = IntakeService(lambda: UnitOfWork(factory), FLOW, ManualClock()), person(301)
    await until(svc, who, await svc.start(who, "reconnect"), {"mdi.6": "2"}, stop="mdi.7")
    # a new start (console --reset): a new state, so only the service knows the risk answer is kept
    outcome = await svc.start(who, "reconnect", anew=True)
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
    outcome = await svc.start(who, "reconnect", anew=True)
    assert outcome.state["kept"] == ["referral"]
    outcome = await until(svc, who, outcome, {}, stop="consent")
    outcome = await step(svc, who, outcome, {"consent": "no"})
    assert DA("declined.referral_kept") in outcome.screens[0].text


async def test_a_first_decline_still_says_nothing_is_stored(factory: async_sessionmaker[AsyncSession]) -> None:
    svc, who = IntakeService(lambda: UnitOfWork(factory), FLOW, ManualClock()), person(303)
    outcome = await until(svc, who, await svc.start(who, "reconnect"), {}, stop="consent")
    outcome = await step(svc, who, outcome, {"consent": "no"})
    assert DA("declined.text") in outcome.screens[0].text and outcome.state["kept"] == []


async def test_the_consultants_export_carries_a_risk_answer_changed_later(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    """Issue 20 point 7, through the real service: the consultant's Export (JSON and FHIR files) names the
    risk answer as it was given, with its time, though the person changed it before finishing."""
    clock = ManualClock()
    svc, who = IntakeService(lambda: UnitOfWork(factory), FLOW, clock), person(304)
    consultant = tg(9304)
    async with UnitOfWork(factory) as uow:
        code = await svc.casework.invite(uow, role="consultant", programme_id="reconnect", name="Mette",
                                         now=clock.now())
        await svc.casework.join(uow, consultant, code, clock.now())
    given = clock.now()
    mild = {f"gad7.{i}": "2" for i in range(1, 4)}  # GAD-7 6: in the target group, so offered to the consultant
    outcome = await until(svc, who, await svc.start(who, "reconnect"), {**mild, "mdi.6": "2"}, stop="mdi.7")
    clock.advance(minutes=3)
    outcome = await step(svc, who, await svc.answer(who, Command("back")), {"mdi.6": "0"})  # changed
    await until(svc, who, outcome, {**mild, "mdi.6": "0"}, stop="result")
    async with UnitOfWork(factory) as uow:
        (referral,) = (await uow.session.scalars(select(Referral))).all()
        await svc.casework.press(uow, consultant, f"ref.{referral.id}", "export", 1, clock.now())
    async with UnitOfWork(factory) as uow:
        rows = (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    (documents,) = [r.payload["documents"] for r in rows if r.payload.get("documents")]
    files = {d["filename"]: d["content"] for d in documents}
    record = json.loads(files[f"referral-{referral.id}.json"])
    assert record["risks"] == [{"instrument": "mdi", "item": "6", "score": 2, "answer": "mdi.option.2",
                                "at": given.isoformat()}]
    assert record["instruments"]["mdi"]["items"][5] == 0
    responses = {r["id"]: r for r in json.loads(files[f"referral-{referral.id}.fhir.json"])}
    (item6,) = [i for i in responses[f"{referral.id}-mdi"]["item"] if i["linkId"] == "6"]
    assert item6["answer"][0]["valueCoding"]["code"] == "0"
    (flag,) = [e for e in item6["extension"] if e["url"] == RISK_SIGNAL]
    answer, time = flag["extension"]
    assert answer["url"] == "answer" and answer["valueCoding"]["code"] == "2"
    assert time["url"] == "time" and datetime.fromisoformat(time["valueDateTime"]) == given
