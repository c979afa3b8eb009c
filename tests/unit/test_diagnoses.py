"""The diagnosis-areas question (a multiple-choice question) and the substance follow-up, in the real flow."""

from __future__ import annotations

from flows.screens import InputKind
from locales import Translator
from tests.support.flow import Walker

DA = Translator("da")


def test_vejle_asks_the_diagnosis_areas_right_after_treatment_and_reconnect_does_not() -> None:
    vejle = Walker("vejle", "da")
    vejle.run_until("q.diagnoses", {"q.age": "40"})
    assert vejle.state["history"][-1] == "q.treatment"
    screen = vejle.screen
    assert screen.kind is InputKind.CHOICE and screen.text.startswith(DA("q.diagnoses"))
    assert [b.id for b in screen.buttons][-1] == "done"
    assert {"anxiety", "depression", "isolation", "trauma", "psychosis", "dont_know"} <= {b.id for b in screen.buttons}
    reconnect = Walker("reconnect", "da")
    reconnect.run()
    assert "q.diagnoses" not in reconnect.state["history"]


def test_options_toggle_on_and_off_and_done_answers_with_a_list() -> None:
    walker = Walker("hjorring", "da")
    walker.run_until("q.diagnoses", {"q.age": "35"})
    walker.tap("anxiety")
    walker.tap("adhd")
    labels = {b.id: b.label for b in walker.screen.buttons}
    assert labels["anxiety"] == DA("option.chosen", label=DA("q.diagnoses.anxiety")) == "✓ Angst"
    assert labels["depression"] == DA("q.diagnoses.depression")
    walker.tap("adhd")  # off again
    assert walker.state["answers"]["diagnoses"] == ["anxiety"]
    walker.type("2")  # by number, as in the console: the second option (depression)
    assert walker.state["answers"]["diagnoses"] == ["anxiety", "depression"]
    assert walker.state["step"] == "q.diagnoses"  # still here until "done"
    walker.tap("done")
    assert walker.state["step"] == "q.contact"
    assert walker.state["answers"]["diagnoses"] == ["anxiety", "depression"]


def test_dont_know_and_none_stand_alone_and_done_needs_a_choice() -> None:
    walker = Walker("hjorring", "da")
    walker.run_until("q.diagnoses", {"q.age": "35"})
    reply = walker.tap("done")
    assert DA("error.choose_some") in reply.screens[0].text and walker.state["step"] == "q.diagnoses"
    walker.tap("anxiety")
    walker.tap("dont_know")
    assert walker.state["answers"]["diagnoses"] == ["dont_know"]
    walker.tap("trauma")
    assert walker.state["answers"]["diagnoses"] == ["trauma"]
    walker.tap("none")
    assert walker.state["answers"]["diagnoses"] == ["none"]


def test_the_answer_reaches_the_referral_and_triage_and_can_be_corrected() -> None:
    walker = Walker("hjorring", "da")
    plan = {"q.age": "35", "q.diagnoses": ["anxiety"], **{f"gad7.{i}": 2 for i in range(1, 8)}}
    walker.run_until("summary", plan, default_score=0)
    assert f"{DA('q.diagnoses.short')}: {DA('q.diagnoses.anxiety')}" in walker.screen.text
    walker.tap("correct")
    walker.tap("q.diagnoses")
    walker.tap("psychosis")
    walker.tap("done")
    assert walker.state["step"] == "summary"
    walker.tap("confirm")
    (referral,) = walker.events("completed")
    assert referral["candidate"]["diagnoses"] == ["anxiety", "psychosis"]
    # anxiety is no longer the only area: not the coping course
    assert referral["triage"]["outcome"] == "eligible"


def test_anxiety_as_the_only_area_goes_to_the_coping_course() -> None:
    walker = Walker("hjorring", "da")
    walker.run({"q.age": "35", "q.diagnoses": ["anxiety"], **{f"gad7.{i}": 2 for i in range(1, 8)}},
               default_score=0)
    (referral,) = walker.events("completed")
    assert referral["triage"]["outcome"] == "refer-coping-course"


def test_substance_b_or_c_asks_about_motivation_for_treatment() -> None:
    for level, asked in (("A", False), ("B", True), ("C", True), ("D", False)):
        walker = Walker("hjorring", "da")
        walker.run({"q.age": "35", "q.substance": level, "q.substance_treatment": "maybe"})
        (referral,) = walker.events("completed")
        assert ("q.substance_treatment" in walker.state["history"]) is asked, level
        assert referral["substance"] == level
        assert referral["substance_treatment"] == ("maybe" if asked else None)
