"""The per-person Redis lock of both Telegram runtimes expires soon: a lock whose release a Redis
outage lost (or whose worker died) must not hold that person, and the poller waiting on them, for
long after Redis is back (it held everyone for 50 s with aiogram's default of 60 s)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiogram.fsm.storage.base import StorageKey

from bot.channels.telegram.aiogram.runtime import create_isolation
from bot.channels.telegram.polling import REDIS_LOCK_TTL
from bot.channels.telegram.ptb.runtime import Isolation
from bot.settings import Settings
from tests.e2e.test_faults import service_url


@pytest.fixture
async def redis() -> AsyncIterator[tuple[aioredis.Redis, Settings]]:
    url = service_url("TEST_REDIS_URL")
    settings = Settings(redis_url=url, redis_prefix=f"ipsbot-test-{uuid.uuid4().hex[:8]}")
    client = aioredis.from_url(url)
    yield client, settings
    async for key in client.scan_iter(f"{settings.redis_prefix}:*"):
        await client.delete(key)
    await client.aclose()


async def held_ttls(client: aioredis.Redis, prefix: str) -> list[int]:
    return [await client.pttl(key) async for key in client.scan_iter(f"{prefix}:*")]


def test_the_lock_lives_long_enough_for_an_update_and_not_much_longer() -> None:
    assert 5 <= REDIS_LOCK_TTL <= 15


async def test_python_telegram_bot_runtime_locks_expire_within_the_ttl(
        redis: tuple[aioredis.Redis, Settings]) -> None:
    client, settings = redis
    isolation = Isolation(settings, bot_id=1)
    try:
        async with isolation.lock(42):
            ttls = await held_ttls(client, settings.redis_prefix)
    finally:
        await isolation.close()
    assert len(ttls) == 1 and 0 < ttls[0] <= REDIS_LOCK_TTL * 1000


async def test_aiogram_runtime_locks_expire_within_the_ttl(redis: tuple[aioredis.Redis, Settings]) -> None:
    client, settings = redis
    isolation = create_isolation(settings)
    try:
        async with isolation.lock(StorageKey(bot_id=1, chat_id=42, user_id=42)):
            ttls = await held_ttls(client, settings.redis_prefix)
    finally:
        await isolation.close()
    assert len(ttls) == 1 and 0 < ttls[0] <= REDIS_LOCK_TTL * 1000
