"""The staff area in Chromium with a virtual authenticator (the CDP `WebAuthn` domain): a consultant
registers a passkey, signs in with it, sees a new referral, claims it and records an outcome; a peer
sees their times; a coordinator presses "Seen" on an urgent case. Every page passes axe (WCAG 2.2 AA)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.app import open_app
from bot.channels.web.server import WebChannel
from bot.clock import ManualClock
from storage.models import ReferralStatus
from tests.channels.web.browser import AA, launch, need_browser
from tests.channels.web.conftest import settings_for
from tests.channels.web.staff_kit import OTHER, PILOT, StaffSite, invite, referral

AUTHENTICATOR = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                 "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[StaffSite]:
    port = free_port()
    programmes = tmp_path / "programmes"
    programmes.mkdir()
    (programmes / "pilot.yaml").write_text(PILOT, encoding="utf-8")
    (programmes / "other.yaml").write_text(OTHER, encoding="utf-8")
    clock = ManualClock()
    # a passkey needs a secure context: http://localhost is one, and the origin carries the port
    settings = settings_for(tmp_path, web_url=f"http://localhost:{port}", programmes_dir=programmes)
    async with open_app(settings, clock) as app:
        server = TestServer(WebChannel(app, settings).application(), host="127.0.0.1", port=port)
        await server.start_server()
        try:
            yield StaffSite(app, server, clock, settings)
        finally:
            await server.close()


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    need_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            yield browser
        finally:
            await browser.close()


async def device(chromium: Any) -> Any:
    """A browser profile with its own platform authenticator (a passkey on this device)."""
    context = await chromium.new_context(locale="en-GB")
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    return page


async def accessible(page: Any) -> None:
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page, options={"runOnly": {"type": "tag", "values": AA}})
    assert results.violations_count == 0, results.generate_report()


async def registered(site: StaffSite, chromium: Any, role: str) -> Any:
    page = await device(chromium)
    base = site.settings.web_url
    await page.goto(f"{base}/staff/register?code={await invite(site, role)}")
    await accessible(page)
    await page.get_by_role("button", name="Create passkey").click()
    home = {"consultant": "referrals", "peer": "slots", "coordinator": "urgent"}[role]
    await page.wait_for_url(f"{base}/staff/{home}")
    return page


async def test_a_consultant_signs_in_with_a_passkey_claims_and_records_an_outcome(site: StaffSite,
                                                                                  chromium: Any) -> None:
    base = site.settings.web_url
    page = await registered(site, chromium, "consultant")
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{base}/staff/login")
    await accessible(page)
    await page.get_by_role("button", name="Sign in with passkey").click()  # the passkey made above
    await page.wait_for_url(f"{base}/staff/referrals")
    made = await referral(site, 4001)
    await page.reload()
    assert await page.get_by_role("heading", name=f"Referral R-{made.id}").count() == 1
    await accessible(page)
    await page.get_by_role("button", name="Claim").click()
    await page.wait_for_load_state()
    await page.goto(f"{base}/staff/cases")
    await accessible(page)
    await page.keyboard.press("Tab")  # the page can be worked with the keyboard: focus lands on a link first
    assert await page.evaluate("document.activeElement.tagName") == "A"
    await page.get_by_label("Outcome").select_option(label="Ordinary job, full time")
    await page.get_by_role("button", name="Record outcome").click()
    await page.wait_for_load_state()
    async with site.app.uow() as uow:
        stored = await uow.referrals.get(made.id)
        assert stored is not None and stored.status == ReferralStatus.CLAIMED.value
        assert stored.case_outcome == "ordinary_full"


async def test_a_peer_publishes_a_time_and_sees_it(site: StaffSite, chromium: Any) -> None:
    page = await registered(site, chromium, "peer")
    await accessible(page)
    day = (site.clock.now() + timedelta(days=3)).date().isoformat()
    await page.get_by_label("Day").fill(day)
    await page.get_by_label("Time").select_option(label="10:30")
    await page.get_by_label("Place").select_option(label="by video")
    await page.get_by_role("button", name="Add a time").click()
    await page.wait_for_load_state()
    assert await page.get_by_role("cell", name="Free").count() == 1
    await accessible(page)
    async with site.app.uow() as uow:
        member = (await uow.staff.all())[-1]
        (slot,) = await uow.slots.upcoming_of(member.id, site.clock.now())
        assert slot.place == "video" and slot.minutes == 30


async def test_a_coordinator_presses_seen_on_an_urgent_case(site: StaffSite, chromium: Any) -> None:
    page = await registered(site, chromium, "coordinator")
    made = await referral(site, 4002, {"phq9.9": "2"})  # no consultant: the coordinator is told
    await page.goto(f"{site.settings.web_url}/staff/urgent")
    await accessible(page)
    await page.get_by_role("button", name="Seen — I will make contact").first.click()
    await page.wait_for_load_state()
    async with site.app.uow() as uow:
        rows = await uow.escalations.of_referral(made.id)
        assert rows and rows[-1].seen_at is not None
    await page.goto(f"{site.settings.web_url}/staff/dashboard")
    await accessible(page)
