"""The staff area attacked (issue 22's review, docs/security.md T41-T42), its sign-in and sessions: the
ceremonies' limits behind a proxy, a passkey id registered twice, invite codes guessed, a removed member's
session, fixation and a planted cookie, passkey answers that must fail, the sign-in link kept out of the
logs. A test of a finding failed before its fix; the others are probes that held."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.channels.web.server import WebChannel
from bot.services import staff_sessions
from storage.models import OutboxMessage
from tests.channels.web.staff_kit import (
    ORIGIN,
    Browser,
    Passkey,
    StaffSite,
    audit,
    b64,
    csrf_in,
    invite,
    joined,
    register,
    sign_in,
    staff_site,
    unb64,
)
from tests.support.people import tg

__all__ = ["staff_site"]


async def test_ceremonies_are_limited_per_client_behind_the_proxy(staff_site: StaffSite) -> None:
    """Behind the README's proxy every request comes from the proxy: one address's limit must not lock
    every member of staff out (an anonymous 30 requests a minute would)."""
    settings = staff_site.settings.model_copy(update={"web_trust_proxy": True})
    async with TestClient(TestServer(WebChannel(staff_site.app, settings).application())) as browser:
        csrf = csrf_in(await (await browser.get("/staff/login")).text())

        async def options(client: str) -> int:
            answer = await browser.post("/staff/login/options", json={"csrf": csrf},
                                        headers={"X-Forwarded-For": f"198.51.100.9, {client}"})
            return int(answer.status)

        assert [await options("203.0.113.1") for _ in range(31)][-1] == 429
        assert await options("203.0.113.2") == 200


async def test_a_passkey_id_registered_already_is_refused_not_a_500(staff_site: StaffSite) -> None:
    """With "none" attestation a registration's credential id is the sender's choice: someone else's id
    is refused (a 403, audited; the invite is kept), never a database error."""
    first, passkey = await joined(staff_site, "consultant")
    second = staff_site.browser()
    async with first, second:
        code = await invite(staff_site, "consultant")
        copy = Passkey(credential_id=passkey.credential_id)
        answer = await register(staff_site, second, code, copy)
        assert answer.status == 403
        assert (await register(staff_site, second, code, Passkey())).status == 200  # the invite is still good
        assert any(e.detail.endswith("register finish") for e in await audit(staff_site, "staff.web.denied"))


async def test_wrong_invite_codes_in_the_staff_area_are_limited(staff_site: StaffSite) -> None:
    """The chat allows 5 wrong invite codes an hour per person; the staff area (a new identity each time)
    must count them too, per address, and then refuse even a good code until the hour ends."""
    browser = staff_site.browser()
    async with browser:
        csrf = csrf_in(await (await browser.get("/staff/register")).text())

        async def options(code: str) -> int:
            answer = await browser.post("/staff/register/options", json={"csrf": csrf, "code": code})
            return int(answer.status)

        assert [await options(f"guess{n}") for n in range(5)] == [403] * 5
        good = await invite(staff_site, "consultant")
        assert await options(good) == 429
        staff_site.clock.advance(hours=1)
        assert await options(good) == 200


async def link_session(site: StaffSite, who: Any) -> Browser:
    """A member of staff from the chat, signed in with a one-time link (their browser)."""
    async with site.app.uow() as uow:
        sent = await staff_sessions.send_link(uow, site.app.intake.casework.notifier, who, ORIGIN, site.clock.now())
        message = await uow.outbox.get(sent or 0)
        assert message is not None
        token = message.payload["screens"][0]["text"].split("/staff/link?t=")[1].split()[0]
    browser = site.browser()
    page = await (await browser.get(f"/staff/link?t={token}")).text()
    assert (await browser.post("/staff/link", data={"csrf": csrf_in(page), "t": token},
                               allow_redirects=False)).status == 303
    return browser


async def test_a_session_of_a_removed_member_does_not_come_back_when_they_join_again(staff_site: StaffSite) -> None:
    """Removed outside the staff area (`ipsbot staff remove`, the chat) and invited again later: the
    browser left signed in before the removal must stay signed out (a new sign-in is needed)."""
    app, who, now = staff_site.app, tg(5151), staff_site.clock.now()
    async with app.uow() as uow:
        await app.intake.casework.join(uow, who, await app.intake.casework.invite(
            uow, role="consultant", programme_id="pilot", name="Tove", now=now), now)
    browser = await link_session(staff_site, who)
    async with browser:
        assert (await browser.get("/staff/cases", allow_redirects=False)).status == 200
        async with app.uow() as uow:
            member = await uow.staff.find("telegram", "5151")
            assert member is not None
            await app.intake.casework.remove_staff(uow, member.id, staff_site.clock.now())
        staff_site.clock.advance(minutes=10)
        async with app.uow() as uow:
            code = await app.intake.casework.invite(uow, role="coordinator", programme_id="pilot", name="Tove",
                                                    now=staff_site.clock.now())
            await app.intake.casework.join(uow, who, code, staff_site.clock.now())
        assert (await browser.get("/staff/urgent", allow_redirects=False)).status == 303


async def test_a_session_value_set_before_sign_in_is_worth_nothing_after_it(staff_site: StaffSite) -> None:
    """Fixation: the attacker's own valid session value, planted in the victim's browser, is ended by the
    victim's sign-in, and the victim's browser holds a new value the attacker never saw."""
    attacker, _ = await joined(staff_site, "consultant")
    victim_key = Passkey()
    victim = staff_site.browser()
    async with attacker, victim:
        planted = attacker.session.cookie_jar.filter_cookies(attacker.make_url("/staff"))["ipsbot_staff"].value
        assert (await register(staff_site, victim, await invite(staff_site, "consultant"), victim_key)).status == 200
        victim.session.cookie_jar.update_cookies({"ipsbot_staff": planted}, victim.make_url("/staff/login"))
        assert (await sign_in(victim, victim_key)).status == 200
        held = victim.session.cookie_jar.filter_cookies(victim.make_url("/staff"))["ipsbot_staff"].value
        assert held != planted
        assert (await attacker.get("/staff/cases", allow_redirects=False)).status == 303


async def test_passkey_answers_that_must_fail(staff_site: StaffSite) -> None:
    """A counter gone back, no user verification, another RP id, another user's challenge in a passkey check."""
    browser, passkey = await joined(staff_site, "consultant")
    other, other_key = await joined(staff_site, "consultant")
    async with browser, other:
        async def login(answer: Any) -> int:
            fresh = staff_site.browser()
            async with fresh:
                csrf = csrf_in(await (await fresh.get("/staff/login")).text())
                start = await (await fresh.post("/staff/login/options", json={"csrf": csrf})).json()
                body = {"csrf": csrf, "ticket": start["ticket"], "credential": answer(start["options"])}
                return int((await fresh.post("/staff/login/finish", json=body)).status)

        assert await login(passkey.get) == 200
        passkey.counter = 0  # a cloned authenticator
        assert await login(passkey.get) == 403
        passkey.counter = 100
        assert await login(lambda o: passkey.get(o, rp_id="evil.example")) == 403

        def unverified(options: dict[str, Any]) -> dict[str, Any]:
            answer = passkey.get(options)
            auth = bytearray(unb64(answer["response"]["authenticatorData"]))
            auth[32] = 0x01  # user present, not verified (the signature no longer matches either)
            answer["response"]["authenticatorData"] = b64(bytes(auth))
            return answer

        assert await login(unverified) == 403
        # a passkey check before an export: only the signed-in member's own passkey
        csrf = csrf_in(await (await browser.get("/staff/cases")).text())
        start = await (await browser.post("/staff/verify/options", json={"csrf": csrf})).json()
        stolen = other_key.get(start["options"])
        done = await browser.post("/staff/verify/finish", json={"csrf": csrf, "ticket": start["ticket"],
                                                                "credential": stolen})
        assert done.status == 403


async def test_a_sign_in_link_is_not_logged(staff_site: StaffSite, caplog: Any) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    app, who, now = staff_site.app, tg(5252), staff_site.clock.now()
    async with app.uow() as uow:
        await app.intake.casework.join(uow, who, await app.intake.casework.invite(
            uow, role="consultant", programme_id="pilot", name="Bo", now=now), now)
    browser = await link_session(staff_site, who)
    async with browser:
        async with app.uow() as uow:
            rows = await uow.outbox.session.scalars(select(OutboxMessage))
            token = next(r.payload["screens"][0]["text"].split("t=")[1].split()[0] for r in rows.all()
                         if "/staff/link?t=" in str(r.payload))
        # the servers run without an access log (`serve`, `run_webhook`: access_log=None); the test server has one
        assert all(token not in r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
        assert all(token not in str(e.detail) for e in await audit(staff_site, "staff.signed_in"))


async def test_with_https_the_session_cookie_cannot_be_shadowed_by_a_planted_one(staff_site: StaffSite) -> None:
    """A cookie planted with Path=/ (a sibling site's Domain= cookie, a plain-http answer) is sent after the
    sign-in's Path=/staff one and read instead: with an https WEB_URL the session is a `__Host-` cookie,
    which nobody but this origin over https can set, and the planted name is never read."""
    settings = staff_site.settings.model_copy(update={"web_url": "https://localhost"})
    async with TestClient(TestServer(WebChannel(staff_site.app, settings).application())) as browser:
        code = await invite(staff_site, "consultant")
        opened = await browser.get(f"/staff/register?code={code}")
        csrf = csrf_in(await opened.text())
        pre = {"Cookie": f"ipsbot_staff_pre={opened.cookies['ipsbot_staff_pre'].value}"}  # Secure: sent by hand
        start = await (await browser.post("/staff/register/options", json={"csrf": csrf, "code": code},
                                          headers=pre)).json()
        answer = await browser.post("/staff/register/finish", headers=pre, json={
            "csrf": csrf, "code": code, "ticket": start["ticket"],
            "credential": Passkey().create(start["options"], origin="https://localhost")})
        assert answer.status == 200, await answer.text()
        set_cookie = answer.headers.getall("Set-Cookie")
        session = [c for c in set_cookie if c.startswith("__Host-ipsbot_staff=")]
        assert len(session) == 1 and "Secure" in session[0] and "Path=/;" in session[0] + ";"
        raw = session[0].split("=", 1)[1].split(";")[0]
        planted = "planted-by-someone-else-" + "x" * 20
        headers = {"Cookie": f"__Host-ipsbot_staff={raw}; ipsbot_staff={planted}"}
        assert (await browser.get("/staff/cases", headers=headers, allow_redirects=False)).status == 200
        alone = {"Cookie": f"ipsbot_staff={raw}"}  # the plain name is not read with https
        assert (await browser.get("/staff/cases", headers=alone, allow_redirects=False)).status == 303
