"""The staff area attacked (issue 22's review, docs/security.md T41-T43): each test is one finding of the
review, failing before its fix. Forged presses that reach around the passkey, the ceremonies' limits
behind a proxy, a passkey registered twice, invite codes guessed in the staff area, headers on every
answer, and e-mail addresses that are more than one address."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.channels.web.server import WebChannel
from bot.channels.web.staff.auth import EMAIL
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
    referral,
    register,
    sign_in,
    staff_site,
    unb64,
)
from tests.support.people import tg

__all__ = ["staff_site"]


async def documents_queued(site: StaffSite) -> int:
    async with site.app.uow() as uow:
        rows = await uow.outbox.session.scalars(select(OutboxMessage))
        return sum(1 for row in rows.all() if row.payload.get("documents"))


async def test_a_forged_export_press_is_refused_and_sends_no_file(staff_site: StaffSite) -> None:
    """The web's export is its GET with the passkey again; an "export" button forged into a press would
    queue the files to the consultant's chat or mail (no passkey, and health data off the staff area)."""
    consultant, _ = await joined(staff_site, "consultant")
    async with consultant:
        made = await referral(staff_site, 3001)
        csrf = csrf_in(await (await consultant.get("/staff/referrals")).text())
        before = await documents_queued(staff_site)
        offer = await consultant.post(f"/staff/ref/{made.id}", data={"csrf": csrf, "button": "export"},
                                      allow_redirects=False)
        assert offer.status == 403
        await consultant.post(f"/staff/ref/{made.id}", data={"csrf": csrf, "button": "claim"})
        case = await consultant.post(f"/staff/case/{made.id}", data={"csrf": csrf, "button": "export"},
                                     allow_redirects=False)
        assert case.status == 403
        assert await documents_queued(staff_site) == before
        assert not await audit(staff_site, "referral.exported")
        assert [e.detail.split("|")[-1] for e in await audit(staff_site, "staff.web.denied")] == ["export", "export"]


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


async def test_every_staff_answer_carries_the_headers_redirects_too(staff_site: StaffSite) -> None:
    consultant, _ = await joined(staff_site, "consultant")
    async with consultant:
        answers: list[Any] = [await consultant.get("/staff", allow_redirects=False),
                              await consultant.get("/staff/r/999", allow_redirects=False),
                              await consultant.get("/staff/link?t=secret-link", allow_redirects=False)]
        for answer in answers:
            assert answer.headers.get("X-Content-Type-Options") == "nosniff", answer.url
            assert answer.headers.get("Referrer-Policy") == "no-referrer", answer.url
            assert answer.headers.get("Cache-Control") == "no-store", answer.url
            assert "frame-ancestors 'none'" in answer.headers.get("Content-Security-Policy", ""), answer.url


def test_an_e_mail_address_is_one_address() -> None:
    assert EMAIL.match("tove@kommune.dk")
    for bad in ("tove@kommune.dk,evil.example", "a@b.dk;c.dk", "a(b)@c.dk", "a@b.dk\n.dk"):
        assert not EMAIL.match(bad), bad


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


async def test_what_cannot_be_read_is_a_4xx_never_a_500(staff_site: StaffSite) -> None:
    consultant, _ = await joined(staff_site, "consultant")
    async with consultant:
        csrf = csrf_in(await (await consultant.get("/staff/cases")).text())
        posts = ["/staff/ref/1", "/staff/case/1", "/staff/esc/1", "/staff/slots", "/staff/team/invite",
                 "/staff/team/remove", "/staff/logout", "/staff/link"]
        bodies: list[tuple[bytes, str]] = [
            (bytes(range(256)) * 4, "application/x-www-form-urlencoded"),
            (b"csrf=" + csrf.encode() + b"&button=%ff%fe", "application/x-www-form-urlencoded"),
            (b"--x\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + csrf.encode(),
             "multipart/form-data; boundary=x"),
            (b"a" * 200_000, "application/x-www-form-urlencoded"),
        ]
        for path in posts:
            for body, kind in bodies:
                answer = await consultant.post(path, data=body, headers={"Content-Type": kind}, allow_redirects=False)
                assert answer.status < 500 and answer.status != 200, (path, kind, answer.status)
        weird: list[Any] = [5, "x", [1, 2], {"id": 5}, {"id": "AAAA", "response": "x"}, None]
        for mode in ("login", "register", "verify"):
            for credential in weird:
                answer = await consultant.post(f"/staff/{mode}/finish", json={
                    "csrf": csrf, "ticket": {"a": 1}, "credential": credential, "next": ["x"]})
                assert 400 <= answer.status < 500, (mode, credential, answer.status)
            for body in ([1], "x", {"csrf": [1], "code": {"a": 1}, "email": 5}):
                answer = await consultant.post(f"/staff/{mode}/options", json=body)
                assert 400 <= answer.status < 500, (mode, body, answer.status)


async def test_names_are_escaped_on_staff_pages(staff_site: StaffSite) -> None:
    coordinator, _ = await joined(staff_site, "coordinator")
    async with coordinator:
        team = await (await coordinator.get("/staff/team")).text()
        shown = await (await coordinator.post("/staff/team/invite", data={
            "csrf": csrf_in(team), "role": "peer", "name": '<script>alert(1)</script>"><img src=x>'})).text()
        assert "<script>alert" not in shown and "<img src=x>" not in shown
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown


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


async def test_a_coordinator_invites_only_whom_they_may_remove(staff_site: StaffSite) -> None:
    """A coordinator who could invite coordinators could keep a second, unremovable (in the staff area)
    coordinator identity for themselves: an invite is for a consultant or a peer; coordinators come
    from `ipsbot invite` as before."""
    coordinator, _ = await joined(staff_site, "coordinator")
    async with coordinator:
        team = await (await coordinator.get("/staff/team")).text()
        assert 'value="coordinator"' not in team
        invites = len(await audit(staff_site, "invite.created"))
        for role in ("coordinator", "operator"):
            made = await coordinator.post("/staff/team/invite", data={"csrf": csrf_in(team), "role": role,
                                                                      "name": "Me again"})
            assert made.status == 400 and "register?code=" not in await made.text()
        assert [e.detail.split("|")[-1] for e in await audit(staff_site, "staff.web.denied")] == [
            "invite coordinator", "invite operator"]
        assert len(await audit(staff_site, "invite.created")) == invites


async def test_an_erased_person_leaves_nothing_on_staff_pages(staff_site: StaffSite) -> None:
    from bot.services.erasure import erase

    coordinator, _ = await joined(staff_site, "coordinator")
    consultant, _ = await joined(staff_site, "consultant")
    async with coordinator, consultant:
        made = await referral(staff_site, 3101, {"phq9.9": "2"})
        pages = ("/staff/urgent", "/staff/waiting")
        before = [await (await coordinator.get(p)).text() for p in pages]
        before.append(await (await consultant.get("/staff/referrals")).text())
        assert any(f"R-{made.id}" in page for page in before)
        async with staff_site.app.uow() as uow:
            candidate = await uow.candidates.find("telegram", "3101")
            assert candidate is not None
            await erase(uow, staff_site.app.intake.casework, candidate.id, staff_site.clock.now())
        after = [await (await coordinator.get(p)).text() for p in pages]
        after.append(await (await consultant.get("/staff/referrals")).text())
        after.append(await (await consultant.get("/staff/cases")).text())
        for page in after:
            assert f"R-{made.id}" not in page and "PHQ" not in page, page


async def test_reading_the_waiting_list_is_audited(staff_site: StaffSite) -> None:
    """The waiting list names referrals and which are urgent (from a risk answer): a read of people's data."""
    coordinator, _ = await joined(staff_site, "coordinator")
    async with coordinator:
        assert (await coordinator.get("/staff/waiting")).status == 200
        assert [e.detail for e in await audit(staff_site, "waiting.viewed")] == ["pilot"]


async def test_no_export_to_a_chat_in_brief_mode_even_from_a_forged_or_old_button(staff_site: StaffSite) -> None:
    """With WEB_URL set (brief mode) the chat's cards carry no Export button, but a forged callback or a
    card sent before the switch still names "export": the files (health data) must not go to the chat."""
    from bot.services import staff_detail

    assert staff_detail.brief()
    app, who, now = staff_site.app, tg(5353), staff_site.clock.now()
    async with app.uow() as uow:
        await app.intake.casework.join(uow, who, await app.intake.casework.invite(
            uow, role="consultant", programme_id="pilot", name="Ida", now=now), now)
    made = await referral(staff_site, 3201)
    before = await documents_queued(staff_site)
    async with app.uow() as uow:
        await app.intake.casework.press(uow, who, f"ref.{made.id}", "claim", 0, staff_site.clock.now())
        await app.intake.casework.press(uow, who, f"ref.{made.id}", "export", 0, staff_site.clock.now())
        await app.intake.casework.press(uow, who, f"case.{made.id}", "export", 0, staff_site.clock.now())
    assert await documents_queued(staff_site) == before
    assert not await audit(staff_site, "referral.exported")
    assert len([e for e in await audit(staff_site, "denied") if e.detail.endswith("|export")]) == 2


async def test_the_staff_area_is_served_by_the_web_server_and_the_webhook_server(staff_site: StaffSite) -> None:
    """Issue 22: `ipsbot web` and `ipsbot run --web` (`serve`) and the webhook server (`run_webhook`, with
    WEB_URL) serve /staff, with its own headers and without an access log."""
    import asyncio

    import aiohttp

    from bot.channels.telegram.runtime import run_webhook
    from bot.channels.web.server import serve
    from tests.support.net import free_port

    class Runtime:
        app = staff_site.app

        async def handle(self, raw: dict[str, Any], folded: int = 0) -> BaseException | None:
            return None

    web_port, hook_port = free_port(), free_port()
    stopping = asyncio.Event()
    web_settings = staff_site.settings.model_copy(update={"web_port": web_port})
    hook_settings = staff_site.settings.model_copy(update={"webhook_url": f"http://127.0.0.1:{hook_port}/hook",
                                                           "webhook_port": hook_port})
    tasks = [asyncio.create_task(serve(staff_site.app, web_settings, stopping)),
             asyncio.create_task(run_webhook(Runtime(), hook_settings, stopping, secret="s",  # type: ignore[arg-type]
                                             register=False))]
    try:
        async with aiohttp.ClientSession() as http:
            for port in (web_port, hook_port):
                for _ in range(100):  # until it listens
                    try:
                        answer = await http.get(f"http://127.0.0.1:{port}/staff/login")
                        break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.05)
                assert answer.status == 200 and 'data-mode="login"' in await answer.text(), port
                assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"], port
                assert answer.headers["Referrer-Policy"] == "no-referrer", port
    finally:
        stopping.set()
        await asyncio.gather(*tasks)


async def test_a_peers_odd_times_are_refused_not_a_500(staff_site: StaffSite) -> None:
    peer, _ = await joined(staff_site, "peer")
    async with peer:
        csrf = csrf_in(await (await peer.get("/staff/slots")).text())
        odd = [{"day": "0001-01-01", "time": "0900", "minutes": "30", "place": "phone", "weeks": "1"},
               {"day": "9999-12-31", "time": "2359", "minutes": "99999", "place": "<b>", "weeks": "-1"},
               {"day": "2026-13-40", "time": "x", "minutes": "", "place": "", "weeks": ""},
               {"remove": "99999999999"}, {"remove": "1-2"}, {"remove": "²"}]
        for fields in odd:
            answer = await peer.post("/staff/slots", data={"csrf": csrf, **fields}, allow_redirects=False)
            assert answer.status == 303, (fields, answer.status)
        assert 'name="remove"' not in await (await peer.get("/staff/slots")).text()  # no time was published


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
