"""An urgent case's escalation: who is told next, and when, until a named person has seen it.

Pure: state and time in, state and whom to tell out. The service (`bot.services.escalation`)
loads the ladder (who is on each rung now), calls `step` when a step is due, sends what it says
and stores the new state.

The ladder, lowest rung first (`RUNGS`): the consultant holding the case, the programme's
consultants, its coordinators, the installation's operators. A step tells the next rung that has
someone not told yet; each rung has a quarter of the programme's urgent window before the next
is told (a local choice: the whole ladder is climbed within the urgent window). With nobody above,
the highest rung that has someone is told again one urgent window later, and so on until someone
presses "Seen — I will make contact". With nobody on any rung, the escalation waits `UNREACHED`
and the first member of staff who joins gets it at once.

A risk answer in an intake under way opens a `PENDING` escalation: the intake has until the
programme's `risk_abandon_hours` (at most its urgent window) to finish; finished, the referral
steps it at once; not finished (left, restarted, declined), the step makes an urgent partial
referral first (the service's part) and then climbs the ladder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

RUNGS: tuple[str, ...] = ("holder", "consultants", "coordinators", "operators")
SHARE = len(RUNGS)  # each rung has this share of the urgent window before the next is told


class Status(StrEnum):
    PENDING = "pending"  # a risk answer in an intake under way; the intake may still finish
    SENT = "sent"  # someone was told; the next step is due at `next_at`
    UNREACHED = "unreached"  # nobody on any rung: waits for the first member of staff who joins
    SEEN = "seen"  # a named person pressed "Seen — I will make contact" (or claimed the case)


OPEN = frozenset({Status.PENDING, Status.SENT, Status.UNREACHED})


@dataclass(frozen=True, slots=True)
class Ladder:
    """Who is on each rung now (active staff ids), in `RUNGS` order."""

    holder: tuple[int, ...] = ()
    consultants: tuple[int, ...] = ()
    coordinators: tuple[int, ...] = ()
    operators: tuple[int, ...] = ()

    @property
    def rungs(self) -> tuple[tuple[int, ...], ...]:
        return self.holder, self.consultants, self.coordinators, self.operators

    @property
    def anyone(self) -> bool:
        return any(self.rungs)


@dataclass(frozen=True, slots=True)
class Escalation:
    status: Status
    rung: int = -1  # the rung told last (-1: nobody yet)
    next_at: datetime | None = None  # when the next step is due (None: seen, or waiting for anyone)
    told: frozenset[int] = frozenset()  # every staff id told so far
    seen_by: int | None = None
    seen_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Step:
    escalation: Escalation
    send_to: tuple[int, ...]  # staff ids to tell now, in rung order
    rung: int  # the rung they are on (-1: nobody)
    again: bool  # the top was told again: nobody above


def gap(window: timedelta) -> timedelta:
    """How long one rung has before the next is told."""
    return window / SHARE


def pending(now: datetime, finish_within: timedelta, window: timedelta) -> Escalation:
    """A risk answer in an intake under way: the step is due when the intake had its time to finish."""
    return Escalation(Status.PENDING, next_at=now + min(finish_within, window))


def is_due(escalation: Escalation, now: datetime, ladder: Ladder | None = None) -> bool:
    """A step is due: its time has come, or it waits for anyone and someone is there now."""
    if escalation.status is Status.UNREACHED:
        return ladder is not None and ladder.anyone
    return escalation.status in (Status.PENDING, Status.SENT) and escalation.next_at is not None \
        and escalation.next_at <= now


def step(escalation: Escalation, ladder: Ladder, now: datetime, window: timedelta) -> Step:
    """The next step: the next rung with someone not told yet; else the top again; else wait for anyone."""
    if escalation.status is Status.SEEN:
        return Step(escalation, (), escalation.rung, False)
    rungs = ladder.rungs
    for index in range(escalation.rung + 1, len(rungs)):
        new = tuple(s for s in rungs[index] if s not in escalation.told)
        if new:
            told = escalation.told | set(new)
            return Step(replace(escalation, status=Status.SENT, rung=index, next_at=now + gap(window), told=told),
                        new, index, False)
    filled = [index for index, members in enumerate(rungs) if members]
    if not filled:
        return Step(replace(escalation, status=Status.UNREACHED, next_at=None), (), -1, False)
    top = filled[-1]
    told = escalation.told | set(rungs[top])
    return Step(replace(escalation, status=Status.SENT, rung=max(top, escalation.rung), next_at=now + window,
                        told=told), rungs[top], top, True)


def next_rung(escalation: Escalation, ladder: Ladder) -> int | None:
    """The rung the next step would tell (for "what comes next" in the message); None: the same again."""
    rungs = ladder.rungs
    for index in range(escalation.rung + 1, len(rungs)):
        if any(s not in escalation.told for s in rungs[index]):
            return index
    return None


def seen(escalation: Escalation, staff_id: int, now: datetime) -> Escalation | None:
    """Marked seen by a named person; None if it was seen already (the first press counts)."""
    if escalation.status is Status.SEEN:
        return None
    return replace(escalation, status=Status.SEEN, next_at=None, seen_by=staff_id, seen_at=now)


def reopen(now: datetime) -> Escalation:
    """The case lost its holder (they left): climb the ladder again from the bottom, now."""
    return Escalation(Status.SENT, rung=-1, next_at=now)
