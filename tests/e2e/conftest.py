"""The Telegram runtime the end-to-end tests run on: every test that asks for `framework` runs on both."""

from __future__ import annotations

import pytest

from bot.settings import FRAMEWORKS


@pytest.fixture(scope="module", params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)
