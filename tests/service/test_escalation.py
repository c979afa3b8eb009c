"""Every risk answer ends with a person who has seen it (issue 20, section 2), on each backend.

The real intake service, casework and clocks (`bot.services.clocks.tick`) on a database, with a
ManualClock: the paths that lost people before the escalation, each as a test.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.services.clocks import ClockRunner, tick
from bot.services.intake import IntakeService
from flows.answers import Command
from locales import Translator
from storage.models import Escalation, FollowUp
from storage.repositories import UnitOfWork
from tests.service.test_followup import FLOW as FOLLOWUP_FLOW
from tests.service.test_risk_routing import (
    START,
    URGENT,
    actions,
    join,
    person,
    referrals,
    sent_to,
    service,
    step,
    until,
)

DA = Translator("da")
Factory = async_sessionmaker[AsyncSession]


async def clocks(factory: Factory, svc: IntakeService, clock: ManualClock, **delta: float) -> None:
    clock.advance(**delta)
    async with UnitOfWork(factory) as uow:
        await tick(svc, uow, clock.now())


async def escalations(factory: Factory) -> list[Escalation]:
    async with UnitOfWork(factory) as uow:
        return list((await uow.session.scalars(select(Escalation).order_by(Escalation.id))).all())


def copies(screens: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in screens if s.get("step", "").startswith("esc.")]


async def test_risk_then_restart_then_no_to_consent_keeps_the_promise_of_contact(factory: Factory) -> None:
    """Point 1: the consent given covered the risk answer; declining the restarted intake does not undo it."""
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 301, "consultant")
    who = person(401)
    outcome = await until(svc, who, await svc.start(who, "pilot"), URGENT, stop="q.goal")
    outcome = await svc.answer(who, Command("restart"))
    outcome = await step(svc, who, outcome, {f"{outcome.state['step']}@restart": "yes"})
    outcome = await until(svc, who, outcome, {"consent": "no"})
    assert outcome.state["status"] == "declined"
    (pending,) = await escalations(factory)
    assert pending.status == "pending" and pending.next_at == START + timedelta(hours=6)  # the pilot's window
    assert await referrals(factory) == []

    await clocks(factory, svc, clock, hours=5)
    assert await referrals(factory) == []
    await clocks(factory, svc, clock, hours=1)
    (referral,) = await referrals(factory)  # an urgent partial referral, offered to the consultant
    assert referral.urgent and referral.payload["partial"] is True and referral.status == "new"
    assert referral.payload["risks"][0]["item"] == "9"
    offers = [s for s in await sent_to(factory, consultant.chat_id) if s.get("step") == f"ref.{referral.id}"]
    assert len(offers) == 1 and [b[0] for b in offers[0]["buttons"]][:2] == ["claim", "seen"]
    (row,) = await escalations(factory)
    assert row.status == "sent" and row.referral_id == referral.id


async def test_a_programme_without_consultants_tells_the_coordinator_with_the_summary_and_the_person_truly(
    factory: Factory,
) -> None:
    """Point 2: the coordinator gets the urgent summary with "Seen"; nothing claims a step that did not happen."""
    clock = ManualClock(START)
    svc = service(factory, clock)
    coordinator = await join(factory, svc, 311, "coordinator")
    done = await until(svc, person(411), await svc.start(person(411), "pilot"), URGENT)
    told = "\n".join(s.text for s in done.screens)
    assert DA("result.reach.lead") in told and DA("result.reach.nobody") not in told
    (referral,) = await referrals(factory)
    (card,) = copies(await sent_to(factory, coordinator.chat_id))
    assert card["text"].startswith(DA("staff.escalation.title.urgent", id=referral.id, programme="Pilotprojekt"))
    assert DA("staff.escalation.as.coordinators") in card["text"] and "Rask" in card["text"]
    assert DA("staff.escalation.again", when="")[:20] in card["text"]  # nobody above: "this comes again"
    assert [b[0] for b in card["buttons"]] == ["seen"]
    # no "waiting: no job consultant" notice without a button for the urgent one
    assert not [s for s in await sent_to(factory, coordinator.chat_id)
                if s["text"] == DA("staff.coordinator.no_consultant", id=referral.id, programme="Pilotprojekt")]
    await clocks(factory, svc, clock, hours=7)  # after the window: again, to the coordinator, never "consultants"
    texts = [s["text"] for s in await sent_to(factory, coordinator.chat_id)]
    assert len(copies(await sent_to(factory, coordinator.chat_id))) == 2
    assert not any(DA("staff.resent", hours=6) in t for t in texts)
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, coordinator, card["step"], "seen", 9, clock.now())
    (row,) = await escalations(factory)
    assert row.status == "seen" and row.seen_by is not None


async def test_with_nobody_at_all_the_person_is_told_and_the_first_who_joins_gets_it(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    done = await until(svc, person(421), await svc.start(person(421), "pilot"), URGENT)
    told = "\n".join(s.text for s in done.screens)
    assert DA("result.reach.nobody") in told and "112" in told
    (row,) = await escalations(factory)
    assert row.status == "unreached" and row.next_at is None
    await clocks(factory, svc, clock, days=3)  # nothing to send to; still waiting, not lost
    assert (await escalations(factory))[0].status == "unreached"
    async with UnitOfWork(factory) as uow:  # an operator of the installation joins: they get it at once
        code = await svc.casework.invite(uow, role="operator", programme_id="", name="Ops", now=clock.now())
    operator = await join_with_code(factory, svc, 321, code)
    (card,) = copies(await sent_to(factory, operator.chat_id))
    assert DA("staff.escalation.as.operators") in card["text"]
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, operator, card["step"], "seen", 3, clock.now())
        await svc.casework.cases(uow, operator, clock.now())  # /cases: an operator holds none (no programme)
    assert (await escalations(factory))[0].status == "seen"
    assert (await sent_to(factory, operator.chat_id))[-1]["text"] == DA("staff.cases.none")


async def join_with_code(factory: Factory, svc: IntakeService, chat_id: int, code: str) -> Any:
    from tests.support.people import tg

    who = tg(chat_id)
    async with UnitOfWork(factory) as uow:
        await svc.casework.join(uow, who, code, svc.clock.now())
    return who


async def test_an_urgent_case_whose_consultant_leaves_is_offered_over_the_cap_and_escalates_again(
    factory: Factory,
) -> None:
    """Point 4: back on the waiting list while the others are full, it must not wait for ever."""
    clock = ManualClock(START)
    svc = service(factory, clock)
    leaving = await join(factory, svc, 331, "consultant")
    full = await join(factory, svc, 332, "consultant")
    await until(svc, person(431), await svc.start(person(431), "pilot"), URGENT)
    (urgent,) = await referrals(factory)
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, leaving, f"ref.{urgent.id}", "claim", 1, clock.now())
    await until(svc, person(432), await svc.start(person(432), "pilot"), {"phq9.9": "0", "q.name": "Calm"})
    calm = (await referrals(factory))[-1]
    async with UnitOfWork(factory) as uow:  # the other consultant is at the cap (1)
        await svc.casework.press(uow, full, f"ref.{calm.id}", "claim", 2, clock.now())
    assert [e.status for e in await escalations(factory)] == ["seen"]  # the claim was a named person seeing it
    clock.advance(hours=1)
    async with UnitOfWork(factory) as uow:
        gone = await uow.staff.find(leaving.channel, leaving.external_id)
        assert gone is not None
        await svc.casework.remove_staff(uow, gone.id, clock.now())
    urgent = next(r for r in await referrals(factory) if r.id == urgent.id)
    assert urgent.status == "new" and urgent.consultant_id is None
    offers = [s for s in await sent_to(factory, full.chat_id) if s.get("step") == f"ref.{urgent.id}"]
    assert len(offers) == 2 and DA("staff.holder_left") in offers[1]["text"]  # again at once, full or not
    first, again = await escalations(factory)
    assert first.status == "seen" and (again.cause, again.status) == ("holder_left", "sent")
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, full, f"ref.{urgent.id}", "claim", 3, clock.now())
    urgent = next(r for r in await referrals(factory) if r.id == urgent.id)
    assert urgent.status == "claimed" and urgent.over_cap
    assert (await escalations(factory))[1].status == "seen"


async def test_an_escalation_told_only_to_someone_removed_goes_up_at_once(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    coordinator = await join(factory, svc, 341, "coordinator")
    await until(svc, person(441), await svc.start(person(441), "pilot"), URGENT)
    assert len(copies(await sent_to(factory, coordinator.chat_id))) == 1
    consultant = await join(factory, svc, 342, "consultant")  # joins later: not told yet
    async with UnitOfWork(factory) as uow:
        gone = await uow.staff.find(coordinator.channel, coordinator.external_id)
        assert gone is not None
        await svc.casework.remove_staff(uow, gone.id, clock.now())
    (card,) = copies(await sent_to(factory, consultant.chat_id))
    assert card["text"].startswith(DA("staff.escalation.title.urgent", id=1, programme="Pilotprojekt"))


async def test_declined_consent_means_no_follow_up_is_ever_asked(factory: Factory) -> None:
    """Point 5: a person who said no to the consent (of a new intake) is never asked a follow-up."""
    clock = ManualClock(START)
    svc = IntakeService(lambda: UnitOfWork(factory), FOLLOWUP_FLOW, clock)
    consultant = await join(factory, svc, 351, "consultant")
    who = person(451)
    await until(svc, who, await svc.start(who, "pilot"), {"phq9.9": "0"})
    (referral,) = await referrals(factory)
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, consultant, f"ref.{referral.id}", "claim", 1, clock.now())
    later = await svc.start(who, "pilot", anew=True)  # starts again, and this time says no
    assert (await until(svc, who, later, {"consent": "no"})).state["status"] == "declined"

    clock.set(referral.created_at + timedelta(days=183))
    async with UnitOfWork(factory) as uow:
        await tick(svc, uow, clock.now())
    async with UnitOfWork(factory) as uow:
        assert (await uow.session.scalars(select(FollowUp))).all() == []


@pytest.mark.parametrize("claims", [False, True])
async def test_a_claim_or_a_press_names_who_saw_it_and_is_audited(factory: Factory, claims: bool) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 361, "consultant")
    await until(svc, person(461), await svc.start(person(461), "pilot"), URGENT)
    (referral,) = await referrals(factory)
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, consultant, f"ref.{referral.id}", "claim" if claims else "seen", 4,
                                 clock.now())
    (row,) = await escalations(factory)
    assert row.status == "seen" and row.seen_at == clock.now()
    trail = [a.action for a in await actions(factory) if a.referral_id == referral.id]
    assert "escalation.seen" in trail and ("referral.claimed" in trail) is claims


async def test_when_the_rung_told_last_is_removed_the_ladder_moves_on_at_once(factory: Factory) -> None:
    """Found by the model-based test: the coordinator told last was removed while the consultant, told hours
    before, had not pressed; waiting for the next step would leave the case with nobody fresh on it."""
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 371, "consultant")
    await until(svc, person(471), await svc.start(person(471), "pilot"), {**URGENT, "q.age": "70"})  # outside
    coordinator = await join(factory, svc, 372, "coordinator")
    await clocks(factory, svc, clock, hours=7)
    assert len(copies(await sent_to(factory, coordinator.chat_id))) == 1
    before = len(copies(await sent_to(factory, consultant.chat_id)))
    async with UnitOfWork(factory) as uow:
        gone = await uow.staff.find(coordinator.channel, coordinator.external_id)
        assert gone is not None
        await svc.casework.remove_staff(uow, gone.id, clock.now())
    assert len(copies(await sent_to(factory, consultant.chat_id))) == before + 1  # told again, now


async def test_the_clocks_wait_an_interval_then_send_what_a_channel_woke_them_with_at_once(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    sent: list[dict[int, dict[str, Any]]] = []

    async def send(messages: dict[int, dict[str, Any]]) -> None:
        sent.append(dict(messages))

    runner = ClockRunner(lambda: UnitOfWork(factory), svc, clock, send, every=3600)
    stopping = asyncio.Event()
    task = asyncio.create_task(runner.run(stopping))
    await asyncio.sleep(0.05)
    assert sent == []  # not alongside the drain a process does as it starts
    runner.wake({7: {"to": {"channel": "telegram", "id": "1"}}})
    for _ in range(200):
        if sent:
            break
        await asyncio.sleep(0.01)
    assert sent and 7 in sent[0]  # at once, not an hour later
    stopping.set()
    await asyncio.wait_for(task, 5)


async def test_a_new_intakes_risk_answer_is_not_covered_by_an_earlier_referrals_unseen_escalation(
    factory: Factory,
) -> None:
    """Found in review: an earlier urgent referral still unseen must not swallow a later intake's risk answer."""
    clock = ManualClock(START)
    svc = service(factory, clock)
    await join(factory, svc, 381, "consultant")
    who = person(481)
    await until(svc, who, await svc.start(who, "pilot"), URGENT)  # referral 1: urgent, nobody presses
    clock.advance(hours=1)
    await until(svc, who, await svc.start(who, "pilot", anew=True), URGENT, stop="q.goal")  # again, then left
    first, pending = await escalations(factory)
    assert (first.status, pending.status, pending.referral_id) == ("sent", "pending", None)
    await clocks(factory, svc, clock, hours=6)
    _, partial = await referrals(factory)
    assert partial.payload["partial"] is True and (await escalations(factory))[1].referral_id == partial.id


async def test_a_pending_escalation_cannot_be_marked_seen_by_a_forged_press(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    coordinator = await join(factory, svc, 391, "coordinator")
    who = person(491)
    await until(svc, who, await svc.start(who, "pilot"), URGENT, stop="q.goal")  # pending: nobody sent it
    (row,) = await escalations(factory)
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, coordinator, f"esc.{row.id}", "seen", 1, clock.now())
    (row,) = await escalations(factory)
    assert row.status == "pending" and "denied" in [a.action for a in await actions(factory)]
    await clocks(factory, svc, clock, hours=6)  # and it still becomes a partial referral that reaches them
    assert len(copies(await sent_to(factory, coordinator.chat_id))) == 1
