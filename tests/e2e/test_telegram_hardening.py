"""Low-severity holes, end to end with `ipsbot run` as a real process against the fake Bot API:
the token never reaches the log when a Bot API call fails, and a long Telegram language code is
stored as a supported language on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from sqlalchemy.engine import make_url

from bot import redact
from bot.redact import RedactingFilter
from tests.e2e.telegram_bot import TOKEN, BotProcess, Candidate, bot_env
from tests.e2e.test_faults import cli, postgres  # noqa: F401  # `postgres` is a fixture used below
from tests.fake_telegram import FakeTelegram

# what aiohttp makes of a broken answer: a ClientResponseError whose text carries the request URL,
# and with it the token (`400, message='Invalid character in Content-Length…', url='…/bot<TOKEN>/…'`)
BROKEN_500 = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: abc\r\n\r\n"


class BreakingFront:
    """An HTTP front for the fake Bot API that breaks chosen calls: a malformed 500 answer, or the
    connection closed without one. Everything else is passed through unchanged."""

    def __init__(self, server: FakeTelegram) -> None:
        self.server = server
        self.faults: list[tuple[str, str]] = []  # (method, "broken" | "close"), taken in order
        self.broken: list[str] = []
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> BreakingFront:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._client is not None and self._runner is not None
        await self._client.close()
        await self._runner.cleanup()

    def fail(self, method: str, how: str, times: int = 1) -> None:
        self.faults += [(method.lower(), how)] * times

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        method = request.path.rsplit("/", 1)[-1].lower()
        fault = next((f for f in self.faults if f[0] == method), None)
        if fault is not None and request.transport is not None:
            self.faults.remove(fault)
            self.broken.append(method)
            if fault[1] == "broken":
                request.transport.write(BROKEN_500)
            request.transport.close()
            raise asyncio.CancelledError  # nothing more to answer on a closed connection
        assert self._client is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type",)}
        async with self._client.request(request.method, self.server.url + request.path_qs, data=body,
                                        headers=headers) as answer:
            return web.Response(body=await answer.read(), status=answer.status,
                                headers={"Content-Type": answer.headers.get("Content-Type", "application/json")})


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


async def start_or_end(bot: BotProcess) -> bool:
    """Start the bot; True if it came up (asked for updates), False if the process ended instead."""
    starting = asyncio.create_task(bot.start(timeout=60))
    while bot.proc is None and not starting.done():
        await asyncio.sleep(0.05)
    assert bot.proc is not None
    ended = asyncio.create_task(bot.proc.wait())
    done, _ = await asyncio.wait({starting, ended}, return_when=asyncio.FIRST_COMPLETED)
    for task in (starting, ended):
        if task not in done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, AssertionError):
                await task
    return starting in done and starting.exception() is None


async def test_a_failing_bot_api_leaves_no_token_in_the_log(server: FakeTelegram, tmp_path: Path,
                                                            framework: str) -> None:
    """At debug level: a malformed 500 answer at start-up, where the error stops the process, and
    malformed answers and dropped connections while it runs, to replies and to polls."""
    async with BreakingFront(server) as front:
        env = {**bot_env(server, tmp_path, framework, LOG_LEVEL="DEBUG"), "TELEGRAM_API_URL": front.url}
        front.fail("deleteWebhook", "broken")
        first = BotProcess(server, env, tmp_path)
        if await start_or_end(first):
            assert await first.stop() == 0
        assert front.broken == ["deletewebhook"]

        bot = await BotProcess(server, env, tmp_path).start()
        try:
            person = Candidate(server, server.user(3001, "Ana", "da"))
            front.fail("sendMessage", "broken")
            front.fail("sendMessage", "close")
            await person.say("/start reconnect")
            front.fail("getUpdates", "broken")
            front.fail("getUpdates", "close")
            await person.say("/help")  # settled: polling again after both broken polls
        finally:
            assert await bot.stop() == 0
    assert set(front.broken) == {"deletewebhook", "sendmessage", "getupdates"} and len(front.broken) == 5
    log = bot.log.read_text(encoding="utf-8")
    assert "DEBUG" in log and "NetworkError" in log  # aiogram's or python-telegram-bot's, mapped alike
    secret = TOKEN.split(":", 1)[1]
    assert secret not in log, [line for line in log.splitlines() if secret in line][:3]


def test_redaction_covers_messages_arguments_and_tracebacks() -> None:
    token = "987654:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("tests.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        redact.install([token, "", None, "short"])
        try:
            raise RuntimeError(f"url='http://127.0.0.1/bot{token}/getMe'")
        except RuntimeError:
            log.exception("call failed: %s", f"/bot{quote(token, safe='')}/x")
        log.warning("%s%%", token.split(":")[1])
    finally:
        redact.install([])
        log.removeHandler(handler)
    written = stream.getvalue()
    assert "AAHdqTcv" not in written and written.count(redact.MASK) == 3 and "RuntimeError" in written
    assert "[redacted]%" in written
    assert redact.redact("a short word", ["short"]) == "a short word"  # too short to be a secret


async def test_a_long_language_code_is_stored_as_a_supported_language(
        server: FakeTelegram, postgres: str, tmp_path: Path) -> None:  # noqa: F811  # the fixture
    """Telegram sends `zh-hans` and other tags longer than `candidates.language` (5 characters);
    PostgreSQL refused the insert, so the person never got an answer."""
    env = {**bot_env(server, tmp_path), "DATABASE_URL": postgres}
    assert cli(env, tmp_path, "db", "upgrade").returncode == 0
    bot = await BotProcess(server, env, tmp_path).start()
    try:
        people = [Candidate(server, server.user(3100 + n, "Li", code)) for n, code in
                  enumerate(("zh-hans", "sv-SE", "en-GB-oxendict"))]
        for person in people:
            replies = await person.say("/start reconnect")
            assert replies and replies[-1].buttons, person.user
            assert await person.tap(str(person.question().buttons[0]["callback_data"]).rsplit("|", 1)[-1])
    finally:
        assert await bot.stop() == 0
    connection = await asyncpg.connect(make_url(postgres).set(drivername="postgresql").render_as_string(
        hide_password=False))
    try:
        stored = sorted(r["language"] for r in await connection.fetch("SELECT language FROM candidates"))
    finally:
        await connection.close()
    assert len(stored) == 3 and set(stored) <= {"da", "sv", "en"}, stored
