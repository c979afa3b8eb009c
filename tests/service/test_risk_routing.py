"""Risk answers are never lost, and urgent referrals always reach a person (issue 13), on each backend.

The intake service and casework against a real database: risk events stored at once, carried over a
restart and into later referrals, abandoned intakes made into urgent partial referrals by their
escalation (ManualClock), urgent referrals ahead of the waiting list and past the caseload cap, the
escalation climbing to the coordinator, and urgent referrals outside the target group sent to someone
who checks.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
import yaml
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.exports.dashboard import Figures, build, gather
from bot.exports.dashboard_render import write_text
from bot.services.casework import Who
from bot.services.intake import IntakeResult, IntakeService, Person
from flows.answers import Command
from flows.intake import IntakeFlow
from flows.programmes import Programme, Registry
from flows.referral import export_record
from flows.schema import SCHEMA_PATH
from locales import Translator
from storage.models import AuditEvent, OutboxMessage, Referral, RiskEvent
from storage.repositories import UnitOfWork
from tests.support.people import tg, tg_address
from tests.support.programmes import pilot_yaml
from tests.support.service import ServicePort, answer_one, walk_until

DA = Translator("da")
EN = Translator("en")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PILOT = pilot_yaml("""\
age: {min: 15, max: 99}
instruments: [phq9]
caseload_cap: 1
risk_abandon_hours: 12
urgent_window_hours: 6
""", triage="""\
  - when: {fact: age, gt: 60}
    outcome: refer-gp
    reason: reason.severe_symptoms
  - outcome: eligible
    reason: reason.target_group
""")
REGISTRY = Registry({"pilot": Programme.model_validate(yaml.safe_load(PILOT)), **{
    p.id: p for p in Registry.load().all()}})
FLOW = IntakeFlow(REGISTRY)


def service(factory: async_sessionmaker[AsyncSession], clock: ManualClock) -> IntakeService:
    return IntakeService(lambda: UnitOfWork(factory), FLOW, clock)


def asking(outcome: IntakeResult) -> Any:
    return next(s for s in reversed(outcome.screens) if s.asks)


async def step(svc: IntakeService, person: Person, outcome: IntakeResult, plan: dict[str, Any]) -> IntakeResult:
    return await answer_one(ServicePort(svc, person, outcome), plan)


async def until(svc: IntakeService, person: Person, outcome: IntakeResult, plan: dict[str, Any],
                stop: str | None = None) -> IntakeResult:
    """Answer from `plan` until the intake ends, or until `stop` is the question asked."""
    return await walk_until(ServicePort(svc, person, outcome), plan, stop)


def person(n: int) -> Person:
    return Person("telegram", str(n), language="da", address=tg_address(n))


async def join(factory: async_sessionmaker[AsyncSession], svc: IntakeService, chat_id: int, role: str,
               programme: str = "pilot") -> Who:
    who = tg(chat_id)
    async with UnitOfWork(factory) as uow:
        code = await svc.casework.invite(uow, role=role, programme_id=programme, name=f"{role}-{chat_id}",
                                         now=svc.clock.now())
        await svc.casework.join(uow, who, code, svc.clock.now())
    return who


async def sent_to(factory: async_sessionmaker[AsyncSession], chat_id: int) -> list[dict[str, Any]]:
    """The screens queued for one chat, oldest first (as the channel would render them)."""
    async with UnitOfWork(factory) as uow:
        rows = (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        return [s for r in rows if r.payload.get("to") == tg_address(chat_id).to_dict()
                for s in [*r.payload.get("screens", []), *([r.payload["edit"]["screen"]] if r.payload.get("edit")
                                                           else [])]]


async def referrals(factory: async_sessionmaker[AsyncSession]) -> list[Referral]:
    async with UnitOfWork(factory) as uow:
        return list((await uow.session.scalars(select(Referral).order_by(Referral.id))).all())


async def actions(factory: async_sessionmaker[AsyncSession]) -> list[AuditEvent]:
    async with UnitOfWork(factory) as uow:
        return list((await uow.session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all())


URGENT = {"phq9.9": "1", "q.name": "Rask"}
CALM = {"phq9.9": "0"}


# --- 1. a risk answer is never lost ---------------------------------------------------------------

async def test_a_risk_answer_is_stored_at_once_encrypted_and_audited_without_content(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(START)
    svc, who = service(factory, clock), person(101)
    outcome = await until(svc, who, await svc.start(who, "reconnect"), {"mdi.6": "1"}, stop="mdi.7")
    assert outcome.screens[0].text.startswith(DA("crisis.text")[:20])  # crisis help before the next question
    async with UnitOfWork(factory) as uow:
        (event,) = (await uow.session.scalars(select(RiskEvent))).all()
        assert event.detail == {"instrument": "mdi", "item": "6", "score": 1} and event.at == START
        raw = (await uow.session.execute(text("SELECT detail FROM risk_events"))).scalar_one()
        assert b"mdi" not in bytes(raw)  # encrypted at rest
    (recorded,) = [a for a in await actions(factory) if a.action == "risk.recorded"]
    assert recorded.detail == "" and recorded.referral_id is None  # an audit trace with no content


async def test_restart_changed_answer_and_a_later_intake_keep_the_risk_with_its_time(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(START)
    svc, who = service(factory, clock), person(102)
    outcome = await until(svc, who, await svc.start(who, "reconnect"), {"mdi.6": "2"}, stop="mdi.7")
    outcome = await svc.answer(who, Command("back"))
    outcome = await step(svc, who, outcome, {"mdi.6": "0"})  # changed to "at no time"
    clock.advance(minutes=5)
    outcome = await svc.answer(who, Command("restart"))
    outcome = await step(svc, who, outcome, {f"{outcome.state['step']}@restart": "yes"})
    assert outcome.state["answers"] == {}
    clock.advance(minutes=5)
    outcome = await until(svc, who, outcome, {"mdi.6": "0"})
    assert outcome.state["result"]["triage"]["urgent"] is True
    (referral,) = await referrals(factory)
    assert referral.urgent and referral.payload["risks"] == [
        {"instrument": "mdi", "item": "6", "score": 2, "at": START.isoformat()}]

    # months later the same person starts again and answers without a risk: the referral still carries it
    clock.advance(days=60)
    later = await svc.start(who, "reconnect", anew=True)
    await until(svc, who, later, {"mdi.6": "0"})
    first, second = await referrals(factory)
    assert second.urgent and second.payload["flags"] == ["risk"]
    assert second.payload["risks"] == first.payload["risks"]
    data = (await svc.answer(who, Command("mydata"))).personal_data
    assert data is not None and data["risk_answers"] == first.payload["risks"]  # in the person's own copy


async def test_erasing_the_person_erases_their_risk_events(factory: async_sessionmaker[AsyncSession]) -> None:
    clock = ManualClock(START)
    svc, who = service(factory, clock), person(103)
    await until(svc, who, await svc.start(who, "reconnect"), {"mdi.6": "4"}, stop="mdi.7")
    outcome = await svc.answer(who, Command("delete"))
    await step(svc, who, outcome, {f"{outcome.state['step']}@delete": "yes"})
    async with UnitOfWork(factory) as uow:
        assert (await uow.session.scalars(select(RiskEvent))).all() == []


async def test_an_intake_abandoned_after_a_risk_answer_becomes_an_urgent_partial_referral(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 901, "consultant", "reconnect")
    who = person(104)
    first = await until(svc, who, await svc.start(who, "reconnect"), {"mdi.6": "1", "q.name": "Asta"}, stop="mdi.8a")
    await svc.answer(who, Command("restart"))  # restarted, then left: the risk of the first run still counts
    await step(svc, who, await svc.answer(who, Command("restart")), {f"{first.state['step']}@restart": "yes"})
    outcome = await svc.start(who, "reconnect")
    await until(svc, who, outcome, {"q.name": "Asta"}, stop="gad7.3")

    async def sweep(after: timedelta) -> list[int]:
        clock.set(START + after)
        async with UnitOfWork(factory) as uow:
            return await svc.escalate_due(uow, clock.now())

    assert await sweep(timedelta(hours=23)) == [] and await referrals(factory) == []  # reconnect: 24 hours
    assert await sweep(timedelta(hours=25))
    (referral,) = await referrals(factory)
    assert referral.urgent and referral.status == "new" and referral.payload["partial"] is True
    assert referral.payload["risks"][0]["item"] == "6" and "gad7.2" in referral.payload["answered"]
    (summary,) = [s for s in await sent_to(factory, consultant.chat_id) if s.get("step") == f"ref.{referral.id}"]
    assert DA("staff.summary.urgent") in summary["text"]
    assert DA("staff.summary.partial", answered=len(referral.payload["answered"]),
              last=DA("staff.summary.item", instrument="GAD-7", item="2")) in summary["text"]
    assert DA("staff.summary.item", instrument="MDI", item="6") in summary["text"]
    assert await sweep(timedelta(hours=30)) == []  # once
    assert "referral.partial" in [a.action for a in await actions(factory)]
    # the stored partial referral, exported: it meets the schema and says it is partial
    record = export_record(referral.id, "2026-03-05T14:30:00+00:00", referral.status, referral.payload)
    jsonschema.validate(record, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")),
                        format_checker=jsonschema.FormatChecker())
    assert record["partial"] is True and record["triage"]["urgent"] is True

    # the person comes back and finishes: still one referral, now complete
    clock.set(START + timedelta(hours=31))
    await until(svc, who, await svc.start(who, "reconnect"), {"q.name": "Asta"})
    (referral,) = await referrals(factory)
    assert "partial" not in referral.payload and referral.urgent and referral.payload["instruments"]["mdi"]


async def test_risk_answers_noted_from_a_page_are_stored_once_and_an_abandoned_intake_becomes_urgent(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    """A web page's risk answer, noted before the flow takes the items in order (`note_risks`)."""
    clock = ManualClock(START)
    svc, who = service(factory, clock), person(106)
    outcome = await svc.start(who, "reconnect")
    assert await svc.note_risks(who, {"mdi.6": "3"}) == []  # before consent nothing about health is stored
    await until(svc, who, outcome, {}, stop="mdi.1")
    page = {"mdi.1": "2", "mdi.6": "3", "mdi.7": "9", "phq9.9": "2", "mdi.x": "1", "gad7.1": "3"}
    assert await svc.note_risks(who, page) == ["mdi.6"]  # not PHQ-9 (RECONNECT asks none), not a bad score
    assert await svc.note_risks(who, {"mdi.6": "3"}) == ["mdi.6"]  # sent again: still one row
    async with UnitOfWork(factory) as uow:
        (event,) = (await uow.session.scalars(select(RiskEvent))).all()
        assert event.detail == {"instrument": "mdi", "item": "6", "score": 3} and event.at == START
        intake = await uow.intakes.latest(event.candidate_id)
        assert intake is not None and event.intake_id == intake.id
        assert "risk" in intake.state["flags"] and intake.state["risk_items"] == ["mdi.6"]
        assert intake.state["step"] == "mdi.1" and "mdi.6" not in intake.state["answers"]  # the flow's place kept
    assert [a.action for a in await actions(factory)].count("risk.recorded") == 1

    # the person leaves: the urgent partial referral follows, naming the item
    clock.advance(hours=25)
    async with UnitOfWork(factory) as uow:
        await svc.escalate_due(uow, clock.now())  # no consultant here: nothing to send, the referral waits
    (referral,) = await referrals(factory)
    assert referral.urgent and referral.payload["partial"] is True
    assert referral.payload["risks"] == [{"instrument": "mdi", "item": "6", "score": 3, "at": START.isoformat()}]

    # another person's page: noted, then the flow takes the same answer in order: one row, help shown again
    other = person(107)
    await until(svc, other, await svc.start(other, "reconnect"), {}, stop="mdi.1")
    assert await svc.note_risks(other, {"mdi.6": "2"}) == ["mdi.6"]
    outcome = await until(svc, other, await svc.start(other, "reconnect"), {"mdi.6": "2"}, stop="mdi.7")
    assert outcome.screens[0].text.startswith(DA("crisis.text")[:20])
    async with UnitOfWork(factory) as uow:
        rows = (await uow.session.scalars(select(RiskEvent).where(RiskEvent.intake_id != referral.intake_id))).all()
    assert [r.detail for r in rows] == [{"instrument": "mdi", "item": "6", "score": 2}]


async def test_an_abandoned_intake_without_a_risk_answer_is_left_alone(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(START)
    svc, who = service(factory, clock), person(105)
    await until(svc, who, await svc.start(who, "reconnect"), {"mdi.6": "0"}, stop="mdi.8a")
    clock.advance(days=3)
    async with UnitOfWork(factory) as uow:
        assert await svc.escalate_due(uow, clock.now()) == []
    assert await referrals(factory) == []


# --- 2. urgent cases always reach a person --------------------------------------------------------

async def test_urgent_goes_to_the_head_of_the_list_and_nobody_hears_of_full_consultants_that_do_not_exist(
    factory: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    told = []
    with caplog.at_level(logging.ERROR):
        for n, plan in ((201, CALM), (202, CALM), (203, URGENT)):
            clock.advance(minutes=1)
            done = await until(svc, person(n), await svc.start(person(n), "pilot"), plan)
            told.append("\n".join(s.text for s in done.screens))
    assert all(DA("waiting.place", place=1)[:30] not in t for t in told)  # no "all consultants are full"
    assert DA("result.reach.nobody") in told[2] and "112" in told[2]  # nobody yet, said plainly, crisis help again
    assert DA("result.reach.nobody") not in told[0]
    assert "pilot has no consultant and no coordinator" in caplog.text and "Rask" not in caplog.text
    text, figures = await report(factory)
    assert figures.waiting == 3 and figures.consultants == figures.coordinators == 0
    assert EN("dash.notice.nobody", n="<5") in text  # three people: a small group

    calm1, calm2, urgent = await referrals(factory)
    async with UnitOfWork(factory) as uow:
        assert [await uow.cases.place(r) for r in (urgent, calm1, calm2)] == [1, 2, 3]
        assert (await uow.cases.oldest_waiting("pilot")).id == urgent.id  # type: ignore[union-attr]
    coordinator = await join(factory, svc, 902, "coordinator")
    # the urgent case waited for anyone: the first who joins gets it at once, with its summary and "Seen"
    (copy,) = [s for s in await sent_to(factory, coordinator.chat_id) if s.get("step", "").startswith("esc.")]
    assert copy["text"].startswith(DA("staff.escalation.title.urgent", id=urgent.id, programme="Pilotprojekt"))
    assert "Rask" in copy["text"] and [b[0] for b in copy["buttons"]] == ["seen"]
    clock.advance(minutes=1)
    await until(svc, person(204), await svc.start(person(204), "pilot"), CALM)
    (note,) = [s["text"] for s in await sent_to(factory, coordinator.chat_id) if "#4" in s["text"]]
    assert note == DA("staff.coordinator.no_consultant", id=4, programme="Pilotprojekt")
    consultant = await join(factory, svc, 903, "consultant")  # the first consultant gets the urgent one first
    offered = [s["step"] for s in await sent_to(factory, consultant.chat_id) if s.get("step")]
    assert offered == [f"ref.{urgent.id}"]


async def test_an_urgent_referral_reaches_a_full_consultant_who_may_claim_it_over_the_cap(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 911, "consultant")
    await until(svc, person(211), await svc.start(person(211), "pilot"), CALM)
    (first,) = await referrals(factory)
    now = clock.now()
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, consultant, f"ref.{first.id}", "claim", 1, now)  # full now (cap 1)
    waiting = await until(svc, person(212), await svc.start(person(212), "pilot"), CALM)
    assert DA("waiting.place", place=1) in "\n".join(s.text for s in waiting.screens)
    urgent_done = await until(svc, person(213), await svc.start(person(213), "pilot"), URGENT)
    texts = "\n".join(s.text for s in urgent_done.screens)
    assert DA("result.eligible-urgent")[:40] in texts and DA("waiting.place", place=1)[:30] not in texts
    _, calm, urgent = await referrals(factory)
    assert calm.status == "waiting" and urgent.status == "new"
    assert f"ref.{urgent.id}" in [s.get("step") for s in await sent_to(factory, consultant.chat_id)]
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, consultant, f"ref.{calm.id}", "claim", 2, now)  # not urgent: refused
        await svc.casework.press(uow, consultant, f"ref.{urgent.id}", "claim", 3, now)  # urgent: allowed
    _, calm, urgent = await referrals(factory)
    assert calm.status == "waiting" and calm.consultant_id is None
    assert urgent.status == "claimed" and urgent.over_cap and not calm.over_cap
    assert [a.referral_id for a in await actions(factory) if a.action == "claim.over_cap"] == [urgent.id]
    text, figures = await report(factory)
    assert figures.over_cap == 1
    assert f"{EN('dash.casework.over_cap')}: <5\n" in text


async def test_an_unseen_urgent_referral_climbs_to_the_coordinator_and_is_offered_again_after_the_window(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 921, "consultant")
    coordinator = await join(factory, svc, 922, "coordinator")
    await until(svc, person(221), await svc.start(person(221), "pilot"), URGENT)
    (urgent,) = await referrals(factory)
    (offer,) = [s for s in await sent_to(factory, consultant.chat_id) if s.get("step") == f"ref.{urgent.id}"]
    assert [b[0] for b in offer["buttons"]] == ["claim", "seen", "pass", "export"]  # the offer is their copy

    async def clocks(after: timedelta) -> None:
        clock.set(START + after)
        async with UnitOfWork(factory) as uow:
            await svc.casework.resend_urgent(uow, clock.now())
            await svc.escalate_due(uow, clock.now())

    def copies(screens: list[dict[str, Any]]) -> list[str]:
        return [s["text"] for s in screens if s.get("step", "").startswith("esc.")]

    await clocks(timedelta(hours=1))  # the pilot's window is 6 hours: each rung has 1.5
    assert copies(await sent_to(factory, coordinator.chat_id)) == []
    await clocks(timedelta(hours=1, minutes=31))
    (told,) = copies(await sent_to(factory, coordinator.chat_id))
    assert told.startswith(DA("staff.escalation.title.urgent", id=urgent.id, programme="Pilotprojekt"))
    assert DA("staff.escalation.as.coordinators") in told and "Rask" in told
    await clocks(timedelta(hours=7))  # offered again once to the consultants after the window
    await clocks(timedelta(hours=20))
    again = [s["text"] for s in await sent_to(factory, consultant.chat_id) if s.get("step") == f"ref.{urgent.id}"]
    assert len(again) == 2 and again[1].startswith(DA("staff.resent", hours=6))
    # nobody above the coordinator (no operator): it is told again a whole window after the last step
    assert len(copies(await sent_to(factory, coordinator.chat_id))) >= 2
    async with UnitOfWork(factory) as uow:  # the consultant presses "Seen" on their offer: it ends there
        await svc.casework.press(uow, consultant, f"ref.{urgent.id}", "seen", 4, clock.now())
    async with UnitOfWork(factory) as uow:
        (row,) = await uow.escalations.of_referral(urgent.id)
        assert row.status == "seen" and row.seen_by is not None and row.next_at is None
    before = len(copies(await sent_to(factory, coordinator.chat_id)))
    await clocks(timedelta(days=5))
    assert len(copies(await sent_to(factory, coordinator.chat_id))) == before


async def test_urgent_outside_the_target_group_goes_to_the_coordinator_who_confirms_the_check(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 931, "consultant")
    coordinator = await join(factory, svc, 932, "coordinator")
    other = await join(factory, svc, 933, "coordinator", "reconnect")
    await until(svc, person(231), await svc.start(person(231), "pilot"), {**URGENT, "q.age": "70"})
    (referral,) = await referrals(factory)
    assert referral.status == "redirected" and referral.urgent
    # the ladder: the programme's consultants first (nobody holds it), with the summary and "Seen"
    (card,) = [s for s in await sent_to(factory, consultant.chat_id) if s.get("step", "").startswith("esc.")]
    assert card["text"].startswith(DA("staff.escalation.title.outside", id=referral.id, programme="Pilotprojekt"))
    assert "Rask" in card["text"] and [b[0] for b in card["buttons"]] == ["seen"]
    step_id = card["step"]
    async with UnitOfWork(factory) as uow:  # a coordinator of another programme, and a made-up button
        await svc.casework.press(uow, other, step_id, "seen", 5, clock.now())
        await svc.casework.press(uow, coordinator, step_id, "forged", 5, clock.now())
        await svc.casework.press(uow, coordinator, step_id, "seen", 5, clock.now())  # not told yet, but may
    trail = [(a.action, a.actor) for a in await actions(factory) if a.referral_id == referral.id]
    assert [a for a, _ in trail].count("denied") == 2 and ("escalation.seen", "staff:2") in trail
    assert DA("staff.escalation.taken", id=referral.id, name="coordinator-932") in [
        s["text"] for s in await sent_to(factory, coordinator.chat_id)]


async def test_without_a_coordinator_urgent_outside_the_target_group_goes_to_the_consultants(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 941, "consultant")
    await until(svc, person(241), await svc.start(person(241), "pilot"), {**URGENT, "q.age": "70"})
    (referral,) = await referrals(factory)
    (step_id,) = [s["step"] for s in await sent_to(factory, consultant.chat_id) if s.get("step")]
    assert step_id.startswith("esc.")
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, consultant, step_id, "seen", 5, clock.now())
    assert "escalation.seen" in [a.action for a in await actions(factory) if a.referral_id == referral.id]


# --- 3. a partial urgent referral completed later is never updated silently --------------------------

async def payloads(factory: async_sessionmaker[AsyncSession], chat_id: int) -> list[dict[str, Any]]:
    """Every outbox payload to one chat, oldest first."""
    async with UnitOfWork(factory) as uow:
        rows = (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        return [r.payload for r in rows if r.payload.get("to") == tg_address(chat_id).to_dict()]


async def partial_referral(factory: async_sessionmaker[AsyncSession], svc: IntakeService, clock: ManualClock,
                           chat: int, plan: dict[str, Any]) -> Referral:
    """A person answers PHQ-9 item 9 with a risk, leaves, and the sweep makes an urgent partial referral."""
    who = person(chat)
    await until(svc, who, await svc.start(who, "pilot"), plan, stop="q.goal")
    clock.advance(hours=13)  # the pilot's risk_abandon_hours: 12
    async with UnitOfWork(factory) as uow:
        await svc.escalate_due(uow, clock.now())
    referral = (await referrals(factory))[-1]
    assert referral.payload["partial"] is True and referral.urgent and referral.status == "new"
    return referral


async def finish(svc: IntakeService, chat: int, plan: dict[str, Any]) -> None:
    who = person(chat)
    await until(svc, who, await svc.start(who, "pilot"), plan)


async def record_offer_message(factory: async_sessionmaker[AsyncSession], referral: Referral, staff: Who,
                               ref: int) -> None:
    """What the channel does when it sends an offer: record where it went."""
    async with UnitOfWork(factory) as uow:
        member = await uow.staff.find(staff.channel, staff.external_id)
        offer = await uow.cases.offer_for(referral.id, member.id)  # type: ignore[union-attr]
        assert offer is not None
        await uow.cases.record_message(offer.id, staff.address.to_dict(), ref)


async def test_a_partial_referral_completed_later_reaches_whoever_holds_it_or_was_offered_it(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    first = await join(factory, svc, 951, "consultant")
    second = await join(factory, svc, 952, "consultant")
    offered = await partial_referral(factory, svc, clock, 251, URGENT)
    await record_offer_message(factory, offered, first, 41)  # sent to the first; the second's still waits
    await finish(svc, 251, URGENT)
    (offered,) = await referrals(factory)
    assert "partial" not in offered.payload and offered.status == "new" and offered.urgent
    note = DA("staff.partial.completed", id=offered.id)
    (edit,) = [p["edit"] for p in await payloads(factory, 951) if p.get("edit")]
    assert edit["ref"] == 41 and edit["screen"]["step"] == f"ref.{offered.id}"
    assert edit["screen"]["text"].startswith(note) and DA("staff.summary.partial")[:15] not in edit["screen"]["text"]
    (resent,) = [p for p in await payloads(factory, second.chat_id)
                 if p["screens"] and p["screens"][0]["text"].startswith(note)]
    assert resent["offer_id"] is not None and [b[0] for b in resent["screens"][0]["buttons"]] == [
        "claim", "seen", "pass", "export"]
    assert [a.action for a in await actions(factory) if a.referral_id == offered.id].count("referral.update_sent") == 2

    # a partial referral a consultant holds: they get the whole summary when the person finishes
    held = await partial_referral(factory, svc, clock, 252, {**URGENT, "q.name": "Holm"})
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, first, f"ref.{held.id}", "claim", 3, clock.now())
    before = len(await payloads(factory, 951))
    await finish(svc, 252, {**URGENT, "q.name": "Holm"})
    (update,) = (await payloads(factory, 951))[before:]
    (screen,) = update["screens"]
    assert screen["text"].startswith(note.replace(f"#{offered.id}", f"#{held.id}")) and "Holm" in screen["text"]
    assert DA("staff.partial.outside_kept", reason="")[:20] not in screen["text"]
    assert update["about"] is not None  # erased with the person
    assert "referral.update_sent" in [a.action for a in await actions(factory) if a.referral_id == held.id]
    assert not [p for p in (await payloads(factory, second.chat_id)) if f"#{held.id}" in str(p) and p.get("edit")]


async def test_a_partial_referral_completed_outside_the_target_group_goes_to_a_coordinator_unless_held(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 961, "consultant")
    coordinator = await join(factory, svc, 962, "coordinator")
    older = {**URGENT, "q.age": "70"}  # the pilot refers people over 60 to their GP
    offered = await partial_referral(factory, svc, clock, 261, older)
    await record_offer_message(factory, offered, consultant, 61)
    await finish(svc, 261, older)
    (offered,) = await referrals(factory)
    assert (offered.status, offered.outcome, offered.consultant_id) == ("redirected", "refer-gp", None)
    (edit,) = [p["edit"] for p in await payloads(factory, 961) if p.get("edit")]
    assert edit == {"ref": 61, "screen": {**edit["screen"], "text": DA("staff.partial.redirected", id=offered.id)}}
    assert not edit["screen"].get("buttons")
    # the ladder again from the bottom: the consultants first, then the coordinator, until someone sees it
    title = DA("staff.escalation.title.outside", id=offered.id, programme="Pilotprojekt")
    (card,) = [s for s in await sent_to(factory, consultant.chat_id) if s["text"].startswith(title)]
    async with UnitOfWork(factory) as uow:  # the withdrawn offer's Claim no longer works; "Seen" does
        await svc.casework.press(uow, consultant, f"ref.{offered.id}", "claim", 61, clock.now())
        await svc.casework.press(uow, coordinator, card["step"], "seen", 7, clock.now())
    trail = [a.action for a in await actions(factory) if a.referral_id == offered.id]
    assert "referral.redirected" in trail and "denied" in trail and "escalation.seen" in trail
    assert (await referrals(factory))[0].consultant_id is None

    # held by a consultant: they keep it, and are told the outcome; no coordinator card
    held = await partial_referral(factory, svc, clock, 262, older)
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, consultant, f"ref.{held.id}", "claim", 3, clock.now())
    await finish(svc, 262, older)
    held = (await referrals(factory))[-1]
    assert (held.status, held.outcome) == ("claimed", "refer-gp") and held.consultant_id is not None
    told = [s["text"] for s in await sent_to(factory, consultant.chat_id)
            if s["text"].startswith(DA("staff.partial.completed", id=held.id))]
    assert len(told) == 1 and DA("staff.partial.outside_kept", reason=DA("reason.severe_symptoms")) in told[0]
    assert not [s for s in await sent_to(factory, coordinator.chat_id) + await sent_to(factory, consultant.chat_id)
                if s["text"].startswith(DA("staff.escalation.title.outside", id=held.id, programme="Pilotprojekt"))]


async def report(factory: async_sessionmaker[AsyncSession]) -> tuple[str, Figures]:
    """`ipsbot report --programme pilot`'s text, and the exact figures behind it."""
    now = datetime.now(UTC)
    out = io.StringIO()
    write_text(await build(lambda: UnitOfWork(factory), REGISTRY, "pilot", now), out)
    async with UnitOfWork(factory) as uow:
        return out.getvalue(), await gather(uow, REGISTRY, "pilot", now)
