"""A model-based test of the promise "a risk answer ends with a person who has seen it" (issue 20).

Hypothesis walks random paths through the real intake service, casework and clocks on SQLite with a
manual clock: people on the chat or the web form start, answer (with or without a risk answer),
go back, restart, switch language, decline consent, delete themselves or simply stop; staff join,
are removed, claim and press "Seen"; time passes, and one of two processes (two services on the
same database, as `ipsbot run` and `ipsbot web` are) runs the clocks. After every step:

- every stored risk answer (a person's own /delete erases theirs) has been seen by a named person
  since it was given, or is still inside the programme's urgent window, or somebody on the ladder
  who is still there was sent the case with a button to take it ("Seen", "Claim", "Checked")
  within the last urgent window; only with nobody at all on the ladder may it wait;
- with the escalation table (the code since issue 20) it is also scheduled: each unseen one is
  pending or sent with its next step due within the urgent window, or waits for anyone only while
  the ladder is empty, and a sent one names someone told who is still there;
- what a candidate is told about who will call is true when it is said.

The invariant reads only what any version stores (risk events, the outbox, the audit trail, staff),
so the same file run against the code before issue 20 finds its faults (see docs/hazard-log.md,
H33). `MODEL_EXAMPLES` sets how many paths are walked (CI: the default below).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import ManualClock
from bot.services.intake import IntakeResult, IntakeService, Person
from flows.address import Address
from flows.answers import Command, Tap, Text
from flows.intake import IntakeFlow
from flows.programmes import Programme, Registry
from flows.screens import InputKind
from locales import Translator
from storage import crypto
from storage.db import make_engine, make_session_factory
from storage.models import AuditEvent, Base, Candidate, Intake, OutboxMessage, Referral, RiskEvent, Staff
from storage.repositories import UnitOfWork
from tests.support.people import tg
from tests.support.programmes import pilot_yaml

WINDOW_HOURS = 6
PILOT = pilot_yaml(f"""\
age: {{min: 15, max: 99}}
instruments: [phq9]
caseload_cap: 1
risk_abandon_hours: {WINDOW_HOURS}
urgent_window_hours: {WINDOW_HOURS}
""", triage="""\
  - when: {fact: age, gt: 60}
    outcome: refer-gp
    reason: reason.severe_symptoms
  - outcome: eligible
    reason: reason.target_group
""")
REGISTRY = Registry({"pilot": Programme.model_validate(yaml.safe_load(PILOT))})
FLOW = IntakeFlow(REGISTRY)
WINDOW = timedelta(hours=WINDOW_HOURS)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEEN_ACTIONS = frozenset({"escalation.seen", "referral.claimed", "followup.risk_seen", "referral.checked"})
TAKE_BUTTONS = frozenset({"seen", "claim", "checked"})
PLAN = {"language": "da", "consent": "yes", "q.name": "Model", "q.age": "30", "q.municipality": "Vejle",
        "q.phone": "+4512345678", "q.email": "model@example.org"}
EXAMPLES = int(os.environ.get("MODEL_EXAMPLES", "150"))
DA = Translator("da")

try:  # the clocks of every process since issue 20
    from bot.services.clocks import tick
except ImportError:  # the code before: what the Telegram runtime's loop called
    tick = None


async def run_clocks(svc: IntakeService, uow: UnitOfWork, now: datetime) -> None:
    if tick is not None:
        await tick(svc, uow, now)
        return
    old: Any = svc
    await old.casework.resend_urgent(uow, now)
    await old.sweep_abandoned(uow, now)
    await old.casework.followups.schedule(uow, now)
    await old.casework.followups.resend_alerts(uow, now)


def person(index: int) -> Person:
    """Two people on the chat, two on the web form (no address: reached only in reply)."""
    if index < 2:
        return Person("telegram", str(500 + index), language="da", address=Address("telegram", str(500 + index)))
    return Person("web", f"w{index}", language="da")


def asking(outcome: IntakeResult | None) -> Any:
    if outcome is None:
        return None
    return next((s for s in reversed(outcome.screens) if s.asks), None)


class EscalationModel(RuleBasedStateMachine):
    """The intake, casework and clocks as one system, driven at random."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = tempfile.TemporaryDirectory()
        self.clock = ManualClock(START)
        self.engine: AsyncEngine | None = None
        self.outcomes: dict[int, IntakeResult | None] = {}
        self.staff: list[tuple[Any, str]] = []  # (who, role) in the order they joined
        self.next_staff = 900

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @initialize()
    def open_database(self) -> None:
        crypto.configure(crypto.Cipher([Fernet.generate_key()], Fernet.generate_key()))
        url = f"sqlite+aiosqlite:///{Path(self.folder.name) / 'model.db'}"
        self.engine = make_engine(url)

        async def create() -> None:
            assert self.engine is not None
            async with self.engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)

        self.run(create())
        sessions = make_session_factory(self.engine)
        # two processes on one database (e.g. `ipsbot run` and `ipsbot web`), each with its own services
        self.processes = [IntakeService(lambda: UnitOfWork(sessions), FLOW, self.clock) for _ in range(2)]
        self.svc = self.processes[0]
        self.uow = lambda: UnitOfWork(sessions)
        for who in range(4):  # everyone has opened the link; what they do next is drawn
            self.start(who, who % 2)

    def teardown(self) -> None:
        if self.engine is not None:
            self.run(self.engine.dispose())
        self.loop.close()
        self.folder.cleanup()
        crypto.configure(None)

    # --- candidates -------------------------------------------------------------------------------

    @rule(who=st.integers(0, 3), channel=st.integers(0, 1))
    def start(self, who: int, channel: int) -> None:
        self.outcomes[who] = self.run(self.processes[channel].start(person(who), "pilot"))

    @rule(who=st.integers(0, 3), risky=st.booleans(), older=st.booleans(), count=st.integers(1, 40))
    def answer(self, who: int, risky: bool, older: bool, count: int) -> None:
        for _ in range(count):
            screen = asking(self.outcomes.get(who))
            if screen is None or self.outcomes[who].state.get("status") != "active":  # type: ignore[union-attr]
                return
            self.outcomes[who] = self.run(self._answer(who, screen, risky, older))
            self._told_truly(self.outcomes[who])

    async def _answer(self, who: int, screen: Any, risky: bool, older: bool) -> IntakeResult:
        plan = {**PLAN, "phq9.9": "2" if risky else "0", "q.age": "70" if older else "30"}
        value = plan.get(screen.step, "1" if screen.step.startswith("phq9.") else "")
        if who >= 2 and screen.step == "phq9.9":  # a web page: its risk answers are noted first
            await self.svc.note_risks(person(who), {"phq9.9": value})
        if screen.kind is InputKind.CHOICE:
            ids = [b.id for b in screen.buttons]
            return await self.svc.answer(person(who), Tap(screen.step, screen.version,
                                                          value if value in ids else ids[0]))
        return await self.svc.answer(person(who), Text(value or "Model"))

    @rule(who=st.integers(0, 3))
    def decline(self, who: int) -> None:
        screen = asking(self.outcomes.get(who))
        if screen is not None and screen.step == "consent":
            self.outcomes[who] = self.run(self.svc.answer(person(who), Tap(screen.step, screen.version, "no")))

    @rule(who=st.integers(0, 3), command=st.sampled_from(["back", "language", "restart", "delete"]))
    def command(self, who: int, command: str) -> None:
        if self.outcomes.get(who) is None:
            return
        outcome = self.run(self.svc.answer(person(who), Command(command)))
        screen = asking(outcome)
        if command in ("restart", "delete") and screen is not None and "yes" in {b.id for b in screen.buttons}:
            outcome = self.run(self.svc.answer(person(who), Tap(screen.step, screen.version, "yes")))
        self.outcomes[who] = None if command == "delete" else outcome

    # --- staff ------------------------------------------------------------------------------------

    @rule(role=st.sampled_from(["consultant", "consultant", "coordinator", "operator"]))
    def join(self, role: str) -> None:
        if role == "operator" and tick is None:
            return  # the code before issue 20 had no operator
        who = tg(self.next_staff)
        self.next_staff += 1

        async def go() -> None:
            async with self.uow() as uow:
                code = await self.svc.casework.invite(uow, role=role, programme_id="pilot",
                                                      name=f"{role}-{who.chat_id}", now=self.clock.now())
                await self.svc.casework.join(uow, who, code, self.clock.now())

        self.run(go())
        self.staff.append((who, role))

    @precondition(lambda self: bool(self.staff))
    @rule(index=st.integers(0, 20))
    def remove(self, index: int) -> None:
        who, _ = self.staff.pop(index % len(self.staff))

        async def go() -> None:
            async with self.uow() as uow:
                member = await uow.staff.find(who.channel, who.external_id)
                if member is not None:
                    await self.svc.casework.remove_staff(uow, member.id, self.clock.now())

        self.run(go())

    @precondition(lambda self: bool(self.staff))
    @rule(index=st.integers(0, 20), take=st.sampled_from(sorted(TAKE_BUTTONS)))
    def press(self, index: int, take: str) -> None:
        """A member of staff presses a button to take a case on their latest message that has one."""
        who, _ = self.staff[index % len(self.staff)]

        async def go() -> None:
            async with self.uow() as uow:
                rows = (await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()))).all()
                for row in rows:
                    if row.payload.get("to") != who.address.to_dict():
                        continue
                    for screen in row.payload.get("screens", []):
                        if any(b[0] == take for b in screen.get("buttons", [])):
                            await self.svc.casework.press(uow, who, screen["step"], take, 1, self.clock.now())
                            return

        self.run(go())

    # --- time and the clocks ----------------------------------------------------------------------

    @rule(hours=st.sampled_from([0.5, 1, 2, 5, 7, 13, 30]), process=st.integers(0, 1))
    def time_passes(self, hours: float, process: int) -> None:
        self.clock.advance(hours=hours)

        async def go() -> None:
            async with self.uow() as uow:
                await run_clocks(self.processes[process], uow, self.clock.now())

        self.run(go())

    # --- what must hold ---------------------------------------------------------------------------

    def _told_truly(self, outcome: IntakeResult | None) -> None:
        """A candidate told that nobody can see their answers yet: true then (nobody on the ladder)."""
        if outcome is None:
            return
        text = "\n".join(s.text for s in outcome.screens)
        if DA("result.reach.nobody")[:40] in text:
            assert not self.run(self._ladder()), "told 'nobody can see it' while someone could"

    async def _ladder(self) -> list[Staff]:
        async with self.uow() as uow:
            staff = (await uow.session.scalars(select(Staff).where(Staff.active))).all()
            return [s for s in staff if s.role in ("consultant", "coordinator", "operator")]

    @invariant()
    def every_risk_answer_ends_with_a_person(self) -> None:
        if self.engine is None:
            return
        self.run(self._check())

    async def _check(self) -> None:
        now = self.clock.now()
        ladder = await self._ladder()
        present = {(s.contact["channel"], str(s.contact["id"])) for s in ladder}
        async with self.uow() as uow:
            risks = (await uow.session.scalars(select(RiskEvent))).all()
            owners = {rid: c for rid, c in (await uow.session.execute(
                select(Referral.id, Intake.candidate_id).join(Intake, Intake.id == Referral.intake_id))).all()}
            seen = [(a.at, owners.get(a.referral_id or -1)) for a in (await uow.session.scalars(
                select(AuditEvent).where(AuditEvent.action.in_(SEEN_ACTIONS)))).all()]
            messages = (await uow.session.scalars(select(OutboxMessage))).all()
            escalations = await uow.escalations.all_open() if hasattr(uow, "escalations") else None
            candidates = {c.id for c in (await uow.session.scalars(select(Candidate))).all()}
        event(f"risk answers stored: {min(len(risks), 3)}")
        event(f"referrals: {min(len(owners), 3)}")
        for risk in risks:
            assert risk.candidate_id in candidates
            if any(at >= risk.at and owner == risk.candidate_id for at, owner in seen):
                event("a risk answer seen by a named person")
                continue  # a named person saw it since
            if escalations is not None:
                await self._scheduled(risk, escalations, ladder, now)
            if now < risk.at + WINDOW or not ladder:
                continue  # still inside its window, or nobody at all to tell yet (it waits for them)
            since = max(risk.at, now - WINDOW)
            told = [m for m in messages if m.subject_id == risk.candidate_id and m.created_at >= since
                    and (m.payload.get("to", {}).get("channel"), str(m.payload.get("to", {}).get("id"))) in present
                    and any(b[0] in TAKE_BUTTONS for s in m.payload.get("screens", []) for b in s.get("buttons", []))]
            event("a risk answer past its window, taken to someone on the ladder")
            assert told, (f"a risk answer given {now - risk.at} ago is unseen, and nobody on the ladder who is "
                          f"still there was sent it with a button in the last {WINDOW}")

    @staticmethod
    async def _scheduled(risk: RiskEvent, escalations: list[Any], ladder: list[Staff], now: datetime) -> None:
        mine = [e for e in escalations if e.candidate_id == risk.candidate_id]
        assert mine, "an unseen risk answer has no open escalation"
        for row in mine:
            if row.status == "unreached":
                assert not ladder, "an escalation waits for anyone while someone is on the ladder"
            else:
                assert row.next_at is not None and now < row.next_at <= now + WINDOW, (row.status, row.next_at)
            if row.status == "sent":
                assert set(row.told) & {s.id for s in ladder}, "the next step is addressed to nobody still there"


# no explain phase: its tracing makes a found failure take minutes to report
EscalationModel.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=40, deadline=None,
                                             suppress_health_check=[HealthCheck.too_slow],
                                             phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
TestEscalationModel = EscalationModel.TestCase
