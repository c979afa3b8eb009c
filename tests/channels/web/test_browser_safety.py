"""A shared phone and a planted link, in a real browser (Chromium through Playwright, a phone-sized viewport).

The threats T36 and T37 of docs/security.md: the next person on a phone must never see or erase the
first person's answers, and a link or form planted by someone else must never let them read what a
victim then enters.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.app import open_app
from bot.channels.web.server import WebChannel
from bot.clock import ManualClock
from locales import Translator
from storage.models import Intake, Referral
from tests.channels.web.browser import PHONE, Form, launch, need_browser
from tests.channels.web.conftest import settings_for
from tests.channels.web.test_browser import Server, accessible, walk
from tests.support.web_form import PLAN

pytestmark = pytest.mark.asyncio(loop_scope="module")
t = Translator("da")


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


async def cookie(context: Any) -> str:
    return next((c["value"] for c in await context.cookies() if c["name"] == "ipsbot"), "")


async def test_a_shared_phone_person_one_finishes_person_two_starts_sees_and_deletes(browser: Any,
                                                                                     server: Server) -> None:
    phone = await browser.new_context(**PHONE, accept_downloads=True, locale="da-DK")
    form = Form(await phone.new_page())
    await form.page.goto(server.url("/p/reconnect"))
    await walk(form, PLAN, check=False)  # Ana finishes
    assert t("web.session_ended") in await form.page.inner_text("main") and not await cookie(phone)
    await accessible(form.page)
    # Bo, next, opens the poster's link on the same phone
    await form.page.goto(server.url("/p/reconnect"))
    assert await form.step() == "language" and "Ana" not in await form.page.inner_text("body")
    await form.page.goto(server.url("/mydata"))
    assert "Ana" not in await form.page.inner_text("body")
    await form.page.goto(server.url("/p/reconnect"))
    await walk(form, {**PLAN, "q.name": "Bo"}, until="q.age", check=False)
    # Bo leaves mid-way; Cy picks the phone up: asked whose it is, shown nothing of Bo's answers
    await form.page.goto(server.url("/p/reconnect"))
    assert await form.step() is None and "Bo" in await form.page.inner_text("main")
    await accessible(form.page)
    await form.page.click("form[action='/continue'] button")  # it is Bo again, after all
    await form.page.click("footer form[action='/mydata'] button")
    main = await form.page.inner_text("main")
    assert "Bo" in main and "Ana" not in main
    async with form.page.expect_download() as download:
        await form.page.click("form[action='/mydata.json'] button")
    data = json.loads(Path(await (await download.value).path()).read_text(encoding="utf-8"))
    assert [i["answers"]["name"] for i in data["intakes"]] == ["Bo"]
    await form.page.click("footer form[action='/delete'] button")
    assert "Bo" in await form.page.inner_text("main")  # whose answers "yes" erases, before it does
    await form.press("yes")
    async with server.app.sessions() as session:
        referrals = list((await session.scalars(select(Referral))).all())
        intakes = list((await session.scalars(select(Intake))).all())
    assert [r.payload["candidate"]["name"] for r in referrals] == ["Ana"]  # Ana's referral is untouched
    assert [i.state["answers"].get("name") for i in intakes] == ["Ana"]
    await form.page.click("a.help-now")  # "Help now": the programme's crisis lines, from any page
    assert "70 201 201" in await form.page.inner_text("main .crisis")
    await accessible(form.page)
    await phone.close()


async def _evil_site(html: str) -> tuple[web.AppRunner, str]:
    """Another site (another origin: `localhost`, not the form's 127.0.0.1), serving one page."""
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "localhost", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://localhost:{port}/"


async def test_a_planted_link_and_a_planted_form(browser: Any, server: Server) -> None:
    attacker = await browser.new_context(**PHONE, locale="da-DK")
    spy = Form(await attacker.new_page())
    await spy.page.goto(server.url("/p/reconnect"))
    await spy.press("da")  # stored: the attacker now has a resume link of their own
    planted = await spy.page.get_attribute(".resume a", "href")
    attacker_csrf = await spy.page.get_attribute("form[action='/answer'] input[name='csrf']", "value")
    victim = await browser.new_context(**PHONE, locale="da-DK")
    form = Form(await victim.new_page())
    await form.page.goto(planted)  # the QR code stuck over the poster: asked first, nothing set
    assert await form.step() is None and not await cookie(victim)
    await accessible(form.page)
    await form.page.click("form[action^='/r/'] button")
    await walk(form, PLAN, until="q.age", check=False)  # consents, gives her name
    # the attacker's session and link are dead: nothing the victim entered can be read
    await spy.page.goto(server.url("/f"))
    assert t("web.expired") in await spy.page.inner_text("main")
    await spy.page.goto(planted)
    assert t("web.expired") in await spy.page.inner_text("main")
    await spy.page.goto(server.url("/mydata"))
    assert "Ana" not in await spy.page.inner_text("body")
    # a form on another site that posts the attacker's CSRF token, and one that posts to a resume link
    mine = await cookie(victim)
    for action, fields in ((server.url("/answer"), {"csrf": attacker_csrf, "step": "q.age", "version": "9",
                                                    "text": "99"}),
                           (planted, {"csrf": attacker_csrf})):
        inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
        runner, url = await _evil_site(f'<form id="f" method="post" action="{action}">{inputs}</form>'
                                       '<script>document.getElementById("f").submit()</script>')
        try:
            async with form.page.expect_navigation(url=lambda u: not u.startswith("http://localhost")):
                await form.page.goto(url)
            assert t("web.csrf") in await form.page.inner_text("main")
        finally:
            await runner.cleanup()
        assert await cookie(victim) == mine  # still her own session
    await form.page.goto(server.url("/f"))
    assert await form.step() == "q.age"  # her intake, as she left it
    await attacker.close()
    await victim.close()
