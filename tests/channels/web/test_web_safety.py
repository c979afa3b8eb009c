"""The web form on a shared phone and against a planted link; requests that must not make it fail.

Driven through the HTML like a browser without JavaScript (`tests/channels/web/client.py`); the same scenarios
run in Chromium in `tests/channels/web/test_browser_safety.py`. docs/security.md, T36-T38, names these.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text

from bot.channels.web import tokens
from locales import Translator
from storage.models import Intake, Referral, RiskEvent
from tests.channels.web.client import Page, WebUser, parse
from tests.channels.web.conftest import Site
from tests.channels.web.initdata import init_data
from tests.e2e.telegram_bot import TOKEN
from tests.support.net import free_port
from tests.support.web_form import PLAN, finish, walk_to

CROSS_SITE = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}


async def _count(site: Site, table: str) -> int:
    async with site.app.sessions() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def _intakes(site: Site) -> list[Intake]:
    async with site.app.sessions() as session:
        return list((await session.scalars(select(Intake).order_by(Intake.id))).all())


def _link(page: Page | None) -> str:
    found = re.search(r'<a href="http://[^/]+(/r/[^"]+)"', page.html if page else "")
    assert found is not None, page and page.text[:300]
    return found.group(1)


def _cookie(client: Any) -> str:
    jar = client.session.cookie_jar if isinstance(client, TestClient) else client.cookie_jar
    return next((c.value for c in jar if c.key == "ipsbot"), "")


def browser(site: Site, **cookies: str) -> aiohttp.ClientSession:
    """Another browser on the same server (closing it leaves the server running)."""
    session = aiohttp.ClientSession(base_url=str(site.client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True))
    session.cookie_jar.update_cookies(cookies)
    return session


# --- a shared phone ------------------------------------------------------------------------------

async def test_a_finished_intake_ends_the_session_and_the_next_person_starts_clean(site: Site) -> None:
    phone = WebUser(site.client)
    await phone.get("/p/reconnect")
    page = await finish(phone)  # Ana finishes
    assert Translator("da")("web.session_ended") in page.text and not _cookie(site.client)  # the device forgot
    assert not any(f.action in ("/mydata", "/delete") for f in page.forms)
    ana_link = _link(page)
    # the next person on the same phone opens the poster's link: a new intake, nothing of Ana's
    page = await phone.get("/p/reconnect")
    assert page.step == "language" and "Ana" not in page.text
    assert (await phone.get("/mydata")).status == 410 and (await phone.get("/f")).status == 410
    await phone.get("/p/reconnect")
    await walk_to(phone, "q.age", {**PLAN, "q.name": "Bo"})
    page = await phone.post("/mydata", {})
    assert "Bo" in page.text and "Ana" not in page.text
    response = await site.client.post("/mydata.json", data=page.form("/mydata.json").hidden)
    data = json.loads(await response.text())
    assert [i["answers"]["name"] for i in data["intakes"]] == ["Bo"]  # only the current intake's person
    await phone.get("/delete")
    page = await phone.post("/delete", {})
    assert "Bo" in page.text and "Ana" not in page.text  # says whose answers "yes" erases
    await phone.press("yes")
    async with site.app.sessions() as session:
        referrals = list((await session.scalars(select(Referral))).all())
    assert len(referrals) == 1 and referrals[0].payload["candidate"]["name"] == "Ana"  # Ana's referral stays
    # Ana, later, with her own link on her own phone: her result, and "see my data" for a short visit
    async with browser(site) as other:
        ana = WebUser(other)  # type: ignore[arg-type]
        await ana.get(ana_link)
        page = await ana.post(ana_link, {})
        assert page.status == 200 and Translator("da")("web.finished_visit") in page.text
        assert any(f.action == "/mydata" for f in page.forms)


async def test_declining_also_ends_the_session_on_the_device_and_says_so_truthfully(site: Site) -> None:
    phone = WebUser(site.client)
    await phone.get("/p/reconnect")
    await walk_to(phone, "consent")
    page = await phone.press("no")
    assert Translator("da")("web.session_ended_declined") in page.text and not _cookie(site.client)
    assert Translator("da")("web.session_ended") not in page.text  # "your answers are saved" would be false
    assert (await phone.get("/p/reconnect")).step == "language"


async def test_an_intake_under_way_asks_whose_it_is_before_showing_anything(site: Site) -> None:
    phone = WebUser(site.client)
    await phone.get("/p/reconnect")
    await walk_to(phone, "q.situation")  # Ana, of Vejle, leaves the phone mid-way
    page = await phone.get("/p/reconnect")
    assert "Ana" in page.text and not any(f.action == "/answer" for f in page.forms)
    assert "Vejle" not in page.text and "/r/" not in page.html  # nothing of her answers, not her link
    page = await phone.post("/new", {})  # "Start as someone new"
    assert page.step == "language" and "Ana" not in page.text
    assert (await phone.get("/mydata")).status == 410  # nothing of Ana's from here
    assert (await phone.get("/delete")).status == 410
    (intake,) = await _intakes(site)
    assert intake.status == "active" and intake.state["answers"]["name"] == "Ana"  # left as it was


async def test_a_kiosks_history_shows_nothing_after_half_an_hour_without_asking(site: Site) -> None:
    phone = WebUser(site.client)
    await phone.get("/p/reconnect")
    await walk_to(phone, "q.situation")  # Ana, of Vejle, leaves the page
    assert (await phone.get("/f")).step == "q.situation"  # a reload by Ana herself: no question
    site.clock.advance(minutes=31)
    for path in ("/f", "/mydata", "/delete"):  # the next person, from the browser's history
        page = await phone.get(path)
        assert page.status == 200 and "Ana" in page.text and "Vejle" not in page.text, path
        assert not any(f.action in ("/answer", "/mydata.json") for f in page.forms), path
    page = await phone.post("/continue", {})  # "Continue as Ana": it is her
    assert page.step == "q.situation"
    assert (await phone.get("/mydata")).status == 200 and "Vejle" in (phone.page.text if phone.page else "")


async def test_a_cookieless_programme_link_stores_nothing_until_the_first_answer(site: Site) -> None:
    for _ in range(3):
        page = await WebUser(site.fresh_client()).get("/p/reconnect")
        assert page.status == 200 and page.step == "language"
    await site.client.get("/help?p=reconnect&lang=da")
    assert await _count(site, "candidates") == 0 and await _count(site, "intakes") == 0
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    page = await user.post("/lang", {"lang": "sv"})  # a language switch on the first page: still nothing
    assert '<html lang="sv">' in page.html and await _count(site, "candidates") == 0
    await user.press("da")
    assert await _count(site, "candidates") == 1 and await _count(site, "intakes") == 1


async def test_a_get_changes_nothing(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    await walk_to(user, "q.age")
    (before,) = await _intakes(site)
    for path in ("/delete", "/mydata", "/f", "/help?p=reconnect&lang=da", "/p/reconnect"):
        assert (await user.get(path)).status == 200
    (after,) = await _intakes(site)
    assert after.state == before.state and after.state_version == before.state_version
    assert after.updated_at == before.updated_at


# --- a planted link ------------------------------------------------------------------------------

async def test_a_planted_resume_link_stops_working_once_the_victim_uses_it(site: Site) -> None:
    attacker = WebUser(site.client)
    await attacker.get("/p/reconnect")
    page = await attacker.press("da")  # stored: the attacker has a link of their own
    planted = _link(page)
    async with browser(site) as phone:
        victim = WebUser(phone)  # type: ignore[arg-type]
        page = await victim.get(planted)  # the QR code stuck over the poster
        assert page.status == 200 and not _cookie(phone)  # asks first; no cookie from a GET
        await victim.post(planted, {})
        page = await walk_to(victim, "q.age")  # consent and a name
        # the attacker's link and cookie are dead: the victim's answers are out of reach
        assert (await attacker.get("/f")).status == 410
        assert (await site.client.get(planted)).status == 410
        mine = await attacker.client.post("/mydata.json", data={"csrf": page.answer.hidden["csrf"]})
        assert mine.status in (403, 410) and "Ana" not in await mine.text()


async def test_consent_rotates_the_token(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    page = await walk_to(user, "consent")
    before, cookie = _link(page), _cookie(site.client)
    page = await user.press("yes")
    assert _link(page) != before and _cookie(site.client) != cookie
    async with browser(site) as fresh:
        assert (await fresh.get(before)).status == 410  # the old link is dead
        other = WebUser(fresh)  # type: ignore[arg-type]
        page = await other.get(_link(page))  # the new one works
        assert page.status == 200 and any(f.action.startswith("/r/") for f in page.forms)


async def test_a_post_acts_on_the_cookies_session_never_on_one_the_form_names(site: Site) -> None:
    attacker = WebUser(site.client)
    await attacker.get("/p/reconnect")
    await walk_to(attacker, "q.name")
    attack = attacker.page.answer.hidden if attacker.page else {}
    attacker_token = tokens.renewed(tokens.parse(_cookie(site.client), site.clock.now()), site.clock.now())  # type: ignore[arg-type]
    async with browser(site) as phone:
        victim = WebUser(phone)  # type: ignore[arg-type]
        await victim.get("/p/reconnect")
        await walk_to(victim, "q.name")
        # a form on the attacker's site names the attacker's session and CSRF token
        forged = {**attack, "s": attacker_token, "text": "Victim"}
        response = await phone.post("/answer", data=forged, headers=CROSS_SITE)
        assert response.status == 403
        response = await phone.post("/answer", data=forged)  # no Origin at all: the cookie decides
        assert response.status == 403
        async with browser(site) as cookieless:
            response = await cookieless.post("/answer", data=forged)
            assert response.status == 410  # a browser session in the form is not a session
        # a cross-site POST to a resume link cannot log the victim in either
        cookie = _cookie(phone)
        response = await phone.post(_link(attacker.page), data={}, headers=CROSS_SITE)
        assert response.status == 403 and _cookie(phone) == cookie
    names = sorted(str(i.state["answers"].get("name")) for i in await _intakes(site))
    assert names == ["None", "None"]  # nobody's intake took the forged answer


async def test_a_token_is_dead_after_delete(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    page = await walk_to(user, "q.age")
    link, cookie, csrf = _link(page), _cookie(site.client), page.answer.hidden["csrf"]
    await user.get("/delete")
    await user.post("/delete", {})
    await user.press("yes")
    assert await _count(site, "candidates") == 0
    async with browser(site, ipsbot=cookie) as replay:
        for path, data in (("/answer", {**page.answer.hidden, "text": "30"}), ("/mydata", {"csrf": csrf}),
                           ("/mydata.json", {"csrf": csrf}), ("/delete", {"csrf": csrf}),
                           ("/lang", {"csrf": csrf, "lang": "sv"}), (link, {"csrf": csrf})):
            response = await replay.post(path, data=data)
            assert response.status in (403, 410), path
        for path in ("/f", "/mydata", "/delete", link):
            assert (await replay.get(path)).status == 410, path
        assert (await replay.get("/p/reconnect")).status == 200  # a new, empty start
    assert await _count(site, "candidates") == 0 and await _count(site, "intakes") == 0  # nothing created


async def test_a_mini_app_session_ends_24_hours_after_its_init_data(site: Site) -> None:
    response = await site.client.post("/tg/auth", data={"init_data": init_data(TOKEN, 777002, site.clock.now()),
                                                        "p": "reconnect"})
    user = WebUser(site.client)
    user.page = parse(response.status, await response.text())
    first = user.page.answer.hidden["s"]
    site.clock.advance(hours=23)
    page = await user.press("da")
    assert page.status == 200 and page.answer.hidden["s"] == first  # used, yet not renewed: no sliding
    site.clock.advance(hours=1, minutes=1)
    assert (await user.press("next")).status == 410


# --- no request makes the server fail ------------------------------------------------------------

async def _raw(client: TestClient[Any, Any], path: str, body: bytes, content_type: str) -> aiohttp.ClientResponse:
    return await client.post(path, data=body, headers={"Content-Type": content_type})


async def test_requests_that_failed_get_a_400_page_in_the_persons_language(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    page = await walk_to(user, "q.age")
    hidden = page.answer.hidden
    bad = Translator("da")("web.bad_request")
    cases: list[tuple[str, dict[str, str]]] = [
        ("/answer", {**hidden, "version": "²"}),
        ("/answer", {**hidden, "version": "9" * 4400}),
        ("/answer", {**hidden, "text": "7" * 5000}),  # a typed age past Python's int-string limit
    ]
    for path, data in cases:
        response = await site.client.post(path, data=data)
        body = await response.text()
        assert response.status == 400 and bad in body and '<html lang="da">' in body, path
    choice = await walk_to(user, "q.situation")
    response = await site.client.post("/answer", data={**choice.answer.hidden, "text": "1" * 5000})
    assert response.status == 400 and bad in await response.text()
    for body, kind in ((b"--x\r\nbroken", "multipart/form-data; boundary=\"unclosed"),
                       (b"text=\xff\xfe\xfa", "application/x-www-form-urlencoded; charset=utf-8")):
        response = await _raw(site.client, "/answer", body, kind)
        assert response.status == 400 and bad in await response.text()
    response = await site.client.get("/r/w.abc.9999999999.\u00e9\u00e9")  # a non-ASCII MAC
    assert response.status == 400
    assert (await user.get("/f")).step == "q.situation"  # nothing changed on the way


async def test_errors_carry_the_security_headers(site: Site, monkeypatch: Any) -> None:
    responses = [await site.client.get("/no/such/page"), await site.client.put("/answer", data="x"),
                 await site.client.post("/answer", data={"text": "x" * 70_000})]
    user = WebUser(site.client)
    await user.get("/p/reconnect")

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a fault injected into the service")

    monkeypatch.setattr(site.app.intake, "start", broken)
    responses.append(await site.client.post("/answer", data={**(user.page.answer.hidden if user.page else {}),
                                                             "b": "da"}))
    assert [r.status for r in responses] == [404, 405, 413, 500]
    assert responses[1].headers["Allow"] == "POST"
    for response in responses:
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Traceback" not in await response.text() and "fault injected" not in await response.text()


async def test_the_webhook_server_refuses_a_body_over_64_kb(site: Site) -> None:
    import asyncio

    from bot.channels.telegram.runtime import run_webhook

    handled: list[dict[str, Any]] = []

    class Runtime:
        app = site.app

        async def handle(self, raw: dict[str, Any], folded: int = 0) -> BaseException | None:
            handled.append(raw)
            return None

    port = free_port()
    settings = site.settings.model_copy(update={"webhook_url": f"http://127.0.0.1:{port}/hook",
                                                "webhook_port": port, "web_url": None})
    stopping = asyncio.Event()
    task = asyncio.create_task(run_webhook(Runtime(), settings, stopping, secret="s3", register=False))  # type: ignore[arg-type]
    try:
        headers = {"X-Telegram-Bot-Api-Secret-Token": "s3", "Content-Type": "application/json"}
        async with aiohttp.ClientSession() as http:
            for _ in range(50):  # until it listens
                try:
                    small = await http.post(f"http://127.0.0.1:{port}/hook", json={"update_id": 1}, headers=headers)
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            big = await http.post(f"http://127.0.0.1:{port}/hook", headers=headers,
                                  data=json.dumps({"update_id": 2, "pad": "x" * 70_000}))
        assert small.status == 200 and big.status == 413 and [u["update_id"] for u in handled] == [1]
    finally:
        stopping.set()
        await task


# --- help, always ---------------------------------------------------------------------------------

async def test_help_now_on_every_page_and_crisis_lines_on_the_result(site: Site) -> None:
    user = WebUser(site.client)
    page = await user.get("/p/reconnect")
    for _ in range(80):
        assert 'class="help-now" href="/help?p=reconnect&amp;lang=da"' in page.html, page.step
        if not any(f.action == "/answer" for f in page.forms):
            break
        from tests.support.web_form import answer_page

        page = await answer_page(user, PLAN)
    lines = site.app.registry.get("reconnect").crisis_for(24)  # type: ignore[union-attr]
    assert all(line.phone in page.text for line in lines)  # the result page: whom to call
    async with browser(site) as other:
        help_page = await WebUser(other).get("/help?p=reconnect&lang=da")  # type: ignore[arg-type]
    assert help_page.status == 200 and help_page.crisis()
    assert all(line.phone in help_page.text for line in site.app.registry.get("reconnect").crisis_for(None))  # type: ignore[union-attr]
    for path in ("/no/such/page", "/r/w.x.1.y"):
        assert 'class="help-now"' in await (await site.client.get(path)).text()


async def test_a_risk_answer_on_an_expired_page_or_with_a_bad_csrf_token_shows_crisis_help(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    page = await walk_to(user, "mdi")
    risky = {**page.answer.hidden, **{name: "0" for name in page.answer.radios}, "mdi.6": "4"}
    # out of date (the token rotated in another tab, say): a bad CSRF token, from our own page
    response = await site.client.post("/answer", data={**risky, "csrf": "old"},
                                      headers={"Sec-Fetch-Site": "same-origin"})
    refused = parse(response.status, await response.text())
    assert response.status == 403 and refused.crisis()
    assert refused.html.find('class="crisis"') < refused.html.find(Translator("da")("web.csrf")[:20])
    async with site.app.sessions() as session:
        risks = list((await session.scalars(select(RiskEvent))).all())
    # not stored: a page not made for this cookie's session may be another person's (a shared phone), and
    # their risk answer must not land in this intake; the crisis help is what can safely be given
    assert risks == []
    # expired: no session to store it under, yet the help is there, in the page's language
    async with browser(site) as stranger:
        response = await stranger.post("/answer", data=risky)
        expired = parse(response.status, await response.text())
        assert response.status == 410 and expired.crisis() and '<html lang="da">' in expired.html
        lines = site.app.registry.get("reconnect").crisis_for(None)  # type: ignore[union-attr]
        assert all(line.phone in expired.text for line in lines)


def test_the_tokens_refuse_what_they_cannot_read() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 3, 5, tzinfo=UTC)
    for token in ("w.abc.9999999999.\u00e9" * 1, "w.abc.²²²²²²²².x", "w.abc." + "9" * 5000 + ".x", "x" * 500, ""):
        assert tokens.parse(token, now) is None
    assert not tokens.csrf_ok(tokens.new_session("w", now), "\udcff\u00e9")
    session = tokens.new_session("w", now)
    assert tokens.parse(tokens.token(session), now) == session
    assert tokens.parse(tokens.token(session), now + timedelta(days=31)) is None


async def test_a_forged_staff_press_with_a_strange_version_is_ignored() -> None:
    from bot.channels.telegram.render import parse_callback

    assert parse_callback("case.1|²|export") is None and parse_callback("case.1|" + "9" * 5000 + "|x") is None
    assert parse_callback("case.1|3|export") is not None





async def test_a_malformed_origin_is_another_site_not_a_failure(site: Site) -> None:
    user = WebUser(site.client)
    await user.get("/p/reconnect")
    for path in ("/answer", "/tg/auth", "/mydata"):
        response = await site.client.post(path, data={"b": "da"}, headers={"Origin": "http://["})
        assert response.status in (400, 403, 410), (path, response.status)


async def test_an_old_data_or_delete_page_on_a_kiosk_asks_whose_before_it_acts(site: Site) -> None:
    """Found in review: the POSTs behind "See my data" and "Delete my answers" asked nothing."""
    phone = WebUser(site.client)
    await phone.get("/p/reconnect")
    page = await walk_to(phone, "q.situation")  # Ana, of Vejle, leaves the page open
    mydata = page.form("/mydata")
    site.clock.advance(minutes=31)  # the next person presses the open page's "See my data"
    shown = await phone.post("/mydata", {}, mydata)
    assert shown.status == 200 and "Vejle" not in shown.text and "Ana" in shown.text
    assert not any(f.action == "/mydata.json" for f in shown.forms)
    response = await site.client.post("/mydata.json", data=mydata.hidden)
    assert "Vejle" not in await response.text()
