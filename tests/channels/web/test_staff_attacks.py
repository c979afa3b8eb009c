"""The staff area attacked (issue 22's review, docs/security.md T41-T43), its pages and presses: a forged
press that reaches around the passkey, what a chat may get in brief mode, headers on every answer, bodies
that cannot be read, escaping, erasure, audit, an e-mail address that is more than one, and the servers
that serve the area. A test of a finding failed before its fix; the others are probes that held."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.channels.web.staff.auth import EMAIL
from storage.models import OutboxMessage
from tests.channels.web.staff_kit import StaffSite, audit, csrf_in, joined, referral, staff_site
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
    from storage import dashboard

    coordinator, _ = await joined(staff_site, "coordinator")
    consultant, _ = await joined(staff_site, "consultant")
    async with coordinator, consultant:
        made = await referral(staff_site, 3101, {"phq9.9": "2"})
        pages = ("/staff/urgent", "/staff/waiting")
        before = [await (await coordinator.get(p)).text() for p in pages]
        before.append(await (await consultant.get("/staff/referrals")).text())
        assert any(f"R-{made.id}" in page for page in before)
        kept = dashboard.Derived("mansa", "pilot")  # as a look at a programme that asks MANSA keeps its means
        kept.value(b"ciphertext of their referral", lambda token: 2.5)
        kept.end()
        assert dashboard.KEPT
        async with staff_site.app.uow() as uow:
            candidate = await uow.candidates.find("telegram", "3101")
            assert candidate is not None
            await erase(uow, staff_site.app.intake.casework, candidate.id, staff_site.clock.now())
        assert dashboard.KEPT == {}  # nothing derived from their answers stays in this process's memory
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
    assert await documents_queued(staff_site) == before  # no file: the number and a link to the staff area
    assert not await audit(staff_site, "referral.exported")
    assert len(await audit(staff_site, "referral.export_linked")) == 2


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


async def test_referral_ids_never_offered_or_passed_get_nothing(staff_site: StaffSite) -> None:
    """Sequential ids: a consultant tries every referral number, those offered to a colleague before they
    joined, their own passed offer, and numbers that do not exist: no claim, no file, each refused and audited."""
    first, _ = await joined(staff_site, "consultant")
    async with first:
        made = [await referral(staff_site, 3300 + n) for n in range(2)]
        late, _ = await joined(staff_site, "consultant")  # joined after both were offered
        async with late:
            csrf = csrf_in(await (await first.get("/staff/referrals")).text())
            await first.post(f"/staff/ref/{made[1].id}", data={"csrf": csrf, "button": "pass"})
            late_csrf = csrf_in(await (await late.get("/staff/referrals")).text())
            tries = [(late, late_csrf, r.id) for r in made] + [(first, csrf, made[1].id)]
            tries += [(late, late_csrf, n) for n in (0, 99999, made[-1].id + 1)]
            for browser, token, number in tries:
                await browser.post(f"/staff/ref/{number}", data={"csrf": token, "button": "claim"})
                assert (await browser.get(f"/staff/export/{number}?fmt=json", allow_redirects=False)).status == 403
        async with staff_site.app.uow() as uow:
            for r in made:
                found = await uow.referrals.get(r.id)
                assert found is not None and found.consultant_id is None
        assert len(await audit(staff_site, "denied")) == len(tries)
        assert not await audit(staff_site, "referral.exported")
