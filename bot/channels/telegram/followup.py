"""Telegram for follow-ups: a person's taps on a follow-up question, and /stop.

Thin like `staff`: each update is marked processed in the same unit of work as its effect,
`FollowUps` decides (the person's own, open follow-up only), and its outbox messages are sent after the commit.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import Message, User

from bot.app import App
from bot.channels.telegram.staff import act, who
from flows.answers import Tap


async def press(app: App, bot: Bot, user: User, chat_id: int, update_id: int, answer: Tap) -> None:
    now = app.clock.now()
    await act(app, bot, update_id, who(user, chat_id),
              lambda uow, cw, w: cw.followups.press(uow, w, answer.step, answer.version, answer.button, now))


async def stop(app: App, bot: Bot, message: Message, update_id: int) -> None:
    """/stop: no more follow-ups (the data stays)."""
    if message.from_user is None:
        return
    now = app.clock.now()
    await act(app, bot, update_id, who(message.from_user, message.chat.id),
              lambda uow, cw, w: cw.followups.stop(uow, w, now))
