"""The application in this process against the fake Bot API: for tests that move a controllable clock.

`framework` picks the runtime whose `TelegramApi` the test gets: aiogram's Bot (also an aiogram
`Bot`), or python-telegram-bot's (`PtbApi`, its `Application` initialised as `ipsbot run` does).
`runtime_in_process` gives the whole runtime (its `handle` feeds an update through the real routing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from bot.app import App, open_app
from bot.channels.telegram.aiogram.runtime import create_bot
from bot.channels.telegram.runtime import Runtime, open_runtime
from bot.clock import Clock
from bot.settings import Settings
from tests.e2e.telegram_bot import TOKEN
from tests.fake_telegram import FakeTelegram


def _settings(server: FakeTelegram, tmp_path: Path, per_chat_interval: float, framework: str,
              programmes_dir: Path | None) -> Settings:
    """A bot on the fake Bot API, with a fresh SQLite database and key in `tmp_path`."""
    return Settings(bot_token=TOKEN, telegram_api_url=server.url,
                    database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
                    encryption_key=Fernet.generate_key().decode(), per_chat_interval=per_chat_interval,
                    bot_framework=framework, programmes_dir=programmes_dir)


@asynccontextmanager
async def in_process(tmp_path: Path, clock: Clock | None = None, *, per_chat_interval: float = 0.0,
                     framework: str = "aiogram", programmes_dir: Path | None = None
                     ) -> AsyncIterator[tuple[App, Any, FakeTelegram]]:
    async with FakeTelegram(token=TOKEN) as server:
        settings = _settings(server, tmp_path, per_chat_interval, framework, programmes_dir)
        async with open_app(settings, clock) as app:
            if framework == "ptb":
                from bot.channels.telegram.ptb.runtime import open_ptb

                runtime = await open_ptb(app, settings)
                try:
                    yield app, runtime.api, server
                finally:
                    await runtime.close()
                return
            bot = create_bot(settings)
            try:
                yield app, bot, server
            finally:
                await bot.session.close()


@asynccontextmanager
async def runtime_in_process(tmp_path: Path, clock: Clock | None = None, *, per_chat_interval: float = 0.0,
                             framework: str = "aiogram", programmes_dir: Path | None = None
                             ) -> AsyncIterator[tuple[App, Runtime, FakeTelegram]]:
    async with FakeTelegram(token=TOKEN) as server:
        settings = _settings(server, tmp_path, per_chat_interval, framework, programmes_dir)
        async with open_app(settings, clock) as app:
            runtime = await open_runtime(app, settings)
            try:
                yield app, runtime, server
            finally:
                await runtime.close()
