"""A scripted candidate for the flow: answers each question from a plan, as a person would."""

from __future__ import annotations

from typing import Any

from flows.answers import Answer, Command, Tap, Text
from flows.intake import IntakeFlow, Reply
from flows.programmes import Registry
from flows.screens import InputKind, Screen
from tests.support.walk import Plan, PlanAnswer, Press, Question, Type, at_once, walk

REGISTRY = Registry.load()
FLOW = IntakeFlow(REGISTRY)


class Walker:
    def __init__(self, programme: str | None = "reconnect", lang: str | None = "da",
                 flow: IntakeFlow = FLOW) -> None:
        self.flow = flow
        self.reply: Reply = flow.begin(programme, lang)
        self.log: list[Reply] = [self.reply]

    @property
    def state(self) -> dict[str, Any]:
        return self.reply.state

    @property
    def screen(self) -> Screen:
        asking = self.reply.asking
        assert asking is not None, f"nothing is asked at {self.state['step']}"
        return asking

    def send(self, answer: Answer) -> Reply:
        self.reply = self.flow.handle(self.state, answer)
        self.log.append(self.reply)
        return self.reply

    def tap(self, button: str) -> Reply:
        screen = self.screen
        return self.send(Tap(screen.step, screen.version, button))

    def type(self, text: str) -> Reply:
        return self.send(Text(text))

    def command(self, name: str, arg: str = "") -> Reply:
        return self.send(Command(name, arg))

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e.data for r in self.log for e in r.events if e.kind == kind]

    def answer_current(self, plan: dict[str, Any], default_score: int = 1) -> Reply:
        """Answer the question asked now, as `plan` (over `TYPICAL`) says."""
        port = FlowPort(self)
        for answer in flow_plan(plan, default_score).answer(port.question()):
            at_once(port.send(answer))
        return self.reply

    def run(self, plan: dict[str, Any] | None = None, default_score: int = 1, limit: int = 200) -> Reply:
        """Answer until the intake ends; returns the last reply."""
        at_once(walk(FlowPort(self), flow_plan(plan, default_score), limit=limit))
        return self.reply

    def run_until(self, step: str, plan: dict[str, Any] | None = None, default_score: int = 1) -> None:
        at_once(walk(FlowPort(self), flow_plan(plan, default_score), until=step))


def flow_plan(plan: dict[str, Any] | None, default_score: int) -> Plan:
    """The flow's walker: a step not planned gets `default_score`; a choice not offered, the last one."""
    return Plan.typical(plan, default=str(default_score), unoffered="last")


class FlowPort:
    """The flow as a port: the screen asking now, answered by taps and typing."""

    def __init__(self, walker: Walker) -> None:
        self.walker = walker

    def question(self) -> Question:
        screen, state = self.walker.screen, self.walker.state
        choice = screen.kind is InputKind.CHOICE
        return Question(screen.step, tuple(b.id for b in screen.buttons) if choice else (), typed=not choice,
                        at="" if state.get("overlay") else state["step"])

    async def current(self) -> Question | None:
        state = self.walker.state
        if state["status"] != "active":
            return Question("", at="" if state.get("overlay") else state["step"], ended=True)
        return self.question()

    async def send(self, answer: PlanAnswer) -> None:
        if isinstance(answer, Press):
            self.walker.tap(answer.button)
        elif isinstance(answer, Type):
            self.walker.type(answer.text)
        else:
            raise TypeError(f"the flow asks one question at a time, not {answer!r}")
