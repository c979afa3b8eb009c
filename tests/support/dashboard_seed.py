"""A programme with many referrals for the dashboard's tests and benchmark.

One real intake (the services, on the given database) gives a referral payload as the flows build it;
then `seed` writes `n` more people straight into the tables, each with its own candidate, intake and
referral (the payload varied: MANSA at enrolment, urgency), random IPS clocks over `weeks` weeks,
risk answers with their escalations, follow-ups (answered, lapsed, stopped, open, missed; some with a risk
answer's escalation, seen or
not), all drawn from a seeded `random.Random`, so a run is repeatable.
"""

from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.services.intake import IntakeService, Person
from flows.intake import IntakeFlow
from flows.ips import CASE_OUTCOMES
from flows.programmes import Programme, Registry
from storage.models import Candidate, Escalation, FollowUp, Intake, Referral, RiskEvent
from storage.repositories import UnitOfWork
from tests.support.people import tg_address
from tests.support.programmes import pilot_yaml
from tests.support.service import ServicePort, walk_until

DASH_YAML = pilot_yaml("""\
instruments: [phq9, mansa]
outcome_counts: [ordinary_full, ordinary_part, education]
outcome_goal: 0.4
followups:
  - {id: 6m, trigger: {after: referral, days: 182}, instruments: [mansa]}
  - {id: 12m, trigger: {after: referral, days: 365}}
""").replace("id: pilot", "id: dash")
REGISTRY = Registry({"dash": Programme.model_validate(yaml.safe_load(DASH_YAML))})
FOLLOWUP_STATUSES = ("answered", "answered", "answered", "lapsed", "stopped", "open", "missed")
WORK_STATUSES = ("job", "education", "supported_job", "looking", "none")


async def template_payload(factory: async_sessionmaker[AsyncSession], now: datetime) -> dict[str, Any]:
    """The payload of one real intake's referral (with MANSA)."""
    svc = IntakeService(lambda: UnitOfWork(factory), IntakeFlow(REGISTRY), ManualClock(now))
    who = Person("telegram", "99999", language="da", address=tg_address(99_999))
    await walk_until(ServicePort(svc, who, await svc.start(who, "dash")), {"phq9.9": "0"})
    async with UnitOfWork(factory) as uow:
        (referral,) = [r async for r in uow.referrals.stream(programme_id="dash")]
        return dict(referral.payload)


def clocks(rng: random.Random, created: datetime) -> dict[str, Any]:
    """A case's status, clocks and outcome."""
    roll = rng.random()
    if roll < 0.1:
        return {"status": "redirected"}
    if roll < 0.25:
        return {"status": rng.choice(["new", "waiting"])}
    claimed = created + timedelta(hours=rng.uniform(0.2, 240))
    out: dict[str, Any] = {"status": rng.choice(["claimed", "closed"]), "claimed_at": claimed,
                           "consultant_id": None}
    if rng.random() < 0.7:
        out["first_meeting_at"] = claimed + timedelta(days=rng.uniform(0, 14))
    if rng.random() < 0.5:
        out["job_search_at"] = created + timedelta(days=rng.uniform(2, 60))
    if rng.random() < 0.5:
        out["case_outcome"] = rng.choice(CASE_OUTCOMES)
        out["outcome_at"] = claimed + timedelta(days=rng.uniform(20, 200))
    return out


def followup(rng: random.Random, referral: Referral, candidate_id: int, key: str) -> FollowUp:
    status = rng.choice(FOLLOWUP_STATUSES)
    due = referral.created_at + timedelta(days=182 if key == "6m" else 365)
    state: dict[str, Any] = {"at": "done", "status": None, "answers": {}, "results": {}}
    if status == "answered":
        state["status"] = rng.choice(WORK_STATUSES)
        if key == "6m" and rng.random() < 0.8:
            state["results"]["mansa"] = {"mean": round(rng.uniform(1, 7), 2)}
    row = FollowUp(candidate_id=candidate_id, referral_id=referral.id, programme_id=referral.programme_id, key=key,
                   due_at=due, sent_at=due, status=status, version=0, state=state,
                   answered_at=due + timedelta(days=1) if status == "answered" else None)
    return row


def escalation(rng: random.Random, candidate_id: int, referral: Referral, opened: datetime, seen: datetime | None,
               followup_id: int | None = None) -> Escalation:
    """An urgent case's escalation: opened at the risk answer, seen by a person then (None: not yet)."""
    return Escalation(candidate_id=candidate_id, programme_id=referral.programme_id,
                      cause="followup" if followup_id else "intake", referral_id=referral.id, followup_id=followup_id,
                      status="seen" if seen else "sent", rung=1, next_at=None if seen else opened + timedelta(hours=6),
                      told=[1], opened_at=opened, sent_at=opened, seen_at=seen, seen_by=1 if seen else None)


async def seed(factory: async_sessionmaker[AsyncSession], payload: dict[str, Any], n: int, *, start: datetime,
               weeks: int = 20, seed_value: int = 22, batch: int = 500) -> None:
    """`n` people referred to "dash" over `weeks` weeks from `start`."""
    rng = random.Random(seed_value)
    for first in range(0, n, batch):
        async with UnitOfWork(factory) as uow:
            await seed_batch(uow.session, rng, payload, range(first, min(first + batch, n)), start, weeks, seed_value)


async def seed_batch(session: AsyncSession, rng: random.Random, payload: dict[str, Any], numbers: range,
                     start: datetime, weeks: int, seed_value: int) -> None:
    made = [start + timedelta(minutes=rng.uniform(0, weeks * 7 * 24 * 60)) for _ in numbers]
    candidates = [Candidate(subject_hash=f"seed-{seed_value}-{i}", channel="web", language="da", created_at=created)
                  for i, created in zip(numbers, made, strict=True)]
    session.add_all(candidates)
    await session.flush()
    intakes = [Intake(candidate_id=c.id, programme_id="dash", language="da", status="completed", state={},
                      started_at=c.created_at, updated_at=c.created_at, completed_at=c.created_at) for c in candidates]
    session.add_all(intakes)
    await session.flush()
    referrals = []
    for intake in intakes:
        created, urgent = intake.started_at, rng.random() < 0.12
        content = copy.deepcopy(payload)
        content["instruments"]["mansa"]["mean"] = round(rng.uniform(1, 7), 2)
        content["triage"]["urgent"] = urgent
        case = clocks(rng, created)
        referrals.append(Referral(intake_id=intake.id, programme_id="dash", language="da", created_at=created,
                                  outcome="eligible", reason="reason.target_group", urgent=urgent, priority=False,
                                  payload=content, over_cap=urgent and "claimed_at" in case and rng.random() < 0.3,
                                  **case))
        if urgent and rng.random() < 0.8:  # the risk answer, some minutes before the intake ended
            session.add(RiskEvent(candidate_id=intake.candidate_id, intake_id=intake.id, at=created - timedelta(
                minutes=rng.uniform(1, 20)), detail={"instrument": "phq9", "item": "9", "score": 1}))
    session.add_all(referrals)
    await session.flush()
    for intake, referral in zip(intakes, referrals, strict=True):
        if referral.urgent:  # seen when claimed, or (outside the target group) when someone pressed "Seen"
            opened = referral.created_at - timedelta(minutes=rng.uniform(1, 20))
            seen = referral.claimed_at
            if referral.status == "redirected":
                seen = referral.created_at + timedelta(hours=rng.uniform(0.5, 30)) if rng.random() < 0.6 else None
            session.add(escalation(rng, intake.candidate_id, referral, opened, seen))
        if referral.claimed_at is not None:
            for key in ("6m", "12m"):
                if rng.random() < 0.6:
                    row = followup(rng, referral, intake.candidate_id, key)
                    session.add(row)
                    if row.status == "answered" and rng.random() < 0.1:  # a risk answer at follow-up
                        await session.flush()
                        opened = row.due_at + timedelta(days=1)
                        seen = opened + timedelta(hours=rng.uniform(0.1, 30)) if rng.random() < 0.8 else None
                        session.add(escalation(rng, intake.candidate_id, referral, opened, seen, row.id))
