"""The yardstick for `tests.benchmarks.load --framework ptb`: the least a python-telegram-bot v22 bot
does per update.

    BOT_TOKEN=... TELEGRAM_API_URL=http://127.0.0.1:PORT python -m tests.benchmarks.echo_ptb

python-telegram-bot's own `Application` with its `Updater` polling `TELEGRAM_API_URL` (the token
appended to `base_url` by python-telegram-bot itself), updates handled concurrently
(`concurrent_updates(True)`: a bot with many people at once would set it, and the default handles
one update at a time), with the same 30 s call timeouts as our runtime (python-telegram-bot's 5 s
default loses replies when the machine is busy). Every message is answered with one message, every callback query with
`answer()` and one message (each reply carries one inline button). No database, no i18n, no
outbox. Stops on SIGTERM or SIGINT; same event loop as `ipsbot run` (uvloop where installed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.cli import event_loop_factory

AGAIN = InlineKeyboardMarkup([[InlineKeyboardButton("again", callback_data="again")]])


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.message is not None:
        await update.message.reply_text(update.message.text or "?", reply_markup=AGAIN)


async def tapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    if query.message is not None:
        await context.bot.send_message(query.message.chat.id, query.data or "?", reply_markup=AGAIN)


def builder() -> ApplicationBuilder:
    """python-telegram-bot's defaults (`HTTPXRequest`), or with `ECHO_PTB_REQUEST=aiohttp` the request
    backend of our runtime (`bot.channels.telegram.ptb.request`): what the echo bot costs on that."""
    url = os.environ["TELEGRAM_API_URL"].rstrip("/")
    built = (Application.builder().token(os.environ["BOT_TOKEN"]).base_url(f"{url}/bot")
             .concurrent_updates(True))
    if os.environ.get("ECHO_PTB_REQUEST") == "aiohttp":
        from bot.channels.telegram.ptb.request import AiohttpRequest

        return (built.request(AiohttpRequest(256, read_timeout=30, write_timeout=30, connect_timeout=30,
                                             pool_timeout=30))
                .get_updates_request(AiohttpRequest(1, read_timeout=60, connect_timeout=30)))
    return (built.connection_pool_size(256).read_timeout(30).write_timeout(30).pool_timeout(30)
            .connect_timeout(30).get_updates_read_timeout(60))


async def main() -> None:
    application = builder().build()
    application.add_handler(MessageHandler(filters.ALL, echo))
    application.add_handler(CallbackQueryHandler(tapped))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    async with application:
        updater = application.updater
        if updater is None:
            raise RuntimeError("the Application was built without an Updater")
        await updater.start_polling(allowed_updates=["message", "callback_query"])
        await application.start()
        await stopping.wait()
        await updater.stop()
        await application.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main())
