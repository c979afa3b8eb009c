"""One aiogram router for candidates: turns Telegram updates into answers and screens into messages.

Thin: every answer goes to `IntakeService.answer` with the update's id (a redelivered update is a
no-op there, in the same transaction as its effect); the replies are the flow's screens, rendered.
Logs carry no message text and no raw user ids, only `Person.log_id`.

`folded` (from the poller, `bot.channels.telegram.polling`): this message answers for that many others the
person sent at once; a short notice says so before the replies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import logging
from collections.abc import Sequence

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import CallbackQuery, Message, Update, User

from bot.app import App
from bot.channels.telegram import followup, staff
from bot.channels.telegram.current import current_question, mark_update
from bot.channels.telegram.delivery import deliver, deliver_all, plan
from bot.channels.telegram.render import answered_text, parse_callback, render
from bot.channels.telegram.session import AnswerTap, Markup, SendRendered, call
from bot.services.intake import Outcome, Person
from flows.address import Address
from flows.answers import Command, Text, parse_text
from flows.screens import Screen, screen_to_dict
from locales import Translator, normalise

log = logging.getLogger(__name__)


def person_of(user: User, chat_id: int) -> Person:
    return Person(channel="telegram", external_id=str(user.id), language=user.language_code,
                  address=Address("telegram", str(chat_id)))


class Blocked(Exception):
    """The person blocked the bot: stop sending to them for this update."""


async def send_text(bot: Bot, chat_id: int, text: str, markup: Markup | None = None) -> None:
    try:
        await call(bot, SendRendered(chat_id, text, markup))
    except TelegramForbiddenError as exc:
        raise Blocked from exc


async def send_screens(bot: Bot, chat_id: int, screens: Sequence[Screen], person: Person) -> None:
    try:
        for screen in screens:
            text, markup = render(screen)
            await send_text(bot, chat_id, text, markup)
    except Blocked:
        log.warning("person %s has blocked the bot; nothing more sent for this update", person.log_id)


async def notice(bot: Bot, chat_id: int, lang: str, msgid: str, person: Person) -> bool:
    """A one-line notice from the catalogue; False if the person blocked the bot."""
    try:
        await send_text(bot, chat_id, html.escape(Translator(lang)(msgid)))
    except Blocked:
        log.warning("person %s has blocked the bot; nothing more sent for this update", person.log_id)
        return False
    return True


# --- group chats: the intake is private ---------------------------------------------------------

async def group_message(message: Message, bot: Bot, app: App, event_update: Update) -> None:
    if message.from_user is None or not await mark_update(app, event_update.update_id, bot.id):
        return
    person = person_of(message.from_user, message.chat.id)
    await notice(bot, message.chat.id, normalise(message.from_user.language_code), "telegram.private_only", person)


async def edited_message(message: Message, bot: Bot, app: App, event_update: Update) -> None:
    if message.chat.type != ChatType.PRIVATE or message.from_user is None:
        return
    if not await mark_update(app, event_update.update_id, bot.id):
        return
    person = person_of(message.from_user, message.chat.id)
    await notice(bot, message.chat.id, normalise(message.from_user.language_code), "telegram.edited_ignored",
                 person)


# --- private chats ------------------------------------------------------------------------------

async def text_message(message: Message, bot: Bot, app: App, event_update: Update, folded: int = 0) -> None:
    if message.from_user is None or message.text is None:
        return
    parsed = parse_text(message.text)
    if isinstance(parsed, Command) and await staff_command(message, bot, app, event_update.update_id, parsed):
        return
    if isinstance(parsed, Command) and parsed.name == "stop":  # no more follow-ups (bot/services/followup.py)
        await followup.stop(app, bot, message, event_update.update_id)
        return
    person = person_of(message.from_user, message.chat.id)
    answer = parsed if isinstance(parsed, Command) and parsed.name == "start" else Text(message.text)
    chat_id, user_id = message.chat.id, message.from_user.id
    outcome = await app.intake.answer(person, answer, update_id=event_update.update_id, bot_id=bot.id,
                                      deliver=lambda o: plan(chat_id, user_id, o))
    if folded and not outcome.duplicate:  # once: a repeat of this update is a duplicate
        await notice(bot, chat_id, normalise(outcome.state.get("lang") or person.language), "telegram.flood_folded",
                     person)
    if outcome.outbox_id is not None:
        await deliver(app, bot, outcome.outbox_id, outcome.fresh.get(outcome.outbox_id))
    await deliver_all(app, bot, outcome.others, outcome.fresh)
    if isinstance(answer, Command) and app.settings.web_url and not outcome.duplicate and not outcome.finished:
        await offer_form(bot, chat_id, outcome.state.get("lang", "en"), app.settings.web_url, person)


async def offer_form(bot: Bot, chat_id: int, lang: str, web_url: str, person: Person) -> None:
    """After /start: "Fill in as a form", a Mini App button on the same intake (bot/channels/web)."""
    t = Translator(lang)
    button = {"text": t("web.telegram.button"), "web_app": {"url": f"{web_url.rstrip('/')}/tg?lang={lang}"}}
    try:
        await send_text(bot, chat_id, html.escape(t("web.telegram.offer")), {"inline_keyboard": [[button]]})
    except Blocked:
        log.warning("person %s has blocked the bot; nothing more sent for this update", person.log_id)


async def not_text(message: Message, bot: Bot, app: App, event_update: Update, folded: int = 0) -> None:
    """Stickers, photos, voice, locations, contacts, documents: not an answer; ask again."""
    if message.from_user is None:
        return
    person = person_of(message.from_user, message.chat.id)
    current = await current_question(app, person, update_id=event_update.update_id, bot_id=bot.id)
    if current.duplicate:
        return
    if await notice(bot, message.chat.id, current.lang, "telegram.flood_folded" if folded else "telegram.text_only",
                    person):
        await send_screens(bot, message.chat.id, current.screens, person)


async def tap(query: CallbackQuery, bot: Bot, app: App, event_update: Update) -> None:
    with contextlib.suppress(TelegramBadRequest):  # "query is too old": nothing to do about it
        await call(bot, AnswerTap(query.id))
    message = query.message
    if not isinstance(message, Message) or message.chat.type != ChatType.PRIVATE:
        return
    person = person_of(query.from_user, message.chat.id)
    answer = parse_callback(query.data)
    if answer is None:
        await mark_update(app, event_update.update_id, bot.id)
        return
    if answer.step.startswith("book."):  # a candidate's meeting time: checked on the server
        await staff.book(app, bot, query.from_user, message.chat.id, event_update.update_id, answer.step,
                         answer.button)
        return
    if answer.step.startswith("fu."):  # a follow-up question: the person's own, checked on the server
        await followup.press(app, bot, query.from_user, message.chat.id, event_update.update_id, answer)
        return
    if answer.step.startswith(staff.STAFF_STEPS):  # a consultant's or peer's button: checked on the server
        await staff.press(app, bot, query.from_user, message.chat.id, message.message_id, event_update.update_id,
                          answer.step, answer.button)
        return
    label = button_label(message, query.data or "")
    old_html = message.html_text

    def replies(outcome: Outcome) -> dict[str, object]:
        screens = outcome.screens
        if not outcome.stale and len(screens) == 1 and screens[0].asks and screens[0].step == answer.step:
            # a multiple-choice toggle: the same question with its options updated, edited in place
            edit_in_place = {"ref": message.message_id, "screen": screen_to_dict(screens[0])}
            return plan(message.chat.id, query.from_user.id, dataclasses.replace(outcome, screens=[]), edit_in_place)
        # an accepted answer: the question message shows what was chosen and loses its buttons
        edit = None
        if not outcome.stale and label is not None:
            edit = {"ref": message.message_id, "text": answered_text(old_html, label)}
        return plan(message.chat.id, query.from_user.id, outcome, edit)

    outcome = await app.intake.answer(person, answer, update_id=event_update.update_id, bot_id=bot.id,
                                      deliver=replies)
    if outcome.outbox_id is not None:
        await deliver(app, bot, outcome.outbox_id, outcome.fresh.get(outcome.outbox_id))
    await deliver_all(app, bot, outcome.others, outcome.fresh)


async def staff_command(message: Message, bot: Bot, app: App, update_id: int, command: Command) -> bool:
    """Joining with an invite, /cases and /language for staff; False for everything else."""
    if command.name == "start" and command.arg.startswith("staff-"):
        await staff.join(app, bot, message, update_id, command.arg.removeprefix("staff-"))
        return True
    if command.name == "cases":
        return await staff.cases(app, bot, message, update_id)
    if command.name == "slots":
        return await staff.slots(app, bot, message, update_id)
    if command.name == "language":
        return await staff.language(app, bot, message, update_id)
    return False


def button_label(message: Message, data: str) -> str | None:
    markup = message.reply_markup
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


def make_router() -> Router:
    """The candidate router; order matters: group chats first, then text, then anything else."""
    router = Router(name="candidate")
    router.message.register(group_message, F.chat.type != ChatType.PRIVATE)
    router.edited_message.register(edited_message)
    router.message.register(text_message, F.text)
    router.message.register(not_text)
    router.callback_query.register(tap)
    return router
