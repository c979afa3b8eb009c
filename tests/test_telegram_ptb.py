"""The python-telegram-bot runtime's own parts that the end-to-end suite cannot reach on purpose:
its per-person lock, and its errors as the shared code's."""

from __future__ import annotations

import asyncio

from telegram.error import BadRequest as PtbBadRequest
from telegram.error import Forbidden as PtbForbidden
from telegram.error import TelegramError, TimedOut

from bot.channels.telegram.api import ApiError, BadRequest, Forbidden, NetworkError, update_user_id
from bot.channels.telegram.ptb.runtime import Isolation, _mapped
from bot.settings import Settings


async def test_one_person_at_a_time_also_when_an_update_arrives_as_the_one_before_ends() -> None:
    """A released lock looks free before its next waiter wakes: a third update arriving just then
    must still wait its turn, not take a fresh lock of its own."""
    isolation = Isolation(Settings(redis_url=None), bot_id=1)
    inside: list[str] = []
    overlaps: list[list[str]] = []
    later: list[asyncio.Task[None]] = []

    async def update(name: str) -> None:
        async with isolation.lock(7):
            inside.append(name)
            if len(inside) > 1:
                overlaps.append(list(inside))
            for _ in range(3):
                await asyncio.sleep(0)
            inside.remove(name)
        if name == "first":  # the next update of the same person arrives right after the first ends
            later.append(asyncio.create_task(update("third")))

    await asyncio.gather(update("first"), update("second"))
    await asyncio.gather(*later)
    assert overlaps == [] and len(later) == 1
    assert isolation._locks == {}  # forgotten once nobody holds or waits for it


def test_python_telegram_bot_errors_become_the_shared_ones() -> None:
    assert type(_mapped(PtbForbidden("Forbidden: bot was blocked by the user"))) is Forbidden
    assert type(_mapped(PtbBadRequest("Bad Request: message is not modified"))) is BadRequest  # a NetworkError there
    assert type(_mapped(TimedOut())) is NetworkError
    assert type(_mapped(TelegramError("Internal Server Error"))) is ApiError


def test_the_person_of_an_update_is_its_sender() -> None:
    assert update_user_id({"update_id": 1, "message": {"from": {"id": 42}, "chat": {"id": -5}}}) == 42
    assert update_user_id({"update_id": 2, "callback_query": {"id": "q", "from": {"id": 43}}}) == 43
    assert update_user_id({"update_id": 3, "channel_post": {"chat": {"id": -7}}}) is None
