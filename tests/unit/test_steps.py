"""Steps, buttons and events are typed values whose serialised forms are what the database and button
payloads already hold; flows/ checks with exceptions, not `assert`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from flows.events import EventKind
from flows.state import State
from flows.steps import ButtonId, Overlay, Step, StepKind, sequence
from tests.support.flow import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("programme_id", sorted(p.id for p in REGISTRY.all()))
def test_every_step_of_every_programme_parses_and_writes_back_the_same(programme_id: str) -> None:
    programme = REGISTRY[programme_id]
    # every follow-up asked: contact by phone, substance at B (treatment motivation)
    state = State(programme=programme_id, answers={"contact": "phone", "substance": "B"})
    steps = sequence(state, programme)
    assert steps[0] == "programme" and steps[-1] == "summary"
    for raw in [*steps, "result", "declined"]:
        step = Step.parse(raw)
        assert step is not None, raw
        assert str(step) == raw
    kinds = {Step.parse(s).kind for s in steps}  # type: ignore[union-attr]
    assert {StepKind.QUESTION, StepKind.ITEM, StepKind.INFO} <= kinds


def test_parsed_steps_say_what_they_are() -> None:
    assert Step.parse("mdi.6") == Step(StepKind.ITEM, "6", "mdi")
    assert Step.parse("q.age") == Step(StepKind.QUESTION, "age")
    assert Step.parse("info.help") == Step(StepKind.INFO, "help")
    assert Step.parse("q.age").question.id == "age"  # type: ignore[union-attr]
    instrument, item = Step.parse("phq9.9").item  # type: ignore[union-attr,misc]
    assert instrument.id == "phq9" and item == "9"


@pytest.mark.parametrize("raw", ["", "q.", "q.nonsense", "info.other", "nosuch.1", "mdi", "summary@correct"])
def test_an_unknown_step_is_none(raw: str) -> None:
    assert Step.parse(raw) is None


def test_serialised_names_are_unchanged() -> None:
    """Stored events, states and callback data written before keep their meaning."""
    assert [e.value for e in EventKind] == ["consent", "declined", "completed", "risk", "language", "restart",
                                            "delete", "mydata"]
    assert {b.value for b in ButtonId} == {"back", "skip", "done", "next", "yes", "no", "confirm", "correct",
                                           "cancel"}
    assert {o.value for o in Overlay} == {"language", "correct", "restart", "delete", "consent"}


def test_no_assert_in_production_code_under_flows() -> None:
    found = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in sorted((ROOT / "flows").rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.Assert)]
    assert not found, found
