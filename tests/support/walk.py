"""One walker for every port: a candidate who answers each question from a plan.

A port is how a test reaches the intake: the flow itself, a service, the fake Bot API, the web form.
Each shows the question asked now as a `Question` (`current`) and takes an answer (`send`); `walk`
answers question after question from a `Plan` until the intake ends or a step is reached. What a
plan answers to a question is decided here once, for every port.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

# What a typical candidate answers, by step; instrument items not listed get the plan's default.
TYPICAL: dict[str, Any] = {
    "programme": "reconnect", "language": "da", "info.ips": "next", "info.screening": "next",
    "info.help": "next", "consent": "yes", "q.name": "Ana", "q.age": "19", "q.municipality": "Hjørring",
    "q.situation": "unemployed", "q.support": "uddannelseshjaelp", "q.treatment": "in_treatment",
    "q.contact": "chat", "q.phone": "+45 12 34 56 78", "q.email": "ana@example.dk", "q.substance": "A",
    "q.diagnoses": ["anxiety", "depression"], "q.substance_treatment": "yes",
    "q.goal": "work", "q.dream": "Work in a bike shop", "q.background": "9th grade, a summer job",
    "q.strengths": "Fixing things", "q.hours": "10_20", "q.worries": "Being tired",
    "q.disclosure": "partly", "q.support_wanted": "Someone to go with me the first time",
    "q.support_se": "other", "summary": "confirm",
    "mdi.6": 0,  # any other answer to MDI item 6 is a risk answer (see mdi.yaml)
}


@dataclass(frozen=True)
class Question:
    """What a port shows now. `choices` are the answer buttons, `nav` the navigation ones (back,
    skip); `typed` when the answer is a text; `items` when one page asks several items at once (the
    web form's questionnaire); `at` is where the person is when that is not `step` (an overlay)."""


    step: str
    choices: tuple[str, ...] = ()
    nav: tuple[str, ...] = ()
    typed: bool = False
    items: tuple[str, ...] = ()
    at: str | None = None
    chosen: frozenset[str] = frozenset()  # options of a multiple choice already on, where the port shows them
    ended: bool = False  # the intake is over, at `at` (e.g. its result): nothing more to answer

    def reached(self, stop: str) -> bool:
        """At `stop`: a step, or an instrument id for any of its items."""
        where = self.step if self.at is None else self.at
        return where == stop or where.startswith(stop + ".")


@dataclass(frozen=True)
class Press:
    button: str


@dataclass(frozen=True)
class Type:
    text: str


@dataclass(frozen=True)
class Fill:
    """Every item of a page at once: item -> chosen value."""

    values: dict[str, str]


PlanAnswer = Press | Type | Fill


@dataclass(frozen=True)
class Plan:
    """What to answer, by step. A step the plan does not name gets `default` (or the first choice
    when `default` is None or not offered; `text`, when set, for a typed answer), a planned choice
    the question does not offer gets the first or last choice (`unoffered`: e.g. a Danish support
    answer on a Swedish list), an item on a page of items gets `score`."""

    answers: Mapping[str, Any] = field(default_factory=lambda: TYPICAL)
    default: str | None = "1"
    text: str | None = None
    unoffered: Literal["first", "last"] = "last"
    score: str = "1"

    @classmethod
    def typical(cls, plan: Mapping[str, Any] | None = None, **how: Any) -> Plan:
        """The plan over `TYPICAL`: the plan's own answers first."""
        return cls({**TYPICAL, **(plan or {})}, **how)

    def answer(self, question: Question) -> list[PlanAnswer]:
        """The answers to send: one, or for a multiple choice each option not yet on, then done."""
        if question.items:
            return [Fill({item: str(self.answers.get(item, self.score)) for item in question.items})]
        value = self.answers.get(question.step)
        if isinstance(value, list):
            return [*(Press(option) for option in value if option not in question.chosen), Press("done")]
        if value is None:
            return [self._unplanned(question)]
        value = str(value)
        if value in question.choices or value in question.nav:
            return [Press(value)]
        if question.typed or not question.choices:
            return [Type(value)]
        return [Press(question.choices[0] if self.unoffered == "first" else question.choices[-1])]

    def _unplanned(self, question: Question) -> PlanAnswer:
        if question.typed or not question.choices:
            return Type(self.text or self.default or "")
        return Press(self.default if self.default in question.choices else question.choices[0])


class Ended(AssertionError):
    """The intake ended before the step a walk was to stop at."""


class Port(Protocol):
    """A way to the intake: the question shown now (None once nothing is asked), and an answer."""

    async def current(self) -> Question | None: ...

    async def send(self, answer: PlanAnswer) -> None: ...


async def walk(port: Port, plan: Plan, *, until: str | None = None, limit: int = 200) -> Question | None:
    """Answer from `plan` until the intake ends (returns None) or, with `until`, until that step is
    asked (returns its question; the intake ending first fails)."""
    for _ in range(limit):
        question = await port.current()
        if until is not None and question is not None and question.reached(until):
            return question
        if question is None or question.ended:
            if until is None:
                return None
            raise Ended(f"the intake ended before {until}")
        for answer in plan.answer(question):
            await port.send(answer)
    raise AssertionError(f"never reached {until}" if until else f"the intake did not end within {limit} answers")


T = TypeVar("T")


def at_once(walking: Coroutine[Any, Any, T]) -> T:
    """The result of a walk through a port that never waits (the flow's), without an event loop."""
    try:
        walking.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    walking.close()
    raise RuntimeError("the port waited: walk it in an event loop")
