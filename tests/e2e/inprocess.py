"""The application in this process against the fake Bot API: for tests that move a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiogram import Bot
from cryptography.fernet import Fernet

from bot.app import App, open_app
from bot.channels.telegram.runtime import create_bot
from bot.clock import Clock
from bot.settings import Settings
from tests.e2e.telegram_bot import TOKEN
from tests.fake_telegram import FakeTelegram


@asynccontextmanager
async def in_process(tmp_path: Path, clock: Clock | None = None, *, per_chat_interval: float = 0.0,
                     programmes_dir: Path | None = None) -> AsyncIterator[tuple[App, Bot, FakeTelegram]]:
    async with FakeTelegram(token=TOKEN) as server:
        settings = Settings(bot_token=TOKEN, telegram_api_url=server.url,
                            database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
                            encryption_key=Fernet.generate_key().decode(), per_chat_interval=per_chat_interval,
                            programmes_dir=programmes_dir)
        async with open_app(settings, clock) as app:
            bot = create_bot(settings)
            try:
                yield app, bot, server
            finally:
                await bot.session.close()
