"""A parked person's backlog: read from the inbox in their turn, a flood folded into one answer.

When a parked person's updates in hand are done (`bot.channels.telegram.admission`), their backlog
is read from the inbox (by person) and handled in order. A backlog of more than `FOLD_AFTER`
messages is answered as one: the latest text (else the latest message) is handled as usual with a
short notice first; the other messages are closed in one transaction with an audit event; button
presses are handled as usual, in order. Others' updates keep being fetched and answered meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from bot.channels.telegram.admission import Admission
from bot.channels.telegram.updates import Incoming, Press, Update, as_update, parse, sender_address
from bot.services.intake import Person
from storage.repositories import UnitOfWork

log = logging.getLogger(__name__)

# A person's backlog with more messages than this is answered as one (see the module docstring).
FOLD_AFTER = 10
BACKLOG_READ = 1000  # a person's waiting updates taken from the inbox at a time
BACKLOG_PAGE = 100  # ... read in pages of this many


class Backlog:
    """A parked person's waiting updates, sorted as they are read (see `Backlogs._answer_backlog`).

    Presses are kept to be handled. Of the messages, all are kept while there are at most
    `fold_after`; beyond that only the one that counts: the latest text in a private chat (it may
    answer the question), else the latest message in a private chat (answered with the question).
    The others are folded: only their ids are kept.
    """

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.messages = 0
        self._kept: dict[int, Update] = {}  # update id -> update, to be handled
        self._message_ids: list[int] = []
        self._folding = False
        self._text: int | None = None  # the latest text in a private chat
        self._private: int | None = None  # the latest message in a private chat

    def add(self, update_id: int, raw: Update | dict[str, Any], fold_after: int) -> None:
        update = as_update(raw)
        if update is None:
            return
        self.ids.append(update_id)
        event = update.event
        if isinstance(event, Press) or (not update.readable and "callback_query" in update.raw):
            self._kept[update_id] = update
            return
        self.messages += 1
        self._message_ids.append(update_id)
        if isinstance(event, Incoming) and not event.edited and event.private:
            self._private = update_id
            if event.text is not None:
                self._text = update_id
        if self._folding:
            self._keep_only(update, update_id)
            return
        self._kept[update_id] = update
        if self.messages > fold_after:  # from now on only the one that counts is kept
            self._folding = True
            answer = self.answer_id
            for other in self._message_ids:
                if other != answer:
                    self._kept.pop(other, None)

    def _keep_only(self, update: Update, update_id: int) -> None:
        answer = self.answer_id
        if answer == update_id:
            for other in self._message_ids[:-1]:
                self._kept.pop(other, None)
            self._kept[update_id] = update

    @property
    def answer_id(self) -> int | None:
        """When folding: the message that is handled (with the notice)."""
        if not self._folding:
            return None
        return self._text if self._text is not None else self._private

    def folded(self) -> list[int]:
        answer = self.answer_id
        return [i for i in self._message_ids if i != answer] if self._folding else []

    def updates(self) -> list[Update]:
        return [self._kept[i] for i in sorted(self._kept)]

    def handled(self) -> list[dict[str, Any]]:
        """The raw updates that are handled, in order."""
        return [update.raw for update in self.updates()]


class Backlogs(Admission):
    """The parked people's backlogs, each a task of its own."""

    def __init__(self, *args: object, fold_after: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fold_after = fold_after
        self._backlogs: dict[int, asyncio.Task[None]] = {}  # per parked person: their backlog being handled
        self._in_hand: dict[int, asyncio.Task[None]] = {}  # received, not yet handled

    async def _handle(self, update: Update, before: asyncio.Task[None] | None, folded: int = 0) -> None:
        raise NotImplementedError

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
        of a thousand must not hold up everyone else's updates), each update parsed once; only the
        updates that will be handled are kept."""
        backlog = Backlog()
        after = -1
        while len(backlog.ids) < BACKLOG_READ:
            page = await self._with_db("reading a backlog", partial(self._backlog_page, person=person, after=after))
            if page is None:
                return None
            for raw in page:
                update_id = int(raw["update_id"])
                update = parse(raw)
                if update is not None and update_id not in handled and update_id not in self._in_hand:
                    backlog.add(update_id, update, self.fold_after)
            if len(page) < BACKLOG_PAGE:
                break
            after = int(page[-1]["update_id"])
            await asyncio.sleep(0)
        return backlog

    async def _backlog_page(self, uow: UnitOfWork, *, person: int, after: int) -> list[dict[str, Any]]:
        page: list[dict[str, Any]] = await uow.updates.waiting_of(self.source, sender_address(person),
                                                                     BACKLOG_PAGE, after)
        return page

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
        for update in backlog.updates():  # in order; presses answer the question they were made on
            if self.stopping.is_set():
                return
            await self._handle(update, None, folded=count if update.update_id == backlog.answer_id else 0)

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
