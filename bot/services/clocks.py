"""The clocks: what is due by time, taken by every long-running process, whatever its channel.

`tick` takes every step that is due now, in one unit of work: urgent referrals nobody claimed offered
again, escalation steps (an intake left after a risk answer becomes an urgent partial referral; the
next rung is told), follow-ups asked, lapsed or recorded as missed. On PostgreSQL one process at a
time takes a tick (a transaction-level advisory lock; the others skip that round), and the
escalation rows are claimed with `FOR UPDATE SKIP LOCKED`; SQLite has one writer anyway.

`ClockRunner` runs `tick` every `TICK_EVERY` seconds in `ipsbot run`, `ipsbot web`, `ipsbot run --web`
and each webhook worker, and hands what was queued to the process's `send` (a channel's delivery)
at once. A channel that queued messages to other people while answering (`IntakeResult.others`) calls
`wake` with their ids, so they go now rather than on the next round. Without a `send` (a process
that cannot reach the staff's channel) the messages wait in the outbox for a process that can.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from bot.clock import Clock
from bot.services.intake import IntakeService
from storage.outbox import OutboxPayload, Payloads
from storage.repositories import UnitOfWork

log = logging.getLogger(__name__)

TICK_EVERY = 15.0  # seconds between rounds
CLOCK_LOCK = "ipsbot.clocks"

# deliver these outbox messages (id -> payload) now, then whatever else of the channel's is waiting
Send = Callable[[Payloads], Awaitable[None]]


async def tick(intake: IntakeService, uow: UnitOfWork, now: datetime) -> Payloads:
    """Every step due now; the messages to send now (not reminders due later), by outbox id. Nothing
    when another process has this round."""
    if not await uow.take_turn(CLOCK_LOCK):
        return {}
    casework = intake.casework
    parts: tuple[tuple[str, Callable[[UnitOfWork, datetime], Awaitable[object]]], ...] = (
        ("urgent offers", casework.resend_urgent),  # urgent referrals nobody claimed in time: offered again
        ("escalations", intake.escalate_due),  # the next rung told; a left intake made a partial referral
        ("follow-ups", casework.followups.schedule),  # asked once, lapsed, or counted as missed
    )
    for name, part in parts:  # one part that fails does not stop the others
        try:
            async with uow.savepoint():
                await part(uow, now)
        except Exception:
            log.exception("the clocks' %s failed; tried again on the next round", name)
    return dict(uow.outbox.payloads)


class ClockRunner:
    """`tick` every few seconds and on `wake`, and the process's delivery of what was queued."""

    def __init__(self, uow: Callable[[], UnitOfWork], intake: IntakeService, clock: Clock, send: Send | None, *,
                 every: float = TICK_EVERY) -> None:
        self._uow, self._intake, self._clock, self._send, self._every = uow, intake, clock, send, every
        self._woken = asyncio.Event()
        self._waiting: Payloads = {}

    def wake(self, messages: Mapping[int, OutboxPayload]) -> None:
        """Messages to other people were just committed: send them now (and take a round of the clocks)."""
        self._waiting.update(messages)
        self._woken.set()

    async def once(self) -> Payloads:
        """One round: the due steps, then the delivery of what they and `wake` queued."""
        due: Payloads = {}
        try:
            async with self._uow() as uow:
                due = await tick(self._intake, uow, self._clock.now())
        except Exception as exc:  # the database may be away for a moment; the next round tries again
            log.warning("clock round failed: %s", type(exc).__name__)
        messages, self._waiting = {**self._waiting, **due}, {}
        if self._send is not None:
            try:
                await self._send(messages)
            except Exception as exc:  # what is not sent stays in the outbox for the next round
                log.warning("sending failed: %s", type(exc).__name__)
        return messages

    async def run(self, stopping: asyncio.Event) -> None:
        """Rounds until `stopping`; the first after one interval (or a wake), so that it never sends
        alongside the drain a process does as it starts (a message would go twice)."""
        while True:
            stop = asyncio.ensure_future(stopping.wait())
            woken = asyncio.ensure_future(self._woken.wait())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.wait({stop, woken}, return_when=asyncio.FIRST_COMPLETED),
                                       timeout=self._every)
            for task in (stop, woken):
                task.cancel()
            if stopping.is_set():
                return
            self._woken.clear()  # a wake during the round below makes the next one come at once
            await self.once()
