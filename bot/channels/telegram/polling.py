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

One person cannot fill the hand (issue 14): at most `PER_PERSON_IN_HAND` of a person's updates are
in hand; the rest of theirs stay in the inbox, stored and confirmed, and the person is "parked".
When their updates in hand are done, their backlog is read from the inbox (by person) and handled
in order. A backlog of more than `FOLD_AFTER` messages is answered as one: the latest text (else
the latest message) is handled as usual with a short notice first; the other messages are closed in
one transaction with an audit event; button presses are handled as usual, in order. Others'
updates keep being fetched and answered meanwhile. The webhook uses the same counts (`admits`,
`park`): an update over a person's share is stored in the inbox and answered 200 at once, and so is
one that comes while the person's last reply is still within the per-chat pacing (`hold`), which is
how a flood shows when Telegram posts one chat's updates one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from bot.app import App
from bot.channels.telegram.api import ALLOWED_UPDATES, ApiError, TelegramApi
from bot.channels.telegram.delivery import BatchedMarks
from bot.channels.telegram.updates import address_of, inbox_source, received, sender_address, sender_of
from bot.services.intake import Person
from storage.repositories import UnitOfWork

log = logging.getLogger(__name__)

__all__ = ["ALLOWED_UPDATES", "Handle", "Poller"]
# Handles one update as Telegram sent it, `handle(raw)` or `handle(raw, folded)` (`folded`: how many other
# messages this one answers for); the error if handling failed (the runtime logs it by type only: messages
# may hold answers), None when done (also for an update it cannot read: nothing to answer).
Handle = Callable[..., Awaitable[BaseException | None]]
POLL_TIMEOUT = 25  # seconds a long poll waits when nothing is in hand
# While updates are in hand, a new one is fetched at most this late (polls are short then, and an
# empty poll costs both sides a little, so they are spaced) ...
BUSY_POLL_SPACING = 0.02
FULL_POLL = 100  # ... unless the last poll came back full (Telegram's most): then at once
# ... and after an empty short poll, the next waits for an update in hand to finish, or this long.
BUSY_WAIT = 0.1
OUTAGE_RETRY_MAX = 5.0  # seconds between tries while the database or Redis is away
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
# A person's backlog with more messages than this is answered as one (see the module docstring).
FOLD_AFTER = 10
BACKLOG_READ = 1000  # a person's waiting updates taken from the inbox at a time
BACKLOG_PAGE = 100  # ... read in pages of this many
T = TypeVar("T")


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


class Backlog:
    """A parked person's waiting updates, sorted as they are read (see `Poller._answer_backlog`).

    Presses are kept to be handled. Of the messages, all are kept while there are at most
    `fold_after`; beyond that only the one that counts: the latest text in a private chat (it may
    answer the question), else the latest message in a private chat (answered with the question).
    The others are folded: only their ids are kept.
    """

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.messages = 0
        self._kept: dict[int, dict[str, Any]] = {}  # update id -> raw update, to be handled
        self._message_ids: list[int] = []
        self._folding = False
        self._text: int | None = None  # the latest text in a private chat
        self._private: int | None = None  # the latest message in a private chat

    def add(self, update_id: int, raw: dict[str, Any], fold_after: int) -> None:
        self.ids.append(update_id)
        if "callback_query" in raw:
            self._kept[update_id] = raw
            return
        self.messages += 1
        self._message_ids.append(update_id)
        message = raw.get("message")
        if isinstance(message, dict) and (message.get("chat") or {}).get("type") == "private":
            self._private = update_id
            if message.get("text") is not None:
                self._text = update_id
        if self._folding:
            self._keep_only(raw, update_id)
            return
        self._kept[update_id] = raw
        if self.messages > fold_after:  # from now on only the one that counts is kept
            self._folding = True
            answer = self.answer_id
            for other in self._message_ids:
                if other != answer:
                    self._kept.pop(other, None)

    def _keep_only(self, raw: dict[str, Any], update_id: int) -> None:
        answer = self.answer_id
        if answer == update_id:
            for other in self._message_ids[:-1]:
                self._kept.pop(other, None)
            self._kept[update_id] = raw

    @property
    def answer_id(self) -> int | None:
        """When folding: the message that is handled (with the notice)."""
        if not self._folding:
            return None
        return self._text if self._text is not None else self._private

    def folded(self) -> list[int]:
        answer = self.answer_id
        return [i for i in self._message_ids if i != answer] if self._folding else []

    def handled(self) -> list[dict[str, Any]]:
        return [self._kept[i] for i in sorted(self._kept)]


class Poller:
    """getUpdates in our own loop, through the update inbox (see the module docstring)."""

    def __init__(self, app: App, api: TelegramApi, handle: Handle, *, poll_timeout: int = POLL_TIMEOUT,
                 max_in_hand: int = MAX_IN_HAND, max_per_person: int = PER_PERSON_IN_HAND,
                 fold_after: int = FOLD_AFTER, hold: float = 0.0) -> None:
        self.app = app
        self.api = api
        self.handle = handle
        self.poll_timeout = poll_timeout
        self.max_in_hand = max_in_hand
        self.offset: int | None = None
        self.stopping = asyncio.Event()
        self.source = inbox_source(api.id)  # this bot's updates in the inbox
        self.finished = FinishedUpdates(app, self.source)
        self.max_per_person = max_per_person
        self.fold_after = fold_after
        self._in_hand: dict[int, asyncio.Task[None]] = {}  # received, not yet handled
        self._tails: dict[int | None, asyncio.Task[None]] = {}  # last task per person
        self._count: dict[int, int] = {}  # per person: updates in hand, a backlog being handled, webhook calls
        self._parked: dict[int, bool] = {}  # people with updates waiting in the inbox: more came since read?
        self._backlogs: dict[int, asyncio.Task[None]] = {}  # per parked person: their backlog being handled
        # the webhook's: a person's update that comes less than `hold` seconds after their last one was
        # answered is parked too (see `admits`); when each person's last update was answered, by the app's clock
        self.hold = hold
        self._answered: dict[int, datetime] = {}

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
            self._admit(raw)

    async def _take(self, updates: list[dict[str, Any]]) -> None:
        """Store a poll's updates in the inbox, then hand on those not received before."""
        fresh = [raw for raw in updates if raw.get("update_id") not in self._in_hand]
        new: set[int] = set()
        if fresh:
            async with self.app.uow() as uow:
                new = await uow.updates.receive(self.source, received(fresh), self.app.clock.now())
        if updates:  # stored: the next poll confirms them
            self.offset = max(self.offset or 0, *(raw["update_id"] + 1 for raw in updates))
        for raw in fresh:
            if raw["update_id"] in new:
                self._admit(raw)

    # --- one person's share ---------------------------------------------------------------------

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

    async def park(self, raw: dict[str, Any]) -> None:
        """Store an update over its person's share in the inbox, for their turn (the webhook's way)."""
        async with self.app.uow() as uow:
            await uow.updates.receive(self.source, received([raw]), self.app.clock.now())
        self._park(sender_of(raw))

    def _park(self, person: int | None) -> None:
        if person is None:
            return
        self._parked[person] = True
        if not self._count.get(person):
            self._start_backlog(person)

    def _admit(self, raw: dict[str, Any]) -> None:
        """Hand on a stored update, or leave it in the inbox if its person has their share in hand."""
        person = sender_of(raw)
        if self.admits(person):
            self._schedule(raw)
        else:
            self._park(person)

    def _start_backlog(self, person: int) -> None:
        if person in self._backlogs or self.stopping.is_set():
            return
        self.enter(person)
        task = asyncio.create_task(self._backlog(person))
        self._backlogs[person] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._backlogs.get(person) is done:
                del self._backlogs[person]
            self.leave(person)  # and start again if more came at the very end

        task.add_done_callback(forget)

    async def _backlog(self, person: int) -> None:
        """A parked person's waiting updates, in order, until none are left and none came meanwhile."""
        try:
            await self._take_backlog(person)
        except Exception:  # a bug, not an outage (those are waited out): the rest waits for a restart
            log.exception("a backlog failed; its updates wait in the inbox until the next start")
            self._parked.pop(person, None)

    async def _take_backlog(self, person: int) -> None:
        handled: set[int] = set()  # closed by us, perhaps not yet written (`FinishedUpdates` batches)
        while not self.stopping.is_set():
            self._parked[person] = False
            backlog = await self._read_backlog(person, handled)
            if backlog is None:  # stopping: what is left waits in the inbox
                return
            if backlog.ids:
                await self._answer_backlog(person, backlog)
                handled.update(backlog.ids)
            elif not self._parked.get(person):
                self._parked.pop(person, None)
                return

    async def _read_backlog(self, person: int, handled: set[int]) -> Backlog | None:
        """Up to `BACKLOG_READ` of a person's waiting updates, sorted for `_answer_backlog`.

        Read in pages, each its own short transaction with the event loop free in between (a flood
        of a thousand must not hold up everyone else's updates), and sorted from the raw JSON: only
        the updates that will be handled are kept, and later read by the runtime."""
        backlog = Backlog()
        after = -1
        while len(backlog.ids) < BACKLOG_READ:
            page = await self._with_db("reading a backlog", partial(self._backlog_page, person=person, after=after))
            if page is None:
                return None
            for raw in page:
                update_id = int(raw["update_id"])
                if update_id not in handled and update_id not in self._in_hand:
                    backlog.add(update_id, raw, self.fold_after)
            if len(page) < BACKLOG_PAGE:
                break
            after = int(page[-1]["update_id"])
            await asyncio.sleep(0)
        return backlog

    async def _backlog_page(self, uow: UnitOfWork, *, person: int, after: int) -> list[dict[str, Any]]:
        return await uow.updates.waiting_of(self.source, sender_address(person), BACKLOG_PAGE, after)

    async def _answer_backlog(self, person: int, backlog: Backlog) -> None:
        folded = backlog.folded()
        count = 0
        if folded:
            result = await self._with_db("folding a backlog", lambda uow: self._fold(uow, person, folded))
            if result is None:
                return
            count = result
            log.info("person %s sent %s messages at once; answered as one", Person("telegram", str(person)).log_id,
                     backlog.messages)
        for raw in backlog.handled():  # in order; presses answer the question they were made on
            if self.stopping.is_set():
                return
            update_id = int(raw["update_id"])
            await self._handle(update_id, raw, None, folded=count if update_id == backlog.answer_id else 0)

    async def _fold(self, uow: UnitOfWork, person: int, update_ids: list[int]) -> int:
        """Close the folded messages and audit how many, in one transaction; how many were still open."""
        now = self.app.clock.now()
        count = await uow.updates.finish(self.source, update_ids, now)
        if count:  # the actor as intakes audit them: the intake's random reference, erased with it
            candidate = await uow.candidates.find(sender_address(person).channel, str(person))
            intake = await uow.intakes.latest(candidate.id) if candidate is not None else None
            actor = f"candidate:{intake.actor_ref}" if intake is not None and intake.actor_ref else "candidate"
            await uow.audit.record(actor=actor, action="telegram.flood_folded", at=now,
                                   detail=f"{count} messages answered with the latest")
        return count

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

    def _schedule(self, raw: dict[str, Any]) -> None:
        update_id = int(raw["update_id"])
        key = sender_of(raw)
        before = self._tails.get(key)
        task = asyncio.create_task(self._handle(update_id, raw, before))
        self._tails[key] = task
        self._in_hand[update_id] = task
        self.enter(key)

        def forget(done: asyncio.Task[None]) -> None:
            self._in_hand.pop(update_id, None)
            if self._tails.get(key) is done:
                del self._tails[key]
            self.leave(key)

        task.add_done_callback(forget)

    async def _handle(self, update_id: int, raw: dict[str, Any], before: asyncio.Task[None] | None,
                      folded: int = 0) -> None:
        if before is not None:
            await asyncio.wait([before])
        # Retrying is safe because the answer and its update's mark commit together. The database or
        # Redis being away is waited out for as long as it takes; anything else is given up after a
        # few tries (and closed, so that a restart does not try it again).
        attempt = 0
        while True:
            error = await (self.handle(raw, folded) if folded else self.handle(raw))
            if error is None:
                break
            attempt += 1
            if not is_outage(error) and attempt >= HANDLE_TRIES:
                log.error("update %s given up after %s tries", update_id, attempt)
                break
            if self.stopping.is_set() and is_outage(error):
                return  # left in the inbox: handled after the restart
            await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), OUTAGE_RETRY_MAX))
        self.finished.add(update_id, self.app.clock.now())

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

    async def _pause(self, seconds: float, tasks: list[asyncio.Task[None]] | None = None) -> None:
        stopper = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({stopper, *(tasks or [])}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
