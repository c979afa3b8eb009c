"""The yardstick for `tests.benchmarks.load`: the least an aiogram 3 bot can do per update.

    BOT_TOKEN=... TELEGRAM_API_URL=http://127.0.0.1:PORT python -m tests.benchmarks.echo_bot

aiogram's own `Dispatcher.start_polling` against `TELEGRAM_API_URL`; every message is answered with
one message, every callback query with `answer()` and one message (each reply carries one inline
button, so the simulated person has something to tap). No database, no i18n, no outbox. Stops on
SIGTERM or SIGINT. It runs on the same event loop as `ipsbot run` (uvloop where installed), so the
ratio compares the bots, not the loops.
"""

from __future__ import annotations

import asyncio
import logging
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.cli import event_loop_factory

AGAIN = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="again", callback_data="again")]])


async def echo(message: Message) -> None:
    await message.answer(message.text or "?", reply_markup=AGAIN)


async def tapped(query: CallbackQuery, bot: Bot) -> None:
    await query.answer()
    if query.message is not None:
        await bot.send_message(query.message.chat.id, query.data or "?", reply_markup=AGAIN)


async def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"].rstrip("/")))
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    dp = Dispatcher()
    dp.message.register(echo)
    dp.callback_query.register(tapped)
    await dp.start_polling(bot, handle_signals=True, close_bot_session=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main())
