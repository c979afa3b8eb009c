"""A whole questionnaire page at once (`IntakeFlow.handle_page`): the same as its taps one at a time."""

from __future__ import annotations

from flows.answers import PageAnswers
from flows.screens import Button, InputKind, Screen, Tone, screen_from_dict, screen_to_dict
from tests.support.flow import FLOW, Walker

MDI = ["mdi.1", "mdi.2", "mdi.3", "mdi.4", "mdi.5", "mdi.6", "mdi.7", "mdi.8a", "mdi.8b", "mdi.9", "mdi.10a",
       "mdi.10b"]


def at_mdi() -> Walker:
    walker = Walker()
    walker.run_until("mdi.1")
    return walker


def page(walker: Walker, answers: dict[str, str], back: bool = False) -> PageAnswers:
    return PageAnswers(walker.screen.step, walker.screen.version, tuple(answers.items()), back=back)


def one_at_a_time(walker: Walker, answers: dict[str, str]) -> Walker:
    for key in MDI:
        if key not in answers:
            break
        walker.tap(answers[key])
    return walker


def test_a_whole_page_is_its_taps_one_at_a_time_with_every_risk_event_and_crisis_help_once() -> None:
    answers = {key: "1" for key in MDI} | {"mdi.6": "3"}  # item 6 above 0: a risk answer
    paged = at_mdi()
    reply = paged.send(page(paged, answers))
    tapped = one_at_a_time(at_mdi(), answers)
    assert reply.state == tapped.state
    assert reply.state["step"] != "mdi.10b" and not reply.state["step"].startswith("mdi.")
    assert [e.data for e in reply.events if e.kind == "risk"] == tapped.events("risk") == [
        {"instrument": "mdi", "item": "6", "score": 3}]
    crisis = [s for s in reply.screens if s.tone is Tone.CRISIS]
    assert len(crisis) == 1 and reply.screens[0] is crisis[0]  # help first, before the next question
    assert reply.asking is not None and reply.asking.step == reply.state["step"]


def test_a_page_with_an_item_left_out_is_taken_up_to_it() -> None:
    answers = {key: "2" for key in MDI if key != "mdi.4"}
    walker = at_mdi()
    reply = walker.send(page(walker, answers))
    assert reply.state["step"] == "mdi.4"
    assert {k: reply.state["answers"][k] for k in MDI[:3]} == {"mdi.1": 2, "mdi.2": 2, "mdi.3": 2}
    assert "mdi.5" not in reply.state["answers"]


def test_an_answer_changed_above_the_item_asked_is_answered_again_from_there() -> None:
    walker = at_mdi()
    walker.send(page(walker, {"mdi.1": "2", "mdi.2": "2", "mdi.3": "2"}))  # stops at mdi.4
    changed = {"mdi.1": "2", "mdi.2": "5", "mdi.3": "2"}
    reply = walker.send(page(walker, changed))
    assert reply.state["answers"]["mdi.2"] == 5 and reply.state["step"] == "mdi.4"
    tapped = at_mdi()
    for value in ("2", "2", "2"):
        tapped.tap(value)
    for _ in range(2):
        tapped.tap("back")
    for value in ("5", "2"):
        tapped.tap(value)
    assert reply.state == tapped.state


def test_back_on_a_page_goes_to_the_step_before_the_questionnaire() -> None:
    walker = at_mdi()
    before = walker.state["history"][-1]
    walker.send(page(walker, {"mdi.1": "2", "mdi.2": "2"}))  # at mdi.3
    reply = walker.send(page(walker, {"mdi.1": "2"}, back=True))
    assert reply.state["step"] == before and reply.events == []


def test_an_old_page_is_refused_and_changes_nothing() -> None:
    walker = at_mdi()
    old = page(walker, {"mdi.1": "2"})
    walker.tap("1")
    reply = FLOW.handle(walker.state, old)
    assert reply.stale and reply.state == walker.state
    assert FLOW.handle_page(walker.state, old).state == walker.state


def test_the_contact_question_says_which_option_needs_a_channel_that_writes_back() -> None:
    walker = Walker()
    walker.run_until("q.contact")
    screen = walker.screen
    assert screen.kind is InputKind.CHOICE and screen.needs_reach == ("chat",)
    assert [b.id for b in screen.buttons_for(reach=False)] == ["phone", "sms", "email"]
    assert screen.buttons_for(reach=True) == screen.buttons
    assert screen_from_dict(screen_to_dict(screen)) == screen
    plain = Screen("x", "q.age", 1, InputKind.NUMBER, (Button("a", "A"),))
    assert plain.buttons_for(reach=False) == plain.buttons and "needs_reach" not in screen_to_dict(plain)

