"""With WEB_URL set, the Telegram bot offers the form: a Mini App button after /start, and the menu button;
on both runtimes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.settings import FRAMEWORKS
from tests.e2e.telegram_bot import TOKEN, BotProcess, Candidate, bot_env
from tests.fake_telegram import FakeTelegram
from tests.support.net import free_port


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as fake:
        yield fake


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_start_offers_fill_in_as_a_form_and_the_menu_button_opens_it(server: FakeTelegram, tmp_path: Path,
                                                                           framework: str) -> None:
    env = bot_env(server, tmp_path, framework, WEB_URL="https://ips.example.dk")
    bot = await BotProcess(server, env, tmp_path).start()
    try:
        person = Candidate(server, server.user(4100, "Ana", "da"))
        replies = await person.say("/start reconnect")
        offers = [b for m in replies for b in m.buttons if "web_app" in b]
        assert [b["web_app"]["url"] for b in offers] == ["https://ips.example.dk/tg?lang=da"]
        assert offers[0]["text"] == "Udfyld som formular"
        menu = server.calls_to("setChatMenuButton")
        assert menu and menu[0].params["menu_button"]["web_app"]["url"] == "https://ips.example.dk/tg"
    finally:
        assert await bot.stop() == 0


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_in_webhook_mode_the_webhook_server_serves_the_form(tmp_path: Path, framework: str) -> None:
    port = free_port()
    async with FakeTelegram(token=TOKEN) as server:
        env = bot_env(server, tmp_path, framework, WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/hook",
                      WEBHOOK_SECRET="s3cret-Token_1", WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(port),
                      WEB_URL=f"http://127.0.0.1:{port}")
        process = await BotProcess(server, env, tmp_path).start(ready="setWebhook")
        try:
            await server.wait_for_call("setWebhook")
            async with aiohttp.ClientSession() as client, \
                    client.get(f"http://127.0.0.1:{port}/p/vejle") as response:
                page = await response.text()
                assert response.status == 200 and 'name="csrf"' in page and '<html lang="da">' in page
                assert "frame-ancestors https://web.telegram.org" in response.headers["Content-Security-Policy"]
        finally:
            assert await process.stop() == 0, process.log.read_text()[-3000:]
