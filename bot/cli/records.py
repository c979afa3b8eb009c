"""The commands about stored records: `export`, `report`, `audit`, `purge`, `access`, `erase`, `keys`."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.output import private_text_file, terminal_safe
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.exports.dashboard import Dashboard


def export(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_export(settings, args))


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


def report(settings: Settings, args: argparse.Namespace) -> int:
    return _write_report(asyncio.run(_report(settings, args.programme)), args)


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


def audit(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_audit(settings, args.referral))


async def _audit(settings: Settings, referral_id: int) -> int:
    from bot.app import open_app

    async with open_app(settings) as app, app.uow() as uow:
        for event in await uow.audit.for_referral(referral_id):
            print(terminal_safe(f"{event.at.isoformat()}  {event.actor:22} {event.action:22} {event.detail}"))
    return 0


def purge_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(purge(settings, args))


async def purge(settings: Settings, args: argparse.Namespace, clock: Clock | None = None) -> int:
    """`ipsbot purge`: erase what is past its retention period (`storage.retention.purge`)."""
    from bot.app import open_app
    from bot.services.erasure import erase
    from storage.retention import purge as purge_expired

    async with open_app(settings, clock) as app:
        if args.older_than is not None:
            retention = {p.id: timedelta(days=args.older_than) for p in app.registry.all()}
            default = timedelta(days=args.older_than)
        else:
            retention = {p.id: timedelta(days=round(p.retention_months * 30.44)) for p in app.registry.all()}
            default = timedelta(days=round(24 * 30.44))
        now, casework = app.clock.now(), app.intake.casework
        async with app.uow() as uow:
            counts = await purge_expired(uow, now=now, retention=retention, default_retention=default,
                                         unfinished_after=timedelta(days=args.unfinished_days),
                                         erase=lambda uow, person: erase(uow, casework, person, now, tell_staff=False))
    print(f"erased: {counts['intakes']} intakes, {counts['referrals']} referrals, {counts['candidates']} candidates, "
          f"{counts['updates']} handled Telegram updates, {counts['outbox']} sent messages")
    return 0


def rights_command(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(rights(settings, args.command, args.referral))


async def rights(settings: Settings, action: str, referral_id: int, clock: Clock | None = None) -> int:
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


def keys(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_keys(settings, args.action))


async def _keys(settings: Settings, action: str) -> int:
    from bot.app import key_settings, open_app
    from storage import crypto
    from storage.keys import check, rotate_all

    configured_keys, hash_key, key_file = key_settings(settings)
    if action == "rotate" and crypto.hash_key_from_setting(hash_key, key_file) is None:
        # the look-up hashes were made with a key derived from the newest key *before* this rotation,
        # i.e. the second one now that a new key is prepended
        configured = crypto.keys_from_setting(configured_keys, key_file)
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
