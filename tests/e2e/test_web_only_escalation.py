"""Issue 20: the clocks and the staff's messages live in every process, not only in the Telegram runtime.

`ipsbot web` runs as a real process, alone (no `ipsbot run`), against the fake Bot API. The staff
joined earlier (written here into the same database, as a Telegram process would have); a
candidate gives a risk answer in the web form and finishes: the consultant gets the urgent summary
at once, from the web process. In a programme without consultants the coordinator gets it, with
"Seen — I will make contact", and the candidate is told truthfully who will call.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet

from bot.app import open_app
from bot.settings import Settings
from locales import Translator
from tests.channels.web.client import WebUser
from tests.e2e.telegram_bot import ROOT, TOKEN
from tests.fake_telegram import FakeTelegram
from tests.support.net import free_port
from tests.support.people import tg
from tests.support.web_form import PLAN, finish

pytestmark = pytest.mark.asyncio
DA = Translator("da")


async def seed_staff(settings: Settings, staff: list[tuple[int, str, str]]) -> None:
    """Staff who joined through Telegram earlier: (chat id, role, programme)."""
    async with open_app(settings) as app, app.uow() as uow:
        for chat, role, programme in staff:
            code = await app.intake.casework.invite(uow, role=role, programme_id=programme, name=f"{role}-{chat}",
                                                    now=app.clock.now())
            await app.intake.casework.join(uow, tg(chat), code, app.clock.now())


async def web_only(tmp_path: Path, server: FakeTelegram, staff: list[tuple[int, str, str]]) -> tuple[Any, int]:
    key = Fernet.generate_key().decode()
    database = f"sqlite+aiosqlite:///{tmp_path / 'ipsbot.db'}"
    port = free_port()
    settings = Settings(bot_token=TOKEN, telegram_api_url=server.url, database_url=database, encryption_key=key)
    await seed_staff(settings, staff)
    env = {**os.environ, "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": server.url, "DATABASE_URL": database,
           "ENCRYPTION_KEY": key, "WEB_HOST": "127.0.0.1", "WEB_PORT": str(port), "PYTHONPATH": str(ROOT),
           "WEB_RATE_PER_ADDRESS": "0", "WEB_RATE_PER_SESSION": "0", "LOG_LEVEL": "INFO"}
    log = (tmp_path / "web.log").open("wb")
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "web", cwd=tmp_path, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=log)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 120)  # the first programme's address: listening
    assert b"http://" in line, (tmp_path / "web.log").read_text()[-2000:]
    return process, port


async def stop(process: Any) -> None:
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 60) == 0


async def intake(port: int, programme: str, age: str = "19") -> str:
    """A candidate in the web form answers MDI or PHQ-9 with a risk and finishes; the result page's text."""
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}", cookie_jar=jar) as session:
        user = WebUser(session)  # type: ignore[arg-type]
        await user.get(f"/p/{programme}")
        page = await finish(user, {**PLAN, "mdi.6": "2", "phq9.9": "2", "q.name": "Webbe", "q.age": age})
        return page.text


async def wait_for(server: FakeTelegram, chat: int, needle: str, seconds: float = 30) -> list[Any]:
    for _ in range(int(seconds * 20)):
        found = [m for m in server.sent_messages(chat) if needle in m.text]
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing with {needle!r} reached chat {chat}")


async def test_a_risk_answer_in_the_web_form_reaches_the_consultant_with_only_ipsbot_web_running(
    tmp_path: Path,
) -> None:
    async with FakeTelegram(token=TOKEN) as server:
        process, port = await web_only(tmp_path, server, [(7101, "consultant", "reconnect")])
        try:
            told = await intake(port, "reconnect")
            assert DA("result.eligible-urgent")[:40] in told and DA("result.reach.lead")[:30] not in told
            (summary,) = await wait_for(server, 7101, "\nWebbe, ")
            assert DA("staff.summary.urgent") in summary.text and DA("mdi.item.6") in summary.text
            assert DA("staff.escalation.seen") in summary.button_texts  # the urgent offer is their copy
        finally:
            await stop(process)
        assert "BOT_TOKEN is not set" not in (tmp_path / "web.log").read_text()


async def test_a_risk_answer_in_a_programme_without_consultants_reaches_the_coordinator(tmp_path: Path) -> None:
    async with FakeTelegram(token=TOKEN) as server:
        process, port = await web_only(tmp_path, server, [(7201, "coordinator", "vejle")])
        try:
            told = await intake(port, "vejle", age="40")  # Vejle: adults of 30 to 67
            assert DA("result.reach.lead")[:30] in told, told  # no job consultant: said, and who will act instead
            (card,) = await wait_for(server, 7201, "\nWebbe, ")
            assert card.text.startswith(DA("staff.escalation.title.urgent", id=1, programme="IPS Vejle"))
            assert card.button_texts == [DA("staff.escalation.seen")]
        finally:
            await stop(process)
        log = (tmp_path / "web.log").read_text()
        assert "programme vejle has no consultant" in log  # said at start, for every such programme
