"""Where a person is in their intake, read from what is stored: one reading for every channel.

A conversation shows the current question again after a message that is not an answer; the web form
shows it on every page, and a result page once the intake is finished. Both read it here, with one
rule: a **withdrawn** intake (left by `/restart` or a new start: its answers were dropped) is no intake
at all, and whether an intake is under way is its stored status, never what its state happens to say.
A withdrawn intake is never shown, nor resumed, as if it were under way: the person's next answer
begins a new one (`IntakeService.answer`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.services.intake import Person
from flows.intake import IntakeFlow
from flows.screens import Screen
from flows.status import IntakeStatus
from locales import normalise
from storage.repositories import UnitOfWork


@dataclass(slots=True)
class Current:
    """A person's latest intake that is not withdrawn: its state, its question (or result) and status."""

    state: dict[str, Any]
    screens: list[Screen]
    status: str  # the stored `IntakeStatus`: active, completed or declined
    started: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == IntakeStatus.ACTIVE

    @property
    def finished(self) -> bool:
        return self.status in (IntakeStatus.COMPLETED, IntakeStatus.DECLINED)

    @property
    def lang(self) -> str:
        return normalise(self.state.get("lang", "en"))


@dataclass(slots=True)
class Reading:
    """What a channel's event found: `duplicate` if the event was handled before (nothing else read)."""

    duplicate: bool
    lang: str  # an intake under way: its language; else the person's stored one, else their device's
    current: Current | None = None
    screens: list[Screen] = field(default_factory=list)  # the question of an intake under way, else none


class CurrentScreens:
    """Reads a person's current intake and its screen; changes nothing but the event's handled mark."""

    def __init__(self, uow: Callable[[], UnitOfWork], flow: IntakeFlow, clock: Clock) -> None:
        self._uow = uow
        self.flow = flow
        self.clock = clock

    async def current(self, person: Person) -> Current | None:
        """The person's latest intake, unless there is none, it is withdrawn, or its state is empty."""
        return (await self.read(person)).current

    async def read(self, person: Person, *, event_id: int | None = None, source: str = "") -> Reading:
        """The person's current intake; with `event_id`, that event of the channel's inbox `source` is
        marked handled in the same transaction (a repeat reads nothing and says `duplicate`)."""
        async with self._uow() as uow:
            if event_id is not None and not await uow.updates.mark(source, event_id, self.clock.now()):
                return Reading(duplicate=True, lang=normalise(person.language))
            candidate = await uow.candidates.find(person.channel, person.external_id)
            intake = await uow.intakes.latest(candidate.id) if candidate is not None else None
            known = normalise(candidate.language if candidate is not None else person.language)
            if intake is None or intake.status == IntakeStatus.WITHDRAWN or not intake.state:
                return Reading(duplicate=False, lang=known)
            state = dict(intake.state)
            current = Current(state, self.flow.show(state), intake.status, intake.started_at)
        if not current.active:  # finished: nothing is asked any more
            return Reading(duplicate=False, lang=known, current=current)
        return Reading(duplicate=False, lang=current.lang, current=current, screens=list(current.screens))
