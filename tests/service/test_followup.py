"""Follow-up after the intake (issue 17), on each backend, with a ManualClock.

The real intake makes a referral, a consultant claims it, and `FollowUps.schedule` (what the Telegram
channel's periodic loop calls) asks the programme's follow-ups: each trigger once, at its time; one
reminder, then a lapse; /stop and erasure end pending ones; a second scheduler (a restart) asks
nothing twice; a risk answer at follow-up is stored and reaches a person; the case card shows the change.
"""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.exports.dashboard import Dashboard, gather, publish
from bot.exports.dashboard_render import write_text
from bot.services import followup as followup_service
from bot.services.erasure import erase
from bot.services.intake import IntakeService
from bot.services.notify import Who
from flows.intake import IntakeFlow
from flows.programmes import Programme, Registry
from locales import Translator
from storage.models import (
    AuditEvent,
    Candidate,
    Escalation,
    EscalationCopy,
    FollowUp,
    OutboxMessage,
    Referral,
    RiskEvent,
)
from storage.repositories import UnitOfWork
from tests.service.test_risk_routing import join, person, sent_to, until
from tests.support.people import tg, tg_address
from tests.support.programmes import pilot_yaml

DA = Translator("da")
EN = Translator("en")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PILOT = pilot_yaml("""\
instruments: [phq9]
outcome_counts: [ordinary_full, ordinary_part, education]
followups:
  - {id: 6m, trigger: {after: referral, days: 182}, instruments: [phq9]}
  - {id: 2m-job, trigger: {after: outcome, days: 60, outcomes: [ordinary_full, education]}, instruments: [mansa]}
""")
MANSA_PILOT = PILOT.replace("id: pilot", "id: pilotm").replace("instruments: [phq9]", "instruments: [phq9, mansa]")
REGISTRY = Registry({"pilot": Programme.model_validate(yaml.safe_load(PILOT)),
                     "pilotm": Programme.model_validate(yaml.safe_load(MANSA_PILOT))})
FLOW = IntakeFlow(REGISTRY)
Factory = async_sessionmaker[AsyncSession]


def service(factory: Factory, clock: ManualClock) -> IntakeService:
    return IntakeService(lambda: UnitOfWork(factory), FLOW, clock)


async def claimed_case(factory: Factory, svc: IntakeService, chat: int, consultant: Who,
                       plan: dict[str, Any] | None = None, programme: str = "pilot") -> Referral:
    """A person's intake to a referral, claimed by the consultant now."""
    who = person(chat)
    await until(svc, who, await svc.start(who, programme), plan or {"phq9.9": "0"})
    async with UnitOfWork(factory) as uow:
        referral = (await uow.session.scalars(select(Referral).order_by(Referral.id.desc()))).first()
        assert referral is not None
        await svc.casework.press(uow, consultant, f"ref.{referral.id}", "claim", 1, svc.clock.now())
    await mark_all_sent(factory, svc.clock.now())  # the intake's own replies
    return referral


async def schedule(factory: Factory, svc: IntakeService) -> list[int]:
    async with UnitOfWork(factory) as uow:
        return await svc.casework.followups.schedule(uow, svc.clock.now())


async def followups(factory: Factory) -> list[FollowUp]:
    async with UnitOfWork(factory) as uow:
        return list((await uow.session.scalars(select(FollowUp).order_by(FollowUp.id))).all())


async def due_messages(factory: Factory, chat: int, now: datetime) -> list[dict[str, Any]]:
    """The screens the sender would deliver to a chat by `now` (unsent, due), oldest first."""
    async with UnitOfWork(factory) as uow:
        rows = await uow.outbox.pending("telegram", created_before=now, limit=1000)
        return [s for r in rows if r.payload.get("to") == tg_address(chat).to_dict() for s in r.payload["screens"]]


async def press(factory: Factory, svc: IntakeService, chat: int, step: str, version: int, button: str) -> None:
    async with UnitOfWork(factory) as uow:
        await svc.casework.followups.press(uow, tg(chat), step, version, button,
                                           svc.clock.now())


async def mark_all_sent(factory: Factory, now: datetime) -> None:
    async with UnitOfWork(factory) as uow:
        for row in await uow.outbox.pending("telegram", created_before=now, limit=1000):
            await uow.outbox.finish(row.id, at=now)


async def test_each_trigger_fires_once_at_its_time_and_a_restart_asks_nothing_twice(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 900, "consultant")
    referral = await claimed_case(factory, svc, 201, consultant)

    clock.set(referral.created_at + timedelta(days=182) - timedelta(minutes=1))
    assert await schedule(factory, svc) == [] and await followups(factory) == []  # not yet
    clock.advance(minutes=1)
    assert len(await schedule(factory, svc)) == 2  # the question now, and its reminder for later
    (row,) = await followups(factory)
    assert row.key == "6m" and row.status == "open" and row.due_at == referral.created_at + timedelta(days=182)
    (asked,) = await due_messages(factory, 201, clock.now())
    assert asked["step"] == f"fu.{row.id}" and asked["text"] == DA("followup.ask", programme="Pilotprojekt")

    # a restarted process (a new service on the same database), and the next passes: nothing again
    again = service(factory, clock)
    assert await schedule(factory, again) == [] and await schedule(factory, svc) == []
    clock.advance(hours=5)
    assert await schedule(factory, again) == []
    assert len(await followups(factory)) == 1
    async with UnitOfWork(factory) as uow:
        assert len((await uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == f"followup:{row.id}"))).all()) == 1  # one reminder

    # the outcome trigger: 60 days after the consultant recorded a job; not for an outcome not named
    async with UnitOfWork(factory) as uow:
        case = await uow.referrals.get(referral.id)
        assert case is not None
        await svc.casework.press(uow, consultant, f"case.{referral.id}", "outcome:ordinary_full", 1, clock.now())
        recorded = clock.now()
    clock.set(recorded + timedelta(days=59, hours=23))
    await schedule(factory, svc)
    assert [r.key for r in await followups(factory)] == ["6m"]
    clock.set(recorded + timedelta(days=60))
    await schedule(factory, svc)
    assert [r.key for r in await followups(factory)] == ["6m", "2m-job"]
    clock.advance(days=1)
    assert await schedule(factory, svc) == []


async def test_a_reminder_after_three_days_then_it_lapses(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 900, "consultant")
    referral = await claimed_case(factory, svc, 202, consultant)
    clock.set(referral.created_at + timedelta(days=182, hours=1))
    await schedule(factory, svc)
    await mark_all_sent(factory, clock.now())
    clock.advance(days=3, seconds=-1)
    assert await due_messages(factory, 202, clock.now()) == []
    clock.advance(seconds=1)
    (reminder,) = await due_messages(factory, 202, clock.now())
    assert reminder["text"] == DA("followup.reminder", programme="Pilotprojekt")
    await mark_all_sent(factory, clock.now())
    clock.advance(days=4, seconds=-1)
    await schedule(factory, svc)
    assert [r.status for r in await followups(factory)] == ["open"]
    clock.advance(seconds=1)
    await schedule(factory, svc)
    (row,) = await followups(factory)
    assert row.status == "lapsed" and row.closed_at == clock.now()
    await press(factory, svc, 202, f"fu.{row.id}", 0, "s:job")  # too late: closed, and it stays lapsed
    assert (await due_messages(factory, 202, clock.now()))[-1]["text"] == DA("followup.closed")
    assert [r.status for r in await followups(factory)] == ["lapsed"]


async def test_answered_by_tapping_with_instruments_and_the_change_on_the_case_card(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 900, "consultant")
    referral = await claimed_case(factory, svc, 203, consultant, {"phq9.9": "0", **{f"phq9.{i}": "2"
                                                                                   for i in range(1, 9)}})
    assert referral.payload["instruments"]["phq9"]["total"] == 16
    clock.set(referral.created_at + timedelta(days=182))
    await schedule(factory, svc)
    (row,) = await followups(factory)
    await press(factory, svc, 203, f"fu.{row.id}", 0, "s:education")
    for n in range(1, 10):
        await press(factory, svc, 203, f"fu.{row.id}", n, "1" if n < 9 else "0")
    (row,) = await followups(factory)
    assert row.status == "answered" and row.state["status"] == "education"
    assert row.state["results"]["phq9"]["total"] == 8
    screens = await due_messages(factory, 203, clock.now())
    assert screens[-1]["text"] == DA("followup.thanks")
    async with UnitOfWork(factory) as uow:  # the reminder is withdrawn
        assert (await uow.session.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == f"followup:{row.id}"))).all() == []
    # an old button (the first question again) changes nothing
    await press(factory, svc, 203, f"fu.{row.id}", 0, "s:none")
    assert (await followups(factory))[0].state["status"] == "education"

    async with UnitOfWork(factory) as uow:
        await svc.casework.cases(uow, consultant, clock.now())
    card = (await sent_to(factory, consultant.chat_id))[-1]["text"]
    assert DA("followup.status.education") in card
    reliable = DA("staff.case.followup.reliable", threshold="6")
    assert DA("staff.case.followup.score", instrument="PHQ-9", score="8", change="-8", reliable=reliable) in card


async def test_a_stranger_cannot_answer_someone_elses_follow_up(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 900, "consultant")
    referral = await claimed_case(factory, svc, 204, consultant)
    await claimed_case(factory, svc, 205, consultant)
    clock.set(referral.created_at + timedelta(days=182))
    await schedule(factory, svc)
    first = (await followups(factory))[0]
    await press(factory, svc, 205, f"fu.{first.id}", 0, "s:job")
    assert (await followups(factory))[0].state["status"] is None
    assert (await due_messages(factory, 205, clock.now()))[-1]["text"] == DA("staff.denied")


async def test_stop_and_erasure_end_pending_follow_ups(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 900, "consultant")
    stopping = await claimed_case(factory, svc, 206, consultant)
    await claimed_case(factory, svc, 207, consultant)
    clock.set(stopping.created_at + timedelta(days=182))
    await schedule(factory, svc)
    await mark_all_sent(factory, clock.now())
    async with UnitOfWork(factory) as uow:
        assert await svc.casework.followups.stop(uow, tg(206), clock.now())
        candidate = await uow.candidates.find("telegram", "207")
        assert candidate is not None
        await erase(uow, svc.casework, candidate.id, clock.now())
    rows = await followups(factory)
    assert [(r.candidate_id, r.status) for r in rows] == [(rows[0].candidate_id, "stopped")]  # 207's are gone
    assert [m["text"] for m in await due_messages(factory, 206, clock.now())] == [DA("followup.stopped")]
    await mark_all_sent(factory, clock.now())
    clock.advance(days=3)
    assert await due_messages(factory, 206, clock.now()) == []  # no reminder after /stop
    assert await due_messages(factory, 207, clock.now()) == []  # nor after erasure
    # the data stays after /stop, and no later follow-up is asked
    async with UnitOfWork(factory) as uow:
        assert (await uow.session.scalars(select(Candidate).where(Candidate.id == rows[0].candidate_id))).one()
        case = await uow.referrals.get(stopping.id)
        assert case is not None
        await svc.casework.press(uow, consultant, f"case.{stopping.id}", "outcome:education", 1, clock.now())
    clock.advance(days=61)
    await schedule(factory, svc)
    assert len(await followups(factory)) == 1


async def test_a_risk_answer_at_follow_up_is_stored_shows_help_and_reaches_a_person(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 900, "consultant")
    coordinator = await join(factory, svc, 901, "coordinator")
    referral = await claimed_case(factory, svc, 208, consultant)
    clock.set(referral.created_at + timedelta(days=182))
    await schedule(factory, svc)
    (row,) = await followups(factory)
    await press(factory, svc, 208, f"fu.{row.id}", 0, "s:looking")
    for n in range(1, 9):
        await press(factory, svc, 208, f"fu.{row.id}", n, "0")
    await press(factory, svc, 208, f"fu.{row.id}", 9, "2")  # PHQ-9 item 9
    async with UnitOfWork(factory) as uow:
        (event,) = (await uow.session.scalars(select(RiskEvent))).all()
        assert event.detail == {"instrument": "phq9", "item": "9", "score": 2} and event.at == clock.now()
    screens = await due_messages(factory, 208, clock.now())
    assert screens[-2]["tone"] == "crisis" and screens[-2]["text"].startswith(DA("crisis.text")[:20])
    # the ladder: the consultant holding the case at once; the coordinator when a quarter of the window
    # passed unseen (the pilot's urgent window: 24 hours)
    alert = DA("staff.escalation.title.followup", id=referral.id, programme="Pilotprojekt")
    (sent,) = [s for s in await due_messages(factory, consultant.chat_id, clock.now()) if s["text"].startswith(alert)]
    assert sent["tone"] == "crisis" and DA("staff.escalation.as.holder") in sent["text"]
    assert not [s for s in await due_messages(factory, coordinator.chat_id, clock.now()) if alert in s["text"]]
    clock.advance(hours=6)
    async with UnitOfWork(factory) as uow:
        await svc.escalate_due(uow, clock.now())
    (sent,) = [s for s in await due_messages(factory, coordinator.chat_id, clock.now()) if alert in s["text"]]
    assert DA("staff.escalation.as.coordinators") in sent["text"]


async def answer_all(factory: Factory, svc: IntakeService, chat: int, row: FollowUp, status: str,
                     scores: list[str]) -> None:
    await press(factory, svc, chat, f"fu.{row.id}", 0, f"s:{status}")
    for n, score in enumerate(scores, start=1):
        await press(factory, svc, chat, f"fu.{row.id}", n, score)


async def test_the_reports_follow_up_numbers_equal_counts_made_from_the_database(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 900, "consultant", "pilotm")
    chance = random.Random(17)
    people = list(range(300, 312))
    enrolment: dict[int, float] = {}
    for chat in people:  # MANSA at enrolment: 12 ratings of 1..7
        ratings = [chance.randint(1, 7) for _ in range(12)]
        plan = {"phq9.9": "0", **{f"mansa.{n}": str(r) for n, r in enumerate(ratings, start=1)}}
        referral = await claimed_case(factory, svc, chat, consultant, plan, programme="pilotm")
        enrolment[chat] = referral.payload["instruments"]["mansa"]["mean"]
        assert enrolment[chat] == round(sum(ratings) / 12, 2)
    clock.advance(days=182)
    await schedule(factory, svc)
    by_chat = {chat: row for chat, row in zip(people, await followups(factory), strict=True)}
    for chat, row in by_chat.items():  # answer, stop or say nothing (it lapses)
        fate = chance.choice(["job", "education", "supported_job", "looking", "none", "stop", "silent"])
        if fate == "stop":
            await press(factory, svc, chat, f"fu.{row.id}", 0, "stop")
        elif fate != "silent":
            await answer_all(factory, svc, chat, row, fate, ["0"] * 9)
    clock.advance(days=8)
    await schedule(factory, svc)  # the silent ones lapse
    async with UnitOfWork(factory) as uow:  # jobs and studies recorded for some; MANSA two months later
        for referral in (await uow.session.scalars(select(Referral))).all():
            if chance.random() < 0.7:
                await svc.casework.press(uow, consultant, f"case.{referral.id}", "outcome:ordinary_full", 1,
                                         clock.now())
    clock.advance(days=60)
    await schedule(factory, svc)
    for row in [r for r in await followups(factory) if r.key == "2m-job"]:
        chat = next(c for c, first in by_chat.items() if first.referral_id == row.referral_id)
        await answer_all(factory, svc, chat, row, "job", ["1", "0", "0", "0"] + [str(chance.randint(1, 7))
                                                                               for _ in range(12)])

    # counts made directly from the rows
    rows = await followups(factory)
    async with UnitOfWork(factory) as uow:
        payloads = {r.id: r.payload for r in (await uow.session.scalars(select(Referral))).all()}
    expected: dict[str, dict[str, int]] = {}
    for key in ("6m", "2m-job"):
        mine = [r for r in rows if r.key == key]
        answered = [r for r in mine if r.status == "answered"]
        expected[key] = {"asked": len(mine), "answered": len(answered),
                         "lapsed": sum(r.status == "lapsed" for r in mine),
                         "stopped": sum(r.status == "stopped" for r in mine),
                         "in_work": sum(r.state["status"] in ("job", "education") for r in answered)}
    pairs = sorted((payloads[r.referral_id]["instruments"]["mansa"]["mean"], r.state["results"]["mansa"]["mean"])
                   for r in rows if r.key == "2m-job" and r.status == "answered")

    async with UnitOfWork(factory) as uow:
        figures = await gather(uow, REGISTRY, "pilotm", clock.now())
    for key, counted in expected.items():
        point = figures.points[key]
        assert (point.asked, point.answered, point.lapsed, point.stopped, point.in_work) == (
            counted["asked"], counted["answered"], counted["lapsed"], counted["stopped"], counted["in_work"]), key
    assert expected["6m"]["asked"] == 12 and expected["2m-job"]["asked"] >= 5
    assert sorted(figures.points["2m-job"].mansa_pairs) == pairs and len(pairs) >= 5

    section = publish(figures, REGISTRY["pilotm"])  # as the dashboard shows them
    n = len(pairs)
    (paired,) = [row for row in section.table("mansa").rows if row.key == "2m-job"]
    assert [c.value for c in paired.cells] == pytest.approx([n, sum(a for a, _ in pairs) / n,
                                                             sum(b for _, b in pairs) / n])
    (six,) = [row for row in section.table("followups").rows if row.key == "6m"]
    asked, answered = six.cells[0], six.cells[1]
    assert asked.value == 12
    assert answered.value == expected["6m"]["answered"] or (answered.value is None and answered.hidden)
    assert (answered.hidden == "small") == (0 < expected["6m"]["answered"] < 5)
    out = io.StringIO()
    write_text(Dashboard(clock.now(), (section,)), out)
    assert f"{EN('dash.followup.point', key='6m')}: {EN('dash.col.asked')} 12; " in out.getvalue()


# --- a follow-up's risk alert is seen by a person (issue: "an urgent case never waits unseen") -------

async def risk_answer(factory: Factory, svc: IntakeService, chat: int, referral: Referral) -> FollowUp:
    """The 6-month follow-up asked now and answered with PHQ-9 item 9 at 2."""
    svc.clock.set(referral.created_at + timedelta(days=182))  # type: ignore[attr-defined]
    await schedule(factory, svc)
    (row,) = [r for r in await followups(factory) if r.referral_id == referral.id]
    await answer_all(factory, svc, chat, row, "looking", ["0"] * 8 + ["2"])
    (row,) = [r for r in await followups(factory) if r.referral_id == referral.id]
    return row


async def delivered(factory: Factory, refs: dict[int, int]) -> None:
    """What the channel does when it sends an alert copy: record where it went and its message reference."""
    async with UnitOfWork(factory) as uow:
        for row in await uow.outbox.pending("telegram", created_before=datetime.max.replace(tzinfo=UTC), limit=1000):
            copy = row.payload.get("alert_copy")
            if copy is not None:
                chat = int(row.payload["to"]["id"])
                refs[chat] = refs.get(chat, 1000 * chat) + 1
                await uow.escalations.record_copy(copy, row.payload["to"], refs[chat])
            await uow.outbox.finish(row.id, at=row.created_at)


async def audit_trail(factory: Factory, referral_id: int) -> list[tuple[str, str]]:
    async with UnitOfWork(factory) as uow:
        rows = (await uow.session.scalars(select(AuditEvent).where(AuditEvent.referral_id == referral_id)
                                          .order_by(AuditEvent.id))).all()
        return [(a.action, a.actor) for a in rows]


async def queued(factory: Factory, chat: int) -> list[dict[str, Any]]:
    """Every outbox row to a chat, oldest first (sent or not), as payloads."""
    async with UnitOfWork(factory) as uow:
        rows = (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        return [r.payload for r in rows if r.payload.get("to") == tg_address(chat).to_dict()]


async def escalation_of(factory: Factory, followup_id: int) -> Escalation:
    async with UnitOfWork(factory) as uow:
        (row,) = (await uow.session.scalars(select(Escalation).where(Escalation.followup_id == followup_id))).all()
        return row


async def test_a_follow_up_risk_alert_climbs_the_ladder_until_a_person_has_seen_it(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 900, "consultant")
    coordinator = await join(factory, svc, 901, "coordinator")
    colleague = await join(factory, svc, 902, "consultant")  # not holding the case: the second rung
    stranger = await join(factory, svc, 903, "coordinator", "pilotm")  # another programme's coordinator
    referral = await claimed_case(factory, svc, 208, consultant)
    row = await risk_answer(factory, svc, 208, referral)
    alerted = clock.now()
    escalation = await escalation_of(factory, row.id)
    assert (escalation.status, escalation.rung, escalation.seen_at) == ("sent", 0, None)
    step = f"esc.{escalation.id}"

    alert = DA("staff.escalation.title.followup", id=referral.id, programme="Pilotprojekt")
    (sent,) = [s for s in await due_messages(factory, consultant.chat_id, clock.now()) if s.get("step") == step]
    assert sent["text"].startswith(alert) and sent["tone"] == "crisis" and "\n\n" in sent["text"]  # with its summary
    assert [b[0] for b in sent["buttons"]] == ["seen"] and sent["buttons"][0][1] == DA("staff.escalation.seen")
    assert not [s for s in await due_messages(factory, colleague.chat_id, clock.now()) if s.get("step")]
    refs: dict[int, int] = {}
    await delivered(factory, refs)

    # forged presses: a consultant who neither holds the case nor got a copy, another programme's
    # coordinator, the person themselves, a made-up button and made-up escalations: refused and audited
    async with UnitOfWork(factory) as uow:
        for who, press_step, button in ((colleague, step, "seen"), (stranger, step, "seen"), (tg(208), step, "seen"),
                                        (consultant, step, "forged"), (coordinator, "esc.9999", "seen"),
                                        (coordinator, "esc.x", "seen"), (coordinator, "esc.²", "seen")):
            await svc.casework.press(uow, who, press_step, button, 5, clock.now())
    assert [a for a, _ in await audit_trail(factory, referral.id)].count("denied") == 4  # and 3 with no referral
    assert (await escalation_of(factory, row.id)).seen_at is None
    for who in (colleague, stranger):
        assert (await due_messages(factory, who.chat_id, clock.now()))[-1]["text"] == DA("staff.denied")

    # nobody pressed: each rung has a quarter of the urgent window (24 hours), then the top again
    async def clocks(at: datetime) -> list[int]:
        clock.set(at)
        async with UnitOfWork(factory) as uow:
            return await svc.escalate_due(uow, clock.now())

    assert await clocks(alerted + timedelta(hours=5, minutes=59)) == []
    assert len(await clocks(alerted + timedelta(hours=6))) == 1  # the colleague (the holder was told already)
    assert [s["step"] for s in await due_messages(factory, colleague.chat_id, clock.now()) if s.get("step")] == [step]
    assert len(await clocks(alerted + timedelta(hours=12))) == 1  # the coordinator
    assert len(await clocks(alerted + timedelta(hours=18))) == 1  # no operator: the coordinator again
    assert await clocks(alerted + timedelta(hours=30)) == []
    assert [a for a, _ in await audit_trail(factory, referral.id)].count("escalation.resent") == 1
    await delivered(factory, refs)

    # the coordinator presses on the resent copy: seen, audited; every copy says who took it
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, coordinator, step, "seen", refs[901], clock.now())
    escalation = await escalation_of(factory, row.id)
    async with UnitOfWork(factory) as uow:
        staff = await uow.staff.find("telegram", "901")
        assert staff is not None and escalation.seen_by == staff.id and escalation.seen_at == clock.now()
    assert ("escalation.seen", f"staff:{escalation.seen_by}") in await audit_trail(factory, referral.id)
    taken = DA("staff.escalation.taken", id=referral.id, name="coordinator-901")
    for chat, copies in ((900, 1), (901, 2), (902, 1)):
        edits = {p["edit"]["ref"] for p in await queued(factory, chat)
                 if p.get("edit") and p["edit"]["screen"]["text"] == taken}
        assert edits == {1000 * chat + n for n in range(1, copies + 1)}
    # the consultant presses too, late: told who has it; nothing changes
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, consultant, step, "seen", refs[900], clock.now())
    assert (await due_messages(factory, 900, clock.now()))[-1]["text"] == taken
    assert [a for a, _ in await audit_trail(factory, referral.id)].count("escalation.seen") == 1
    assert (await escalation_of(factory, row.id)).seen_by == escalation.seen_by
    assert await clocks(alerted + timedelta(days=3)) == []

    # erasing the person erases the escalation and its copies
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.find("telegram", "208")
        assert candidate is not None
        await erase(uow, svc.casework, candidate.id, clock.now())
    async with UnitOfWork(factory) as uow:
        assert (await uow.session.scalars(select(EscalationCopy))).all() == []
        assert (await uow.session.scalars(select(Escalation))).all() == []
        assert (await uow.session.scalars(select(FollowUp))).all() == []


async def test_an_alert_whose_holder_left_goes_to_the_consultants_who_may_press_it(factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 900, "consultant")
    colleague = await join(factory, svc, 902, "consultant")
    referral = await claimed_case(factory, svc, 209, consultant)
    row = await risk_answer(factory, svc, 209, referral)
    alert = DA("staff.escalation.title.followup", id=referral.id, programme="Pilotprojekt")
    assert not [s for s in await due_messages(factory, colleague.chat_id, clock.now()) if alert in s["text"]]
    async with UnitOfWork(factory) as uow:  # the holder is away: the case goes back to the waiting list
        await svc.casework.remove_staff(uow, (await uow.staff.find("telegram", "900")).id,  # type: ignore[union-attr]
                                        clock.now())
    # the only one told has gone: the next rung is told at once, not when the rung's time is up
    step = f"esc.{(await escalation_of(factory, row.id)).id}"
    (sent,) = [s for s in await due_messages(factory, colleague.chat_id, clock.now()) if s.get("step") == step]
    assert sent["text"].startswith(alert) and DA("staff.escalation.as.consultants") in sent["text"]
    async with UnitOfWork(factory) as uow:
        await svc.casework.press(uow, colleague, step, "seen", 7, clock.now())
    assert (await escalation_of(factory, row.id)).seen_at == clock.now()
    assert (await queued(factory, 902))[-1]["edit"]["ref"] == 7


# --- a follow-up whose window passed unasked is counted, not skipped --------------------------------

async def test_a_follow_up_whose_window_passed_unasked_is_recorded_as_missed_and_never_asked(
        factory: Factory) -> None:
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 900, "consultant")
    late = await claimed_case(factory, svc, 210, consultant)
    clock.advance(minutes=1)
    in_time = await claimed_case(factory, svc, 211, consultant)
    await mark_all_sent(factory, clock.now())
    # the bot was down from before the trigger until the end of the first case's 7-day window
    clock.set(late.created_at + timedelta(days=182 + 7))
    await schedule(factory, svc)
    missed, asked = sorted(await followups(factory), key=lambda r: r.referral_id)
    assert (missed.referral_id, missed.status, missed.closed_at) == (late.id, "missed", clock.now())
    assert missed.due_at == late.created_at + timedelta(days=182)
    assert (asked.referral_id, asked.status) == (in_time.id, "open")  # one minute left of its window
    assert await due_messages(factory, 210, clock.now()) == []  # never asked months late
    assert ("followup.missed", "system") in await audit_trail(factory, late.id)
    assert await schedule(factory, svc) == [] and len(await followups(factory)) == 2  # recorded once

    async with UnitOfWork(factory) as uow:
        figures = await gather(uow, REGISTRY, "pilot", clock.now())
    point = figures.points["6m"]
    assert (point.asked, point.missed, point.answered, point.lapsed) == (1, 1, 0, 0)
    out = io.StringIO()
    write_text(Dashboard(clock.now(), (publish(figures, REGISTRY["pilot"]),)), out)
    assert f"{EN('dash.col.asked')} <5; " in out.getvalue() and f"{EN('dash.col.missed')} <5; " in out.getvalue()
    async with UnitOfWork(factory) as uow:  # the case card says so
        await svc.casework.cases(uow, consultant, clock.now())
    cards = [s["text"] for s in await due_messages(factory, 900, clock.now()) if f"#{late.id}" in s["text"]]
    assert DA("staff.case.followup.missed") in cards[-1]


async def test_a_backlog_of_missed_follow_ups_is_recorded_a_few_at_a_time_and_the_unaskable_never(
        factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(followup_service, "MISSED_PER_PASS", 2)
    clock = ManualClock(START)
    svc = service(factory, clock)
    consultant = await join(factory, svc, 900, "consultant")
    blocked = await claimed_case(factory, svc, 212, consultant)  # first in line, and never askable
    async with UnitOfWork(factory) as uow:
        await uow.candidates.mark_unreachable("telegram", "212")
    cases = [await claimed_case(factory, svc, chat, consultant) for chat in (213, 214, 215)]
    clock.set(cases[-1].created_at + timedelta(days=400))
    await schedule(factory, svc)
    assert len(await followups(factory)) == 2  # two this pass
    await schedule(factory, svc)
    rows = await followups(factory)
    assert sorted(r.referral_id for r in rows) == [c.id for c in cases] and {r.status for r in rows} == {"missed"}
    assert blocked.id not in [r.referral_id for r in rows]
