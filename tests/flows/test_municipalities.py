"""A programme's municipalities (Jönköping: the county's 13): shortcuts when asked, and a fact for the rules."""

from __future__ import annotations

import pytest

from flows.programmes import Registry
from flows.referral import build_facts
from flows.state import State
from tests.flows.walk import FLOW, Walker

JONKOPING = Registry.load()["jonkoping"]


def test_jonkoping_names_the_county_municipalities() -> None:
    assert len(JONKOPING.municipalities) == 13
    assert {"Jönköping", "Värnamo", "Nässjö", "Vetlanda", "Tranås"} <= set(JONKOPING.municipalities)
    assert not Registry.load()["vejle"].municipalities


@pytest.mark.parametrize(("typed", "inside"), [("Jönköping", True), ("jonkoping", True), ("Jönköpings kommun", True),
                                               ("Tranås kommun", True), ("Gnosjo", True), ("Malmö", False),
                                               ("Jkpg", False)])
def test_municipality_in_area(typed: str, inside: bool) -> None:
    assert JONKOPING.in_area(typed) is inside


def test_the_municipality_question_offers_them_and_a_tap_or_a_number_answers_it() -> None:
    walker = Walker("jonkoping", "sv")
    walker.run_until("q.municipality", {"language": "sv"})
    assert [b.id for b in walker.screen.buttons] == list(JONKOPING.municipalities)
    walker.type("6")  # the sixth: Jönköping
    assert walker.state["answers"]["municipality"] == "Jönköping"
    typed = Walker("jonkoping", "sv")
    typed.run_until("q.municipality", {"language": "sv"})
    typed.type("Malmö")  # typing any other name still works
    assert typed.state["answers"]["municipality"] == "Malmö"
    tapped = Walker("jonkoping", "sv")
    tapped.run_until("q.municipality", {"language": "sv"})
    tapped.tap("Värnamo")
    assert tapped.state["answers"]["municipality"] == "Värnamo"


def test_the_fact_reaches_triage_and_nobody_is_excluded_for_it() -> None:
    for place, inside in (("Habo", True), ("Malmö", False)):
        walker = Walker("jonkoping", "sv")
        walker.run({"language": "sv", "q.municipality": place}, default_score=0)
        state = State.from_dict(walker.state)
        facts, _ = build_facts(state, JONKOPING, FLOW._sequence(state))
        assert facts["municipality_in_area"] is inside
        (referral,) = walker.events("completed")
        assert referral["triage"]["outcome"] == "eligible"  # zero exclusion until the programme says otherwise
