"""Polling through the update inbox: each update is stored before it is confirmed, handled after.

`docs/design.md`, "Updates confirmed before they are handled": a poll's updates are written to the inbox
(`UpdateRepository.receive`, encrypted, one transaction per poll); only then does the next poll
confirm them with its offset, so a crash loses nothing and Telegram never sends them again. Each is
then handed to the runtime (`Handle`: aiogram's dispatcher, python-telegram-bot's `Application`): one
person's updates one at a time and in order, different people's concurrently. A handler marks its
update handled in the same transaction as its effect, so a repeat changes nothing; updates that no
handler marked are closed afterwards in batches (`FinishedUpdates`). On start, what a crash left in
the inbox is handled before anything new.

While updates are in hand, polls are short (timeout 0) and spaced, and ask for no more than
`MAX_IN_HAND` allows; the bot waits in a long poll only when it has nothing in hand. So a long poll
that is waiting means the bot has finished everything it received (the end-to-end tests wait for
exactly that).

One person cannot fill the hand (issue 14): their share is kept by `bot.channels.telegram.admission`
(shared with the webhook: `admits`, `park`), and what is over it waits in the inbox and is answered
in their turn, a flood folded into one answer, by `bot.channels.telegram.backlog`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from bot.app import App
from bot.channels.telegram.admission import OUTAGE_RETRY_MAX
from bot.channels.telegram.api import ALLOWED_UPDATES, ApiError, TelegramApi
from bot.channels.telegram.backlog import BACKLOG_PAGE, BACKLOG_READ, FOLD_AFTER, Backlog, Backlogs
from bot.channels.telegram.delivery import BatchedMarks
from bot.channels.telegram.updates import Update, address_of, inbox_source, parse, received
from storage.repositories import UnitOfWork

log = logging.getLogger(__name__)

__all__ = ["ALLOWED_UPDATES", "BACKLOG_PAGE", "BACKLOG_READ", "FOLD_AFTER", "OUTAGE_RETRY_MAX", "Backlog", "Handle",
           "Poller"]
# Handles one update, parsed once (`bot.channels.telegram.updates.Update`), `handle(update)` or
# `handle(update, folded)` (`folded`: how many other messages this one answers for); the error if
# handling failed (the runtime logs it by type only: messages may hold answers), None when done (also
# for an update it cannot read: nothing to answer).
Handle = Callable[..., Awaitable[BaseException | None]]
POLL_TIMEOUT = 25  # seconds a long poll waits when nothing is in hand
# While updates are in hand, a new one is fetched at most this late (polls are short then, and an
# empty poll costs both sides a little, so they are spaced) ...
BUSY_POLL_SPACING = 0.02
FULL_POLL = 100  # ... unless the last poll came back full (Telegram's most): then at once
# ... and after an empty short poll, the next waits for an update in hand to finish, or this long.
BUSY_WAIT = 0.1
# seconds a person's Redis lock lives: a lock whose release was lost to a Redis outage (or whose
# worker died) holds that person up to this long afterwards; an update is handled in well under a
# second, and exactly-once does not rest on the lock (the inbox mark commits with the effect)
REDIS_LOCK_TTL = 15
HANDLE_TRIES = 4  # attempts at one update before it is given up (0.5 + 1 + 2 s apart)
# Updates in hand at most: more wait with Telegram, unconfirmed. After an outage Telegram may hold a
# day's backlog, and taking it all at once would only fill memory. Updates waiting for their turn
# under the per-chat pacing count too, so the cap is well above what a busy day holds at once (at
# 100, 200 people answering instantly waited 0.7 s instead of 0.1 s for a paced reply).
MAX_IN_HAND = 500
# One person's updates in hand at most; more wait in the inbox (not in memory) for their turn, so a
# flood from one person leaves the hand to everyone else. A person taps and types one at a time, so
# a few cover anyone who is not flooding.
PER_PERSON_IN_HAND = 3


def is_outage(error: BaseException) -> bool:
    """The database or Redis is unreachable for now (as opposed to a bug with this one update)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated) or isinstance(error.orig, OSError) or "connect" in str(error).lower()
    return isinstance(error, RedisConnectionError | RedisTimeoutError | ConnectionError | OSError | TimeoutError)


class FinishedUpdates(BatchedMarks):
    """Closes updates in the inbox once their handling is over, in batches (see `BatchedMarks`).

    Most are marked by their handler already; this closes the rest (an update no handler took, one
    given up) and drops their stored payloads. A mark lost in a crash only means the update is fed
    again after the restart, where the handler's own mark makes it a no-op.
    """

    def __init__(self, app: App, source: str, delay: float = 0.05) -> None:
        super().__init__(app, delay)
        self.source = source

    async def write(self, uow: UnitOfWork, batch: dict[int, datetime]) -> None:
        await uow.updates.finish(self.source, sorted(batch), max(batch.values()))


class Poller(Backlogs):
    """getUpdates in our own loop, through the update inbox (see the module docstring)."""

    def __init__(self, app: App, api: TelegramApi, handle: Handle, *, poll_timeout: int = POLL_TIMEOUT,
                 max_in_hand: int = MAX_IN_HAND, max_per_person: int = PER_PERSON_IN_HAND,
                 fold_after: int = FOLD_AFTER, hold: float = 0.0) -> None:
        super().__init__(app, inbox_source(api.id), max_per_person=max_per_person, hold=hold,
                         fold_after=fold_after)
        self.api = api
        self.handle = handle
        self.poll_timeout = poll_timeout
        self.max_in_hand = max_in_hand
        self.offset: int | None = None
        self.finished = FinishedUpdates(app, self.source)
        self._tails: dict[int | None, asyncio.Task[None]] = {}  # last task per person

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        await self._resume()
        failures = 0
        loop = asyncio.get_running_loop()
        last_poll = -BUSY_POLL_SPACING
        while not self.stopping.is_set():
            busy = [*self._in_hand.values(), *self._backlogs.values()]
            room = self.max_in_hand - len(busy)
            if room <= 0:  # full: fetch more once some are done
                await self._pause(BUSY_WAIT, busy)
                continue
            timeout = 0 if busy else self.poll_timeout
            if busy and (early := last_poll + BUSY_POLL_SPACING - loop.time()) > 0:
                await self._pause(early)
            last_poll = loop.time()
            try:
                poll = self.api.fetch_updates(self.offset, timeout, min(room, FULL_POLL))
                updates = await self._interruptible(poll)
            except ApiError as exc:
                failures += 1
                log.warning("getUpdates failed (%s); trying again", type(exc).__name__)
                await self._pause(min(2 ** failures * 0.5, 30))
                continue
            if updates is None:  # stopping
                break
            try:
                await self._take(updates)
            except Exception as exc:  # the database is away: not confirmed, so Telegram keeps them
                failures += 1
                log.warning("storing updates failed (%s); trying again", type(exc).__name__)
                await self._pause(min(0.5 * 2 ** (failures - 1), OUTAGE_RETRY_MAX))
                continue
            failures = 0
            if len(updates) >= FULL_POLL:  # more wait with Telegram (a flood ahead of others): fetch at once
                last_poll = -BUSY_POLL_SPACING
            elif busy and not updates:
                await self._pause(BUSY_WAIT, busy)
        await self.finish()

    async def handle_waiting(self) -> None:
        """Only what the inbox holds, and return: before serving a webhook, in case a polling run
        left updates there (they were confirmed to Telegram, so nobody else would handle them)."""
        await self._resume()
        await self._settle()

    async def finish(self) -> None:
        """Let updates in hand finish, write what is left, confirm the last poll's updates."""
        await self._settle()
        if self.offset is not None:
            with contextlib.suppress(ApiError):
                await self.api.fetch_updates(self.offset, 0, 1)

    async def settle(self) -> None:
        """Let what is in hand finish (backlogs too, unless stopping), and write the marks."""
        await self._settle()

    async def _settle(self) -> None:
        while tasks := [*self._in_hand.values(), *self._backlogs.values()]:
            await asyncio.wait(tasks)
        with contextlib.suppress(Exception):  # unwritten, they are only fed again after the restart
            await self.finished.close()

    async def _resume(self) -> None:
        """Hand on what a crash left in the inbox (received, not handled), before anything new."""
        async def read(uow: UnitOfWork) -> list[Any]:  # senders noted again: rows stored before the inbox knew them
            return await uow.updates.stamp_senders(self.source, address_of)

        waiting = await self._with_db("reading the update inbox", read)
        if waiting is None:  # stopping
            return
        if waiting:
            log.info("updates left in the inbox from before: %s; handling them first", len(waiting))
        for raw in waiting:
            if (update := parse(raw)) is not None:
                self._admit(update)

    async def _take(self, updates: list[dict[str, Any]]) -> None:
        """Store a poll's updates in the inbox, then hand on those not received before."""
        parsed = [update for raw in updates if (update := parse(raw)) is not None]  # read once, here
        unseen = [update for update in parsed if update.update_id not in self._in_hand]
        new: set[int] = set()
        if unseen:
            async with self.app.uow() as uow:
                new = await uow.updates.receive(self.source, received(unseen), self.app.clock.now())
        if parsed:  # stored: the next poll confirms them
            self.offset = max(self.offset or 0, *(update.update_id + 1 for update in parsed))
        for update in unseen:
            if update.update_id in new:
                self._admit(update)

    def _schedule(self, update: Update) -> None:
        update_id, key = update.update_id, update.sender
        before = self._tails.get(key)
        task = asyncio.create_task(self._handle(update, before))
        self._tails[key] = task
        self._in_hand[update_id] = task
        self.enter(key)

        def forget(done: asyncio.Task[None]) -> None:
            self._in_hand.pop(update_id, None)
            if self._tails.get(key) is done:
                del self._tails[key]
            self.leave(key)

        task.add_done_callback(forget)

    async def _handle(self, update: Update, before: asyncio.Task[None] | None, folded: int = 0) -> None:
        if before is not None:
            await asyncio.wait([before])
        # Retrying is safe because the answer and its update's mark commit together. The database or
        # Redis being away is waited out for as long as it takes; anything else is given up after a
        # few tries (and closed, so that a restart does not try it again).
        attempt = 0
        while True:
            error = await (self.handle(update, folded) if folded else self.handle(update))
            if error is None:
                break
            attempt += 1
            if not is_outage(error) and attempt >= HANDLE_TRIES:
                log.error("update %s given up after %s tries", update.update_id, attempt)
                break
            if self.stopping.is_set() and is_outage(error):
                return  # left in the inbox: handled after the restart
            await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), OUTAGE_RETRY_MAX))
        self.finished.add(update.update_id, self.app.clock.now())

    async def _interruptible(self, call: Awaitable[Any]) -> Any:
        task = asyncio.ensure_future(call)
        stopper = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ApiError):
                await task
            return None
        return task.result()
