"""The steps of an intake, as typed values, and the order they come in.

A step is stored in the conversation state and in button payloads as a string (``language``,
``info.ips``, ``q.age``, ``mdi.6``); ``Step.parse`` reads it into a `Step` once, so the step machine
dispatches on its kind instead of taking strings apart, and ``str(step)`` writes it back unchanged.
The sequence is derived from the programme and the answers so far, so nothing about "where we are"
is stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from flows import instruments, questions
from flows.questions import Question

if TYPE_CHECKING:
    from flows.programmes import Programme
    from flows.state import State

INFO_NAMES = ("ips", "screening", "help")
INFO_STEPS = tuple(f"info.{name}" for name in INFO_NAMES)  # their serialised forms (and message ids)


class StepKind(StrEnum):
    PROGRAMME = "programme"  # which programme (when no start link named one)
    LANGUAGE = "language"
    INFO = "info"  # what IPS is, that this is a screening, where to get help now
    CONSENT = "consent"
    QUESTION = "question"  # one of flows/questions.py
    ITEM = "item"  # an instrument item
    SUMMARY = "summary"  # check and confirm or correct
    RESULT = "result"  # the end, after confirming
    DECLINED = "declined"  # the end, after refusing consent


# The steps that are their kind's name, written as it.
_PLAIN = {k.value: k for k in (StepKind.PROGRAMME, StepKind.LANGUAGE, StepKind.CONSENT, StepKind.SUMMARY,
                               StepKind.RESULT, StepKind.DECLINED)}


@dataclass(frozen=True, slots=True)
class Step:
    """One step: its kind and, for an info page, a question or an item, which one."""

    kind: StepKind
    name: str = ""  # info page ("ips"), question id ("age") or item id ("6")
    instrument: str = ""  # for an item: the instrument id

    @classmethod
    def parse(cls, raw: str) -> Step | None:
        """The step a stored string names; None for one this installation does not know."""
        return _parse(raw, instruments.available())  # keyed by the instruments: INSTRUMENTS_DIR may change

    def __str__(self) -> str:
        if self.kind is StepKind.INFO:
            return f"info.{self.name}"
        if self.kind is StepKind.QUESTION:
            return f"q.{self.name}"
        if self.kind is StepKind.ITEM:
            return f"{self.instrument}.{self.name}"
        return self.kind.value

    @property
    def question(self) -> Question | None:
        return questions.ALL[self.name] if self.kind is StepKind.QUESTION else None

    @property
    def item(self) -> tuple[instruments.Instrument, str] | None:
        """For an instrument item: the instrument and the item id."""
        return (instruments.load(self.instrument), self.name) if self.kind is StepKind.ITEM else None


@lru_cache(maxsize=4096)  # a few hundred distinct steps; parsed on every answer
def _parse(raw: str, catalogued: tuple[str, ...]) -> Step | None:
    plain = _PLAIN.get(raw)
    if plain is not None:
        return Step(plain)
    head, _, rest = raw.partition(".")
    if not rest:
        return None
    if head == "info":
        return Step(StepKind.INFO, rest) if rest in INFO_NAMES else None
    if head == "q":
        return Step(StepKind.QUESTION, rest) if rest in questions.ALL else None
    if head in catalogued:
        return Step(StepKind.ITEM, rest, head)
    return None


def question_step(question: Question) -> str:
    return f"q.{question.id}"


def answer_key(step: str) -> str:
    """Where a step's answer is kept in the state: the question id ("age") or the item ("mdi.6")."""
    return step.removeprefix("q.")


class ButtonId(StrEnum):
    """The ids of the intake's own buttons (answer options use their option ids or scores)."""

    BACK = "back"
    SKIP = "skip"
    DONE = "done"  # a multiple-choice question is answered
    NEXT = "next"
    YES = "yes"
    NO = "no"
    CONFIRM = "confirm"
    CORRECT = "correct"
    CANCEL = "cancel"


class Overlay(StrEnum):
    """A question on top of the current step (a command's, or the correction menu)."""

    LANGUAGE = "language"
    CORRECT = "correct"
    RESTART = "restart"
    DELETE = "delete"
    CONSENT = "consent"  # asked again after the consent text changed


def applies(question: Question, answers: dict[str, Any]) -> bool:
    """Is a follow-up asked, given the answers so far?"""
    if question.only_if is None:
        return True
    other, values = question.only_if
    return answers.get(other) in values


def sequence(state: State, programme: Programme | None) -> list[str]:
    """The steps of this intake in order (serialised), from its programme and the answers so far."""
    steps = [] if state.programme_fixed else [StepKind.PROGRAMME.value]
    steps += [StepKind.LANGUAGE.value, *INFO_STEPS, StepKind.CONSENT.value]
    if programme is None:
        return steps
    for q in questions.FACTS:
        if applies(q, state.answers):
            steps.append(question_step(q))
        if q.id == "treatment" and programme.diagnoses:
            steps.append(question_step(questions.DIAGNOSES))
    for iid in programme.instruments:
        steps += [f"{iid}.{item.id}" for item in instruments.load(iid).items]
    if programme.substance:
        steps += [question_step(q) for q in questions.SUBSTANCE if applies(q, state.answers)]
    steps += [question_step(q) for q in questions.MOTIVATION if applies(q, state.answers)]
    steps.append(StepKind.SUMMARY.value)
    return steps
