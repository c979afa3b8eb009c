"""Faults under load, with the real PostgreSQL and Redis: the database or Redis away for 10 seconds
(a TCP proxy of our own is cut), a webhook worker killed with SIGKILL. Every candidate finishes,
exactly once, and nothing is lost.

Needs TEST_POSTGRES_URL and TEST_REDIS_URL; skipped without them, failed without them when CI=true.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url

from locales import Translator
from tests.e2e.tcp_proxy import TcpProxy
from tests.e2e.telegram_bot import TOKEN, BotProcess, Candidate, bot_env
from tests.fake_telegram import FakeTelegram
from tests.support.net import free_port

DA = Translator("da")
PEOPLE = 6
OUTAGE = 10.0  # seconds, as the operations requirement says


def service_url(name: str) -> str:
    url = os.environ.get(name)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} not set (required when CI=true)")
        pytest.skip(f"{name} not set")
    return url


@pytest.fixture
async def postgres() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for the test, dropped afterwards."""
    url = make_url(service_url("TEST_POSTGRES_URL"))
    name = f"ipsbot_faults_{uuid.uuid4().hex[:10]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin, timeout=10)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        connection = await asyncpg.connect(admin, timeout=10)
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


@pytest.fixture
async def redis_url() -> AsyncIterator[tuple[str, str]]:
    """The Redis server and a key prefix of this test's own, cleaned up afterwards."""
    url = service_url("TEST_REDIS_URL")
    prefix = f"ipsbot-test-{uuid.uuid4().hex[:8]}"
    yield url, prefix
    client = aioredis.from_url(url)
    async for key in client.scan_iter(f"{prefix}:*"):
        await client.delete(key)
    await client.aclose()


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


async def everyone_finishes(server: FakeTelegram, first_user: int, during: object = None) -> list[Candidate]:
    """PEOPLE candidates do whole intakes at once; `during` (a coroutine) runs while they do."""
    people = [Candidate(server, server.user(first_user + n, f"Navn{n}", "da"), timeout=90) for n in range(PEOPLE)]

    async def intake(person: Candidate) -> None:
        await person.say("/start vejle")
        # a person answers again when a reply is slow (a worker died, the database was away), so the
        # answers asked of them run well past the ~50 questions of the Vejle intake; what counts is
        # that everyone ends with exactly one referral (checked by the callers)
        await person.run({"language": "da", "q.age": "40", "q.name": person.user.user["first_name"]},
                         until=lambda r: any(DA("result.eligible") in m.text for m in r), limit=200)

    tasks = [asyncio.create_task(intake(p)) for p in people]
    if during is not None:
        await during  # type: ignore[misc]
    async with asyncio.timeout(240):
        await asyncio.gather(*tasks)
    return people


def exactly_one_referral_each(env: dict[str, str], cwd: Path) -> None:
    done = cli(env, cwd, "export")
    assert done.returncode == 0, done.stderr
    names = sorted(json.loads(line)["candidate"]["name"] for line in done.stdout.splitlines())
    assert names == [f"Navn{n}" for n in range(PEOPLE)]  # every one, none twice


async def outage(proxy: TcpProxy, after: float = 1.5) -> None:
    await asyncio.sleep(after)  # the intakes are under way
    proxy.cut()
    await asyncio.sleep(OUTAGE)  # real time: the outage itself is what is tested
    proxy.restore()


async def test_the_database_away_for_ten_seconds(postgres: str, tmp_path: Path, framework: str) -> None:
    url = make_url(postgres)
    proxy = await TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        async with FakeTelegram(token=TOKEN) as server:
            env = bot_env(server, tmp_path, framework, DATABASE_URL=through_proxy)
            direct = {**env, "DATABASE_URL": postgres}  # the CLI runs while this loop (the proxy) waits
            assert cli(direct, tmp_path, "db", "upgrade").returncode == 0
            bot = await BotProcess(server, env, tmp_path).start()
            await everyone_finishes(server, 6100, outage(proxy))
            assert await bot.stop() == 0
            assert "failed" in bot.log.read_text()  # the outage was really felt
        exactly_one_referral_each(direct, tmp_path)
    finally:
        await proxy.stop()


async def test_redis_away_for_ten_seconds(redis_url: tuple[str, str], tmp_path: Path, framework: str) -> None:
    url, prefix = redis_url
    parsed = make_url(url.replace("redis://", "redis+x://", 1))
    proxy = await TcpProxy(parsed.host or "127.0.0.1", parsed.port or 6379).start()
    try:
        async with FakeTelegram(token=TOKEN) as server:
            redis = f"redis://127.0.0.1:{proxy.port}/{parsed.database or 0}"
            env = bot_env(server, tmp_path, framework, REDIS_URL=redis, REDIS_PREFIX=prefix)
            bot = await BotProcess(server, env, tmp_path).start()
            await everyone_finishes(server, 6200, outage(proxy))
            assert await bot.stop() == 0
            assert "ConnectionError" in bot.log.read_text()  # the isolation lock really was unreachable
        exactly_one_referral_each(env, tmp_path)
    finally:
        await proxy.stop()


async def test_a_worker_killed_during_a_multi_worker_run(postgres: str, redis_url: tuple[str, str],
                                                        tmp_path: Path, framework: str) -> None:
    url, prefix = redis_url
    port = free_port()
    async with FakeTelegram(token=TOKEN) as server:
        env = bot_env(server, tmp_path, framework, DATABASE_URL=postgres, REDIS_URL=url, REDIS_PREFIX=prefix,
                      WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram", WEBHOOK_HOST="127.0.0.1",
                      WEBHOOK_PORT=str(port), WEBHOOK_SECRET="s3cret-for-the-test")
        assert cli(env, tmp_path, "db", "upgrade").returncode == 0
        supervisor = BotProcess(server, env, tmp_path)
        supervisor.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", "--workers", "2", cwd=tmp_path, env=env,
            stdout=supervisor.log.open("ab"), stderr=subprocess.STDOUT)
        await server.wait_for_call("setWebhook", timeout=60)
        pid = supervisor.proc.pid

        def workers() -> list[int]:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            return [int(c) for c in children]

        async with asyncio.timeout(60):
            while len(workers()) < 2:
                await asyncio.sleep(0.2)
        await asyncio.sleep(3)  # both workers are listening (their imports take a few seconds)

        async def kill_one() -> None:
            await asyncio.sleep(2)
            os.kill(workers()[0], signal.SIGKILL)

        await everyone_finishes(server, 6300, kill_one())
        assert len(server.calls_to("setWebhook")) == 1  # registered once, not by every worker
        assert len(workers()) == 2  # the dead one was replaced
        assert await supervisor.stop() == 0
    exactly_one_referral_each(env, tmp_path)
