"""A programme's municipalities (Jönköping: the four its description names): shortcuts when asked, and a fact
for the rules."""

from __future__ import annotations

import pytest

from flows.programmes import Registry
from flows.referral import build_facts
from flows.state import State
from tests.support.flow import FLOW, Walker

JONKOPING = Registry.load()["jonkoping"]


def test_jonkoping_names_only_the_municipalities_of_its_description() -> None:
    # "Jönköping, Mullsjö, Habo och Vaggeryd" (issue 20 point 9), not the county's 13
    assert JONKOPING.municipalities == ("Jönköping", "Mullsjö", "Habo", "Vaggeryd")
    assert not Registry.load()["vejle"].municipalities


@pytest.mark.parametrize(("typed", "inside"), [("Jönköping", True), ("jonkoping", True), ("Jönköpings kommun", True),
                                               ("Habo kommun", True), ("Mullsjo", True), ("Vaggeryd", True),
                                               ("Tranås kommun", False), ("Gnosjo", False), ("Malmö", False),
                                               ("Jkpg", False)])
def test_municipality_in_area(typed: str, inside: bool) -> None:
    assert JONKOPING.in_area(typed) is inside


def test_the_municipality_question_offers_them_and_a_tap_or_a_number_answers_it() -> None:
    walker = Walker("jonkoping", "sv")
    walker.run_until("q.municipality", {"language": "sv"})
    assert [b.id for b in walker.screen.buttons] == list(JONKOPING.municipalities)
    walker.type("1")  # the first: Jönköping
    assert walker.state["answers"]["municipality"] == "Jönköping"
    typed = Walker("jonkoping", "sv")
    typed.run_until("q.municipality", {"language": "sv"})
    typed.type("Malmö")  # typing any other name still works
    assert typed.state["answers"]["municipality"] == "Malmö"
    tapped = Walker("jonkoping", "sv")
    tapped.run_until("q.municipality", {"language": "sv"})
    tapped.tap("Vaggeryd")
    assert tapped.state["answers"]["municipality"] == "Vaggeryd"


def test_the_fact_reaches_triage_and_nobody_is_excluded_for_it() -> None:
    for place, inside in (("Habo", True), ("Malmö", False)):
        walker = Walker("jonkoping", "sv")
        walker.run({"language": "sv", "q.municipality": place}, default_score=0)
        state = State.from_dict(walker.state)
        facts, _ = build_facts(state, JONKOPING, FLOW._sequence(state))
        assert facts["municipality_in_area"] is inside
        (referral,) = walker.events("completed")
        assert referral["triage"]["outcome"] == "eligible"  # zero exclusion until the programme says otherwise
