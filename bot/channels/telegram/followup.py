"""Telegram for follow-ups: /stop, for every runtime (a tap on a follow-up question is an action,
`flows.actions.FollowUpAnswer`, run through `bot.services.actions`).

Thin like `staff`: the update is marked processed in the same unit of work as its effect, `FollowUps`
decides, and its outbox messages are sent after the commit.
"""

from __future__ import annotations

from bot.app import App
from bot.channels.telegram.api import TelegramApi
from bot.channels.telegram.handled import act, who


async def stop(app: App, api: TelegramApi, user_id: int, lang: str | None, chat_id: int, update_id: int) -> None:
    """/stop: no more follow-ups (the data stays)."""
    now = app.clock.now()
    await act(app, api, update_id, who(user_id, lang, chat_id), lambda uow, cw, w: cw.followups.stop(uow, w, now))
