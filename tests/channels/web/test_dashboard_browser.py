"""The dashboard page in a real browser: WCAG 2.2 AA by axe-core, and not one request for anything outside
the file (the steering group's copy opens offline)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.exports.dashboard_render import html_page
from tests.channels.web.browser import AA, launch, need_browser
from tests.unit.test_dashboard import dashboard


@pytest.mark.parametrize("lang", ["da", "sv", "en"])
async def test_the_dashboard_page_passes_axe_and_fetches_nothing(lang: str) -> None:
    need_browser()
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        try:
            page = await chromium.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            await page.set_content(html_page(dashboard(), lang), wait_until="load")
            assert requests == []
            assert await page.locator("svg[role=img]").count() == 4
            # each chart is named by the caption of the table beside it
            names: list[Any] = await page.eval_on_selector_all(
                "svg[role=img]", "els => els.map(e => document.getElementById("
                "e.getAttribute('aria-labelledby')).textContent)")
            assert all(names) and len(set(names)) == 4
            results = await Axe().run(page, options={"runOnly": {"type": "tag", "values": AA}})
            assert results.violations_count == 0, results.generate_report()
        finally:
            await chromium.close()
