"""The aiogram runtime: the Bot (a `TelegramApi`), its event isolation, and `handle`.

Each update is read once by the shared `bot.channels.telegram.updates.parse` and routed by
`bot.channels.telegram.dispatch`, one person's updates one at a time under aiogram's event isolation
(`create_isolation`: in this process, or across workers through Redis, with aiogram's keys). No
aiogram `Update` model is built for an update (validating one was a fifth of the bot's CPU), nor
its `Dispatcher`, polling or webhook helpers used: the shared loop in
`bot.channels.telegram.runtime` receives updates.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, cast

from aiogram import Bot, Dispatcher, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BotCommand,
    BotCommandScopeDefault,
    BufferedInputFile,
    InputMediaDocument,
    MenuButtonWebApp,
    Update,
    WebAppInfo,
)
from pydantic import ValidationError

from bot.app import App
from bot.channels.telegram.aiogram.session import (
    RESPONSE_MODELS,
    AnswerTap,
    EditRendered,
    GetRawUpdates,
    JsonSession,
    SendRendered,
    call,
)
from bot.channels.telegram.api import ALLOWED_UPDATES, ApiError, BadRequest, Forbidden, Markup, NetworkError
from bot.channels.telegram.dispatch import Dispatch
from bot.channels.telegram.pacing import ChatPace, retry_after
from bot.channels.telegram.polling import REDIS_LOCK_TTL
from bot.channels.telegram.updates import Update as ParsedUpdate
from bot.settings import Settings
from locales import FALLBACK

log = logging.getLogger(__name__)


class RetryAfter(BaseRequestMiddleware):
    """On 429 wait as long as Telegram says and send again (a few times, then give up)."""

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        return await retry_after(lambda: make_request(bot, method), _wait_of, type(method).__name__)


def _wait_of(error: BaseException) -> float | None:
    return float(error.retry_after) if isinstance(error, TelegramRetryAfter) else None


class PerChatPace(BaseRequestMiddleware):
    """At most one new message a second to one chat (`bot.channels.telegram.pacing.ChatPace`)."""

    PACED = (methods.SendMessage, methods.SendDocument)

    def __init__(self, interval: float) -> None:
        self.pace = ChatPace(interval)

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        chat = getattr(method, "chat_id", None)
        paced = isinstance(method, self.PACED) or getattr(method, "paced", False)  # `SendRendered` says so
        if not paced:
            return await make_request(bot, method)
        return await self.pace.paced(chat, lambda: make_request(bot, method))


# aiogram builds `Response[<return type>]` for every call; pydantic caches such generic models only
# weakly, so without a strong reference each call may build the model again (milliseconds each).
_RESPONSE_MODELS = RESPONSE_MODELS + [  # the calls still made through aiogram's own models
    Response[method.__returning__]  # type: ignore[name-defined]  # a runtime type argument
    for method in (methods.SendDocument, methods.SetMyCommands, methods.SetWebhook,
                   methods.DeleteWebhook, methods.GetMe)
]


def _mapped(exc: TelegramAPIError) -> ApiError:
    """aiogram's error as the shared code's (`bot.channels.telegram.api`); the text has no user content."""
    kind = {TelegramForbiddenError: Forbidden, TelegramBadRequest: BadRequest,
            TelegramNetworkError: NetworkError}.get(type(exc), ApiError)
    return kind(exc.message)


class AiogramBot(Bot):
    """aiogram's Bot, and the `TelegramApi` the shared code calls (errors mapped to its own)."""

    async def send_text(self, chat_id: int, text: str, markup: Markup | None = None) -> int:
        try:
            sent = await call(self, SendRendered(chat_id, text, markup))
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc
        return int(sent.message_id)

    async def edit_text(self, chat_id: int, message_id: int, text: str, markup: Markup | None = None) -> None:
        try:
            await call(self, EditRendered(chat_id, message_id, text, markup))
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc

    async def answer_tap(self, query_id: str) -> None:
        try:
            await call(self, AnswerTap(query_id))
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc

    async def remove_message(self, chat_id: int, message_id: int) -> None:
        try:
            await self.delete_message(chat_id, message_id)
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc

    async def replace_document(self, chat_id: int, message_id: int, content: bytes, filename: str,
                               caption: str | None) -> None:
        try:
            await self.edit_message_media(InputMediaDocument(media=BufferedInputFile(content, filename),
                                                             caption=caption),
                                          chat_id=chat_id, message_id=message_id)
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc

    async def upload_document(self, chat_id: int, content: bytes, filename: str, caption: str | None) -> int:
        try:
            sent = await self.send_document(chat_id, BufferedInputFile(content, filename), caption=caption)
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc
        return sent.message_id

    async def fetch_updates(self, offset: int | None, wait: int, limit: int) -> list[dict[str, Any]]:
        poll = GetRawUpdates(offset=offset, timeout=wait, allowed_updates=ALLOWED_UPDATES, limit=limit)
        try:
            updates: list[dict[str, Any]] = await self(cast("TelegramMethod[Any]", poll), request_timeout=wait + 15)
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc
        return updates


def create_bot(settings: Settings) -> AiogramBot:
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is not set")
    session = JsonSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(PerChatPace(settings.per_chat_interval))  # outermost: a retry keeps the pace too
    session.middleware(RetryAfter())
    return AiogramBot(settings.bot_token.get_secret_value(), session=session,
                      default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def create_isolation(settings: Settings) -> BaseEventIsolation:
    """One person's updates one at a time: within this process, or across workers through Redis."""
    if not settings.redis_url:
        return SimpleEventIsolation()
    from aiogram.fsm.storage.base import DefaultKeyBuilder
    from aiogram.fsm.storage.redis import RedisStorage

    keys = DefaultKeyBuilder(prefix=settings.redis_prefix, with_bot_id=True, with_destiny=True)
    return RedisStorage.from_url(settings.redis_url, key_builder=keys).create_isolation(
        lock_kwargs={"timeout": REDIS_LOCK_TTL})


async def handle_update(dp: Dispatcher, bot: Bot, raw: dict[str, Any] | ParsedUpdate,
                        folded: int = 0) -> BaseException | None:
    """Feed one update to an aiogram `Dispatcher` of one's own (the runtime does not use one: see the
    module docstring); the error if handling failed, logged by type only."""
    if isinstance(raw, ParsedUpdate):
        raw = raw.raw
    update_id = raw.get("update_id")
    try:
        update = Update.model_validate(raw, context={"bot": bot})
    except ValidationError:  # not an update aiogram can read: nothing to answer
        log.error("update %s could not be read; closed unhandled", update_id)
        return None
    try:
        await dp.feed_update(bot, update, **({"folded": folded} if folded else {}))
    except Exception as exc:  # one bad update must not stop the others
        log.error("update %s failed: %s", update_id, type(exc).__name__)
        log.debug("update %s failed", update_id, exc_info=True)
        return exc
    return None


class AiogramRuntime:
    """`bot.channels.telegram.runtime.Runtime` on aiogram."""

    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.bot = create_bot(settings)
        self.api = self.bot
        self.isolation = create_isolation(settings)
        self.dispatch = Dispatch(app, self.bot, self._lock)

    async def handle(self, raw: dict[str, Any] | ParsedUpdate, folded: int = 0) -> BaseException | None:
        return await self.dispatch.handle(raw, folded)

    def _lock(self, sender: int | None) -> contextlib.AbstractAsyncContextManager[None]:
        """A person's updates one at a time (the key aiogram's dispatcher used for a private chat)."""
        if sender is None:
            return contextlib.nullcontext()
        return self.isolation.lock(StorageKey(bot_id=self.bot.id, chat_id=sender, user_id=sender))

    async def set_commands(self, menus: dict[str, list[tuple[str, str]]]) -> None:
        try:
            for lang, menu in menus.items():
                commands = [BotCommand(command=name, description=text) for name, text in menu]
                await self.bot.set_my_commands(commands, scope=BotCommandScopeDefault(),
                                               language_code=None if lang == FALLBACK else lang)
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc

    async def set_menu_button(self, text: str, url: str) -> None:
        try:
            await self.bot.set_chat_menu_button(menu_button=MenuButtonWebApp(text=text, web_app=WebAppInfo(url=url)))
        except TelegramAPIError as exc:
            raise _mapped(exc) from exc

    async def set_webhook(self, url: str, secret: str) -> None:
        await self.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)

    async def delete_webhook(self) -> None:
        await self.bot.delete_webhook()

    async def close(self) -> None:
        await self.bot.session.close()
        await self.isolation.close()


async def open_aiogram(app: App, settings: Settings) -> AiogramRuntime:
    return AiogramRuntime(app, settings)
