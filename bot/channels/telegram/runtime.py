"""Running the Telegram channel: the bot and dispatcher factories, polling or the webhook.

No update is confirmed to Telegram before it is safe (see `docs/design.md`, "Updates confirmed before they
are handled"). Polling stores each update in the update inbox before its offset is confirmed
(`bot.channels.telegram.polling`). The webhook answers 200 only after the update was handled: until then
Telegram itself keeps the update and delivers it again after a failure, so storing it first would
only add a write. Either way the update's mark, committed with its effect, turns a repeat into a
no-op.

Except for one person over their share (`PER_PERSON_IN_HAND` of their updates in hand, issue 14):
such an update is stored in the inbox and answered 200 at once, and the poller's backlog handling
takes it in the person's turn, as in polling. Answering non-2xx instead would make Telegram send it
again later, but Telegram backs off per bot, not per person, so one person's flood would delay
everyone's updates; the inbox keeps it durably and leaves Telegram's connections to the others.
Where a chat's updates come one at a time (as `tests/benchmarks/load.py` delivers them), a person
never has more than one in hand: a flood then waits with Telegram and holds one connection, at the
pace of its replies, and is not folded; the others' updates come on the other connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import itertools
import logging
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlparse

import orjson
from aiogram import Bot, Dispatcher, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.fsm.storage.base import BaseEventIsolation
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BotCommand, BotCommandScopeDefault, MenuButtonWebApp, Update, WebAppInfo
from aiohttp import web
from pydantic import ValidationError

from bot.app import App
from bot.channels.telegram.delivery import SentMarks, drain
from bot.channels.telegram.handlers import make_router
from bot.channels.telegram.polling import ALLOWED_UPDATES, Poller, handle_update
from bot.channels.telegram.session import RESPONSE_MODELS, JsonSession
from bot.settings import Settings
from locales import FALLBACK, LANGUAGES, Translator
from storage.repositories import sender_of

log = logging.getLogger(__name__)

COMMANDS = ("start", "back", "language", "restart", "help", "mydata", "delete")
MAX_RETRIES = 5
DRAIN_EVERY = 15  # seconds between outbox sweeps
SPREAD_EVERY = 8  # a webhook worker closes every 8th connection, so the kernel deals them out anew
TIMER_MARGIN = 0.002  # seconds added to a pacing wait, for the event loop's timer resolution


class RetryAfter(BaseRequestMiddleware):
    """On 429 wait as long as Telegram says and send again (a few times, then give up)."""

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        for _ in range(MAX_RETRIES - 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                log.warning("Telegram asks to wait %s s before %s", exc.retry_after, type(method).__name__)
                await asyncio.sleep(exc.retry_after)
        return await make_request(bot, method)


class PerChatPace(BaseRequestMiddleware):
    """At most one new message a second to one chat (Telegram's limit), also after a 429 clears.

    Edits and answers to button presses are not paced. Within one process; several workers each
    keep their own pace, and a person's updates go to one worker at a time (the isolation lock).
    """

    PACED = (methods.SendMessage, methods.SendDocument)

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[int | str, float] = {}
        self._locks: dict[int | str, asyncio.Lock] = {}

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        chat = getattr(method, "chat_id", None)
        paced = isinstance(method, self.PACED) or getattr(method, "paced", False)  # `SendRendered` says so
        if self.interval <= 0 or chat is None or not paced:
            return await make_request(bot, method)
        lock = self._locks.setdefault(chat, asyncio.Lock())
        async with lock:
            # the clock itself, not `loop.time()`: uvloop's is the time its loop iteration began, which
            # under load lags by milliseconds; and its timers have a resolution of a millisecond
            wait = self._next.get(chat, 0.0) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait + TIMER_MARGIN)
            try:
                return await make_request(bot, method)
            finally:
                self._next[chat] = time.monotonic() + self.interval
                if len(self._next) > 10_000:  # forget chats that have been quiet
                    now = time.monotonic()
                    self._next = {k: v for k, v in self._next.items() if v > now}
                    self._locks = {k: v for k, v in self._locks.items() if k in self._next or v.locked()}


# aiogram builds `Response[<return type>]` for every call; pydantic caches such generic models only
# weakly, so without a strong reference each call may build the model again (milliseconds each).
_RESPONSE_MODELS = RESPONSE_MODELS + [  # the calls still made through aiogram's own models
    Response[method.__returning__]  # type: ignore[name-defined]  # a runtime type argument
    for method in (methods.SendDocument, methods.SetMyCommands, methods.SetWebhook,
                   methods.DeleteWebhook, methods.GetMe)
]


def create_bot(settings: Settings) -> Bot:
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is not set")
    session = JsonSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    session.middleware(PerChatPace(settings.per_chat_interval))  # outermost: a retry keeps the pace too
    session.middleware(RetryAfter())
    return Bot(settings.bot_token.get_secret_value(), session=session,
               default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def create_isolation(settings: Settings) -> BaseEventIsolation:
    """One person's updates one at a time: within this process, or across workers through Redis."""
    if not settings.redis_url:
        return SimpleEventIsolation()
    from aiogram.fsm.storage.base import DefaultKeyBuilder
    from aiogram.fsm.storage.redis import RedisStorage

    keys = DefaultKeyBuilder(prefix=settings.redis_prefix, with_bot_id=True, with_destiny=True)
    return RedisStorage.from_url(settings.redis_url, key_builder=keys).create_isolation()


def create_dispatcher(app: App, isolation: BaseEventIsolation | None = None) -> Dispatcher:
    """One person's updates one at a time, in order (`create_isolation`); different people in parallel."""
    dp = Dispatcher(events_isolation=isolation or SimpleEventIsolation(), app=app)
    dp.include_router(make_router())
    return dp


async def set_menu_button(bot: Bot, settings: Settings) -> None:
    """With WEB_URL set, the chat's menu button opens the form as a Mini App (bot/channels/web)."""
    if not settings.web_url:
        return
    text = Translator("en")("web.telegram.button")
    url = f"{settings.web_url.rstrip('/')}/tg"
    await bot.set_chat_menu_button(menu_button=MenuButtonWebApp(text=text, web_app=WebAppInfo(url=url)))


async def set_commands(bot: Bot) -> None:
    """The command menu in English (default), Danish and Swedish."""
    for lang in (FALLBACK, *(code for code in LANGUAGES if code != FALLBACK)):
        t = Translator(lang)
        commands = [BotCommand(command=name, description=t(f"telegram.cmd.{name}")) for name in COMMANDS]
        await bot.set_my_commands(commands, scope=BotCommandScopeDefault(),
                                  language_code=None if lang == FALLBACK else lang)


def webhook_app(bot: Bot, dp: Dispatcher, secret: str, *, spread: bool = False,
                poller: Poller | None = None) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The webhook's request handler.

    `poller`: keeps each person's share (see the module docstring); without it, no cap per person.

    `spread`: close every `SPREAD_EVERY`th connection after its answer. Workers share the port through
    SO_REUSEPORT, where the kernel picks a worker per connection; Telegram (and a proxy in front) keeps
    connections open, so without this a few connections, and the worker they landed on, would carry
    most updates (measured: one worker at 94 % of a core, the other at 15 %). Closing after every
    answer balanced the workers but cost about 1 ms of CPU per update in new connections.
    """
    expected = secret.encode()
    answered = itertools.count(1)

    def answer(response: web.Response) -> web.Response:
        if spread and next(answered) % SPREAD_EVERY == 0:
            response.force_close()
        return response

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, expected):
            return answer(web.Response(status=403))
        try:
            raw = await request.json(loads=orjson.loads)
            update = Update.model_validate(raw, context={"bot": bot})
        except (ValueError, ValidationError):
            return answer(web.Response(status=400))
        person = sender_of(raw)
        if poller is not None and not poller.admits(person):
            try:  # over the person's share: stored in the inbox for their turn, and confirmed
                await poller.park(raw)
            except Exception as exc:  # not stored: Telegram delivers it again
                log.warning("storing an update failed (%s)", type(exc).__name__)
                return answer(web.Response(status=500))
            return answer(web.json_response({}))
        # handled completely before the 200: a failure is answered 500 and Telegram delivers it again
        if poller is not None:
            poller.enter(person)
        try:
            failed = await handle_update(dp, bot, update)
        finally:
            if poller is not None:
                poller.leave(person)
        return answer(web.json_response({}) if failed is None else web.Response(status=500))

    return receive


def webhook_secret(settings: Settings) -> str:
    return settings.webhook_secret.get_secret_value() if settings.webhook_secret else secrets.token_urlsafe(32)


async def register_webhook(bot: Bot, settings: Settings, secret: str) -> None:
    """Once per deployment (not once per worker): where Telegram posts, and the secret it sends."""
    if settings.webhook_url is None:
        raise ValueError("WEBHOOK_URL is not set")
    await bot.set_webhook(settings.webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)


async def run_webhook(bot: Bot, dp: Dispatcher, settings: Settings, stopping: asyncio.Event, *, secret: str,
                      register: bool = True, poller: Poller | None = None) -> None:
    """The webhook server. Workers share the port (SO_REUSEPORT); only the first registers."""
    if settings.webhook_url is None:
        raise ValueError("WEBHOOK_URL is not set")
    web_app = web.Application()
    # not registering: one of several workers
    handler = webhook_app(bot, dp, secret, spread=not register, poller=poller)
    web_app.router.add_post(urlparse(settings.webhook_url).path or "/", handler)
    if settings.web_url:  # the same server serves the form (bot/channels/web)
        from bot.channels.web.server import WebChannel

        WebChannel(dp["app"], settings).add_routes(web_app)
    runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=30)
    await runner.setup()
    await web.TCPSite(runner, settings.webhook_host, settings.webhook_port, reuse_port=True).start()
    try:
        if register:
            await register_webhook(bot, settings, secret)
        log.info("webhook mode on %s:%s", settings.webhook_host, settings.webhook_port)
        await stopping.wait()
    finally:
        await runner.cleanup()  # finishes requests in flight


async def run(app: App, settings: Settings, *, worker: bool = False) -> int:
    """The channel until SIGTERM or SIGINT: stop fetching, let updates in flight finish, close.

    `worker`: one of several webhook processes started by `ipsbot run --workers N`; the supervisor
    has registered the webhook and the commands already.
    """
    bot = create_bot(settings)
    isolation = create_isolation(settings)
    dp = create_dispatcher(app, isolation)
    # Everything loaded so far (aiogram, pydantic's models, SQLAlchemy, the catalogues) lives as long
    # as the process: keep it out of the collector's full passes, which otherwise walk it again and
    # again under load (about 8 % of the CPU in `tests.benchmarks.load`).
    gc.collect()
    gc.freeze()
    stopping = asyncio.Event()
    poller = Poller(app, bot, dp)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        log.info("stopping")
        stopping.set()
        poller.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop)
    app.sent_marks = marks = SentMarks(app)
    sender = asyncio.create_task(drain_forever(app, bot, stopping))
    try:
        if not worker:
            try:
                await set_commands(bot)
                await set_menu_button(bot, settings)
            except TelegramAPIError as exc:
                log.warning("could not set the command menu: %s", type(exc).__name__)
        if settings.webhook_url:
            await poller.handle_waiting()  # what a polling run left in the inbox
            await run_webhook(bot, dp, settings, stopping, secret=webhook_secret(settings), register=not worker,
                              poller=poller)
            await poller.settle()  # backlogs stop at once; what is left waits in the inbox
        else:
            # one polling process owns the chat: whatever it committed but did not send before a
            # crash is sent now, before new updates
            await drain(app, bot, min_age=timedelta(0))
            await bot.delete_webhook()
            log.info("polling for updates")
            await poller.run()
    finally:
        stopping.set()
        await sender
        with contextlib.suppress(Exception):  # unwritten marks only mean those messages go again
            await marks.close()
        app.sent_marks = None
        await bot.session.close()
        await isolation.close()
    return 0


async def prepare_workers(app: App, settings: Settings, secret: str) -> None:
    """What `ipsbot run --workers N` does once, before the workers start."""
    bot = create_bot(settings)
    try:
        try:
            await set_commands(bot)
            await set_menu_button(bot, settings)
        except TelegramAPIError as exc:
            log.warning("could not set the command menu: %s", type(exc).__name__)
        await register_webhook(bot, settings, secret)
        await drain(app, bot, min_age=timedelta(0))  # what a crashed deployment committed but did not send
    finally:
        await bot.session.close()


async def drain_forever(app: App, bot: Bot, stopping: asyncio.Event) -> None:
    """Every few seconds, send outbox messages that their handler did not (it crashed, or Telegram failed),
    after resending unclaimed urgent referrals, sweeping intakes abandoned after a risk answer and asking the
    follow-ups that are due."""
    while not stopping.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=DRAIN_EVERY)
        if stopping.is_set():
            return
        try:
            async with app.uow() as uow:  # urgent referrals nobody claimed in time go out again
                await app.intake.casework.resend_urgent(uow, app.clock.now())
                # intakes left after a risk answer reach the programme's staff as urgent partial referrals
                await app.intake.sweep_abandoned(uow, app.clock.now())
                # follow-ups whose time has come are asked (once), unanswered ones lapse
                await app.intake.casework.followups.schedule(uow, app.clock.now())
            await drain(app, bot)
        except Exception as exc:  # the database may be away for a moment; try again later
            log.warning("outbox drain failed: %s", type(exc).__name__)
