"""Telegram for follow-ups: a person's taps on a follow-up question, and /stop, for every runtime.

Thin like `staff`: each update is marked processed in the same unit of work as its effect,
`FollowUps` decides (the person's own, open follow-up only), and its outbox messages are sent after the commit.
"""

from __future__ import annotations

from bot.app import App
from bot.channels.telegram.api import TelegramApi
from bot.channels.telegram.staff import act, who
from flows.answers import Tap


async def press(app: App, api: TelegramApi, user_id: int, lang: str | None, chat_id: int, update_id: int,
                answer: Tap) -> None:
    now = app.clock.now()
    await act(app, api, update_id, who(user_id, lang, chat_id),
              lambda uow, cw, w: cw.followups.press(uow, w, answer.step, answer.version, answer.button, now))


async def stop(app: App, api: TelegramApi, user_id: int, lang: str | None, chat_id: int, update_id: int) -> None:
    """/stop: no more follow-ups (the data stays)."""
    now = app.clock.now()
    await act(app, api, update_id, who(user_id, lang, chat_id), lambda uow, cw, w: cw.followups.stop(uow, w, now))
