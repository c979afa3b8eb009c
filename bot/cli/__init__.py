"""The ``ipsbot`` command line (see README, "Command line"): one function per command.

`parser` names every command and flag and binds each command to its function (`set_defaults(func=...)`);
`main` sets up logging and settings once and calls it. The commands live by subject:
`bot.cli.talk` (chat, web, run), `bot.cli.programmes` (programmes, poster, db),
`bot.cli.records` (export, report, audit, purge, access, erase, keys), `bot.cli.staff` (invite, staff).

Stored or user-given text is printed through `bot.output.terminal_safe`: an audit entry can hold a
forged button payload, and its control characters must not reach the coordinator's terminal.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from bot import redact
from bot.cli import programmes, records, staff, talk
from bot.cli.talk import event_loop_factory, staff_delivery
from bot.output import terminal_safe
from bot.settings import FRAMEWORKS, Settings
from flows import instruments
from locales import LANGUAGES
from storage.crypto import WrongKeyError

__all__ = ["event_loop_factory", "main", "parser", "staff_delivery"]


def _date(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _talk(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = sub.add_parser("chat", help="the candidate intake in this terminal (no Telegram token needed)")
    chat.add_argument("--programme", help="programme id, as in /start <programme>")
    chat.add_argument("--lang", choices=LANGUAGES, help="language to start in")
    chat.add_argument("--reset", action="store_true", help="forget the intake under way and start over")
    chat.add_argument("--user", default=None, help="who is chatting (default: your login name)")
    chat.add_argument("--web", action="store_true",
                      help="serve the same intake as a web form instead, and print its local address")
    chat.set_defaults(func=talk.chat)


def _files(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    db.set_defaults(func=programmes.db)

    progs = sub.add_parser("programmes", help="programme files")
    progs.add_argument("action", choices=["check", "list", "explain"])
    progs.add_argument("id", nargs="?", help="explain: the programme (all of them with --write)")
    progs.add_argument("--lang", choices=LANGUAGES, default="en", help="explain: the language")
    progs.add_argument("--write", action="store_true",
                       help="explain: write docs/programmes/<id>.md (English) instead of printing")
    progs.set_defaults(func=programmes.programmes)

    export = sub.add_parser("export", help="referrals for coordinators")
    export.add_argument("--format", choices=["json", "fhir", "csv"], default="json")
    export.add_argument("--since", type=_date, help="only referrals created on or after this date")
    export.add_argument("--programme", help="only this programme")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(func=records.export)


def _channels(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="the Telegram bot (long polling, or a webhook when WEBHOOK_URL is set)")
    run.add_argument("--workers", type=int, default=1, help="webhook worker processes (needs WEBHOOK_URL, REDIS_URL)")
    run.add_argument("--as-worker", action="store_true", help=argparse.SUPPRESS)  # started by --workers
    run.add_argument("--framework", choices=FRAMEWORKS,
                     help="the Telegram runtime (default: BOT_FRAMEWORK, else aiogram)")
    run.add_argument("--web", action="store_true", help="also serve the web form on WEB_HOST:WEB_PORT (polling mode)")
    run.set_defaults(func=talk.run)
    web_cmd = sub.add_parser("web", help="the intake as a web form on WEB_HOST:WEB_PORT (prints the address)")
    web_cmd.add_argument("--programme", help="print this programme's start address")
    web_cmd.set_defaults(func=talk.web)
    poster = sub.add_parser("poster", help="a printable page with QR codes for the web form and the Telegram bot")
    poster.add_argument("--programme", required=True)
    poster.add_argument("--lang", choices=LANGUAGES, required=True)
    poster.add_argument("--out", required=True, help="FILE.pdf or FILE.png")
    poster.set_defaults(func=programmes.poster)


def _coordinators(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="the coordinator dashboard: IPS funnel, goal, risk answers to 'Seen'")
    report.add_argument("--programme", help="only this programme")
    report.add_argument("--lang", choices=LANGUAGES, default="en", help="the language of the text, HTML and CSV")
    report.add_argument("--html", metavar="FILE", help="also write the dashboard with its charts as one "
                        "self-contained HTML file")
    report.add_argument("--csv", metavar="FILE", help="also write the aggregated table as CSV")
    report.set_defaults(func=records.report)

    invite = sub.add_parser("invite", help="a one-time invite for staff (valid 7 days)")
    invite.add_argument("--role", choices=["consultant", "peer", "coordinator", "operator"], required=True,
                        help="operator: the installation's last rung for urgent cases of every programme")
    invite.add_argument("--programme", help="the programme (not for an operator)")
    invite.add_argument("--name", default="", help="the person's name, shown to colleagues and candidates")
    invite.set_defaults(func=staff.invite)

    members = sub.add_parser("staff", help="consultants and peers")
    staff_sub = members.add_subparsers(dest="action", required=True)
    staff_sub.add_parser("list").set_defaults(func=staff.listing)
    remove = staff_sub.add_parser("remove")
    remove.add_argument("id", type=int)
    remove.set_defaults(func=staff.remove)

    audit = sub.add_parser("audit", help="who saw or changed a referral, when")
    audit.add_argument("--referral", type=int, required=True, metavar="ID")
    audit.set_defaults(func=records.audit)


def _data(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    purge = sub.add_parser("purge", help="erase data past its retention period")
    purge.add_argument("--older-than", type=int, metavar="DAYS",
                       help="closed intakes older than this (default: each programme's retention_months)")
    purge.add_argument("--unfinished-days", type=int, default=90, metavar="DAYS",
                       help="unfinished intakes untouched this long (default 90)")
    purge.set_defaults(func=records.purge_command)

    for name, what in (("access", "print everything stored about the person of a referral (JSON)"),
                       ("erase", "erase the person of a referral, with all their data")):
        rights = sub.add_parser(name, help=what)
        rights.add_argument("--referral", type=int, required=True, metavar="ID")
        rights.set_defaults(func=records.rights_command)

    keys = sub.add_parser("keys", help="encryption keys")
    keys.add_argument("action", choices=["rotate", "check"])
    keys.set_defaults(func=records.keys)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ipsbot", description="Intake bot for IPS employment programmes.")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_talk, _files, _channels, _coordinators, _data):  # the order `ipsbot --help` lists them in
        add(sub)
    return p


def _set_up_logging(settings: Settings, command: str) -> None:
    logging.basicConfig(
        level=logging.WARNING if command == "chat" else settings.log_level.upper(),
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    if settings.instruments_dir is not None:  # every command reads the same instruments (.env included)
        instruments.use_directory(settings.instruments_dir)
    _set_up_logging(settings, args.command)
    try:
        code: int = args.func(settings, args)
        return code
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
