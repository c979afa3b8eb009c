"""A scripted candidate for the flow: answers each question from a plan, as a person would."""

from __future__ import annotations

from typing import Any

from flows.answers import Answer, Command, Tap, Text
from flows.intake import IntakeFlow, Reply
from flows.programmes import Registry
from flows.screens import InputKind, Screen
from tests.support.walk import TYPICAL

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
        screen = self.screen
        step = screen.step
        value = plan.get(step, TYPICAL.get(step))
        if value is None:
            value = default_score
            if step not in {b.id for b in screen.buttons} and str(value) not in {b.id for b in screen.buttons}:
                value = screen.buttons[0].id
        if isinstance(value, list):  # a multiple-choice question: each option on, then done
            for option in value:
                self.tap(option)
            return self.tap("done")
        if screen.kind is InputKind.CHOICE:
            value = str(value)
            if value not in {b.id for b in screen.buttons}:  # e.g. a Swedish support list
                value = screen.buttons[-1].id
            return self.tap(value)
        return self.type(str(value))

    def run(self, plan: dict[str, Any] | None = None, default_score: int = 1, limit: int = 200) -> Reply:
        """Answer until the intake ends; returns the last reply."""
        for _ in range(limit):
            if self.state["status"] != "active":
                return self.reply
            self.answer_current(plan or {}, default_score)
        raise AssertionError(f"intake did not end within {limit} answers; at {self.state['step']}")

    def run_until(self, step: str, plan: dict[str, Any] | None = None, default_score: int = 1) -> None:
        for _ in range(200):
            if self.state["step"] == step and not self.state.get("overlay"):
                return
            self.answer_current(plan or {}, default_score)
        raise AssertionError(f"never reached {step}")
