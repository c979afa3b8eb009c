"""The intake service on each backend: one transaction per answer, resume, one referral, nothing plain."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.services.intake import IntakeService, Person
from flows.answers import Tap, Text
from flows.intake import IntakeFlow
from flows.programmes import Registry
from flows.screens import InputKind
from storage.models import AuditEvent, Base, Candidate, Intake, OutboxMessage, Referral
from storage.repositories import UnitOfWork, subject_hash
from tests.support.people import tg_address
from tests.support.walk import TYPICAL

FLOW = IntakeFlow(Registry.load())
PLAN: dict[str, Any] = {**TYPICAL, "q.name": "Zelda-unik", "q.dream": "Hemmelig drøm om fyrtårne"}


def service(factory: async_sessionmaker[AsyncSession], clock: ManualClock | None = None) -> IntakeService:
    return IntakeService(lambda: UnitOfWork(factory), FLOW, clock or ManualClock())


async def answer_once(svc: IntakeService, person: Person, state_screen: Any, update_id: int | None = None) -> Any:
    screen = state_screen
    value = PLAN.get(screen.step, "1")
    if screen.kind is InputKind.CHOICE:
        button = str(value) if str(value) in {b.id for b in screen.buttons} else screen.buttons[0].id
        return await svc.answer(person, Tap(screen.step, screen.version, button), event_id=update_id)
    return await svc.answer(person, Text(str(value)), event_id=update_id)


def asking(outcome: Any) -> Any:
    return next(s for s in reversed(outcome.screens) if s.asks)


async def run_intake(svc: IntakeService, person: Person, *, restart_every: int = 0) -> Any:
    outcome = await svc.start(person, "reconnect")
    for n in range(200):
        if outcome.finished:
            return outcome
        if restart_every and n % restart_every == 0:
            outcome = await svc.start(person, "reconnect")  # a new process: the same question again
        outcome = await answer_once(svc, person, asking(outcome))
    raise AssertionError("did not finish")


async def count(factory: async_sessionmaker[AsyncSession], model: type[Any]) -> int:
    async with UnitOfWork(factory) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def test_full_intake_stores_one_referral_and_resumes_between_answers(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    svc = service(factory)
    person = Person("console", "ana", language="da")
    outcome = await run_intake(svc, person, restart_every=5)
    assert outcome.state["status"] == "completed"
    assert await count(factory, Referral) == 1 and await count(factory, Intake) == 1
    again = await svc.start(person, "reconnect")  # a finished intake is not repeated
    assert again.state["status"] == "completed" and await count(factory, Referral) == 1
    async with UnitOfWork(factory) as uow:
        intake = (await uow.session.scalars(select(Intake))).one()
        assert intake.consent_version and intake.consent_at is not None and intake.consent_language == "da"
        assert intake.status == "completed"
        referral = (await uow.session.scalars(select(Referral))).one()
        assert referral.status == "waiting" and referral.outcome == "eligible"  # no consultants yet
        assert referral.payload["candidate"]["name"] == "Zelda-unik"
        actions = (await uow.session.scalars(select(AuditEvent.action))).all()
        assert "referral.created" in actions


async def raw_dump(factory: async_sessionmaker[AsyncSession]) -> str:
    """Every row of every table as stored (encrypted columns as their raw bytes)."""
    async with UnitOfWork(factory) as uow:
        dump = []
        for table in Base.metadata.sorted_tables:
            rows = (await uow.session.execute(text(f"SELECT * FROM {table.name}"))).all()
            dump += [repr(tuple(r)) for r in rows]
    return "\n".join(dump)


async def test_answers_names_and_ids_are_not_stored_in_plain_text(factory: async_sessionmaker[AsyncSession]) -> None:
    svc = service(factory)
    person = Person("telegram", "987654321", language="da", address=tg_address(987654321))
    await run_intake(svc, person)
    await svc.answer(person, Text("/mydata"), deliver=lambda o: {"texts": [s.text for s in o.screens]})
    raw = await raw_dump(factory)
    for secret in ("Zelda-unik", "fyrtårne", "fyrt\\xc3\\xa5rne", "987654321", "Hj\\xc3\\xb8rring", "Hjørring"):
        assert secret not in raw, secret


async def test_triage_facts_are_not_in_the_clear_and_audit_rows_cannot_be_linked_to_the_person(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    svc = service(factory)
    person = Person("telegram", "987654321", language="da", address=tg_address(987654321))
    await run_intake(svc, person)
    raw = await raw_dump(factory)
    for fact in ("eligible", "reason.", "target_group"):  # the triage outcome and reason (health facts)
        assert fact not in raw, fact
    await svc.start(person, "reconnect", anew=True)  # the same person comes back for a second intake
    await run_intake(svc, person)
    async with UnitOfWork(factory) as uow:
        created = (await uow.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "referral.created").order_by(AuditEvent.id))).all()
        refs = [i.actor_ref for i in (await uow.session.scalars(select(Intake).order_by(Intake.id))).all()]
    assert [e.detail for e in created] == ["", ""]
    assert len(created) == 2 and created[0].actor != created[1].actor  # not the same reference twice
    assert person.log_id not in created[0].actor and person.log_id not in created[1].actor
    assert [e.actor for e in created] == [f"candidate:{r}" for r in refs if r]  # erased with the intake


async def test_duplicate_update_is_ignored(factory: async_sessionmaker[AsyncSession]) -> None:
    svc = service(factory)
    person = Person("telegram", "42", language="da")
    first = await svc.start(person, "reconnect")
    tap = Tap(asking(first).step, asking(first).version, "da")
    one = await svc.answer(person, tap, event_id=1001)
    two = await svc.answer(person, tap, event_id=1001)
    assert one.screens and not one.duplicate
    assert two.duplicate and two.screens == []


async def test_decline_keeps_no_answers_and_delete_erases_the_person(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    svc = service(factory)
    person = Person("console", "bo", language="da")
    await run_intake(svc, person)
    replies = lambda o: {"texts": [s.text for s in o.screens]}  # noqa: E731 - what an adapter would queue
    outcome = await svc.answer(person, Text("/delete"), deliver=replies)
    outcome = await svc.answer(person, Tap(asking(outcome).step, asking(outcome).version, "yes"), deliver=replies)
    assert any(e.kind == "delete" for e in outcome.events)
    assert await count(factory, Candidate) == 0
    async with UnitOfWork(factory) as uow:  # only the content-free goodbye is left to send
        left = (await uow.session.scalars(select(OutboxMessage))).all()
        assert [(m.candidate_id, m.id) for m in left] == [(None, outcome.outbox_id)]
        assert "Zelda-unik" not in json.dumps(left[0].payload)
    # nothing findable: not the person's look-up hash, not an answer, in any table
    raw = await raw_dump(factory)
    for trace in (subject_hash("console", "bo"), "Zelda-unik", "fyrtårne"):
        assert trace not in raw, trace
    assert await count(factory, Intake) == 0 and await count(factory, Referral) == 0
    async with UnitOfWork(factory) as uow:
        erased = (await uow.session.scalars(select(AuditEvent).where(AuditEvent.action == "candidate.erased"))).all()
        assert len(erased) == 1 and erased[0].detail == ""


async def test_mydata_gives_everything_stored_about_the_person(factory: async_sessionmaker[AsyncSession]) -> None:
    svc = service(factory)
    person = Person("console", "liv", language="da")
    finished = await run_intake(svc, person)
    outcome = await svc.answer(person, Text("/mydata"))
    data = outcome.personal_data
    assert data is not None and data["channel"] == "console"
    (intake,) = data["intakes"]
    assert intake["answers"] == finished.state["answers"]  # every answer, as stored
    assert intake["answers"]["name"] == "Zelda-unik" and intake["answers"]["gad7.1"] == 1
    assert intake["consent"]["version"] and intake["consent"]["given_at"] and intake["consent"]["language"] == "da"
    referral = intake["referral"]
    assert referral["outcome"] == "eligible" and referral["content"]["motivation"]["dream"] == PLAN["q.dream"]
    assert "Zelda-unik" in outcome.screens[0].text  # and the readable copy
