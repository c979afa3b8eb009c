"""The follow-up dialogue (flows/followup.py) without storage: status, instruments, risk, later, stop."""

from __future__ import annotations

from flows import followup
from flows.programmes import Registry
from flows.screens import Tone
from locales import Translator

REGISTRY = Registry.load()
JONKOPING = REGISTRY["jonkoping"]
TWO_MONTHS = JONKOPING.followups[0]
SV = Translator("sv")


def test_status_then_each_mansa_item_then_thanks_with_the_mean() -> None:
    state = followup.begin()
    first = followup.screen(state, TWO_MONTHS, JONKOPING, "sv", 7, 0)
    assert first.step == "fu.7" and [b.id for b in first.buttons][-2:] == ["later", "stop"]
    reply = followup.answer(state, TWO_MONTHS, JONKOPING, "sv", "s:job")
    assert reply.accepted and reply.state["status"] == "job" and reply.state["at"] == "mansa.friend"
    question = followup.screen(reply.state, TWO_MONTHS, JONKOPING, "sv", 7, 1)
    assert [b.label for b in question.buttons] == [SV("mansa.yes"), SV("mansa.no")]
    state = reply.state
    for score in ["1", "1", "0", "0"] + ["5"] * 11 + ["6"]:
        reply = followup.answer(state, TWO_MONTHS, JONKOPING, "sv", score)
        assert reply.accepted
        state = reply.state
    assert reply.done and reply.screens[-1].text == SV("followup.thanks")
    assert state["results"]["mansa"]["mean"] == round(61 / 12, 2)


def test_a_button_that_does_not_fit_changes_nothing() -> None:
    state = followup.begin()
    for button in ("s:millionaire", "3", "", "s:"):
        reply = followup.answer(state, TWO_MONTHS, JONKOPING, "sv", button)
        assert not reply.accepted and reply.state == state
    state = followup.answer(state, TWO_MONTHS, JONKOPING, "sv", "s:none").state
    assert not followup.answer(state, TWO_MONTHS, JONKOPING, "sv", "2").accepted  # yes/no: only 1 or 0


def test_later_and_stop() -> None:
    later = followup.answer(followup.begin(), TWO_MONTHS, JONKOPING, "sv", "later")
    assert later.later and not later.accepted and later.screens[0].text == SV("followup.later_ok")
    assert followup.answer(followup.begin(), TWO_MONTHS, JONKOPING, "sv", "stop").stop


def test_a_risk_answer_shows_crisis_help_first() -> None:
    sjaelland = REGISTRY["sjaelland"]
    spec = TWO_MONTHS.model_copy(update={"instruments": ("phq9",)})
    state = followup.answer(followup.begin(), spec, sjaelland, "da", "s:looking").state
    for _ in range(8):
        state = followup.answer(state, spec, sjaelland, "da", "0").state
    reply = followup.answer(state, spec, sjaelland, "da", "1")
    assert [(r.instrument, r.item, r.score) for r in reply.risks] == [("phq9", "9", 1)]
    assert reply.screens[0].tone is Tone.CRISIS and "112" in reply.screens[0].text


def test_what_counts_as_work_or_education_is_the_programmes_own_definition() -> None:
    assert followup.counts("job", JONKOPING) and followup.counts("education", JONKOPING)
    assert not followup.counts("supported_job", JONKOPING)  # Jönköping: no subsidised work
    assert followup.counts("supported_job", REGISTRY["reconnect"]) == ("flex" in REGISTRY["reconnect"].outcome_counts)
    assert not followup.counts("looking", JONKOPING) and not followup.counts(None, JONKOPING)
