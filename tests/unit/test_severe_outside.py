"""Severe symptoms outside the target group (issue 20 point 3): the result does not stop at "not the
right offer", it sends the person to their own doctor (in Sweden the vårdcentral or 1177) and shows
the crisis lines of their country and region, with the region's psychiatric number."""

from __future__ import annotations

from typing import Any

import pytest

from flows import instruments
from flows.screens import Tone
from locales import Translator
from tests.support.flow import Walker

DA = Translator("da")
SV = Translator("sv")

# MDI 45 with item 6 at "at no time" (every other item "all the time"): severe, no risk answer
MDI_45 = 5
# GAD-7 21: every item "nearly every day"; the MDI then 27 (moderate), item 6 at 0
GAD7_21 = 3


def finish(programme: str, lang: str, plan: dict[str, Any], default_score: int) -> Walker:
    walker = Walker(programme, lang)
    walker.run({"language": lang, **plan}, default_score=default_score)
    return walker


@pytest.mark.parametrize(("programme", "plan", "default_score", "severe", "psychiatry"), [
    ("reconnect", {"q.age": "25"}, GAD7_21, "gad7", "1813"),  # too old for RECONNECT
    ("reconnect", {"q.situation": "school"}, MDI_45, "mdi", "1813"),  # in school
    ("sjaelland", {"q.age": "40", "q.treatment": "none"}, MDI_45, "mdi", "1818"),  # not in treatment
    ("sjaelland", {"q.age": "40", "q.treatment": "none"}, GAD7_21, "gad7", "1818"),
    ("hjorring", {"q.age": "40", "q.substance": "E"}, MDI_45, "mdi", "70 15 03 00"),
])
def test_severe_symptoms_outside_the_target_group_get_their_doctor_and_the_crisis_lines(
        programme: str, plan: dict[str, Any], default_score: int, severe: str, psychiatry: str) -> None:
    walker = finish(programme, "da", plan, default_score)
    (referral,) = walker.events("completed")
    assert referral["triage"]["outcome"] == "not-in-target" and not referral["triage"]["urgent"]
    assert referral["instruments"][severe]["band"] == instruments.SEVERE
    (result,) = walker.reply.screens  # no risk answer: no crisis screen of its own
    assert result.tone is Tone.RESULT
    text = result.text
    assert DA("result.not-in-target") in text
    assert DA("result.severe_help.dk") in text
    assert "egen læge" in DA("result.severe_help.dk")
    for phone in ("112", "70 201 201", psychiatry):
        assert phone in text
    # the lines come before the programme's contact text, which stays last
    assert text.index("70 201 201") < text.index(walker.flow.registry[programme].contact_text("da"))
    assert walker.state["result"]["severe"] == [severe]


def test_in_sweden_the_vardcentral_and_1177() -> None:
    walker = finish("jonkoping", "sv", {"q.age": "40", "q.treatment": "none", "phq9.9": 0}, GAD7_21)
    (referral,) = walker.events("completed")
    assert referral["triage"]["outcome"] == "not-in-target"
    assert referral["instruments"]["phq9"]["band"] == "severe"  # 24 of 27, item 9 at 0
    text = walker.reply.screens[0].text
    assert SV("result.severe_help.se") in text and "vårdcentral" in text
    for phone in ("112", "90101", "1177"):
        assert phone in text
    assert "70 201 201" not in text and "Livslinien" not in text  # no Danish line in Sweden


def test_severe_by_the_icd10_algorithm_counts_as_severe() -> None:
    # the three core items at 4, five others at 3, the rest 0: ICD-10 severe with a total of 27 (moderate)
    plan = {"q.age": "25", **{f"mdi.{i}": 4 for i in ("1", "2", "3")},
            **{f"mdi.{i}": 3 for i in ("4", "5", "7", "8a", "9")}}
    walker = finish("reconnect", "da", plan, 0)
    (referral,) = walker.events("completed")
    mdi = referral["instruments"]["mdi"]
    assert (mdi["icd10"], mdi["band"], mdi["total"]) == ("severe", "moderate", 27)
    assert DA("result.severe_help.dk") in walker.reply.screens[0].text


def test_moderate_symptoms_outside_the_target_group_get_the_result_as_before() -> None:
    walker = finish("reconnect", "da", {"q.age": "25"}, 2)  # GAD-7 14 (moderate), MDI 18 (none)
    (referral,) = walker.events("completed")
    assert referral["instruments"]["gad7"]["band"] == "moderate"
    text = walker.reply.screens[0].text
    assert DA("result.severe_help.dk") not in text and "70 201 201" not in text
    assert walker.state["result"]["severe"] == []


def test_severe_and_eligible_goes_to_the_consultant_without_the_doctor_advice() -> None:
    walker = finish("jonkoping", "sv", {"q.age": "40", "phq9.9": 0}, GAD7_21)  # in treatment: eligible
    (referral,) = walker.events("completed")
    assert referral["triage"]["outcome"] == "eligible"
    assert SV("result.severe_help.se") not in walker.reply.screens[0].text


def test_severe_in_the_target_group_referred_to_the_gp_also_gets_the_crisis_lines() -> None:
    walker = finish("reconnect", "da", {}, GAD7_21)  # 19, unemployed, GAD-7 21: to the GP
    (referral,) = walker.events("completed")
    assert referral["triage"]["outcome"] == "refer-gp"
    text = walker.reply.screens[0].text
    assert DA("result.refer-gp") in text and DA("result.severe_now") in text
    assert DA("result.severe_help.dk") not in text  # the outcome already sends them to their doctor
    assert "1813" in text


def test_with_a_risk_answer_the_crisis_screen_follows_and_the_lines_are_not_doubled() -> None:
    walker = finish("reconnect", "da", {"q.age": "25", "mdi.6": 2}, MDI_45)
    (referral,) = walker.events("completed")
    assert referral["triage"]["outcome"] == "not-in-target" and referral["triage"]["urgent"]
    result, crisis = walker.reply.screens
    assert DA("result.severe_help.dk") in result.text and "70 201 201" not in result.text
    assert crisis.tone is Tone.CRISIS and "70 201 201" in crisis.text and "1813" in crisis.text
