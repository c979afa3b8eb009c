"""The operator's page (role "operator", every programme): the urgent cases that climbed to the operators,
with "Seen — I will make contact" checked by the same policy as the chat; the programmes an urgent case
reaches no consultant in. Refused (and audited) for every other role, a removed operator and an expired
session."""

from __future__ import annotations

import re

import pytest

from locales import Translator
from tests.channels.web.staff_kit import StaffSite, audit, csrf_in, joined, referral, staff_site
from tests.channels.web.test_staff_forged import attempt, denials

__all__ = ["staff_site"]

EN = Translator("en")
ROUTES = [("GET", "/staff/operator"), ("POST", "/staff/operator/esc/{e}")]


async def test_an_operator_sees_the_urgent_cases_that_reached_the_operators_and_presses_seen(
    staff_site: StaffSite,
) -> None:
    operator, _ = await joined(staff_site, "operator", "*")
    consultant, _ = await joined(staff_site, "consultant")
    async with operator, consultant:
        assert (await operator.get("/staff", allow_redirects=False)).headers["Location"] == "/staff/operator"
        at_pilot = await referral(staff_site, 3001, {"phq9.9": "2", "q.name": "Pia"})  # its consultant first
        nobody_else = await referral(staff_site, 3002, {"phq9.9": "2", "q.name": "Otto"}, programme="other")
        assert at_pilot.urgent and nobody_else.urgent
        page = await (await operator.get("/staff/operator?lang=en")).text()
        pressable = re.findall(r'action="/staff/operator/esc/(\d+)"', page)
        async with staff_site.app.uow() as uow:
            (row,) = await uow.escalations.of_referral(nobody_else.id)
        assert pressable == [str(row.id)]  # only the one that reached the operators
        assert f"R-{nobody_else.id}" in page and "Otto" in page and "Pia" not in page
        assert len(page.encode()) < 30_000
        other = EN("staff.web.operator.reach.operators", programme="Pilot", id="other")  # no staff at all there
        assert other in page and "(pilot)" not in page  # the pilot has a consultant
        viewed = [a for a in await audit(staff_site, "referral.viewed") if a.referral_id == nobody_else.id]
        assert viewed  # a read of a person's data is audited

        seen = await operator.post(f"/staff/operator/esc/{row.id}", data={"csrf": csrf_in(page)},
                                   allow_redirects=False)
        assert seen.status == 303 and seen.headers["Location"] == "/staff/operator"
        async with staff_site.app.uow() as uow:
            done = await uow.escalations.get(row.id)
            assert done is not None and done.seen_at is not None and done.seen_by is not None
        assert len(await audit(staff_site, "escalation.seen")) == 1
        after = await (await operator.get("/staff/operator?lang=en")).text()
        assert "/staff/operator/esc/" not in after and EN("staff.web.no_urgent") in after


async def test_seen_is_decided_by_policy_at_press_time(staff_site: StaffSite) -> None:
    """A press on an escalation that was never sent to anyone is refused by `may_mark_seen` (and audited)."""
    operator, _ = await joined(staff_site, "operator", "*")
    async with operator:
        csrf = csrf_in(await (await operator.get("/staff/operator")).text())
        before = len(await audit(staff_site, "denied"))
        answer = await operator.post("/staff/operator/esc/999", data={"csrf": csrf}, allow_redirects=False)
        assert answer.status == 303
        assert len(await audit(staff_site, "denied")) == before + 1
        assert not await audit(staff_site, "escalation.seen")


@pytest.mark.parametrize("role", ["consultant", "peer", "coordinator"])
async def test_every_other_role_is_refused_and_audited(staff_site: StaffSite, role: str) -> None:
    browser, _ = await joined(staff_site, role)
    async with browser:
        await referral(staff_site, 3003, {"phq9.9": "2"}, programme="other")
        csrf = csrf_in(await (await browser.get("/staff")).text())
        for method, path in ROUTES:
            before = await denials(staff_site)
            status = await attempt(browser, method, path.format(e=1), csrf)
            assert status == 403, (role, method, path, status)
            assert await denials(staff_site) == before + 1, (role, method, path)
        async with staff_site.app.uow() as uow:
            (row,) = await uow.escalations.of_referral((await uow.referrals.of_candidate(
                (await uow.candidates.find("telegram", "3003")).id))[-1].id)  # type: ignore[union-attr]
            assert row.seen_at is None


async def test_a_removed_operator_and_an_expired_session_are_refused(staff_site: StaffSite) -> None:
    removed, _ = await joined(staff_site, "operator", "*")
    async with removed:
        csrf = csrf_in(await (await removed.get("/staff/operator")).text())
        async with staff_site.app.uow() as uow:
            member = next(s for s in await uow.staff.all() if s.role == "operator")
            await uow.staff.remove(member.id, staff_site.clock.now())  # as `ipsbot staff remove` does
        for method, path in ROUTES:
            before = await denials(staff_site)
            status = await attempt(removed, method, path.format(e=1), csrf)
            assert status in (303, 401), (method, path, status)
            assert await denials(staff_site) > before, (method, path)
    expired, _ = await joined(staff_site, "operator", "*")
    async with expired:
        csrf = csrf_in(await (await expired.get("/staff/operator")).text())
        staff_site.clock.advance(minutes=31)
        for method, path in ROUTES:
            before = await denials(staff_site)
            status = await attempt(expired, method, path.format(e=1), csrf)
            assert status in (303, 401), (method, path, status)
            assert await denials(staff_site) > before, (method, path)
