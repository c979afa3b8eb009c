"""The ``ipsbot`` command line: chat, db upgrade, programmes check, export (see README)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.settings import Settings


def _date(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ipsbot", description="Intake bot for IPS employment programmes.")
    sub = p.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="the candidate intake in this terminal (no Telegram token needed)")
    chat.add_argument("--programme", help="programme id, as in /start <programme>")
    chat.add_argument("--lang", choices=["da", "sv", "en"], help="language to start in")
    chat.add_argument("--reset", action="store_true", help="forget the intake under way and start over")
    chat.add_argument("--user", default=None, help="who is chatting (default: your login name)")

    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])

    progs = sub.add_parser("programmes", help="programme files")
    progs.add_argument("action", choices=["check", "list"])

    export = sub.add_parser("export", help="referrals for coordinators")
    export.add_argument("--format", choices=["json"], default="json")
    export.add_argument("--since", type=_date, help="only referrals created on or after this date")
    export.add_argument("--programme", help="only this programme")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")

    sub.add_parser("run", help="the Telegram bot (long polling, or a webhook when WEBHOOK_URL is set)")
    return p


async def _chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_app
    from bot.console import Console
    from bot.intake_service import Person

    async with open_app(settings) as app:
        if args.programme and args.programme not in app.registry:
            known = ", ".join(p.id for p in app.registry.all())
            print(f"Unknown programme {args.programme!r}. Known: {known}", file=sys.stderr)
            return 2
        person = Person("console", args.user or getpass.getuser(), language=args.lang)
        return await Console(app.intake, person).run(args.programme, reset=args.reset)


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_app
    from bot.export import write_json

    async with open_app(settings) as app:
        if args.output:
            with open(args.output, "w", encoding="utf-8") as out:  # noqa: ASYNC230 - a local file, once
                count = await write_json(app, out, since=args.since, programme=args.programme)
        else:
            count = await write_json(app, sys.stdout, since=args.since, programme=args.programme)
    print(f"{count} referrals exported", file=sys.stderr)
    return 0


async def _run(settings: Settings) -> int:
    from bot.app import open_app
    from bot.telegram.runtime import run

    async with open_app(settings) as app:
        return await run(app, settings)


def _programmes(settings: Settings, action: str) -> int:
    from flows.programmes import Registry, check, programme_files

    files = programme_files(settings.programmes_dir)
    problems = check(files)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {len(files)} file(s)", file=sys.stderr)
        return 1
    if action == "list":
        for programme in Registry.load(settings.programmes_dir).all():
            print(f"{programme.id:12} {programme.country}  {programme.name('en')}")
    else:
        print(f"{len(files)} programme file(s) OK")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=logging.WARNING if args.command == "chat" else settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "chat":
            return asyncio.run(_chat(settings, args))
        if args.command == "db":
            from storage.db import upgrade

            asyncio.run(upgrade(settings.database_url))
            print("database is up to date")
            return 0
        if args.command == "programmes":
            return _programmes(settings, args.action)
        if args.command == "export":
            return asyncio.run(_export(settings, args))
        if args.command == "run":
            problem = settings.token_problem()
            if problem:
                print(problem, file=sys.stderr)
                return 2
            return asyncio.run(_run(settings))
    except KeyboardInterrupt:
        if args.command == "chat":
            from locales import Translator

            print("\n" + Translator(args.lang or "en")("console.bye"), file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
