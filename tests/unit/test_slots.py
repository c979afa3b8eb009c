"""The slot calendar's rules without a database: the draft a peer's button carries, and each step."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from flows.slots import (
    WEEKS,
    BookChoice,
    SlotContext,
    SlotDraft,
    SlotVerdict,
    page_of,
    slot_step,
)
from locales import Translator

ZONE = "Europe/Copenhagen"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday; summer time starts on Sunday 29 March
CAL = SlotContext(NOW, ZONE, Translator("en"))


@pytest.mark.parametrize("data", ["20260305", "202603051000", "202603051000-45", "202603051000-45-cafe",
                                  "202603051000-45-cafe-1", f"202603051000-60-video-{WEEKS}"])
def test_a_draft_decodes_and_encodes_to_the_same_button(data: str) -> None:
    draft = SlotDraft.decode(data)
    assert draft is not None and draft.encode() == data
    assert draft.depth == 1 + data.count("-") + (len(data.split("-")[0]) == 12)


@pytest.mark.parametrize("data", [
    "", "2026030", "202603051", "20260231", "202603052460", "202603051000-", "20260305-45",  # no time yet
    "202603051000-045", "202603051000-4500", "202603051000-45-moon", "202603051000-45-cafe-2",
    "202603051000-45-cafe-01", "²0260305", "202603051000-4²", "202603051000-45-cafe-4-1", " 20260305",
    "20260305\n", "2026-03-05"])
def test_a_malformed_draft_is_none_never_an_exception(data: str) -> None:
    assert SlotDraft.decode(data) is None


def test_the_steps_from_new_to_published_carry_the_draft() -> None:
    days = slot_step("slot.list", "new", CAL).ask
    assert days is not None and days.step == "slot.day" and days.buttons[0].id == "20260303"
    assert len(days.buttons) == 14
    times = slot_step("slot.day", "20260305", CAL).ask
    assert times is not None and times.buttons[0].id == "202603050800" and times.buttons[-1].id == "202603051600"
    lengths = slot_step("slot.time", "202603051000", CAL).ask
    assert lengths is not None and [b.id for b in lengths.buttons] == [
        "202603051000-30", "202603051000-45", "202603051000-60"]
    places = slot_step("slot.length", "202603051000-45", CAL).ask
    assert places is not None and places.buttons[2].id == "202603051000-45-cafe"
    repeats = slot_step("slot.place", "202603051000-45-cafe", CAL).ask
    assert repeats is not None and [b.id for b in repeats.buttons] == [
        "202603051000-45-cafe-1", f"202603051000-45-cafe-{WEEKS}"]
    done = slot_step("slot.repeat", f"202603121000-45-cafe-{WEEKS}", CAL)
    assert done.verdict is SlotVerdict.DONE and done.publish is not None
    moments = done.publish.moments(ZONE)
    # the same local time every week, across the change to summer time
    assert [m.astimezone(UTC).hour for m in moments] == [9, 9, 9, 8]
    assert {m.time() for m in moments} == {time(10, 0)}


@pytest.mark.parametrize(("step", "button"), [
    ("slot.time", "20260305"),  # a draft of another step
    ("slot.day", "202603051000"),
    ("slot.repeat", "202603051000-45-cafe"),
    ("slot.repeat", "202603051000-50-cafe-1"),  # no button offers 50 minutes
    ("slot.nope", "20260305"),
    ("slot.list", "remove-²"),
    ("slot.list", "remove-" + "9" * 13),
    ("slot.list", "20260305"),
])
def test_a_forged_press_is_refused(step: str, button: str) -> None:
    decision = slot_step(step, button, CAL)
    assert decision.verdict is SlotVerdict.REFUSED and decision.ask is None and decision.publish is None


@pytest.mark.parametrize(("step", "button"), [
    ("slot.day", "20260302"),  # today
    ("slot.day", "20270101"),  # beyond the horizon
    ("slot.time", "202603052045"),  # not even half an hour before 21:00
    ("slot.length", "202603052030-45"),
    ("slot.length", "202603051000-50"),  # a length no button offers: out of range, as a peer may type it
    ("slot.time", "202603290230"),  # skipped when summer time starts
    ("slot.place", "202603050630-45-cafe"),
])
def test_a_time_no_one_should_meet_at_is_out_of_range(step: str, button: str) -> None:
    assert slot_step(step, button, CAL).verdict is SlotVerdict.OUT_OF_RANGE


def test_weekly_is_published_whole_or_not_at_all() -> None:
    late = SlotDraft(date(2026, 5, 28), time(10, 0), 45, "cafe", WEEKS)  # the last week is past 90 days
    assert slot_step("slot.repeat", late.encode(), CAL).verdict is SlotVerdict.OUT_OF_RANGE
    assert slot_step("slot.repeat", "202605281000-45-cafe-1", CAL).verdict is SlotVerdict.DONE


def test_remove_names_the_slot_whose_it_is_is_for_the_service() -> None:
    assert slot_step("slot.list", "remove-17", CAL).remove == 17


@pytest.mark.parametrize(("data", "choice"), [("cancel", BookChoice(cancel=True)), ("more-2", BookChoice(page=2)),
                                              ("31", BookChoice(slot_id=31))])
def test_a_booking_button_round_trips(data: str, choice: BookChoice) -> None:
    assert BookChoice.decode(data) == choice and choice.encode() == data


@pytest.mark.parametrize("data", ["", "more-", "more-x", "²", "more-²", "1" * 13, "-1", "cancel ", "more-1-2"])
def test_a_malformed_booking_button_is_none(data: str) -> None:
    assert BookChoice.decode(data) is None


def test_pages_of_free_times() -> None:
    free = list(range(9))
    assert page_of(free, 0) == ([0, 1, 2, 3], True)
    assert page_of(free, 2) == ([8], False)
    assert page_of(free, 5) == ([0, 1, 2, 3], False)  # past the end (a forged page): the first page again
