"""One path per update, for both runtimes: parse once, one person at a time, route.

`Dispatch.handle` takes an update as the poller or the webhook has it (parsed by
`bot.channels.telegram.updates.parse`, or raw), holds the sender's lock (`Isolation` here, or
aiogram's event isolation, which keeps its Redis keys) and hands the `Incoming` or `Press` to the
shared routing (`bot.channels.telegram.handlers`). No framework model is built for an update:
the frameworks only make the Bot API calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.app import App
from bot.channels.telegram.api import TelegramApi
from bot.channels.telegram.handlers import on_edited, on_message, on_press
from bot.channels.telegram.polling import REDIS_LOCK_TTL
from bot.channels.telegram.updates import Incoming, Press, Update, as_update
from bot.settings import Settings

log = logging.getLogger(__name__)

Lock = Callable[[int | None], AbstractAsyncContextManager[None]]


class Isolation:
    """One person's updates one at a time: in this process, or across webhook workers through Redis
    (as aiogram's `RedisEventIsolation` does)."""

    def __init__(self, settings: Settings, bot_id: int) -> None:
        self.prefix = f"{settings.redis_prefix}:ptb:{bot_id}"
        self._locks: dict[int | None, tuple[asyncio.Lock, list[int]]] = {}  # a lock and how many use it
        self._redis: Any = None
        if settings.redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(settings.redis_url)

    @contextlib.asynccontextmanager
    async def lock(self, key: int | None) -> AsyncIterator[None]:
        local, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1  # forgotten only when nobody holds or waits for it (a released lock looks free
        try:           # before its next waiter has woken)
            async with local:
                if self._redis is None or key is None:
                    yield
                else:
                    async with self._redis.lock(f"{self.prefix}:{key}:lock", timeout=REDIS_LOCK_TTL):
                        yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


async def route(app: App, api: TelegramApi, event: Incoming | Press, folded: int = 0) -> None:
    """The shared routing for one event; `folded`: how many other messages it answers for."""
    if isinstance(event, Press):
        await on_press(app, api, event)
    elif event.edited:
        await on_edited(app, api, event)
    else:
        await on_message(app, api, event, folded)


class Dispatch:
    """`Runtime.handle` for either framework."""

    def __init__(self, app: App, api: TelegramApi, lock: Lock) -> None:
        self.app = app
        self.api = api
        self.lock = lock

    async def handle(self, raw: Update | dict[str, Any], folded: int = 0) -> BaseException | None:
        """Route one update; the error if handling failed (logged by type only: messages may hold
        answers), None when done, or for an update that cannot be read (nothing to answer)."""
        update = as_update(raw)
        if update is None or not update.readable:
            log.error("update %s could not be read; closed unhandled", raw.get("update_id"))
            return None
        if update.event is None:  # a kind the bot does not ask for
            return None
        try:
            async with self.lock(update.sender):
                await route(self.app, self.api, update.event, folded)
        except Exception as exc:  # one bad update must not stop the others
            log.error("update %s failed: %s", update.update_id, type(exc).__name__)
            log.debug("update %s failed", update.update_id, exc_info=True)
            return exc
        return None
