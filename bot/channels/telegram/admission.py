"""One person's share of the updates in hand (issue 14), for the poller and the webhook alike.

At most `max_per_person` of a person's updates are in hand; the rest of theirs wait in the inbox,
stored (and confirmed), and the person is "parked" until their backlog is read and answered in
their turn (`bot.channels.telegram.backlog`). With a `hold` (the webhook's: the per-chat pacing
interval) a person's update that comes sooner than that after their last one was answered is parked
too: Telegram posts one chat's updates one at a time, so a flood shows only in its pace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from bot.app import App
from bot.channels.telegram.updates import Update, received
from storage.repositories import UnitOfWork

log = logging.getLogger(__name__)

OUTAGE_RETRY_MAX = 5.0  # seconds between tries while the database or Redis is away
T = TypeVar("T")


class Admission:
    """Counts per person, the parked people, and the helpers every part of the loop shares."""

    def __init__(self, app: App, source: str, *, max_per_person: int, hold: float) -> None:
        self.app = app
        self.source = source  # this bot's updates in the inbox
        self.max_per_person = max_per_person
        self.stopping = asyncio.Event()
        self._count: dict[int, int] = {}  # per person: updates in hand, a backlog being handled, webhook calls
        self._parked: dict[int, bool] = {}  # people with updates waiting in the inbox: more came since read?
        # the webhook's: a person's update that comes less than `hold` seconds after their last one was
        # answered is parked too (see `admits`); when each person's last update was answered, by the app's clock
        self.hold = hold
        self._answered: dict[int, datetime] = {}

    # --- what the loop supplies ---------------------------------------------------------------------

    def _schedule(self, update: Update) -> None:
        raise NotImplementedError

    def _start_backlog(self, person: int) -> None:
        raise NotImplementedError

    # --- the share --------------------------------------------------------------------------------

    def admits(self, person: int | None) -> bool:
        """Whether an update of this person may be handled now (else it waits in the inbox).

        With a `hold` (the webhook's, the per-chat pacing interval), also not while the person's last
        answer is younger than that: Telegram posts one chat's updates one at a time, so a flood never
        has more than one in hand and only its pace shows it. Its reply would wait for the pacing anyway;
        parked, the flood piles up in the inbox while the backlog's replies are paced, and is folded."""
        if person is None:
            return True
        if person in self._parked or self._count.get(person, 0) >= self.max_per_person:
            return False
        answered = self._answered.get(person)
        return answered is None or (self.app.clock.now() - answered).total_seconds() >= self.hold

    def enter(self, person: int | None) -> None:
        if person is not None:
            self._count[person] = self._count.get(person, 0) + 1

    def leave(self, person: int | None) -> None:
        if person is None:
            return
        left = self._count.get(person, 1) - 1
        if left > 0:
            self._count[person] = left
            return
        self._count.pop(person, None)
        if self.hold > 0:
            self._note_answered(person)
        if person in self._parked:
            self._start_backlog(person)

    def _note_answered(self, person: int) -> None:
        now = self.app.clock.now()
        self._answered[person] = now
        if len(self._answered) > 10_000:  # forget people whose hold is over
            self._answered = {p: at for p, at in self._answered.items() if (now - at).total_seconds() < self.hold}

    async def park(self, update: Update) -> None:
        """Store an update over its person's share in the inbox, for their turn (the webhook's way)."""
        async with self.app.uow() as uow:
            await uow.updates.receive(self.source, received([update]), self.app.clock.now())
        self._park(update.sender)

    def _park(self, person: int | None) -> None:
        if person is None:
            return
        self._parked[person] = True
        if not self._count.get(person):
            self._start_backlog(person)

    def _admit(self, update: Update) -> None:
        """Hand on a stored update, or leave it in the inbox if its person has their share in hand."""
        if self.admits(update.sender):
            self._schedule(update)
        else:
            self._park(update.sender)

    # --- shared helpers ---------------------------------------------------------------------------

    async def _with_db(self, what: str, work: Callable[[UnitOfWork], Awaitable[T]]) -> T | None:
        """`work` in a unit of work, tried again while the database is away; None when stopping."""
        failures = 0
        while not self.stopping.is_set():
            try:
                async with self.app.uow() as uow:
                    return await work(uow)
            except Exception as exc:
                failures += 1
                log.warning("%s failed (%s); trying again", what, type(exc).__name__)
                await self._pause(min(0.5 * 2 ** (failures - 1), OUTAGE_RETRY_MAX))
        return None

    async def _pause(self, seconds: float, tasks: list[asyncio.Task[None]] | None = None) -> None:
        stopper = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({stopper, *(tasks or [])}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
