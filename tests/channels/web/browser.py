"""A real browser (Debian's Chromium through Playwright) on the web channel, for the browser tests.

`launch` skips with the reason when no browser can be had, and fails under `CI=true` (`.ci/run`
installs Chromium). One browser per test module keeps the suite's time modest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.walk import Fill, PlanAnswer, Press, Question
from tests.support.web_form import NAV, web_plan

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1, "is_mobile": True, "has_touch": True}
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots" / "web"
AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def unavailable() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def need_browser() -> None:
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


async def launch(playwright: Any) -> Any:
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)


class Form:
    """The browser's page, read and filled like a person would (clicks and typing)."""

    def __init__(self, page: Any) -> None:
        self.page = page

    async def step(self) -> str | None:
        field = self.page.locator('form[action="/answer"] input[name="step"]')
        return await field.get_attribute("value") if await field.count() else None

    async def items(self) -> list[str]:
        names: list[str] = await self.page.eval_on_selector_all(
            'form[action="/answer"] input[type=radio]', "els => [...new Set(els.map(e => e.name))]")
        return names

    async def buttons(self) -> list[str]:
        values: list[str] = await self.page.eval_on_selector_all(
            'form[action="/answer"] button[name="b"]', "els => els.map(e => e.value)")
        return values

    async def press(self, value: str) -> None:
        await self.page.click(f'form[action="/answer"] button[name="b"][value="{value}"]')

    async def type(self, text: str) -> None:
        await self.page.fill("#a", text)
        await self.page.click("form[action='/answer'] button.send")

    async def fill(self, scores: dict[str, str]) -> None:
        for name, score in scores.items():
            await self.page.check(f'input[name="{name}"][value="{score}"]')
        await self.page.click("form[action='/answer'] button.send")

    async def current(self) -> Question | None:
        """The page as the walker sees it (tests/support/walk.py); None once no question is asked."""
        step = await self.step()
        if step is None:
            return None
        buttons = await self.buttons()
        return Question(step.partition("@")[0], tuple(b for b in buttons if b not in NAV),
                        tuple(b for b in buttons if b in NAV), typed=bool(await self.page.locator("#a").count()),
                        items=tuple(await self.items()), at=step)

    async def send(self, answer: PlanAnswer) -> None:
        if isinstance(answer, Fill):
            await self.fill(answer.values)
        elif isinstance(answer, Press):
            await self.press(answer.button)
        else:
            await self.type(answer.text)

    async def answer(self, plan: dict[str, Any], score: str = "1") -> None:
        question = await self.current()
        assert question is not None, "no question on this page"
        for answer in web_plan(plan, score).answer(question):
            await self.send(answer)
