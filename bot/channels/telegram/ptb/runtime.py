"""The python-telegram-bot runtime: the same guarantees as aiogram's, on python-telegram-bot's client.

Used of python-telegram-bot: `telegram.Bot` for every call (its parameters, its errors: `RetryAfter`,
`Forbidden`, ...), on a `BaseRequest` of ours on aiohttp (`bot.channels.telegram.ptb.request`: its own
`HTTPXRequest` cost most of the bot's CPU under load). Each update is read once by the shared
`bot.channels.telegram.updates.parse` and routed by `bot.channels.telegram.dispatch`, one person at a
time (`Isolation`).

Not used, on purpose: `telegram.ext` as a whole (its `Application`, `Update.de_json` and
`process_update` only rebuilt what `parse` reads, at about a third of the bot's CPU, and importing
it costs memory), its `Updater` (it confirms updates to Telegram before they are handled, so a
crash would lose them; the shared loop in `bot.channels.telegram.polling` stores each update in the
inbox first) and `ConversationHandler` (its state lives in memory; ours is in the database, committed
with the update's mark). Its `AIORateLimiter` needs an extra dependency and paces per second and
group, not per chat: pacing and 429 are the shared `bot.channels.telegram.pacing`. The webhook
server is the shared one (aiohttp, the secret checked in constant time, 200 only after handling).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from telegram import Bot, BotCommand, BotCommandScopeDefault, InputMediaDocument, MenuButtonWebApp, WebAppInfo
from telegram.constants import ParseMode
from telegram.error import BadRequest as PtbBadRequest
from telegram.error import Forbidden as PtbForbidden
from telegram.error import NetworkError as PtbNetworkError
from telegram.error import RetryAfter, TelegramError
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.app import App
from bot.channels.telegram.api import (
    ALLOWED_UPDATES,
    PARSE_MODE,
    ApiError,
    BadRequest,
    Forbidden,
    Markup,
    NetworkError,
)
from bot.channels.telegram.dispatch import Dispatch, Isolation
from bot.channels.telegram.pacing import ChatPace, retry_after
from bot.channels.telegram.ptb.request import AiohttpRequest
from bot.channels.telegram.updates import Update
from bot.settings import Settings
from locales import FALLBACK

log = logging.getLogger(__name__)

T = TypeVar("T")
# Our own replies go through `Bot.do_api_request` as the JSON `render` made (see `PtbApi.send_text`); it
# warns that `Bot.send_message` exists, which is the point: that path builds models both ways.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.(sendMessage|editMessageText|answerCallbackQuery)'")
POOL_SIZE = 256  # connections to the Bot API: sends for many people at once
CALL_TIMEOUT = 30.0  # seconds for one call (a document upload included)


def _mapped(exc: TelegramError) -> ApiError:
    """python-telegram-bot's error as the shared code's; BadRequest before NetworkError (its subclass)."""
    for theirs, ours in ((PtbForbidden, Forbidden), (PtbBadRequest, BadRequest), (PtbNetworkError, NetworkError)):
        if isinstance(exc, theirs):
            return ours(exc.message)
    return ApiError(exc.message)


def _wait_of(exc: BaseException) -> float | None:
    if not isinstance(exc, RetryAfter):
        return None
    with warnings.catch_warnings():  # an int or a timedelta, depending on PTB_TIMEDELTA
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class PtbApi:
    """`bot.channels.telegram.api.TelegramApi` on `telegram.Bot`: paced per chat, 429 waited out."""

    def __init__(self, bot: Bot, updates: AiohttpRequest, interval: float) -> None:
        self.bot = bot
        self.updates = updates  # getUpdates on a client of its own, so a long poll never holds a send
        self.pace = ChatPace(interval)
        self._id = int(bot.token.split(":", 1)[0])  # as aiogram reads it: the same inbox

    @property
    def id(self) -> int:
        return self._id

    async def _call(self, name: str, send: Callable[[], Awaitable[T]], chat: int | None = None) -> T:
        async def once() -> T:
            return await retry_after(send, _wait_of, name)

        try:
            return await (self.pace.paced(chat, once) if chat is not None else once())
        except TelegramError as exc:
            raise _mapped(exc) from exc

    async def _lean(self, endpoint: str, fields: dict[str, Any], chat: int | None = None) -> Any:
        """A call given as Telegram's JSON fields, answered as JSON: our rendered replies need no
        model either way (as aiogram's lean calls, `bot.channels.telegram.aiogram.session`); errors
        are python-telegram-bot's, mapped as for any call."""
        kwargs = {name: value for name, value in fields.items() if value is not None}
        return await self._call(endpoint, lambda: self.bot.do_api_request(endpoint, api_kwargs=kwargs), chat)

    async def send_text(self, chat_id: int, text: str, markup: Markup | None = None) -> int:
        sent = await self._lean("sendMessage", {"chat_id": chat_id, "text": text, "parse_mode": PARSE_MODE,
                                                "reply_markup": markup}, chat_id)
        return int(sent["message_id"])

    async def edit_text(self, chat_id: int, message_id: int, text: str, markup: Markup | None = None) -> None:
        await self._lean("editMessageText", {"chat_id": chat_id, "message_id": message_id, "text": text,
                                             "parse_mode": PARSE_MODE, "reply_markup": markup})

    async def answer_tap(self, query_id: str) -> None:
        await self._lean("answerCallbackQuery", {"callback_query_id": query_id})

    async def remove_message(self, chat_id: int, message_id: int) -> None:
        await self._call("deleteMessage", lambda: self.bot.delete_message(chat_id, message_id))

    async def replace_document(self, chat_id: int, message_id: int, content: bytes, filename: str,
                               caption: str | None) -> None:
        media = InputMediaDocument(content, caption=caption, parse_mode=ParseMode.HTML, filename=filename)
        await self._call("editMessageMedia", lambda: self.bot.edit_message_media(
            media, chat_id=chat_id, message_id=message_id))

    async def upload_document(self, chat_id: int, content: bytes, filename: str, caption: str | None) -> int:
        sent = await self._call("sendDocument", lambda: self.bot.send_document(
            chat_id, content, filename=filename, caption=caption, parse_mode=ParseMode.HTML), chat_id)
        return sent.message_id

    async def fetch_updates(self, offset: int | None, wait: int, limit: int) -> list[dict[str, Any]]:
        """getUpdates answered as Telegram's JSON: stored in the inbox as it came, read once after."""
        fields = {"offset": offset, "timeout": wait, "limit": limit, "allowed_updates": ALLOWED_UPDATES}
        data = RequestData([RequestParameter.from_input(key, value) for key, value in fields.items()
                            if value is not None])
        try:
            result = await self.updates.post(f"{self.bot.base_url}/getUpdates", data, read_timeout=wait + 15)
        except TelegramError as exc:
            raise _mapped(exc) from exc
        return list(result) if isinstance(result, list) else []


class PtbRuntime:
    """`bot.channels.telegram.runtime.Runtime` on python-telegram-bot."""

    def __init__(self, app: App, settings: Settings) -> None:
        if settings.bot_token is None:
            raise ValueError("BOT_TOKEN is not set")
        self.app = app
        self.updates_request = AiohttpRequest(2, read_timeout=CALL_TIMEOUT)
        self.bot = Bot(
            settings.bot_token.get_secret_value(),
            base_url=f"{settings.telegram_api_url}/bot",  # python-telegram-bot appends the token itself
            base_file_url=f"{settings.telegram_api_url}/file/bot",
            request=AiohttpRequest(POOL_SIZE, read_timeout=CALL_TIMEOUT, write_timeout=CALL_TIMEOUT,
                                   pool_timeout=CALL_TIMEOUT),
            get_updates_request=self.updates_request,  # else it builds an httpx client for getUpdates
        )
        self.api = PtbApi(self.bot, self.updates_request, settings.per_chat_interval)
        self.isolation = Isolation(settings, self.api.id)
        self.dispatch = Dispatch(app, self.api, self.isolation.lock)

    async def start(self) -> None:
        await self.bot.initialize()  # both requests, and getMe

    async def handle(self, raw: dict[str, Any] | Update, folded: int = 0) -> BaseException | None:
        return await self.dispatch.handle(raw, folded)

    async def set_commands(self, menus: dict[str, list[tuple[str, str]]]) -> None:
        try:
            for lang, menu in menus.items():
                await self.bot.set_my_commands(
                    [BotCommand(name, text) for name, text in menu], scope=BotCommandScopeDefault(),
                    language_code=None if lang == FALLBACK else lang)
        except TelegramError as exc:
            raise _mapped(exc) from exc

    async def set_menu_button(self, text: str, url: str) -> None:
        try:
            await self.bot.set_chat_menu_button(
                menu_button=MenuButtonWebApp(text, WebAppInfo(url)))
        except TelegramError as exc:
            raise _mapped(exc) from exc

    async def set_webhook(self, url: str, secret: str) -> None:
        await self.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)

    async def delete_webhook(self) -> None:
        await self.bot.delete_webhook()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.bot.shutdown()  # both requests
        await self.isolation.close()


async def open_ptb(app: App, settings: Settings) -> PtbRuntime:
    runtime = PtbRuntime(app, settings)
    await runtime.start()
    return runtime
