"""aiogram's router for every update: turns aiogram's types into the shared routing's
(`bot.channels.telegram.handlers`) and calls it. No dialogue logic here."""

from __future__ import annotations

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message, Update, User

from bot.app import App
from bot.channels.telegram.api import TelegramApi
from bot.channels.telegram.handlers import Incoming, Press, Sender, on_edited, on_message, on_press


def sender(user: User | None) -> Sender | None:
    return Sender(user.id, user.language_code) if user is not None else None


def incoming(message: Message, update_id: int) -> Incoming:
    return Incoming(update_id=update_id, chat_id=message.chat.id, private=message.chat.type == ChatType.PRIVATE,
                    user=sender(message.from_user), text=message.text)


async def message(message: Message, bot: TelegramApi, app: App, event_update: Update, folded: int = 0) -> None:
    await on_message(app, bot, incoming(message, event_update.update_id), folded)


async def edited_message(message: Message, bot: TelegramApi, app: App, event_update: Update) -> None:
    await on_edited(app, bot, incoming(message, event_update.update_id))


async def tap(query: CallbackQuery, bot: TelegramApi, app: App, event_update: Update) -> None:
    shown = query.message if isinstance(query.message, Message) else None  # None: no longer accessible
    press = Press(update_id=event_update.update_id, query_id=query.id,
                  user=Sender(query.from_user.id, query.from_user.language_code), data=query.data)
    if shown is not None:
        keyboard = [[{"text": button.text, "callback_data": button.callback_data} for button in row]
                    for row in (shown.reply_markup.inline_keyboard if shown.reply_markup else [])]
        press = Press(update_id=press.update_id, query_id=press.query_id, user=press.user, data=press.data,
                      chat_id=shown.chat.id, private=shown.chat.type == ChatType.PRIVATE,
                      message_id=shown.message_id, message_html=shown.html_text, keyboard=keyboard)
    await on_press(app, bot, press)


def make_router() -> Router:
    """Every message, edit and button press goes to the shared routing."""
    router = Router(name="telegram")
    router.message.register(message)
    router.edited_message.register(edited_message)
    router.callback_query.register(tap)
    return router
