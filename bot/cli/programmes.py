"""The commands about files and schema: `programmes check|list|explain`, `poster`, `db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.output import terminal_safe
from bot.settings import Settings


def programmes(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "explain":
        return _explain(settings, args.id, args.lang, args.write)
    return _check(settings, args.action)


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


def _check(settings: Settings, action: str) -> int:
    """`check` and `list`: both validate every file first."""
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


def poster(settings: Settings, args: argparse.Namespace) -> int:
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


def db(settings: Settings, args: argparse.Namespace) -> int:
    """`ipsbot db upgrade`: a migration may encrypt stored values (0007), so it needs the configured keys."""
    from bot.app import configure_cipher
    from storage.db import upgrade

    configure_cipher(settings)
    asyncio.run(upgrade(settings.database_url))
    print("database is up to date")
    return 0
