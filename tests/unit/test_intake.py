"""The intake dialogue, driven as a candidate would, with no adapter or database in between."""

from __future__ import annotations

import pytest

from flows.answers import Tap
from flows.consent import CONSENT_VERSION
from flows.screens import InputKind, Tone
from locales import Translator
from tests.support.flow import FLOW, Walker

DA = Translator("da")
SV = Translator("sv")


def test_full_intake_ends_eligible_with_one_referral() -> None:
    walker = Walker("reconnect", "da")
    reply = walker.run(default_score=1)  # GAD-7 7 (mild), MDI 9 (none; item 6 at 0)
    assert reply.state["status"] == "completed"
    (referral,) = walker.events("completed")
    assert referral["triage"]["outcome"] == "eligible"
    assert referral["instruments"]["gad7"]["total"] == 7
    assert referral["instruments"]["gad7"]["band"] == "mild"
    assert referral["instruments"]["mdi"]["total"] == 9
    assert referral["candidate"]["name"] == "Ana" and referral["candidate"]["age"] == 19
    assert referral["candidate"]["contact"] == {"preference": "chat"}
    assert referral["motivation"]["goal"] == "work"
    assert referral["consent"] == {"version": CONSENT_VERSION, "language": "da"}
    assert reply.screens[0].tone is Tone.RESULT
    assert DA("result.eligible") in reply.screens[0].text
    assert "7" not in reply.screens[0].text.replace("19", "")  # no scores shown to the candidate


def test_nothing_about_health_is_kept_before_consent_and_declining_ends_kindly() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("consent")
    assert walker.state["answers"] == {}
    reply = walker.tap("no")
    assert reply.state["status"] == "declined"
    assert walker.events("declined") == [{}]
    assert walker.events("consent") == []
    assert DA("declined.text") in reply.screens[0].text
    assert "jobcentret" in reply.screens[0].text  # the programme's contact text
    assert reply.state["answers"] == {}


def test_consent_is_an_event_with_version_and_language() -> None:
    walker = Walker("jonkoping", "sv")
    walker.run_until("q.name", {"language": "sv"})
    assert walker.events("consent") == [{"version": CONSENT_VERSION, "language": "sv"}]


def test_risk_answer_shows_crisis_help_before_the_next_question_and_marks_urgent() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("mdi.6")
    reply = walker.tap("3")
    crisis, question = reply.screens
    assert crisis.tone is Tone.CRISIS
    assert "112" in crisis.text and "70 201 201" in crisis.text
    assert question.step == "mdi.7"
    assert walker.events("risk") == [{"instrument": "mdi", "item": "6", "score": 3}]
    final = walker.run(default_score=1)
    (referral,) = walker.events("completed")
    assert referral["flags"] == ["risk"] and referral["triage"]["urgent"] is True
    assert referral["triage"]["outcome"] == "eligible-urgent"
    assert any(s.tone is Tone.CRISIS for s in final.screens)  # reminded at the end too


def test_phq9_item9_in_swedish_programme_shows_swedish_crisis_lines() -> None:
    walker = Walker("jonkoping", "sv")
    walker.run_until("phq9.9")
    crisis = walker.tap("1").screens[0]
    assert crisis.tone is Tone.CRISIS
    assert "90101" in crisis.text and "1177" in crisis.text and "112" in crisis.text
    assert "70 201 201" not in crisis.text


def test_a_risk_answer_changed_afterwards_still_leaves_the_referral_urgent() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("mdi.7")
    walker.command("back")
    walker.tap("5")  # back at item 6: "all the time"
    walker.command("back")
    walker.tap("0")
    walker.run(default_score=0)
    (referral,) = walker.events("completed")
    assert referral["flags"] == ["risk"] and referral["instruments"]["mdi"]["items"][5] == 0


def test_progress_line_and_going_back_one_question() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("gad7.3")
    assert walker.screen.progress == DA("progress", current=3, total=7)
    assert [b.id for b in walker.screen.nav] == ["back"]
    walker.tap("back")
    assert walker.state["step"] == "gad7.2"
    assert walker.state["answers"]["gad7.2"] == 1  # kept until answered again
    walker.tap("3")
    assert walker.state["step"] == "gad7.3" and walker.state["answers"]["gad7.2"] == 3


def test_old_button_and_double_tap_change_nothing_and_show_the_current_question() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("gad7.1")
    old = walker.screen
    walker.tap("2")
    before = walker.state
    reply = walker.send(Tap(old.step, old.version, "3"))  # the same button tapped twice
    assert reply.state == before and reply.stale
    assert reply.screens[0].tone is Tone.ERROR and reply.screens[0].text == DA("stale.tap")
    assert reply.screens[1].step == "gad7.2"


@pytest.mark.parametrize(
    "junk",
    ["", "   ", "banana", "9", "0", "-1", "x" * 10_000, "<b>1</b>", "\u200b\u200f", "\x00\x07"],
)
def test_bad_input_to_a_choice_gets_a_clear_answer_and_the_same_question(junk: str) -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("gad7.4")
    before = walker.state
    reply = walker.type(junk)
    assert reply.state == before
    assert reply.screens[0].text == DA("error.choose")
    assert reply.screens[1].step == "gad7.4"


@pytest.mark.parametrize(
    ("typed", "error"),
    [("", "error.empty"), ("nineteen", "error.age"), ("4", "error.age"), ("200", "error.age"),
     ("19.5", "error.age"), ("x" * 10_000, "error.age")],
)
def test_bad_age(typed: str, error: str) -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("q.age")
    reply = walker.type(typed)
    assert reply.state["step"] == "q.age" and "age" not in reply.state["answers"]
    assert reply.screens[0].text == DA(error)


def test_numbers_and_labels_both_answer_a_choice() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("gad7.1")
    walker.type("2")  # second option: score 1
    assert walker.state["answers"]["gad7.1"] == 1
    walker.type(DA("gad7.option.3").upper())
    assert walker.state["answers"]["gad7.2"] == 3


def test_too_long_free_text_is_refused_with_its_limit() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("q.name")
    reply = walker.type("x" * 10_000)
    assert reply.screens[0].text == DA("error.too_long", max=40) and "name" not in reply.state["answers"]


def test_free_text_is_cleaned_of_control_and_zero_width_characters() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("q.name")
    walker.type("\u200bAna\x07 ")
    assert walker.state["answers"]["name"] == "Ana"


def test_age_outside_the_range_follows_the_programme_rule() -> None:
    walker = Walker("reconnect", "da")
    walker.run({"q.age": "40"})
    (referral,) = walker.events("completed")
    assert referral["triage"]["outcome"] == "not-in-target"
    assert referral["triage"]["reason"] == "reason.age_outside"


def test_phone_follow_up_and_correction_from_the_summary() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("q.phone", {"q.contact": "sms"})
    assert walker.type("call me").screens[0].text == DA("error.phone")
    walker.type("+45 12 34 56 78")
    walker.run_until("summary", {"q.contact": "sms"})
    assert "+45 12 34 56 78" in walker.screen.text
    walker.tap("correct")
    assert walker.screen.step == "summary@correct"
    walker.tap("q.contact")
    walker.tap("email")
    assert walker.state["step"] == "q.email"  # the new choice needs its detail
    walker.type("ana@example.dk")
    assert walker.state["step"] == "summary"
    walker.tap("confirm")
    (referral,) = walker.events("completed")
    assert referral["candidate"]["contact"] == {"preference": "email", "email": "ana@example.dk"}


def test_language_can_change_mid_questionnaire() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("mdi.3")
    reply = walker.command("language")
    assert reply.screens[0].step == "mdi.3@language"
    reply = walker.tap("sv")
    assert reply.state["lang"] == "sv"
    assert reply.screens[0].step == "mdi.3"
    assert SV("mdi.item.3") in reply.screens[0].text
    assert walker.events("language") == [{"lang": "da"}, {"lang": "sv"}]


def test_programme_chooser_offers_programmes_for_the_language() -> None:
    walker = Walker(None, "sv")
    assert walker.screen.step == "programme"
    assert [b.id for b in walker.screen.buttons] == ["jonkoping"]
    walker = Walker(None, "en")
    assert {b.id for b in walker.screen.buttons} == {"reconnect", "hjorring", "vejle", "sjaelland", "jonkoping"}
    walker.tap("hjorring")
    assert walker.state["programme"] == "hjorring" and walker.state["step"] == "language"


def test_unknown_start_link_says_so_and_offers_the_list() -> None:
    reply = Walker("nowhere", "da").reply
    assert reply.screens[0].text == DA("start.unknown_programme")
    assert reply.screens[1].step == "programme"


def test_device_language_outside_da_sv_falls_back_to_the_programme_language() -> None:
    assert Walker("jonkoping", "de").state["lang"] == "sv"
    assert Walker("reconnect", "en-GB").state["lang"] == "en"


def test_hjorring_asks_about_substance_use_and_others_do_not() -> None:
    walker = Walker("hjorring", "da")
    walker.run({"q.age": "35", "q.substance": "D"})
    (referral,) = walker.events("completed")
    assert referral["substance"] == "D" and referral["triage"]["reason"] == "reason.substance_severe"
    walker = Walker("reconnect", "da")
    walker.run()
    assert not any(step == "q.substance" for r in walker.log for step in [r.state["step"]])


def test_jonkoping_uses_phq9_and_swedish_support_options() -> None:
    walker = Walker("jonkoping", "sv")
    walker.run_until("q.support", {"q.age": "25"})
    assert [b.id for b in walker.screen.buttons] == [
        "aktivitetsersattning", "sjukersattning", "forsorjningsstod", "other"]
    walker.run({"q.age": "25", "q.support": "aktivitetsersattning"})
    (referral,) = walker.events("completed")
    assert set(referral["instruments"]) == {"gad7", "phq9", "mansa"}
    assert referral["triage"]["priority"] is True


def test_restart_asks_first_then_clears_answers() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("gad7.2")
    walker.command("restart")
    walker.tap("no")
    assert walker.state["step"] == "gad7.2" and walker.state["answers"]
    walker.command("restart")
    reply = walker.tap("yes")
    assert reply.state["answers"] == {} and reply.state["step"] == "language"
    assert walker.events("restart") == [{}]


def test_start_again_resumes_and_finished_intake_says_how_to_begin_again() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("q.age")
    reply = walker.command("start", "reconnect")
    assert reply.screens[0].text == DA("start.welcome_back") and reply.screens[1].step == "q.age"
    walker.run()
    reply = walker.type("hello?")
    assert reply.screens[0].text == DA("finished.hint")


def test_mydata_lists_answers_and_delete_asks_before_erasing() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("mdi.1")
    shown = walker.command("mydata").screens[0].text
    assert "Ana" in shown and DA("gad7.item.1") in shown
    walker.command("delete")
    reply = walker.tap("yes")
    assert walker.events("delete") == [{}]
    assert reply.state["answers"] == {}


def test_unknown_command_and_help() -> None:
    walker = Walker("reconnect", "da")
    assert walker.command("frobnicate").screens[0].text == DA("command.unknown")
    assert "/language" in walker.command("help").screens[0].text


def test_optional_text_can_be_skipped() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("q.dream")
    assert walker.screen.kind is InputKind.TEXT
    walker.tap("skip")
    assert walker.state["answers"]["dream"] is None and walker.state["step"] == "q.background"


def test_after_the_result_language_restart_and_delete_still_work() -> None:
    walker = Walker("reconnect", "da")
    walker.run()
    walker.command("language")
    assert walker.tap("sv").state["lang"] == "sv"
    walker.command("delete")
    walker.tap("yes")
    assert walker.events("delete") == [{}]
    walker = Walker("reconnect", "da")
    walker.run()
    walker.command("restart")
    reply = walker.tap("yes")
    assert reply.state["status"] == "active" and reply.state["answers"] == {}


def _with_old_consent(walker: Walker) -> None:
    walker.reply.state["consent"] = {"version": "2020-01-01", "language": "da"}


def test_a_changed_consent_text_is_asked_again_before_anything_new_is_stored() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("gad7.2")
    _with_old_consent(walker)
    before = dict(walker.state["answers"])
    reply = walker.type("2")  # an answer to the question on screen is not taken yet
    assert reply.screens[0].text == DA("consent.changed")
    assert reply.screens[1].step == "gad7.2@consent" and reply.screens[1].text == DA("consent.text")
    assert reply.state["answers"] == before
    assert walker.command("back").screens[-1].step == "gad7.2@consent"  # no way around it
    reply = walker.tap("yes")
    assert reply.state["consent"] == {"version": CONSENT_VERSION, "language": "da"}
    assert walker.events("consent")[-1] == {"version": CONSENT_VERSION, "language": "da"}
    assert reply.screens[-1].step == "gad7.2"
    walker.tap("2")
    assert walker.state["answers"]["gad7.2"] == 2


def test_saying_no_to_a_changed_consent_withdraws_and_erases() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("mdi.1")
    _with_old_consent(walker)
    assert DA("mydata.title") in walker.command("mydata").screens[0].text  # still allowed
    walker.type("1")
    assert walker.tap("no").screens[-1].text == DA("delete.ask")  # erasing is confirmed first
    reply = walker.tap("yes")
    assert walker.events("delete") == [{}]
    assert reply.state["answers"] == {} and reply.state["consent"] is None


def test_mydata_asks_the_caller_for_the_machine_readable_copy() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("q.age")
    walker.command("mydata")
    assert walker.events("mydata") == [{}]


def test_a_risk_answer_survives_restart_language_and_a_changed_answer() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("mdi.6")
    assert walker.tap("1").screens[0].tone is Tone.CRISIS  # "some of the time" is already a risk answer
    walker.command("back")
    walker.tap("0")  # changed to "at no time"
    walker.command("language")
    walker.tap("sv")
    walker.command("restart")
    walker.tap("yes")
    assert walker.state["answers"] == {} and walker.state["step"] == "language"
    assert walker.state["flags"] == ["risk"] and walker.state["risk_items"] == ["mdi.6"]
    walker.run(default_score=1)
    (referral,) = walker.events("completed")
    assert referral["flags"] == ["risk"] and referral["risk_items"] == ["mdi.6"]
    assert referral["triage"]["urgent"] is True and referral["triage"]["outcome"] == "eligible-urgent"


def test_risks_of_an_earlier_intake_are_carried_into_a_new_one_and_triage_sees_them() -> None:
    walker = Walker("jonkoping", "sv")
    walker.reply.state = FLOW.with_risks(walker.state, ["phq9.9"])
    walker.run({"phq9.9": "0"}, default_score=0)
    (referral,) = walker.events("completed")
    assert referral["flags"] == ["risk"] and referral["risk_items"] == ["phq9.9"]
    assert referral["triage"]["urgent"] is True


def test_a_partial_referral_lists_what_was_answered_and_is_urgent() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("mdi.7")
    partial = FLOW.partial(walker.state)
    assert partial["partial"] is True and partial["triage"]["urgent"] is True
    assert partial["triage"]["outcome"] == "eligible-urgent" and partial["risk_items"] == []
    assert set(partial["instruments"]) == {"gad7"}  # MDI unfinished: not scored
    assert "mdi.6" in partial["answered"] and "mdi.7" not in partial["answered"]
    assert partial["candidate"]["name"] == "Ana" and partial["motivation"] == {}
