"""Routing a candidate's update to the services, for every runtime: answers in, screens out.

Thin: every answer goes to `IntakeService.answer` with the update's id (a redelivered update is a
no-op there, in the same transaction as its effect); the replies are the flow's screens, rendered.
`bot.channels.telegram.dispatch` hands each update, read once into an `Incoming` or a `Press`
(`bot.channels.telegram.updates`), to `on_message`, `on_edited` or `on_press`; nothing here knows the
framework. Logs carry no message text and no raw user ids, only `Person.log_id`.

`folded` (from the poller, `bot.channels.telegram.polling`): this message answers for that many others the
person sent at once; a short notice says so before the replies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import logging
from typing import Any

from bot.app import App
from bot.channels.telegram import followup, staff
from bot.channels.telegram.api import BadRequest, TelegramApi
from bot.channels.telegram.current import current_question
from bot.channels.telegram.delivery import deliver, deliver_all, plan
from bot.channels.telegram.handled import act, mark_update, say, who
from bot.channels.telegram.render import answered_text
from bot.channels.telegram.updates import Incoming, Press, Sender, inbox_source
from bot.services.actions import run_action
from bot.services.intake import IntakeResult, Person
from flows.actions import Question, decode
from flows.address import Address
from flows.answers import Command, Text, parse_text
from flows.screens import screen_to_dict
from locales import Translator, normalise
from storage.outbox import OutboxPayload

log = logging.getLogger(__name__)


def person_of(user: Sender, chat_id: int) -> Person:
    return Person(channel="telegram", external_id=str(user.id), language=user.language_code,
                  address=Address("telegram", str(chat_id)))


def notice(lang: str, msgid: str) -> tuple[str, None]:
    """A one-line notice from the catalogue, as a message for `handled.say`."""
    return html.escape(Translator(lang)(msgid)), None


async def on_message(app: App, api: TelegramApi, message: Incoming, folded: int = 0) -> None:
    """Group chats first (the intake is private), then text, then anything else. `folded`: see the module
    docstring."""
    if message.user is None:
        return
    if not message.private:
        await group_message(app, api, message, message.user)
    elif message.text is not None:
        await text_message(app, api, message, message.user, message.text, folded)
    else:
        await not_text(app, api, message, message.user, folded)


# --- group chats: the intake is private ---------------------------------------------------------

async def group_message(app: App, api: TelegramApi, message: Incoming, user: Sender) -> None:
    # user_id None: a group that removed the bot marks no person unreachable
    await say(app, api, message.chat_id, update_id=message.update_id,
              messages=[notice(normalise(user.language_code), "telegram.private_only")])


async def on_edited(app: App, api: TelegramApi, message: Incoming) -> None:
    if not message.private or message.user is None:
        return
    await say(app, api, message.chat_id, update_id=message.update_id, user_id=message.user.id,
              messages=[notice(normalise(message.user.language_code), "telegram.edited_ignored")])


# --- private chats ------------------------------------------------------------------------------

async def text_message(app: App, api: TelegramApi, message: Incoming, user: Sender, text: str,
                       folded: int = 0) -> None:
    parsed = parse_text(text)
    if isinstance(parsed, Command) and await staff_command(app, api, message, user, parsed):
        return
    if isinstance(parsed, Command) and parsed.name == "stop":  # no more follow-ups (bot/services/followup.py)
        await followup.stop(app, api, user.id, user.language_code, message.chat_id, message.update_id)
        return
    person = person_of(user, message.chat_id)
    answer = parsed if isinstance(parsed, Command) and parsed.name == "start" else Text(text)
    chat_id, user_id = message.chat_id, user.id
    outcome = await app.intake.answer(person, answer, event_id=message.update_id,
                                      source=inbox_source(api.id),
                                      deliver=lambda o: plan(chat_id, user_id, o))
    if folded and not outcome.duplicate:  # once: a repeat of this update is a duplicate
        await say(app, api, chat_id, user_id=user_id,
                  messages=[notice(normalise(outcome.state.get("lang") or person.language), "telegram.flood_folded")])
    if outcome.outbox_id is not None:
        await deliver(app, api, outcome.outbox_id, outcome.payloads.get(outcome.outbox_id))
    await deliver_all(app, api, outcome.others, outcome.payloads)
    if isinstance(answer, Command) and app.settings.web_url and not outcome.duplicate and not outcome.finished:
        await offer_form(app, api, chat_id, user_id, outcome.state.get("lang", "en"), app.settings.web_url)


async def offer_form(app: App, api: TelegramApi, chat_id: int, user_id: int, lang: str, web_url: str) -> None:
    """After /start: "Fill in as a form", a Mini App button on the same intake (bot/channels/web)."""
    t = Translator(lang)
    button = {"text": t("web.telegram.button"), "web_app": {"url": f"{web_url.rstrip('/')}/tg?lang={lang}"}}
    await say(app, api, chat_id, user_id=user_id,
              messages=[(html.escape(t("web.telegram.offer")), {"inline_keyboard": [[button]]})])


async def not_text(app: App, api: TelegramApi, message: Incoming, user: Sender, folded: int = 0) -> None:
    """Stickers, photos, voice, locations, contacts, documents: not an answer; ask again."""
    person = person_of(user, message.chat_id)
    current = await current_question(app, person, update_id=message.update_id, bot_id=api.id)
    if current.duplicate:
        return
    await say(app, api, message.chat_id, user_id=user.id, screens=current.screens,
              messages=[notice(current.lang, "telegram.flood_folded" if folded else "telegram.text_only")])


async def on_press(app: App, api: TelegramApi, press: Press) -> None:
    with contextlib.suppress(BadRequest):  # "query is too old": nothing to do about it
        await api.answer_tap(press.query_id)
    if press.chat_id is None or not press.private:
        return
    chat_id, user = press.chat_id, press.user
    person = person_of(user, chat_id)
    action = decode(press.data)
    if action is None:
        await mark_update(app, press.update_id, api.id)
        return
    if not isinstance(action, Question):  # staff, bookings, follow-ups: the one table, checked on the server
        now, ref = app.clock.now(), press.message_id
        await act(app, api, press.update_id, who(user.id, user.language_code, chat_id),
                  lambda uow, cw, w: run_action(uow, cw, w, action, ref, now))
        return
    answer = action.tap()
    label = button_label(press.keyboard, press.data or "")
    old_html = press.message_html

    def replies(outcome: IntakeResult) -> OutboxPayload:
        screens = outcome.screens
        if not outcome.stale and len(screens) == 1 and screens[0].in_place:
            # the flow says: the same question, updated (a multiple-choice toggle), edited in place
            edit_in_place = {"ref": press.message_id, "screen": screen_to_dict(screens[0])}
            return plan(chat_id, user.id, dataclasses.replace(outcome, screens=[]), edit_in_place)
        # an accepted answer: the question message shows what was chosen and loses its buttons
        edit = None
        if not outcome.stale and label is not None:
            edit = {"ref": press.message_id, "text": answered_text(old_html, label)}
        return plan(chat_id, user.id, outcome, edit)

    outcome = await app.intake.answer(person, answer, event_id=press.update_id,
                                      source=inbox_source(api.id), deliver=replies)
    if outcome.outbox_id is not None:
        await deliver(app, api, outcome.outbox_id, outcome.payloads.get(outcome.outbox_id))
    await deliver_all(app, api, outcome.others, outcome.payloads)


async def staff_command(app: App, api: TelegramApi, message: Incoming, user: Sender, command: Command) -> bool:
    """Joining with an invite, /cases and /language for staff; False for everything else."""
    args = (app, api, user.id, user.language_code, message.chat_id, message.update_id)
    if command.name == "start" and command.arg.startswith("staff-"):
        await staff.join(*args, command.arg.removeprefix("staff-"))
        return True
    if command.name == "cases":
        return await staff.cases(*args)
    if command.name == "slots":
        return await staff.slots(*args)
    if command.name == "language":
        return await staff.language(*args)
    if command.name == "web" and app.settings.web_url:  # a sign-in link to the staff area
        return await staff.web_link(*args)
    return False


def button_label(keyboard: list[list[dict[str, Any]]], data: str) -> str | None:
    for row in keyboard:
        for button in row:
            if button.get("callback_data") == data:
                return str(button.get("text", ""))
    return None
