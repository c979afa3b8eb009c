"""The ``ipsbot`` command line: chat, db upgrade, programmes check, export (see README).

Stored or user-given text is printed through `bot.output.terminal_safe`: an audit entry can hold a
forged button payload, and its control characters must not reach the coordinator's terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import io
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot import redact
from bot.output import private_text_file, terminal_safe
from bot.settings import FRAMEWORKS, Settings
from flows import instruments
from locales import LANGUAGES
from storage.crypto import WrongKeyError

if TYPE_CHECKING:
    from bot.app import App
    from bot.clock import Clock
    from bot.exports.dashboard import Dashboard
    from bot.services.clocks import Send


def _date(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ipsbot", description="Intake bot for IPS employment programmes.")
    sub = p.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="the candidate intake in this terminal (no Telegram token needed)")
    chat.add_argument("--programme", help="programme id, as in /start <programme>")
    chat.add_argument("--lang", choices=LANGUAGES, help="language to start in")
    chat.add_argument("--reset", action="store_true", help="forget the intake under way and start over")
    chat.add_argument("--user", default=None, help="who is chatting (default: your login name)")
    chat.add_argument("--web", action="store_true",
                      help="serve the same intake as a web form instead, and print its local address")

    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])

    progs = sub.add_parser("programmes", help="programme files")
    progs.add_argument("action", choices=["check", "list", "explain"])
    progs.add_argument("id", nargs="?", help="explain: the programme (all of them with --write)")
    progs.add_argument("--lang", choices=LANGUAGES, default="en", help="explain: the language")
    progs.add_argument("--write", action="store_true",
                       help="explain: write docs/programmes/<id>.md (English) instead of printing")

    export = sub.add_parser("export", help="referrals for coordinators")
    export.add_argument("--format", choices=["json", "fhir", "csv"], default="json")
    export.add_argument("--since", type=_date, help="only referrals created on or after this date")
    export.add_argument("--programme", help="only this programme")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")

    run = sub.add_parser("run", help="the Telegram bot (long polling, or a webhook when WEBHOOK_URL is set)")
    run.add_argument("--workers", type=int, default=1, help="webhook worker processes (needs WEBHOOK_URL, REDIS_URL)")
    run.add_argument("--as-worker", action="store_true", help=argparse.SUPPRESS)  # started by --workers
    run.add_argument("--framework", choices=FRAMEWORKS,
                     help="the Telegram runtime (default: BOT_FRAMEWORK, else aiogram)")
    run.add_argument("--web", action="store_true", help="also serve the web form on WEB_HOST:WEB_PORT (polling mode)")
    web_cmd = sub.add_parser("web", help="the intake as a web form on WEB_HOST:WEB_PORT (prints the address)")
    web_cmd.add_argument("--programme", help="print this programme's start address")
    poster = sub.add_parser("poster", help="a printable page with QR codes for the web form and the Telegram bot")
    poster.add_argument("--programme", required=True)
    poster.add_argument("--lang", choices=LANGUAGES, required=True)
    poster.add_argument("--out", required=True, help="FILE.pdf or FILE.png")
    report = sub.add_parser("report", help="the coordinator dashboard: IPS funnel, goal, risk answers to 'Seen'")
    report.add_argument("--programme", help="only this programme")
    report.add_argument("--lang", choices=LANGUAGES, default="en", help="the language of the text, HTML and CSV")
    report.add_argument("--html", metavar="FILE", help="also write the dashboard with its charts as one "
                        "self-contained HTML file")
    report.add_argument("--csv", metavar="FILE", help="also write the aggregated table as CSV")

    invite = sub.add_parser("invite", help="a one-time invite for staff (valid 7 days)")
    invite.add_argument("--role", choices=["consultant", "peer", "coordinator", "operator"], required=True,
                        help="operator: the installation's last rung for urgent cases of every programme")
    invite.add_argument("--programme", help="the programme (not for an operator)")
    invite.add_argument("--name", default="", help="the person's name, shown to colleagues and candidates")

    staff = sub.add_parser("staff", help="consultants and peers")
    staff_sub = staff.add_subparsers(dest="action", required=True)
    staff_sub.add_parser("list")
    remove = staff_sub.add_parser("remove")
    remove.add_argument("id", type=int)

    audit = sub.add_parser("audit", help="who saw or changed a referral, when")
    audit.add_argument("--referral", type=int, required=True, metavar="ID")

    purge = sub.add_parser("purge", help="erase data past its retention period")
    purge.add_argument("--older-than", type=int, metavar="DAYS",
                       help="closed intakes older than this (default: each programme's retention_months)")
    purge.add_argument("--unfinished-days", type=int, default=90, metavar="DAYS",
                       help="unfinished intakes untouched this long (default 90)")

    for name, what in (("access", "print everything stored about the person of a referral (JSON)"),
                       ("erase", "erase the person of a referral, with all their data")):
        rights = sub.add_parser(name, help=what)
        rights.add_argument("--referral", type=int, required=True, metavar="ID")

    keys = sub.add_parser("keys", help="encryption keys")
    keys.add_argument("action", choices=["rotate", "check"])
    return p


async def _purge(settings: Settings, args: argparse.Namespace, clock: Clock | None = None) -> int:
    from bot.app import open_app
    from bot.services.erasure import erase
    from storage.retention import purge

    async with open_app(settings, clock) as app:
        if args.older_than is not None:
            retention = {p.id: timedelta(days=args.older_than) for p in app.registry.all()}
            default = timedelta(days=args.older_than)
        else:
            retention = {p.id: timedelta(days=round(p.retention_months * 30.44)) for p in app.registry.all()}
            default = timedelta(days=round(24 * 30.44))
        now, casework = app.clock.now(), app.intake.casework
        async with app.uow() as uow:
            counts = await purge(uow, now=now, retention=retention, default_retention=default,
                                 unfinished_after=timedelta(days=args.unfinished_days),
                                 erase=lambda uow, person: erase(uow, casework, person, now, tell_staff=False))
    print(f"erased: {counts['intakes']} intakes, {counts['referrals']} referrals, {counts['candidates']} candidates, "
          f"{counts['updates']} handled Telegram updates, {counts['outbox']} sent messages")
    return 0


async def _rights(settings: Settings, action: str, referral_id: int, clock: Clock | None = None) -> int:
    """A data subject's request made to the coordinator (GDPR art. 15, 17, 20), by referral id."""
    from bot.app import open_app
    from bot.services.erasure import erase
    from bot.services.intake import personal_data

    async with open_app(settings, clock) as app, app.uow() as uow:
        found = await uow.referrals.person_of(referral_id)
        if found is None:
            print(f"no referral {referral_id}", file=sys.stderr)
            return 1
        now = app.clock.now()
        if action == "access":
            await uow.audit.record(actor="cli", action="access", at=now, referral_id=referral_id)
            print(terminal_safe(json.dumps(await personal_data(uow, found), ensure_ascii=False, indent=2),
                                keep_newlines=True))
            return 0
        await erase(uow, app.intake.casework, found.id, now)
        await uow.audit.record(actor="cli", action="candidate.erased", at=now, referral_id=referral_id)
    print(f"erased the person of referral {referral_id} and all their data")
    return 0


async def _keys(settings: Settings, action: str) -> int:
    from bot.app import open_app
    from storage import crypto
    from storage.keys import check, rotate_all

    hash_key = settings.encryption_hash_key.get_secret_value() if settings.encryption_hash_key else None
    if action == "rotate" and crypto.hash_key_from_setting(hash_key, settings.key_file) is None:
        # the look-up hashes were made with a key derived from the newest key *before* this rotation,
        # i.e. the second one now that a new key is prepended
        configured = crypto.keys_from_setting(
            settings.encryption_key.get_secret_value() if settings.encryption_key else None, settings.key_file)
        in_use = crypto.Cipher(configured[1:2] or configured)
        print("The look-up hash key is derived from the encryption key and would change with it. Set "
              f"ENCRYPTION_HASH_KEY={in_use.hash_key_text} first (keep it for good), then rotate.", file=sys.stderr)
        return 2
    async with open_app(settings) as app:  # opening checks every row already: a wrong key stops there
        if action == "check":
            read = await check(app.sessions, crypto.current())
            print("the configured keys read every stored value: " + ", ".join(f"{n} {c}" for c, n in read.items()))
            return 0
        counts = await rotate_all(app.sessions, crypto.current())
    print("re-encrypted with the newest key: " + ", ".join(f"{n} {table}" for table, n in counts.items()))
    return 0


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


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_app
    from bot.exports.referrals import write

    async with open_app(settings) as app:
        if args.output:
            with private_text_file(args.output) as out:  # health data: readable by its owner only
                count = await write(app, out, args.format, since=args.since, programme=args.programme)
        else:
            count = await write(app, sys.stdout, args.format, since=args.since, programme=args.programme)
    print(f"{count} referrals exported", file=sys.stderr)
    return 0


async def _report(settings: Settings, programme: str | None) -> Dashboard | None:
    from bot.app import open_app
    from bot.exports.dashboard import build

    async with open_app(settings) as app:
        if programme is not None and programme not in app.registry:
            print(terminal_safe(f"Unknown programme {programme!r}"), file=sys.stderr)
            return None
        dashboard = await build(app.uow, app.registry, programme, app.clock.now())
        async with app.uow() as uow:
            await uow.audit.record(actor="cli", action="report", at=app.clock.now(), detail=programme or "*")
    return dashboard


def _write_report(dashboard: Dashboard | None, args: argparse.Namespace) -> int:
    """The dashboard as text on standard output, and as HTML and CSV files when asked."""
    from pathlib import Path

    from bot.exports.dashboard_render import html_page, write_csv, write_text

    if dashboard is None:
        return 2
    text = io.StringIO()
    write_text(dashboard, text, args.lang)
    sys.stdout.write(terminal_safe(text.getvalue(), keep_newlines=True))  # programme ids are file names
    if args.csv:
        with Path(args.csv).open("w", encoding="utf-8", newline="") as out:
            write_csv(dashboard, out, args.lang)
        print(terminal_safe(f"table: {args.csv}"))
    if args.html:
        timezone = dashboard.sections[0].timezone if dashboard.sections else "UTC"
        Path(args.html).write_text(html_page(dashboard, args.lang, timezone), encoding="utf-8")
        print(terminal_safe(f"dashboard: {args.html}"))
    return 0


async def _staff(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_app

    async with open_app(settings) as app, app.uow() as uow:
        now = app.clock.now()
        if args.command == "invite":
            if args.role != "operator" and args.programme not in app.registry:
                print(terminal_safe(f"Unknown programme {args.programme!r}"), file=sys.stderr)
                return 2
            code = await app.intake.casework.invite(uow, role=args.role, programme_id=args.programme,
                                                    name=args.name or args.role, now=now)
            print(f"invite code: {code}\nlink: https://t.me/<your_bot>?start=staff-{code}\n"
                  f"(/start staff-{code} in the bot; single use, valid 7 days)")
            if settings.web_url:  # or a passkey in the staff area (bot/channels/web/staff)
                print(f"staff area: {settings.web_url.rstrip('/')}/staff/register?code={code}")
        elif args.command == "audit":
            for event in await uow.audit.for_referral(args.referral):
                print(terminal_safe(f"{event.at.isoformat()}  {event.actor:22} {event.action:22} {event.detail}"))
        elif args.action == "list":
            for member in await uow.staff.all():
                state = "active" if member.active else f"removed {member.removed_at:%Y-%m-%d}"
                open_cases = await uow.cases.open_count(member.id)
                print(terminal_safe(f"{member.id:4}  {member.role:10} {member.programme_id:10} {member.language}  "
                                    f"{open_cases:2} open  {state:18} {member.name}"))
            for programme in app.registry.all():  # where an urgent case would reach nobody, or no consultant
                reach = await app.intake.casework.escalations.reachable(uow, programme.id)
                if reach == "nobody":
                    print(f"WARNING: programme {programme.id}: an urgent case would reach nobody (no consultant, "
                          f"coordinator or operator)")
                elif reach != "consultants":
                    print(f"note: programme {programme.id} has no consultant: urgent cases go to its {reach} first")
        else:
            removed = await app.intake.casework.remove_staff(uow, args.id, now)
            if removed is None:
                print(f"no staff member {args.id}", file=sys.stderr)
                return 1
            print(terminal_safe(f"removed {removed.name}; their open cases are back on the waiting list"))
    return 0


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop for the Telegram channel where it is installed (Linux, macOS): its event loop and
    transports take about a third less CPU per update than asyncio's (`tests.benchmarks.load`)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_app
    from bot.channels.telegram.runtime import run

    if args.workers > 1:
        from bot.channels.telegram.workers import supervise

        return await supervise(settings, args.workers)
    async with open_app(settings, migrate=False if args.as_worker else None) as app:
        if not args.web or settings.webhook_url:  # in webhook mode the webhook's server serves the form
            return await run(app, settings, worker=args.as_worker)
        from bot.channels.web.server import serve

        stopping = asyncio.Event()
        pages = asyncio.create_task(serve(app, settings, stopping))
        try:
            return await run(app, settings, worker=args.as_worker)
        finally:
            stopping.set()
            await pages


async def _web(settings: Settings, args: argparse.Namespace) -> int:
    """`ipsbot web`: the form alone (the Telegram channel, if any, runs elsewhere and sends the outbox)."""
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
        logging.getLogger(__name__).warning("BOT_TOKEN is not set: messages to staff wait in the outbox until "
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


def _poster(settings: Settings, args: argparse.Namespace) -> int:
    from bot.exports.poster import write_poster
    from flows.programmes import Registry

    registry = Registry.load(settings.programmes_dir)
    if args.programme not in registry:
        print(terminal_safe(f"Unknown programme {args.programme!r}"), file=sys.stderr)
        return 2
    if not settings.web_url or not settings.bot_username:
        print("poster needs WEB_URL and BOT_USERNAME", file=sys.stderr)
        return 2
    write_poster(registry[args.programme], args.lang, settings.web_url, settings.bot_username, args.out)
    print(args.out)
    return 0




def _explain(settings: Settings, programme_id: str | None, lang: str, write: bool) -> int:
    from flows.explain import explain, write_docs
    from flows.programmes import Registry

    registry = Registry.load(settings.programmes_dir)
    if programme_id is not None and programme_id not in registry:
        print(f"Unknown programme {programme_id!r}; known: {', '.join(p.id for p in registry.all())}", file=sys.stderr)
        return 2
    if write:
        for path in write_docs(registry, only=[programme_id] if programme_id else []):
            print(path)
        return 0
    if programme_id is None:
        print("explain needs a programme id (or --write for all of them)", file=sys.stderr)
        return 2
    sys.stdout.write(explain(registry[programme_id], lang))
    return 0


def _programmes(settings: Settings, action: str) -> int:
    from flows.programmes import Registry, check, programme_files

    files = programme_files(settings.programmes_dir)
    problems = check(files)
    for problem in problems:
        print(terminal_safe(problem))
    if problems:
        print(f"{len(problems)} problem(s) in {len(files)} file(s)", file=sys.stderr)
        return 1
    if action == "list":
        for programme in Registry.load(settings.programmes_dir).all():
            print(terminal_safe(f"{programme.id:12} {programme.country}  {programme.name('en')}"))
    else:
        print(f"{len(files)} programme file(s) OK")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    if settings.instruments_dir is not None:  # every command reads the same instruments (.env included)
        instruments.use_directory(settings.instruments_dir)
    logging.basicConfig(
        level=logging.WARNING if args.command == "chat" else settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    redact.install(settings.secrets())  # the token is in every Bot API address, and so in aiohttp's errors
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations at start are routine, not news
    # their debug lines carry SQL parameters, or a Bot API call's parameters (python-telegram-bot's)
    for chatty in ("aiosqlite", "asyncpg", "sqlalchemy", "telegram", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    if logging.getLogger().level > logging.DEBUG:  # aiogram's line per handled update: only when debugging
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # python-telegram-bot's default client, if used
    try:
        if args.command == "web" or (args.command == "chat" and args.web):
            with asyncio.Runner(loop_factory=event_loop_factory()) as runner:  # uvloop, as `run`
                return runner.run(_web(settings, args))
        if args.command == "chat":
            return asyncio.run(_chat(settings, args))
        if args.command == "db":
            from storage import crypto
            from storage.db import upgrade

            # a migration may encrypt stored values (0007): it needs the configured keys
            crypto.configure(crypto.load_cipher(
                settings.encryption_key.get_secret_value() if settings.encryption_key else None,
                settings.encryption_hash_key.get_secret_value() if settings.encryption_hash_key else None,
                settings.key_file))
            asyncio.run(upgrade(settings.database_url))
            print("database is up to date")
            return 0
        if args.command == "programmes" and args.action == "explain":
            return _explain(settings, args.id, args.lang, args.write)
        if args.command == "programmes":
            return _programmes(settings, args.action)
        if args.command == "export":
            return asyncio.run(_export(settings, args))
        if args.command == "purge":
            return asyncio.run(_purge(settings, args))
        if args.command == "report":
            return _write_report(asyncio.run(_report(settings, args.programme)), args)
        if args.command in ("invite", "staff", "audit"):
            return asyncio.run(_staff(settings, args))
        if args.command in ("access", "erase"):
            return asyncio.run(_rights(settings, args.command, args.referral))
        if args.command == "keys":
            return asyncio.run(_keys(settings, args.action))
        if args.command == "poster":
            return _poster(settings, args)
        if args.command == "run":
            problem = settings.token_problem()
            if problem:
                print(problem, file=sys.stderr)
                return 2
            if args.framework:
                settings = settings.model_copy(update={"bot_framework": args.framework})
            with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
                return runner.run(_run(settings, args))
    except BrokenPipeError:  # e.g. `ipsbot export | head`: the reader has had enough
        sys.stderr.close()
        return 0
    except WrongKeyError as exc:
        print(terminal_safe(redact.redact(f"Cannot start: {exc}")), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.command == "chat":
            from locales import Translator

            print("\n" + Translator(args.lang or "en")("console.bye"), file=sys.stderr)
        return 130
    except Exception:  # the traceback through the log's filter: its texts can hold the token
        logging.getLogger("bot.cli").critical("ipsbot %s stopped by an error", args.command, exc_info=True)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
