"""The escalation ladder as pure rules: who is told next, and when, until a named person has seen it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from flows.escalation import Escalation, Ladder, Status, gap, is_due, next_rung, pending, reopen, seen, step

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(hours=24)


def test_the_ladder_climbs_rung_by_rung_within_the_urgent_window() -> None:
    ladder = Ladder(holder=(1,), consultants=(1, 2, 3), coordinators=(4,), operators=(5,))
    start = Escalation(Status.SENT, next_at=NOW)
    first = step(start, ladder, NOW, WINDOW)
    assert first.send_to == (1,) and first.rung == 0 and first.escalation.next_at == NOW + timedelta(hours=6)
    second = step(first.escalation, ladder, NOW + timedelta(hours=6), WINDOW)
    assert second.send_to == (2, 3) and second.rung == 1  # the holder is not told twice on the way up
    third = step(second.escalation, ladder, NOW + timedelta(hours=12), WINDOW)
    assert third.send_to == (4,) and third.rung == 2
    fourth = step(third.escalation, ladder, NOW + timedelta(hours=18), WINDOW)
    assert fourth.send_to == (5,) and fourth.rung == 3 and not fourth.again
    # nobody above the operators: they are told again one whole window later, and so on
    fifth = step(fourth.escalation, ladder, NOW + timedelta(hours=24), WINDOW)
    assert fifth.again and fifth.send_to == (5,) and fifth.escalation.next_at == NOW + timedelta(hours=48)
    assert fifth.escalation.told == frozenset({1, 2, 3, 4, 5})


def test_empty_rungs_are_skipped_and_the_top_with_someone_is_told_again() -> None:
    ladder = Ladder(coordinators=(7,))  # a programme without consultants, no operator
    first = step(Escalation(Status.SENT, next_at=NOW), ladder, NOW, WINDOW)
    assert first.send_to == (7,) and first.rung == 2
    assert next_rung(first.escalation, ladder) is None
    again = step(first.escalation, ladder, NOW + gap(WINDOW), WINDOW)
    assert again.again and again.send_to == (7,)


def test_with_nobody_it_waits_for_anyone_and_is_due_when_someone_is_there() -> None:
    waiting = step(Escalation(Status.SENT, next_at=NOW), Ladder(), NOW, WINDOW)
    assert waiting.escalation.status is Status.UNREACHED and waiting.send_to == ()
    assert waiting.escalation.next_at is None
    assert not is_due(waiting.escalation, NOW + timedelta(days=30), Ladder())
    assert is_due(waiting.escalation, NOW, Ladder(consultants=(3,)))
    reached = step(waiting.escalation, Ladder(consultants=(3,)), NOW, WINDOW)
    assert reached.send_to == (3,) and reached.escalation.status is Status.SENT


def test_a_pending_escalation_is_due_when_the_intake_had_its_time_and_never_later_than_the_window() -> None:
    state = pending(NOW, timedelta(hours=48), WINDOW)
    assert state.status is Status.PENDING and state.next_at == NOW + WINDOW
    assert not is_due(state, NOW + timedelta(hours=23), Ladder(consultants=(1,)))
    assert is_due(state, NOW + WINDOW, Ladder(consultants=(1,)))


def test_seen_once_by_the_first_and_never_stepped_again() -> None:
    sent = step(Escalation(Status.SENT, next_at=NOW), Ladder(consultants=(1, 2)), NOW, WINDOW).escalation
    marked = seen(sent, 2, NOW)
    assert marked is not None and marked.seen_by == 2 and marked.next_at is None
    assert seen(marked, 1, NOW) is None
    assert step(marked, Ladder(consultants=(1, 2)), NOW, WINDOW).send_to == ()
    assert not is_due(marked, NOW + timedelta(days=9))
    assert reopen(NOW) == Escalation(Status.SENT, rung=-1, next_at=NOW)


rungs = st.lists(st.integers(1, 9), max_size=3, unique=True).map(tuple)


@given(rungs, rungs, rungs, rungs, st.integers(1, 12))
def test_any_ladder_tells_someone_within_the_window_until_seen_or_waits_for_anyone(
        holder: tuple[int, ...], consultants: tuple[int, ...], coordinators: tuple[int, ...],
        operators: tuple[int, ...], steps: int) -> None:
    ladder = Ladder(holder, consultants, coordinators, operators)
    state, now = Escalation(Status.SENT, next_at=NOW), NOW
    for _ in range(steps):
        taken = step(state, ladder, now, WINDOW)
        state = taken.escalation
        if not ladder.anyone:
            assert state.status is Status.UNREACHED and not taken.send_to
            return
        members = {s for rung in ladder.rungs for s in rung}
        assert taken.send_to and set(taken.send_to) <= members
        assert state.next_at is not None and now < state.next_at <= now + WINDOW
        now = state.next_at
    assert state.told <= {s for rung in ladder.rungs for s in rung}
