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
from storage.models import OutboxMessage
from tests.channels.web.staff_kit import (
    Passkey,
    StaffSite,
    audit,
    csrf_in,
    invite,
    joined,
    referral,
    register,
    staff_site,
)

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
