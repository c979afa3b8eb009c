"""The web form in a real browser, in a phone-sized viewport: whole intakes, risk, errors, resume, Mini App.

Every page met is checked with axe-core for WCAG 2.2 AA; with `WEB_SCREENSHOTS=1` a screenshot of each
kind of page goes to `docs/screenshots/web/` (named in the README).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from bot.app import open_app
from bot.channels.web.server import WebChannel
from bot.clock import ManualClock
from bot.services.intake import Person
from flows.address import Address
from flows.answers import Tap
from tests.channels.web.browser import AA, PHONE, SCREENSHOTS, Form, launch, need_browser
from tests.channels.web.conftest import settings_for
from tests.channels.web.initdata import init_data
from tests.e2e.telegram_bot import TOKEN
from tests.support.web_form import PLAN

pytestmark = pytest.mark.asyncio(loop_scope="module")
SWEDISH = {**PLAN, "language": "sv", "q.municipality": "Jönköping"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    need_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        try:
            yield chromium
        finally:
            await chromium.close()


class Server:
    def __init__(self, server: TestServer, clock: ManualClock, app: Any) -> None:
        self.server, self.clock, self.app = server, clock, app

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


@pytest_asyncio.fixture(loop_scope="module")
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    clock = ManualClock()
    settings = settings_for(tmp_path)
    async with open_app(settings, clock) as app:
        test_server = TestServer(WebChannel(app, settings).application())
        await test_server.start_server()
        try:
            yield Server(test_server, clock, app)
        finally:
            await test_server.close()


async def accessible(page: Any) -> None:
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page, options={"runOnly": {"type": "tag", "values": AA}})
    assert results.violations_count == 0, results.generate_report()


async def shot(page: Any, name: str) -> None:
    """A full-page screenshot, in 16 colours: small enough to commit. Written with `WEB_SCREENSHOTS=1`
    only, so that a test run leaves the committed ones alone (each run's resume token differs)."""
    from PIL import Image

    if os.environ.get("WEB_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    Image.open(path).convert("RGB").quantize(colors=16, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


async def walk(form: Form, plan: dict[str, Any], *, until: str | None = None, check: bool = True,
               shots: str = "") -> list[str]:
    """Answer page after page; each page checked by axe; the steps seen, in order."""
    seen: list[str] = []
    for _ in range(80):
        step = await form.step()
        if check:
            await accessible(form.page)
        if shots and (step or "end") not in seen:
            name = (step or "result").replace(".", "-").replace("@", "-")
            if step is None or not re.match(r"(gad7|mdi|phq9)-[2-9]", name):
                await shot(form.page, f"{shots}-{len(seen):02d}-{name}")
        seen.append(step or "end")
        if step is None or step == until or (until and step.startswith(until + ".")):
            return seen
        await form.answer(plan)
    raise AssertionError("the intake did not end")


async def test_a_whole_intake_in_danish_and_in_swedish_every_page_accessible(browser: Any, server: Server) -> None:
    for programme, plan, lang, shots in (("reconnect", PLAN, "da", "da"), ("jonkoping", SWEDISH, "sv", "")):
        context = await browser.new_context(**PHONE)
        page = await context.new_page()
        await page.goto(server.url(f"/p/{programme}"))
        seen = await walk(Form(page), plan, shots=shots)
        assert seen[-1] == "end" and await page.get_attribute("html", "lang") == lang
        assert "summary" in seen and any(s.startswith(("gad7", "phq9")) for s in seen)
        await context.close()


async def test_back_and_a_correction(browser: Any, server: Server) -> None:
    context = await browser.new_context(**PHONE)
    form = Form(await context.new_page())
    await form.page.goto(server.url("/p/reconnect"))
    await walk(form, PLAN, until="q.age", check=False)
    await form.press("back")
    assert await form.step() == "q.name"
    await walk(form, PLAN, until="summary", check=False)
    await form.press("correct")
    await accessible(form.page)
    await shot(form.page, "da-correct")
    await form.press("q.name")
    await form.type("Mette")
    assert await form.step() == "summary" and "Mette" in await form.page.inner_text("main")
    await context.close()


async def test_resume_after_a_reload_and_from_the_link_in_a_fresh_browser(browser: Any, server: Server) -> None:
    context = await browser.new_context(**PHONE)
    form = Form(await context.new_page())
    await form.page.goto(server.url("/p/reconnect"))
    await walk(form, PLAN, until="q.age", check=False)
    await form.page.reload()
    assert await form.step() == "q.age"
    link = await form.page.get_attribute(".resume a", "href")
    await context.close()
    fresh = await browser.new_context(**PHONE)
    other = Form(await fresh.new_page())
    await other.page.goto(link)
    await other.page.click("form[action^='/r/'] button")  # asked first: continue on this device
    assert await other.step() == "q.age"
    await fresh.close()


async def test_a_risk_answer_shows_help_at_once_with_and_without_javascript(browser: Any, server: Server) -> None:
    for script in (True, False):
        context = await browser.new_context(**PHONE, java_script_enabled=script)
        form = Form(await context.new_page())
        await form.page.goto(server.url("/p/reconnect"))
        await walk(form, PLAN, until="mdi", check=False)
        crisis_now = form.page.locator("#crisis-now")
        assert not await crisis_now.is_visible()
        await form.page.check('input[name="mdi.6"][value="2"]')
        if script:  # at once, before anything is sent, right under the item
            assert await crisis_now.is_visible()
            assert await form.page.locator('fieldset[id="f-mdi.6"] + #crisis-now').count() == 1
            await accessible(form.page)
            await shot(form.page, "da-risk-at-once")
        else:
            assert not await crisis_now.is_visible()
            await form.fill({name: "2" if name == "mdi.6" else "1" for name in await form.items()})
            first = form.page.locator("main > section.crisis").first
            assert await first.is_visible()  # shown first, above the next question
            await shot(form.page, "da-risk-after-submit")
        await context.close()


async def test_a_missing_item_long_and_html_input(browser: Any, server: Server) -> None:
    context = await browser.new_context(**PHONE)
    form = Form(await context.new_page())
    await form.page.goto(server.url("/p/reconnect"))
    await walk(form, PLAN, until="q.name", check=False)
    long = "æ" * 10_000
    await form.type(long)
    assert await form.step() == "q.name" and await form.page.input_value("#a") == long
    await accessible(form.page)
    await form.type("<b>A</b><script>alert(1)</script>")  # 33 characters: within the name's 40
    assert await form.step() == "q.age"
    await walk(form, PLAN, until="gad7", check=False)
    await form.page.click('input[name="gad7.1"][value="1"]')
    await form.page.click("form[action='/answer'] button.send")
    error = form.page.locator(".error")
    assert await error.is_visible() and "2" in await error.inner_text()
    assert await form.page.is_checked('input[name="gad7.1"][value="1"]')
    await accessible(form.page)
    await shot(form.page, "da-missing-item")
    await walk(form, PLAN, until="summary", check=False)
    assert "<b>A</b><script>alert(1)</script>" in await form.page.inner_text("main")  # shown as text
    assert await form.page.locator("main b, main script").count() == 0
    await context.close()


async def test_mini_app_with_signed_init_data_and_forged_or_stale_refused(browser: Any, server: Server) -> None:
    user_id = 55001

    async def open_in_telegram(data: str) -> Any:
        context = await browser.new_context(**PHONE)
        page = await context.new_page()
        stub = "window.Telegram={WebApp:{initData:" + json.dumps(data) + ",ready:function(){}}};"
        await page.route("https://telegram.org/js/telegram-web-app.js",
                         lambda route: route.fulfill(body=stub, content_type="text/javascript"))
        await page.goto(server.url("/tg?p=reconnect&lang=da"))
        await page.wait_for_load_state("networkidle")
        return context, page

    chat = Person("telegram", str(user_id), language="da", address=Address("telegram", str(user_id)))
    outcome = await server.app.intake.start(chat, "reconnect")
    screen = next(s for s in outcome.screens if s.asks)
    await server.app.intake.answer(chat, Tap(screen.step, screen.version, "da"))  # the language, in the chat
    context, page = await open_in_telegram(init_data(TOKEN, user_id, server.clock.now()))
    form = Form(page)
    assert await form.step() == "info.ips"  # where the chat stopped
    await accessible(page)
    await shot(page, "da-mini-app")
    await form.press("next")
    await context.close()
    outcome = await server.app.intake.answer(chat, Tap("info.screening", outcome.state["version"] + 2, "next"))
    assert outcome.state["step"] == "info.help" and not outcome.stale  # the chat goes on from the form's place
    for data in (init_data(TOKEN, user_id, server.clock.now() - timedelta(hours=3)),
                 init_data("654321:" + "C" * 35, user_id, server.clock.now())):
        context, page = await open_in_telegram(data)
        assert await Form(page).step() is None and "Telegram" in await page.inner_text("main")
        await context.close()
