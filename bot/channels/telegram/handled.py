"""The one place the channel has an update marked handled (`bot.services.actions.first_time`), in the
unit of work of its effect: staff commands, every button that is not an intake question, and the
notices that answer nothing (group chats, edits, `say`). An intake answer is marked the same way inside
`IntakeService.answer`. A repeat of a marked update does nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bot.app import App
from bot.channels.telegram.api import Markup, TelegramApi
from bot.channels.telegram.delivery import Planned, deliver, deliver_all
from bot.channels.telegram.updates import inbox_source
from bot.services.actions import first_time
from bot.services.casework import Casework
from bot.services.notify import Who, payload
from flows.address import Address
from flows.screens import Screen
from locales import normalise
from storage.repositories import UnitOfWork

Action = Callable[[UnitOfWork, Casework, Who], Awaitable[object]]


def who(user_id: int, language_code: str | None, chat_id: int) -> Who:
    return Who("telegram", str(user_id), Address("telegram", str(chat_id)), normalise(language_code))


async def act(app: App, api: TelegramApi, update_id: int, person: Who, run: Action | None) -> bool:
    """Mark the update and run `run` in one unit of work, then send what it wrote to the outbox; False
    (nothing run) when the update was handled before."""
    async with app.uow() as uow:
        if not await first_time(uow, inbox_source(api.id), update_id, app.clock.now()):
            return False
        if run is not None:
            await run(uow, app.intake.casework, person)
        written = dict(uow.outbox.payloads)  # reminders (due later) are left to the sweep
    await deliver_all(app, api, list(written), written)
    return True


async def mark_update(app: App, update_id: int, bot_id: int) -> bool:
    """Record the update as processed, nothing else; False when it was processed before."""
    async with app.uow() as uow:
        return await first_time(uow, inbox_source(bot_id), update_id, app.clock.now())


async def say(app: App, api: TelegramApi, chat_id: int, *, update_id: int | None = None, user_id: int | None = None,
              messages: Sequence[tuple[str, Markup | None]] = (), screens: Sequence[Screen] = ()) -> bool:
    """Messages (already HTML) and then screens to a chat, at most once, through the outbox like every other send:
    a person who blocked the bot is marked unreachable by the delivery (`user_id`: the person it is
    for; None in a group chat, so that a group that removed the bot marks nobody). With `update_id`,
    marked handled in the same unit of work; False (nothing sent) when it was handled before."""
    async with app.uow() as uow:
        now = app.clock.now()
        if update_id is not None and not await first_time(uow, inbox_source(api.id), update_id, now):
            return False
        data = Planned(**payload(Address("telegram", str(chat_id)), list(screens)),
                       messages=[{"text": text, "markup": markup} for text, markup in messages])
        if user_id is not None:  # None in a group: a group that removed the bot marks nobody
            data["user_id"] = user_id
        message_id = await uow.outbox.add(channel="telegram", payload=data, now=now)
        # at most once, as a notice always was: closed before it is sent, so a crash in between never
        # sends it again after the restart (a flood's notice would come twice); the delivery still
        # records a blocked bot and marks the person unreachable
        await uow.outbox.finish(message_id, at=now)
    await deliver(app, api, message_id, data)
    return True
