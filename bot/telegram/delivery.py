"""Sending a candidate's replies through the outbox.

The handler renders the replies and `IntakeService.answer` writes them to the outbox in the same
transaction as the answer. They are sent right away and marked sent; if the process dies in
between, `drain` sends them after the restart (and every so often while running), so an answer
that was stored always gets its next question. At worst, a crash right after sending repeats a
message once.
"""

from __future__ import annotations

import html
import json
import logging
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramNetworkError
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup

from bot.app import App
from bot.intake_service import Outcome
from bot.telegram.render import render
from locales import Translator

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_ATTEMPTS = 10
BLOCKED = "blocked"


def plan(chat_id: int, user_id: int, outcome: Outcome, edit: dict[str, Any] | None = None) -> dict[str, Any]:
    """What to send for an outcome, already rendered, as a JSON value for the outbox."""
    messages = []
    for screen in outcome.screens:
        text, markup = render(screen)
        messages.append({"text": text, "markup": markup.model_dump(mode="json", exclude_none=True) if markup else None})
    document = None
    if outcome.personal_data is not None:  # /mydata: the readable copy, then the same as a file
        caption = Translator(outcome.state.get("lang", "en"))("mydata.caption")
        document = {"filename": "mydata.json", "caption": caption, "content": outcome.personal_data}
    return {"chat_id": chat_id, "user_id": user_id, "edit": edit, "messages": messages, "document": document}


async def send_plan(bot: Bot, planned: dict[str, Any]) -> str:
    """Send it; returns "" when done or a content-free reason it never can be (the person blocked us)."""
    chat_id = planned["chat_id"]
    try:
        edit = planned.get("edit")
        if edit:
            try:
                await bot.edit_message_text(edit["text"], chat_id=chat_id, message_id=edit["message_id"],
                                            reply_markup=None)
            except TelegramBadRequest as exc:  # "message is not modified", or too old to edit: not needed
                log.debug("question message not edited: %s", exc.message)
        for message in planned["messages"]:
            markup = InlineKeyboardMarkup.model_validate(message["markup"]) if message["markup"] else None
            await bot.send_message(chat_id, message["text"], reply_markup=markup)
        document = planned.get("document")
        if document:
            data = json.dumps(document["content"], ensure_ascii=False, indent=2).encode()
            await bot.send_document(chat_id, BufferedInputFile(data, document["filename"]),
                                    caption=html.escape(document["caption"]))
    except TelegramForbiddenError:
        return BLOCKED
    return ""


async def deliver(app: App, bot: Bot, message_id: int) -> None:
    """Send one outbox message unless it was sent already, then mark it."""
    async with app.uow() as uow:
        row = await uow.outbox.get(message_id)
        if row is None or row.sent_at is not None:
            return
        planned = row.payload
    try:  # no transaction is held while Telegram is asked
        failure = await send_plan(bot, planned)
    except (TelegramNetworkError, TelegramBadRequest) as exc:
        async with app.uow() as uow:
            attempts = await uow.outbox.attempted(message_id)
            if attempts >= MAX_ATTEMPTS:
                await uow.outbox.finish(message_id, at=app.clock.now(), failure=f"gave up: {type(exc).__name__}")
        log.warning("outbox message %s not sent (%s); attempt %s", message_id, type(exc).__name__, attempts)
        return
    async with app.uow() as uow:
        await uow.outbox.finish(message_id, at=app.clock.now(), failure=failure)
        if failure == BLOCKED:  # stop writing to them until they write to us again
            await uow.candidates.mark_unreachable(CHANNEL, str(planned["user_id"]))
            log.warning("a person has blocked the bot; marked unreachable")


async def drain(app: App, bot: Bot, *, min_age: timedelta = timedelta(seconds=30)) -> int:
    """Send what was committed but not sent, e.g. before a crash; returns how many were tried.

    `min_age` leaves fresh messages to the handler that is sending them right now (another worker).
    """
    async with app.uow() as uow:
        rows = await uow.outbox.pending(CHANNEL, created_before=app.clock.now() - min_age)
        ids = [row.id for row in rows]
    for message_id in ids:
        await deliver(app, bot, message_id)
    return len(ids)
