"""Sending a candidate's replies through the outbox.

The handler renders the replies and `IntakeService.answer` writes them to the outbox in the same
transaction as the answer. They are sent right away and marked sent; if the process dies in
between, `drain` sends them after the restart (and every so often while running), so an answer
that was stored always gets its next question. At worst, a crash right after sending repeats a
message once.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict, cast

from bot.app import App
from bot.channels.telegram.api import BadRequest, Forbidden, Markup, NetworkError, TelegramApi
from bot.channels.telegram.render import render
from bot.services.clocks import Send
from bot.services.intake import IntakeResult
from bot.services.notify import payload
from flows.address import Address
from flows.screens import screen_from_dict
from locales import Translator
from storage.outbox import EditData, OutboxPayload, Payloads, ShownData, payload_of
from storage.repositories import UnitOfWork

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_ATTEMPTS = 10
BLOCKED = "blocked"
# how long after sending a message the bot may still delete it: Telegram allows 48 hours for a bot's own
# message in a private chat; an hour's margin for the outbox to send the deletion
DELETABLE_FOR = timedelta(hours=47)


class MyData(TypedDict):
    filename: str
    caption: str
    content: dict[str, Any]


class Planned(OutboxPayload, total=False):
    """A payload as this channel writes its own replies (`plan`): the services' form, with the sender's
    user id, a /mydata file, and rendered replies of rows written before revision 0011."""

    user_id: int
    document: MyData | None
    messages: list[dict[str, Any]]


def plan(chat_id: int, user_id: int, outcome: IntakeResult, edit: Mapping[str, Any] | None = None) -> Planned:
    """What to send for an outcome, as a JSON value for the outbox: the services' one form (screens as data,
    keyed by the address, see `bot.services.notify`), with the sender's user id and a /mydata file."""
    document = None
    if outcome.personal_data is not None:  # /mydata: the readable copy, then the same as a file
        caption = Translator(outcome.state.get("lang", "en"))("mydata.caption")
        document = MyData(filename="mydata.json", caption=caption, content=outcome.personal_data)
    planned = Planned(**payload(Address(CHANNEL, str(chat_id)), outcome.screens))
    planned["edit"] = cast(EditData, dict(edit)) if edit else None  # {"ref", "screen"} or {"ref", "text"}
    planned["user_id"], planned["document"] = user_id, document
    return planned


def chat_of(planned: OutboxPayload) -> int:
    """The Telegram chat an outbox payload goes to: the id of its address (a Telegram address is a chat)."""
    return int(planned["to"]["id"])


def _messages(planned: Planned) -> list[tuple[str, Markup | None]]:
    """The screens, kept as data in the outbox, rendered now (and replies rendered before revision 0011,
    still waiting in an outbox when it ran)."""
    out = [(message["text"], message["markup"]) for message in planned.get("messages", [])]
    return out + [render(screen_from_dict(data)) for data in planned.get("screens", [])]


def _deletable(shown: ShownData, now: datetime) -> bool:
    if "delete" in shown:
        return shown["delete"]
    return "sent_at" in shown and now - datetime.fromisoformat(shown["sent_at"]) < DELETABLE_FOR


async def _withdraw(api: TelegramApi, chat_id: int, withdraw: list[ShownData], notice: str, now: datetime) -> None:
    """Delete each message that showed an erased person, or where Telegram no longer allows that (older
    than 48 hours), replace it: a text by the notice, a file by a small file holding the notice."""
    for shown in withdraw:
        if _deletable(shown, now):
            try:
                await api.remove_message(chat_id, shown["ref"])
                continue
            except BadRequest as exc:  # too old after all, or gone: edit instead
                log.debug("message not deleted: %s", exc.message)
        try:
            if shown.get("kind") == "document":
                await api.replace_document(chat_id, shown["ref"], notice.encode(), "withdrawn.txt",
                                           html.escape(notice))
            else:
                await api.edit_text(chat_id, shown["ref"], html.escape(notice), None)
        except BadRequest as exc:  # deleted by the staff member already, or not modified
            log.debug("message not edited: %s", exc.message)


async def send_plan(api: TelegramApi, planned: Planned, now: datetime
                    ) -> tuple[str, int | None, list[tuple[int, str]]]:
    """Send it. Returns "" or a content-free reason it never can be sent (blocked), the id of the
    first message sent (a consultant's summary is edited later through it), and the id and kind
    ("text" or "document") of every message sent (to record which staff messages showed a person)."""
    chat_id = chat_of(planned)
    first: int | None = None
    sent_ids: list[tuple[int, str]] = []
    try:
        withdraw = planned.get("withdraw")
        if withdraw:
            await _withdraw(api, chat_id, withdraw, planned.get("notice") or "", now)
        edit = planned.get("edit")
        if edit:
            text, markup = (edit["text"], None) if "text" in edit else render(screen_from_dict(edit["screen"]))
            try:
                await api.edit_text(chat_id, edit["ref"], text, markup)
            except BadRequest as exc:  # "message is not modified", or too old to edit: not needed
                log.debug("message not edited: %s", exc.message)
        for text, markup in _messages(planned):
            sent = await api.send_text(chat_id, text, markup)
            first = first or sent
            sent_ids.append((sent, "text"))
        documents = list(planned.get("documents") or [])  # rows stored before 0011 may lack it
        mydata = planned.get("document")
        if mydata:
            documents.append({"filename": mydata["filename"], "caption": mydata["caption"],
                              "content": json.dumps(mydata["content"], ensure_ascii=False, indent=2)})
        for document in documents:
            caption = html.escape(document["caption"]) if document.get("caption") else None
            uploaded = await api.upload_document(chat_id, document["content"].encode(), document["filename"], caption)
            sent_ids.append((uploaded, "document"))
    except Forbidden:
        return BLOCKED, first, sent_ids
    return "", first, sent_ids


async def deliver(app: App, api: TelegramApi, message_id: int, payload: OutboxPayload | None = None) -> None:
    """Send one outbox message unless it was sent already, then mark it.

    `payload`: the message as its writer just committed it (nobody else sends a message that fresh,
    see `drain`), which saves reading it back.
    """
    if payload is not None:
        planned = cast(Planned, payload)  # this channel's replies carry its own keys too
    else:
        async with app.uow() as uow:
            row = await uow.outbox.get(message_id)
            if row is None or row.sent_at is not None:
                return
            planned = cast(Planned, payload_of(row))
    try:  # no transaction is held while Telegram is asked
        failure, first, sent = await send_plan(api, planned, app.clock.now())
    except (NetworkError, BadRequest) as exc:
        async with app.uow() as uow:
            attempts = await uow.outbox.attempted(message_id)
            if attempts >= MAX_ATTEMPTS:
                await uow.outbox.finish(message_id, at=app.clock.now(), failure=f"gave up: {type(exc).__name__}")
        log.warning("outbox message %s not sent (%s); attempt %s", message_id, type(exc).__name__, attempts)
        return
    about, offer_id = planned.get("about"), planned.get("offer_id")  # (absent from rows stored before 0011)
    if (not failure and not offer_id and not planned.get("alert_copy") and not about
            and app.sent_marks is not None):
        app.sent_marks.add(message_id, app.clock.now())
        return
    too_late = False
    async with app.uow() as uow:
        await uow.outbox.finish(message_id, at=app.clock.now(), failure=failure)
        if about and sent:  # a staff message that shows a person: erasing them withdraws it
            too_late = not await uow.shown.record(about, planned["to"], sent, app.clock.now())
        if offer_id and first is not None:  # so "taken by" can replace this summary later
            await uow.cases.record_message(offer_id, planned["to"], first)
        alert_copy = planned.get("alert_copy")
        if alert_copy and first is not None:  # so "seen by" can replace this copy later
            await uow.escalations.record_copy(alert_copy, planned["to"], first)
        if failure == BLOCKED:  # stop writing to them until they write to us again (a private chat: the user)
            await uow.candidates.mark_unreachable(CHANNEL, str(planned.get("user_id") or chat_of(planned)))
            log.warning("a person has blocked the bot; marked unreachable")
    if too_late:  # the person was erased while this was on its way: take it back at once
        await _withdraw(api, chat_of(planned), [{"ref": m, "kind": k, "delete": True} for m, k in sent],
                        Translator("da")("staff.withdrawn.shown"), app.clock.now())


class BatchedMarks:
    """Marks collected for a moment and written together, in one transaction, by `write`.

    A mark that cannot be written (the database is away) is kept and tried again; a crash loses the
    marks not yet written, at most `delay` seconds' worth, so what they mark must be safe to do again.
    """

    def __init__(self, app: App, delay: float = 0.05) -> None:
        self.app = app
        self.delay = delay
        self._pending: dict[int, datetime] = {}
        self._writer: asyncio.Task[None] | None = None

    async def write(self, uow: UnitOfWork, batch: dict[int, datetime]) -> None:
        raise NotImplementedError

    def add(self, key: int, at: datetime) -> None:
        self._pending[key] = at
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_soon())

    async def _write_soon(self) -> None:
        await asyncio.sleep(self.delay)
        while self._pending:
            try:
                await self.flush()
            except Exception as exc:  # the database may be away for a moment: keep them, try again
                log.warning("could not write %s (%s); trying again", type(self).__name__, type(exc).__name__)
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        batch, self._pending = self._pending, {}
        if not batch:
            return
        try:
            async with self.app.uow() as uow:
                await self.write(uow, batch)
        except BaseException:
            self._pending = {**batch, **self._pending}
            raise

    async def close(self) -> None:
        """Write what is left (on shutdown)."""
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._pending:
            await self.flush()


class SentMarks(BatchedMarks):
    """Marks sent outbox messages in batches: one transaction for what was sent in the last moment.

    Marking each message in a transaction of its own was a third of the database work of an answer.
    The price: a crash loses the marks not yet written (at most `delay` seconds' worth), and `drain`
    sends those messages again after the restart, which the outbox allows anyway (at worst a message
    arrives twice). `drain` leaves messages younger than 30 s alone, so it never sends one whose mark
    is still waiting here.
    """

    async def write(self, uow: UnitOfWork, batch: dict[int, datetime]) -> None:
        await uow.outbox.finish_many(batch)


async def deliver_all(app: App, api: TelegramApi, message_ids: list[int],
                      payloads: Payloads | None = None) -> None:
    for message_id in message_ids:
        await deliver(app, api, message_id, (payloads or {}).get(message_id))


def sender_of_outbox(app: App, api: TelegramApi) -> Send:
    """The clocks' delivery through Telegram (`bot.services.clocks`): the messages given, those addressed
    to Telegram, at once; then whatever else waits (committed by a crashed process, or a reminder due)."""
    async def send(messages: Payloads) -> None:
        for message_id, planned in messages.items():
            if planned["to"]["channel"] == CHANNEL:
                await deliver(app, api, message_id, planned)
        await drain(app, api)

    return send


async def drain(app: App, api: TelegramApi, *, min_age: timedelta = timedelta(seconds=30)) -> int:
    """Send what was committed but not sent, e.g. before a crash; returns how many were tried.

    `min_age` leaves fresh messages to the handler that is sending them right now (another worker).
    """
    async with app.uow() as uow:
        now = app.clock.now()  # reminders are due by the clock; fresh messages wait `min_age`
        rows = await uow.outbox.pending(CHANNEL, created_before=now - min_age, due_by=now)
        ids = [row.id for row in rows]
    for message_id in ids:
        await deliver(app, api, message_id)
    return len(ids)
