"""The follow-ups' rules without a database: who can be asked, from when, lapsing, presses, card lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows import instruments
from flows.followup_rules import DEFAULT_WINDOW, Asked, Press, askable, card_lines, counts_from, lapses, press_on
from locales import Translator

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EN = Translator("en")


@pytest.mark.parametrize(("channel", "unreachable", "expected"), [
    ("telegram", False, True), ("web", False, True), ("console", False, False), (None, False, False),
    ("telegram", True, False)])
def test_who_can_be_asked(channel: str | None, unreachable: bool, expected: bool) -> None:
    assert askable(channel, unreachable) is expected


def test_the_days_count_from_the_referral_or_the_outcome() -> None:
    created = NOW - timedelta(days=30)
    assert counts_from("referral", created, None) == created
    assert counts_from("outcome", created, None) is None  # no outcome yet: not due
    assert counts_from("outcome", created, NOW) == NOW


def test_an_open_follow_up_lapses_when_its_window_has_passed() -> None:
    assert not lapses(NOW - timedelta(days=3), 4, NOW)
    assert lapses(NOW - timedelta(days=4), 4, NOW)
    assert not lapses(NOW - DEFAULT_WINDOW + timedelta(seconds=1), None, NOW)  # its programme entry is gone
    assert lapses(NOW - DEFAULT_WINDOW, None, NOW)


@pytest.mark.parametrize(("button", "is_open", "version", "expected"), [
    ("stop", False, 1, Press.STOP), ("s:job", False, 2, Press.CLOSED), ("s:job", True, 1, Press.ASK_AGAIN),
    ("s:job", True, 2, Press.ANSWER)])
def test_a_press_on_a_follow_up(button: str, is_open: bool, version: int, expected: Press) -> None:
    assert press_on(button, is_open, version, 2) is expected


def test_the_card_shows_each_follow_up_and_the_change_of_each_score() -> None:
    gad7 = instruments.load("gad7")
    first = Asked("answered", False, True, {"status": "job", "results": {"gad7": {"total": 12}}}, NOW)
    waiting = Asked("open", True, False, {}, NOW + timedelta(days=90))
    lapsed = Asked("lapsed", False, False, {}, NOW + timedelta(days=180))
    lines = card_lines([first, waiting, lapsed], {"gad7": {"total": 6}}, "en", "Europe/Copenhagen")
    assert lines[0] == EN("staff.case.followups")
    assert lines[1].endswith(EN("followup.status.job"))
    reliable = EN("staff.case.followup.reliable", threshold="4")  # GAD-7's published threshold: 4 points
    assert lines[2] == EN("staff.case.followup.score", instrument=EN(gad7.name), score="12", change="+6",
                          reliable=reliable)
    assert lines[3].endswith(EN("staff.case.followup.waiting"))
    assert lines[4].endswith(EN("staff.case.followup.lapsed"))


def test_a_score_with_nothing_before_has_no_change() -> None:
    (_, _, score) = card_lines([Asked("answered", False, True, {"results": {"gad7": {"total": 3}}}, NOW)], {}, "en",
                               "UTC")
    assert "(change –" in score
