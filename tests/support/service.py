"""The intake service as a port of the walker (tests/support/walk.py): a person answering through it."""

from __future__ import annotations

import contextlib
from typing import Any

from bot.services.intake import IntakeResult, IntakeService, Person
from flows.answers import Tap, Text
from flows.screens import InputKind, Screen
from tests.support.walk import Ended, Plan, PlanAnswer, Press, Question, Type, walk


def service_plan(plan: dict[str, Any], default: str = "0") -> Plan:
    """The service tests' walker: a step not planned gets `default`; a choice not offered, the first one."""
    return Plan.typical(plan, default=default, text=default, unoffered="first")


def asking(outcome: IntakeResult) -> Screen:
    return next(s for s in reversed(outcome.screens) if s.asks)


class ServicePort:
    """A person answering through the intake service; `outcome` is the service's latest answer.

    `overlay_stops`: whether a walk may stop at its step while an overlay (crisis help, a consent
    asked again) is shown over it."""

    def __init__(self, svc: IntakeService, person: Person, outcome: IntakeResult, *,
                 overlay_stops: bool = True) -> None:
        self.svc, self.person, self.outcome = svc, person, outcome
        self.overlay_stops = overlay_stops

    def question(self) -> Question:
        screen, state = asking(self.outcome), self.outcome.state
        choice = screen.kind is InputKind.CHOICE
        at = "" if state.get("overlay") and not self.overlay_stops else str(state.get("step"))
        return Question(screen.step, tuple(b.id for b in screen.buttons) if choice else (), typed=not choice, at=at)

    async def current(self) -> Question | None:
        if self.outcome.finished:
            return Question("", at=str(self.outcome.state.get("step")), ended=True)
        return self.question()

    async def send(self, answer: PlanAnswer) -> None:
        screen = asking(self.outcome)
        if isinstance(answer, Press):
            self.outcome = await self.svc.answer(self.person, Tap(screen.step, screen.version, answer.button))
        elif isinstance(answer, Type):
            self.outcome = await self.svc.answer(self.person, Text(answer.text))
        else:
            raise TypeError(f"the service takes one answer at a time, not {answer!r}")


async def answer_one(port: ServicePort, plan: dict[str, Any]) -> IntakeResult:
    """Answer the question asked now as `plan` (over `TYPICAL`) says."""
    for answer in service_plan(plan).answer(port.question()):
        await port.send(answer)
    return port.outcome


async def walk_until(port: ServicePort, plan: dict[str, Any], stop: str | None = None,
                     default: str = "0") -> IntakeResult:
    """Answer until the intake ends, or until `stop` is asked (an end before it is an end too)."""
    with contextlib.suppress(Ended):
        await walk(port, service_plan(plan, default), until=stop)
    return port.outcome
