"""Running the Telegram channel on either runtime: polling or the webhook, the clocks, shutdown.

A runtime (`bot.channels.telegram.aiogram`, `bot.channels.telegram.ptb`, chosen by `BOT_FRAMEWORK` or
`ipsbot run --framework`) supplies a `TelegramApi` and `handle`, which feeds one update (Telegram's
JSON) through its framework to the shared routing, one person's updates one at a time. Everything
else is here and the same for both.

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

Telegram posts one chat's updates one at a time, the next after the previous was answered, so a
flood never has more than one update in hand; it shows in its pace instead. An update that comes
while the person's last answer is younger than the per-chat pacing interval (`PER_CHAT_INTERVAL`,
the poller's `hold`) is parked the same way: its reply would have waited for the pacing anyway, and
meanwhile the rest of the flood comes in at the speed of an inbox write and piles up, so the backlog
folds it (the latest text answered, the rest closed with the notice) instead of answering each one
a second apart. The backlog runs in the process that parked the update, started at once; what a
crash leaves parked is handled when the webhook starts again (`Poller.handle_waiting`). With
several workers each keeps its own hold and backlogs (see `docs/design.md`).
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
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlparse

import orjson
from aiohttp import web

from bot.app import App, say_who_is_reached
from bot.channels.telegram.api import COMMANDS, ApiError, TelegramApi
from bot.channels.telegram.delivery import SentMarks, drain, sender_of_outbox
from bot.channels.telegram.polling import Poller
from bot.channels.telegram.updates import Update, parse
from bot.settings import Settings
from locales import FALLBACK, LANGUAGES, Translator

log = logging.getLogger(__name__)

SPREAD_EVERY = 8  # a webhook worker closes every 8th connection, so the kernel deals them out anew


class Runtime(Protocol):
    """One Telegram framework behind the shared loop."""

    @property
    def app(self) -> App: ...

    @property
    def api(self) -> TelegramApi: ...

    async def handle(self, raw: Update | dict[str, Any], folded: int = 0) -> BaseException | None:
        """Feed one update (parsed once, or raw) to the routing, one person's updates at a time (across
        workers with Redis); the error if handling failed (logged by type only), None when done or
        unreadable. `folded`: how many other messages this one answers for (`bot.channels.telegram.polling`)."""
        ...

    async def set_commands(self, menus: dict[str, list[tuple[str, str]]]) -> None:
        """setMyCommands per language ("en" is the default menu)."""
        ...

    async def set_menu_button(self, text: str, url: str) -> None:
        """setChatMenuButton: the default menu button opens `url` as a Mini App."""
        ...

    async def set_webhook(self, url: str, secret: str) -> None: ...

    async def delete_webhook(self) -> None: ...

    async def close(self) -> None: ...


def command_menus() -> dict[str, list[tuple[str, str]]]:
    """The command menu per language, the fallback (the default menu) first: (command, description)."""
    return {lang: [(name, Translator(lang)(f"telegram.cmd.{name}")) for name in COMMANDS]
            for lang in (FALLBACK, *(code for code in LANGUAGES if code != FALLBACK))}


async def open_runtime(app: App, settings: Settings) -> Runtime:
    """The runtime `settings.bot_framework` names, ready to call Telegram."""
    if settings.bot_framework == "ptb":
        from bot.channels.telegram.ptb.runtime import open_ptb

        return await open_ptb(app, settings)
    from bot.channels.telegram.aiogram.runtime import open_aiogram

    return await open_aiogram(app, settings)


async def set_commands(runtime: Runtime, settings: Settings) -> None:
    """The command menu per language, and with WEB_URL the menu button that opens the form as a Mini App
    (bot/channels/web)."""
    try:
        await runtime.set_commands(command_menus())
        if settings.web_url:
            await runtime.set_menu_button(Translator("en")("web.telegram.button"), f"{settings.web_url.rstrip('/')}/tg")
    except ApiError as exc:
        log.warning("could not set the command menu: %s", type(exc).__name__)


def webhook_app(runtime: Runtime, secret: str, *, spread: bool = False,
                poller: Poller | None = None) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The webhook's request handler.

    `poller`: keeps each person's share and, with its `hold`, folds a flood that comes one update at a
    time (see the module docstring); without it, no cap per person.

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
        except ValueError:
            return answer(web.Response(status=400))
        update = parse(raw)  # read once, here
        if update is None:
            return answer(web.Response(status=400))
        person = update.sender
        if poller is not None and not poller.admits(person):
            try:  # over the person's share: stored in the inbox for their turn, and confirmed
                await poller.park(update)
            except Exception as exc:  # not stored: Telegram delivers it again
                log.warning("storing an update failed (%s)", type(exc).__name__)
                return answer(web.Response(status=500))
            return answer(web.json_response({}))
        # handled completely before the 200: a failure is answered 500 and Telegram delivers it again
        if poller is not None:
            poller.enter(person)
        try:
            failed = await runtime.handle(update)
        finally:
            if poller is not None:
                poller.leave(person)
        return answer(web.json_response({}) if failed is None else web.Response(status=500))

    return receive


def webhook_secret(settings: Settings) -> str:
    return settings.webhook_secret.get_secret_value() if settings.webhook_secret else secrets.token_urlsafe(32)


async def register_webhook(runtime: Runtime, settings: Settings, secret: str) -> None:
    """Once per deployment (not once per worker): where Telegram posts, and the secret it sends."""
    if settings.webhook_url is None:
        raise ValueError("WEBHOOK_URL is not set")
    await runtime.set_webhook(settings.webhook_url, secret)


async def run_webhook(runtime: Runtime, settings: Settings, stopping: asyncio.Event, *, secret: str,
                      register: bool = True, poller: Poller | None = None) -> None:
    """The webhook server. Workers share the port (SO_REUSEPORT); only the first registers."""
    if settings.webhook_url is None:
        raise ValueError("WEBHOOK_URL is not set")
    web_app = web.Application(client_max_size=64 * 1024)  # as `ipsbot web`: a larger body is refused unread
    # not registering: one of several workers
    handler = webhook_app(runtime, secret, spread=not register, poller=poller)
    web_app.router.add_post(urlparse(settings.webhook_url).path or "/", handler)
    if settings.web_url:  # the same server serves the form (bot/channels/web)
        from bot.channels.web.server import WebChannel

        WebChannel(runtime.app, settings).add_routes(web_app)
    runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=30)
    await runner.setup()
    await web.TCPSite(runner, settings.webhook_host, settings.webhook_port, reuse_port=True).start()
    try:
        if register:
            await register_webhook(runtime, settings, secret)
        log.info("webhook mode on %s:%s", settings.webhook_host, settings.webhook_port)
        await stopping.wait()
    finally:
        await runner.cleanup()  # finishes requests in flight


async def run(app: App, settings: Settings, *, worker: bool = False) -> int:
    """The channel until SIGTERM or SIGINT: stop fetching, let updates in flight finish, close.

    `worker`: one of several webhook processes started by `ipsbot run --workers N`; the supervisor
    has registered the webhook and the commands already.
    """
    runtime = await open_runtime(app, settings)
    api = runtime.api
    # Everything loaded so far (the framework, pydantic's models, SQLAlchemy, the catalogues) lives as
    # long as the process: keep it out of the collector's full passes, which otherwise walk it again
    # and again under load (about 8 % of the CPU in `tests.benchmarks.load`).
    gc.collect()
    gc.freeze()
    stopping = asyncio.Event()
    # a webhook parks a person's update that comes within their reply's pacing (see the module docstring)
    poller = Poller(app, api, runtime.handle, hold=settings.per_chat_interval if settings.webhook_url else 0.0)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        log.info("stopping")
        stopping.set()
        poller.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop)
    app.sent_marks = marks = SentMarks(app)
    await say_who_is_reached(app)
    sender = asyncio.create_task(app.run_clocks(sender_of_outbox(app, api)).run(stopping))
    try:
        if not worker:
            await set_commands(runtime, settings)
        if settings.webhook_url:
            if not worker:  # the only process, as in polling (workers: the supervisor did it)
                await drain(app, api, min_age=timedelta(0))
            await poller.handle_waiting()  # what a polling run or a crash left in the inbox
            await run_webhook(runtime, settings, stopping, secret=webhook_secret(settings), register=not worker,
                              poller=poller)
            await poller.settle()  # backlogs stop at once; what is left waits in the inbox
        else:
            # one polling process owns the chat: whatever it committed but did not send before a
            # crash is sent now, before new updates
            await drain(app, api, min_age=timedelta(0))
            await runtime.delete_webhook()
            log.info("polling for updates (%s)", settings.bot_framework)
            await poller.run()
    finally:
        stopping.set()
        await sender
        with contextlib.suppress(Exception):  # unwritten marks only mean those messages go again
            await marks.close()
        app.sent_marks = None
        await runtime.close()
    return 0


async def prepare_workers(app: App, settings: Settings, secret: str) -> None:
    """What `ipsbot run --workers N` does once, before the workers start."""
    runtime = await open_runtime(app, settings)
    try:
        await set_commands(runtime, settings)
        await register_webhook(runtime, settings, secret)
        await drain(app, runtime.api, min_age=timedelta(0))  # what a crashed deployment committed but did not send
    finally:
        await runtime.close()
