"""The web channel in this process on a fresh SQLite database, with a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet

from bot.app import App, open_app
from bot.channels.web.server import WebChannel
from bot.clock import ManualClock
from bot.settings import Settings
from tests.e2e.telegram_bot import TOKEN


@dataclass
class Site:
    app: App
    channel: WebChannel
    client: TestClient[Any, Any]
    clock: ManualClock
    settings: Settings

    def fresh_client(self) -> TestClient[Any, Any]:
        """Another browser: no cookies."""
        return TestClient(self.client.server)


def settings_for(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(bot_token=TOKEN, database_url=f"sqlite+aiosqlite:///{tmp_path / 'web.db'}",
                    encryption_key=Fernet.generate_key().decode(), web_rate_per_address=0,
                    web_rate_per_session=0, **extra)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    clock = ManualClock()
    settings = settings_for(tmp_path)
    async with open_app(settings, clock) as app:
        channel = WebChannel(app, settings)
        async with TestClient(TestServer(channel.application())) as client:
            yield Site(app, channel, client, clock, settings)
