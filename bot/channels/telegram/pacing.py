"""Pacing and waiting on 429, for every runtime: at most one new message a second to one chat.

Edits and answers to button presses are not paced. Within one process; several workers each keep
their own pace, and a person's updates go to one worker at a time (the isolation lock).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_RETRIES = 5
TIMER_MARGIN = 0.002  # seconds added to a pacing wait, for the event loop's timer resolution


class ChatPace:
    """One chat's new messages at least `interval` seconds apart, also after a 429 clears."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[int | str, float] = {}
        self._locks: dict[int | str, asyncio.Lock] = {}

    async def paced(self, chat: int | str | None, send: Callable[[], Awaitable[T]]) -> T:
        if self.interval <= 0 or chat is None:
            return await send()
        lock = self._locks.setdefault(chat, asyncio.Lock())
        async with lock:
            # the clock itself, not `loop.time()`: uvloop's is the time its loop iteration began, which
            # under load lags by milliseconds; and its timers have a resolution of a millisecond
            wait = self._next.get(chat, 0.0) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait + TIMER_MARGIN)
            try:
                return await send()
            finally:
                self._next[chat] = time.monotonic() + self.interval
                if len(self._next) > 10_000:  # forget chats that have been quiet
                    now = time.monotonic()
                    self._next = {k: v for k, v in self._next.items() if v > now}
                    self._locks = {k: v for k, v in self._locks.items() if k in self._next or v.locked()}


async def retry_after(send: Callable[[], Awaitable[T]], wait_of: Callable[[BaseException], float | None],
                      name: str) -> T:
    """On 429 wait as long as Telegram says (`wait_of` reads it from the client's error) and send
    again, a few times, then give up."""
    for _ in range(MAX_RETRIES - 1):
        try:
            return await send()
        except Exception as exc:
            seconds = wait_of(exc)
            if seconds is None:
                raise
            log.warning("Telegram asks to wait %s s before %s", seconds, name)
            await asyncio.sleep(seconds)
    return await send()
