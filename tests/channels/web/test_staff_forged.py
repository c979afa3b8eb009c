"""Forged and stale requests: every staff route tried by every other role, by a removed member of
staff and with an expired session: each refused and audited; a consultant of another programme
gets nothing of this one's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.channels.web.staff_kit import StaffSite, audit, csrf_in, joined, referral, staff_site

__all__ = ["staff_site"]

# (method, path, roles allowed); "{r}" is a referral id, "{e}" an escalation id, "{s}" a member of staff
ROUTES = [
    ("GET", "/staff/referrals", {"consultant"}),
    ("GET", "/staff/cases", {"consultant"}),
    ("POST", "/staff/ref/{r}", {"consultant"}),
    ("POST", "/staff/case/{r}", {"consultant"}),
    ("GET", "/staff/export/{r}?fmt=json", {"consultant"}),
    ("GET", "/staff/slots", {"peer"}),
    ("POST", "/staff/slots", {"peer"}),
    ("GET", "/staff/urgent", {"coordinator"}),
    ("POST", "/staff/esc/{e}", {"coordinator", "consultant"}),
    ("GET", "/staff/waiting", {"coordinator"}),
    ("GET", "/staff/team", {"coordinator"}),
    ("POST", "/staff/team/invite", {"coordinator"}),
    ("POST", "/staff/team/remove", {"coordinator"}),
    ("GET", "/staff/dashboard", {"coordinator"}),
    ("GET", "/staff/dashboard.csv", {"coordinator"}),
    ("GET", "/staff/operator", {"operator"}),
    ("POST", "/staff/operator/esc/{e}", {"operator"}),
]
ROLES = ("consultant", "peer", "coordinator", "operator")


async def denials(site: StaffSite) -> int:
    return len(await audit(site, "staff.web.denied")) + len(await audit(site, "staff.session_ended"))


async def attempt(browser: Any, method: str, path: str, csrf: str) -> int:
    if method == "GET":
        return int((await browser.get(path, allow_redirects=False)).status)
    data = {"csrf": csrf, "button": "claim", "role": "peer", "name": "X", "staff": "1"}
    return int((await browser.post(path, data=data, allow_redirects=False)).status)


@pytest.mark.parametrize("role", ROLES)
async def test_every_route_refuses_the_other_roles_and_audits(staff_site: StaffSite, role: str) -> None:
    browser, _ = await joined(staff_site, role)
    async with browser:
        made = await referral(staff_site, 2001, {"phq9.9": "2"})
        home = await browser.get("/staff")
        csrf = csrf_in(await home.text())
        for method, path, allowed in ROUTES:
            if role in allowed:
                continue
            before = await denials(staff_site)
            status = await attempt(browser, method, path.format(r=made.id, e=1, s=1), csrf)
            assert status in (403, 303), (method, path, status)
            assert await denials(staff_site) == before + 1, (method, path)


async def test_a_removed_member_and_an_expired_session_are_refused_everywhere(staff_site: StaffSite) -> None:
    removed, _ = await joined(staff_site, "coordinator")
    expired, _ = await joined(staff_site, "consultant")
    async with removed, expired:
        made = await referral(staff_site, 2002)
        csrf_removed = csrf_in(await (await removed.get("/staff/team")).text())
        csrf_expired = csrf_in(await (await expired.get("/staff/cases")).text())
        async with staff_site.app.uow() as uow:
            member = next(s for s in await uow.staff.all() if s.role == "coordinator")
            await uow.staff.remove(member.id, staff_site.clock.now())  # as `ipsbot staff remove` does
        staff_site.clock.advance(minutes=31)
        for browser, csrf in ((removed, csrf_removed), (expired, csrf_expired)):
            for method, path, _ in ROUTES:
                before = await denials(staff_site)
                status = await attempt(browser, method, path.format(r=made.id, e=1, s=1), csrf)
                assert status in (303, 401), (method, path, status)
                assert await denials(staff_site) > before, (method, path)  # the first also ends the session
        ended = await audit(staff_site, "staff.session_ended")
        assert sorted(e.detail for e in ended) == ["idle", "removed"]


async def test_a_consultant_of_another_programme_gets_nothing(staff_site: StaffSite) -> None:
    ours, _ = await joined(staff_site, "consultant")
    theirs, _ = await joined(staff_site, "consultant", "other")
    async with ours, theirs:
        made = await referral(staff_site, 2003)
        page = await (await theirs.get("/staff/referrals")).text()
        assert f"R-{made.id}" not in page
        csrf = csrf_in(page)
        claim = await theirs.post(f"/staff/ref/{made.id}", data={"csrf": csrf, "button": "claim"})
        assert claim.status == 200
        async with staff_site.app.uow() as uow:
            stored = await uow.referrals.get(made.id)
            assert stored is not None and stored.consultant_id is None
        assert (await theirs.get(f"/staff/export/{made.id}?fmt=json")).status == 403
        assert f"R-{made.id}" not in await (await theirs.get("/staff/cases")).text()
        denied = await audit(staff_site, "denied")
        assert [e.referral_id for e in denied] == [made.id]  # the claim, refused by policy and audited
        assert len(await audit(staff_site, "staff.web.denied")) == 1  # the export


@pytest.mark.parametrize("role", ROLES)
async def test_every_page_of_a_role_is_at_most_30_kb(staff_site: StaffSite, role: str) -> None:
    browser, _ = await joined(staff_site, role)
    async with browser:
        for n in range(12):  # more offers and urgent cases than a page shows
            await referral(staff_site, 2100 + n, {"phq9.9": "2"} if n % 2 else None)
        for method, path, allowed in ROUTES:
            if method == "GET" and role in allowed and "{" not in path and path != "/staff/dashboard":
                answer = await browser.get(path)
                assert answer.status == 200 and len(await answer.read()) <= 30_000, path
