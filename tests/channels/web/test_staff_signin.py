"""Sign-in to the staff area: a passkey registered with an invite, passkey sign-in, sessions that end
(30 minutes idle, 12 hours in all, removal), rotation, CSRF, one-time links from the chat."""

from __future__ import annotations

from bot.services import staff_sessions
from tests.channels.web.staff_kit import (
    Passkey,
    StaffSite,
    audit,
    csrf_in,
    invite,
    joined,
    register,
    sign_in,
    staff_site,
)
from tests.support.people import tg

__all__ = ["staff_site"]


async def test_an_invite_registers_a_passkey_and_the_passkey_signs_in(staff_site: StaffSite) -> None:
    browser, passkey = await joined(staff_site, "consultant")
    async with browser:
        home = await browser.get("/staff", allow_redirects=False)
        assert home.status == 303 and home.headers["Location"] == "/staff/referrals"
        page = await browser.get("/staff/referrals")
        assert page.status == 200
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        async with staff_site.app.uow() as uow:
            staff = (await uow.staff.all())[-1]
            assert staff.role == "consultant" and staff.active
            assert [c.sign_count for c in await uow.staff_web.credentials_of(staff.id)] == [0]
        other = staff_site.browser()
        async with other:
            answer = await sign_in(other, passkey)
            assert answer.status == 200, await answer.text()
            assert (await other.get("/staff/referrals")).status == 200
        assert len(await audit(staff_site, "staff.signed_in")) == 2


async def test_a_used_invite_registers_nothing(staff_site: StaffSite) -> None:
    code = await invite(staff_site, "peer")
    first, second = staff_site.browser(), staff_site.browser()
    async with first, second:
        assert (await register(staff_site, first, code, Passkey())).status == 200
        csrf = csrf_in(await (await second.get(f"/staff/register?code={code}")).text())
        start = await second.post("/staff/register/options", json={"csrf": csrf, "code": code})
        assert start.status == 403  # no passkey is made for a used invite
        assert (await second.post("/staff/register/options", json={"csrf": csrf, "code": "guess"})).status == 403
        assert (await second.get("/staff/slots", allow_redirects=False)).status == 303


async def test_a_forged_or_replayed_assertion_is_refused(staff_site: StaffSite) -> None:
    browser, passkey = await joined(staff_site, "consultant")
    thief = Passkey(credential_id=passkey.credential_id, user=passkey.user)  # the id, not the key
    other = staff_site.browser()
    async with browser, other:
        assert (await sign_in(other, thief)).status == 403
        csrf = csrf_in(await (await other.get("/staff/login")).text())
        start = await (await other.post("/staff/login/options", json={"csrf": csrf})).json()
        good = passkey.get(start["options"])
        assert (await other.post("/staff/login/finish", json={"csrf": csrf, "ticket": start["ticket"],
                                                              "credential": good})).status == 200
        replay = await other.post("/staff/login/finish", json={"csrf": csrf, "ticket": start["ticket"],
                                                               "credential": good})
        assert replay.status == 403  # the challenge was used up
        wrong_site = staff_site.browser()
        async with wrong_site:
            csrf = csrf_in(await (await wrong_site.get("/staff/login")).text())
            start = await (await wrong_site.post("/staff/login/options", json={"csrf": csrf})).json()
            phished = passkey.get(start["options"], origin="https://evil.example")
            answer = await wrong_site.post("/staff/login/finish", json={"csrf": csrf, "ticket": start["ticket"],
                                                                        "credential": phished})
            assert answer.status == 403
    assert len(await audit(staff_site, "staff.web.denied")) >= 3


async def test_sessions_end_idle_after_30_minutes_and_after_12_hours(staff_site: StaffSite) -> None:
    browser, _ = await joined(staff_site, "consultant")
    async with browser:
        for _ in range(30):  # a request every 25 minutes keeps it alive, up to 12 hours
            staff_site.clock.advance(minutes=25)
            if (await browser.get("/staff/referrals", allow_redirects=False)).status != 200:
                break
        ended = await audit(staff_site, "staff.session_ended")
        assert [e.detail for e in ended] == ["absolute"]
    idle, _ = await joined(staff_site, "consultant")
    async with idle:
        staff_site.clock.advance(minutes=31)
        answer = await idle.get("/staff/referrals", allow_redirects=False)
        assert answer.status == 303 and answer.headers["Location"] == "/staff/login"
        assert [e.detail for e in await audit(staff_site, "staff.session_ended")] == ["absolute", "idle"]


async def test_signing_in_again_rotates_the_session(staff_site: StaffSite) -> None:
    browser, passkey = await joined(staff_site, "consultant")
    async with browser:
        before = browser.session.cookie_jar.filter_cookies(browser.make_url("/staff"))["ipsbot_staff"].value
        assert (await sign_in(browser, passkey)).status == 200
        after = browser.session.cookie_jar.filter_cookies(browser.make_url("/staff"))["ipsbot_staff"].value
        assert before != after
        async with staff_site.app.uow() as uow:
            assert await staff_sessions.current(uow, before, staff_site.clock.now()) is None
            assert await staff_sessions.current(uow, after, staff_site.clock.now()) is not None


async def test_a_post_without_the_csrf_token_or_from_another_site_is_refused(staff_site: StaffSite) -> None:
    browser, _ = await joined(staff_site, "consultant")
    async with browser:
        assert (await browser.post("/staff/logout", data={"csrf": "x"})).status == 403
        page = await (await browser.get("/staff/referrals")).text()
        cross = await browser.post("/staff/logout", data={"csrf": csrf_in(page)},
                                   headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status == 403
        out = await browser.post("/staff/logout", data={"csrf": csrf_in(page)}, allow_redirects=False)
        assert out.status == 303
        assert (await browser.get("/staff/referrals", allow_redirects=False)).status == 303


async def test_a_one_time_link_from_the_chat_signs_a_telegram_consultant_in_once(staff_site: StaffSite) -> None:
    app = staff_site.app
    who = tg(4242)
    async with app.uow() as uow:
        code = await app.intake.casework.invite(uow, role="consultant", programme_id="pilot", name="Tove",
                                                now=staff_site.clock.now())
        await app.intake.casework.join(uow, who, code, staff_site.clock.now())
        sent = await staff_sessions.send_link(uow, app.intake.casework.notifier, who, "http://localhost",
                                              staff_site.clock.now())
        assert sent is not None
        message = await uow.outbox.get(sent)
        assert message is not None and message.payload["to"] == {"channel": "telegram", "id": "4242"}
        text = message.payload["screens"][0]["text"]
    token = text.split("/staff/link?t=")[1].split()[0]
    browser = staff_site.browser()
    async with browser:
        page = await (await browser.get(f"/staff/link?t={token}")).text()
        answer = await browser.post("/staff/link", data={"csrf": csrf_in(page), "t": token}, allow_redirects=False)
        assert answer.status == 303
        assert (await browser.get("/staff/referrals")).status == 200
    again = staff_site.browser()
    async with again:
        page = await (await again.get(f"/staff/link?t={token}")).text()
        assert (await again.post("/staff/link", data={"csrf": csrf_in(page), "t": token})).status == 403
    staff_site.clock.advance(minutes=11)
    async with app.uow() as uow:  # a link not used in time is worth nothing
        sent = await staff_sessions.send_link(uow, app.intake.casework.notifier, who, "http://x",
                                              staff_site.clock.now())
        message = await uow.outbox.get(sent or 0)
        late = message.payload["screens"][0]["text"].split("t=")[1].split()[0] if message else ""
    staff_site.clock.advance(minutes=11)
    async with app.uow() as uow:
        assert await staff_sessions.use_link(uow, late, staff_site.clock.now()) is None


async def test_passkey_ceremonies_from_one_address_are_limited(staff_site: StaffSite) -> None:
    browser = staff_site.browser()
    async with browser:
        csrf = csrf_in(await (await browser.get("/staff/login")).text())
        answers = [(await browser.post("/staff/login/options", json={"csrf": csrf})).status for _ in range(31)]
        assert answers[:30] == [200] * 30 and answers[30] == 429


async def test_a_body_that_cannot_be_read_is_a_400_not_a_500(staff_site: StaffSite) -> None:
    browser = staff_site.browser()
    async with browser:
        for path in ("/staff/login/options", "/staff/register/finish", "/staff/verify/options"):
            answer = await browser.post(path, data=b"\xff{not json", headers={"Content-Type": "application/json"})
            assert answer.status == 400, path
            assert "Content-Security-Policy" in answer.headers
        broken = await browser.post("/staff/link", data=b"--x\r\nbroken",
                                    headers={"Content-Type": "multipart/form-data; boundary=y"})
        assert broken.status == 400
