"""What the person is told about their answers is true (issue 20 points 1 and 11).

A risk answer is kept when they start again or decline (the consent they gave covered it and
promised that someone would make contact); a finished intake's referral stays with the programme
when they start again. The texts say so, offer /delete, and show crisis help again where it matters.
"""

from __future__ import annotations

from flows.screens import Tone
from locales import Translator
from tests.support.flow import FLOW, Walker

DA = Translator("da")
NOT_STORED = "Vi har ikke gemt nogen af dine svar."  # declined.text: true only when nothing is kept


def restart(walker: Walker) -> str:
    """/restart, then "yes"; returns the question asked and the notice given."""
    asked = walker.command("restart").screens[-1].text
    notice = walker.tap("yes").screens[0].text
    return asked + "\n" + notice


def decline(walker: Walker) -> list[str]:
    walker.run_until("consent")
    return [s.text for s in walker.tap("no").screens]


def test_a_risk_answer_then_restart_then_no_to_consent_says_what_is_kept_with_crisis_help() -> None:
    walker = Walker("reconnect", "da")
    walker.run_until("mdi.7", {"mdi.6": 2})  # a risk answer
    said = restart(walker)
    assert DA("restart.ask_risk") in said and DA("restart.done_risk") in said
    assert DA("restart.done") not in said  # "your answers have been deleted": not all of them are
    screens = decline(walker)
    declined, crisis = screens
    assert NOT_STORED not in declined
    for msgid in ("declined.nothing_new", "declined.risk_kept", "declined.delete"):
        assert DA(msgid) in declined
    assert "/delete" in declined
    assert walker.reply.screens[1].tone is Tone.CRISIS and "70 201 201" in crisis
    assert walker.state["status"] == "declined" and walker.state["risk_items"] == ["mdi.6"]
    # /delete still works after declining
    walker.command("delete")
    assert [e for e in walker.tap("yes").events if e.kind == "delete"]


def test_restart_after_a_finished_intake_says_the_referral_stays_and_offers_delete() -> None:
    walker = Walker("reconnect", "da")
    walker.run()
    said = restart(walker)
    assert DA("restart.ask_finished") in said and DA("restart.done_finished") in said
    assert "/delete" in said
    assert DA("restart.ask") not in said and DA("restart.done") not in said  # "your answers are deleted"
    assert walker.state["kept"] == ["referral"]
    declined, = decline(walker)  # no risk answer: no crisis screen
    assert NOT_STORED not in declined and DA("declined.referral_kept") in declined
    assert DA("declined.risk_kept") not in declined


def test_a_decline_after_an_earlier_referral_the_flow_was_told_of_says_it_is_kept() -> None:
    walker = Walker("reconnect", "da")
    walker.reply = walker.reply.__class__(FLOW.with_kept(walker.state, ["referral"]), walker.reply.screens)
    declined, = decline(walker)
    assert NOT_STORED not in declined and DA("declined.referral_kept") in declined


def test_a_risk_answer_of_an_earlier_intake_the_flow_was_told_of_is_named_on_declining() -> None:
    walker = Walker("reconnect", "da")
    walker.reply = walker.reply.__class__(FLOW.with_kept(walker.state, ["risk"]), walker.reply.screens)
    declined, crisis = decline(walker)
    assert DA("declined.risk_kept") in declined and "70 201 201" in crisis


def test_nothing_kept_declining_says_nothing_is_stored_as_before() -> None:
    walker = Walker("reconnect", "da")
    (declined,) = decline(walker)
    assert DA("declined.text") in declined
    walker = Walker("reconnect", "da")
    walker.run_until("q.age")
    said = restart(walker)
    assert DA("restart.ask") in said and DA("restart.done") in said
