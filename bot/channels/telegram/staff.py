"""Telegram for staff: joining with an invite, /cases, /slots, /language.

Thin like the candidate handlers: each update is marked processed in the same unit of work as its
effect (`bot.channels.telegram.handled.act`), `Casework` decides, and the outbox messages it wrote
are sent after the commit. Staff buttons are actions (`flows.actions`) run through the one table,
`bot.services.actions`.
"""

from __future__ import annotations

from bot.app import App
from bot.channels.telegram.api import TelegramApi
from bot.channels.telegram.handled import Action, act, who
from bot.services.casework import Casework
from bot.services.notify import Who
from locales import Translator
from storage.repositories import UnitOfWork

__all__ = ["Action", "act", "cases", "is_staff", "join", "language", "slots", "who"]

async def is_staff(app: App, person: Who) -> bool:
    async with app.uow() as uow:
        return await uow.staff.find(person.channel, person.external_id) is not None


async def join(app: App, api: TelegramApi, user_id: int, lang: str | None, chat_id: int, update_id: int,
               code: str) -> None:
    now = app.clock.now()
    await act(app, api, update_id, who(user_id, lang, chat_id), lambda uow, cw, w: cw.join(uow, w, code, now))


async def staff_only(app: App, api: TelegramApi, user_id: int, lang: str | None, chat_id: int, update_id: int,
                     run: Action) -> bool:
    """Run a staff command; False (and nothing done) when the sender is not staff, so that the same
    command stays a candidate's."""
    person = who(user_id, lang, chat_id)
    if not await is_staff(app, person):
        return False
    await act(app, api, update_id, person, run)
    return True


async def cases(app: App, api: TelegramApi, user_id: int, lang: str | None, chat_id: int,
                update_id: int) -> bool:
    """/cases: a consultant's open cases."""
    now = app.clock.now()
    return await staff_only(app, api, user_id, lang, chat_id, update_id, lambda uow, cw, w: cw.cases(uow, w, now))


async def slots(app: App, api: TelegramApi, user_id: int, lang: str | None, chat_id: int,
                update_id: int) -> bool:
    """/slots: upcoming times and a way to add more."""
    now = app.clock.now()
    return await staff_only(app, api, user_id, lang, chat_id, update_id,
                            lambda uow, cw, w: cw.meetings.slots(uow, w, now))


async def web_link(app: App, api: TelegramApi, user_id: int, lang: str | None, chat_id: int,
                   update_id: int) -> bool:
    """/web: a one-time link to the staff area, to this chat (bot/services/staff_sessions.py)."""
    from bot.services.staff_sessions import send_link

    now, base = app.clock.now(), app.settings.web_url or ""
    return await staff_only(app, api, user_id, lang, chat_id, update_id,
                            lambda uow, cw, w: send_link(uow, cw.notifier, w, base, now))


async def language(app: App, api: TelegramApi, user_id: int, lang: str | None, chat_id: int,
                   update_id: int) -> bool:
    """/language for staff switches between Danish and Swedish."""
    now = app.clock.now()

    async def switch(uow: UnitOfWork, cw: Casework, w: Who) -> None:
        member = await uow.staff.find(w.channel, w.external_id)
        if member is not None:
            member.language = "sv" if member.language == "da" else "da"
            await cw.notify(uow, w.address, Translator(member.language)("staff.language"), now)

    return await staff_only(app, api, user_id, lang, chat_id, update_id, switch)
