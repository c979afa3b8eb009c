"""The commands about staff: `invite`, `staff list`, `staff remove`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.output import terminal_safe
from bot.settings import Settings


def invite(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_invite(settings, args))


async def _invite(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_app

    async with open_app(settings) as app, app.uow() as uow:
        if args.role != "operator" and args.programme not in app.registry:
            print(terminal_safe(f"Unknown programme {args.programme!r}"), file=sys.stderr)
            return 2
        code = await app.intake.casework.invite(uow, role=args.role, programme_id=args.programme,
                                                name=args.name or args.role, now=app.clock.now())
        print(f"invite code: {code}\nlink: https://t.me/<your_bot>?start=staff-{code}\n"
              f"(/start staff-{code} in the bot; single use, valid 7 days)")
        if settings.web_url:  # or a passkey in the staff area (bot/channels/web/staff)
            print(f"staff area: {settings.web_url.rstrip('/')}/staff/register?code={code}")
    return 0


def listing(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_listing(settings))


async def _listing(settings: Settings) -> int:
    from bot.app import open_app

    async with open_app(settings) as app, app.uow() as uow:
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
    return 0


def remove(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_remove(settings, args.id))


async def _remove(settings: Settings, staff_id: int) -> int:
    from bot.app import open_app

    async with open_app(settings) as app, app.uow() as uow:
        removed = await app.intake.casework.remove_staff(uow, staff_id, app.clock.now())
        if removed is None:
            print(f"no staff member {staff_id}", file=sys.stderr)
            return 1
        print(terminal_safe(f"removed {removed.name}; their open cases are back on the waiting list"))
    return 0
