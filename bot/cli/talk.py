"""The commands that talk to people: `chat` (a terminal), `web` (the form), `run` (Telegram)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from bot.output import terminal_safe
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.app import App
    from bot.services.clocks import Send


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop for the Telegram channel where it is installed (Linux, macOS): its event loop and
    transports take about a third less CPU per update than asyncio's (`tests.benchmarks.load`)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def chat(settings: Settings, args: argparse.Namespace) -> int:
    """`ipsbot chat`: the intake in this terminal; with `--web`, the same as `ipsbot web`."""
    if args.web:
        return web(settings, args)
    return asyncio.run(_chat(settings, args))


async def _chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_app
    from bot.channels.console import Console
    from bot.services.intake import Person

    async with open_app(settings) as app:
        if args.programme and args.programme not in app.registry:
            known = ", ".join(p.id for p in app.registry.all())
            print(terminal_safe(f"Unknown programme {args.programme!r}. Known: {known}"), file=sys.stderr)
            return 2
        person = Person("console", args.user or getpass.getuser(), language=args.lang)
        return await Console(app.intake, person).run(args.programme, reset=args.reset)


def run(settings: Settings, args: argparse.Namespace) -> int:
    """`ipsbot run`: the Telegram channel (and the web form with `--web`)."""
    problem = settings.token_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if args.framework:
        settings = settings.model_copy(update={"bot_framework": args.framework})
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(_run(settings, args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_app
    from bot.channels.telegram.runtime import run as run_telegram

    if args.workers > 1:
        from bot.channels.telegram.workers import supervise

        return await supervise(settings, args.workers)
    async with open_app(settings, migrate=False if args.as_worker else None) as app:
        if not args.web or settings.webhook_url:  # in webhook mode the webhook's server serves the form
            return await run_telegram(app, settings, worker=args.as_worker)
        from bot.channels.web.server import serve

        stopping = asyncio.Event()
        pages = asyncio.create_task(serve(app, settings, stopping))
        try:
            return await run_telegram(app, settings, worker=args.as_worker)
        finally:
            stopping.set()
            await pages


def web(settings: Settings, args: argparse.Namespace) -> int:
    """`ipsbot web` (and `ipsbot chat --web`): the form alone, on uvloop as `run`."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(_web(settings, args))


async def _web(settings: Settings, args: argparse.Namespace) -> int:
    """The form alone (the Telegram channel, if any, runs elsewhere and sends the outbox)."""
    import signal

    from bot.app import open_app, say_who_is_reached
    from bot.channels.web.server import serve

    async with open_app(settings) as app:
        if args.programme and args.programme not in app.registry:
            print(terminal_safe(f"Unknown programme {args.programme!r}"), file=sys.stderr)
            return 2
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await say_who_is_reached(app)
        async with staff_delivery(app, settings) as send:  # the clocks run here too, whatever else runs
            clocks = asyncio.create_task(app.run_clocks(send).run(stopping))
            started = asyncio.Event()
            task = asyncio.create_task(serve(app, settings, stopping, started))
            await asyncio.wait([task, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
            if task.done():  # it could not listen (the port is taken): its error, not an address
                stopping.set()
                await clocks
                await task
            base = f"http://{settings.web_host}:{settings.web_port}"
            for programme in [app.registry[args.programme]] if args.programme else app.registry.all():
                print(f"{programme.id}: {base}/p/{programme.id}", flush=True)
            try:
                await task
            finally:
                stopping.set()
                await clocks
    return 0


@contextlib.asynccontextmanager
async def staff_delivery(app: App, settings: Settings) -> AsyncIterator[Send | None]:
    """How `ipsbot web` reaches staff: through Telegram when BOT_TOKEN is set (no polling: the bot's
    messages only); without it, staff messages wait in the outbox for `ipsbot run`, said loudly."""
    if settings.bot_token is None or not settings.bot_token.get_secret_value():
        logging.getLogger("bot.cli").warning("BOT_TOKEN is not set: messages to staff wait in the outbox until "
                                             "`ipsbot run` sends them")
        yield None
        return
    from bot.channels.telegram.delivery import sender_of_outbox
    from bot.channels.telegram.runtime import open_runtime

    runtime = await open_runtime(app, settings)
    try:
        yield sender_of_outbox(app, runtime.api)
    finally:
        await runtime.close()
