"""The role pages of the staff area: the same services and policy as the chat, every read audited."""

from __future__ import annotations

import re

from storage.models import ReferralStatus
from tests.channels.web.staff_kit import StaffSite, audit, csrf_in, joined, referral, sign_in, staff_site

__all__ = ["staff_site"]


async def test_a_consultant_sees_a_new_referral_claims_it_and_records_an_outcome(staff_site: StaffSite) -> None:
    consultant, _ = await joined(staff_site, "consultant")
    async with consultant:
        made = await referral(staff_site, 1001)
        page = await (await consultant.get("/staff/referrals")).text()
        assert f"R-{made.id}" in page and f'action="/staff/ref/{made.id}"' in page
        assert len(page.encode()) <= 30_000
        viewed = await audit(staff_site, "referral.viewed")
        assert [e.referral_id for e in viewed] == [made.id]
        claim = await consultant.post(f"/staff/ref/{made.id}", data={"csrf": csrf_in(page), "button": "claim"},
                                      allow_redirects=False)
        assert claim.status == 303
        async with staff_site.app.uow() as uow:
            stored = await uow.referrals.get(made.id)
            assert stored is not None and stored.status == ReferralStatus.CLAIMED.value
        cases = await (await consultant.get("/staff/cases")).text()
        assert f"R-{made.id}" in cases and "outcome:ordinary_full" in cases
        done = await consultant.post(f"/staff/case/{made.id}", data={"csrf": csrf_in(cases),
                                                                       "button": "outcome:ordinary_full"})
        assert done.status == 200
        async with staff_site.app.uow() as uow:
            stored = await uow.referrals.get(made.id)
            assert stored is not None and stored.case_outcome == "ordinary_full"
        assert [e.referral_id for e in await audit(staff_site, "case.outcome")] == [made.id]


async def test_an_export_asks_for_the_passkey_again(staff_site: StaffSite) -> None:
    consultant, passkey = await joined(staff_site, "consultant")
    async with consultant:
        made = await referral(staff_site, 1002)
        page = await (await consultant.get("/staff/referrals")).text()
        await consultant.post(f"/staff/ref/{made.id}", data={"csrf": csrf_in(page), "button": "claim"})
        staff_site.clock.advance(minutes=6)  # the passkey of the sign-in is no longer fresh
        asked = await consultant.get(f"/staff/export/{made.id}?fmt=json")
        text = await asked.text()
        assert asked.status == 200 and 'data-mode="verify"' in text
        assert not await audit(staff_site, "referral.exported")
        csrf = csrf_in(text)
        start = await (await consultant.post("/staff/verify/options", json={"csrf": csrf})).json()
        done = await consultant.post("/staff/verify/finish", json={
            "csrf": csrf, "ticket": start["ticket"], "credential": passkey.get(start["options"]),
            "next": f"/staff/export/{made.id}?fmt=fhir"})
        assert done.status == 200 and (await done.json())["next"] == f"/staff/export/{made.id}?fmt=fhir"
        file = await consultant.get(f"/staff/export/{made.id}?fmt=fhir")
        assert file.status == 200 and "attachment" in file.headers["Content-Disposition"]
        assert '"resourceType":"QuestionnaireResponse"' in await file.text()
        assert [e.referral_id for e in await audit(staff_site, "referral.exported")] == [made.id]


async def test_a_peer_sees_their_times_and_no_health_data(staff_site: StaffSite) -> None:
    peer, _ = await joined(staff_site, "peer")
    async with peer:
        async with staff_site.app.uow() as uow:
            member = (await uow.staff.all())[-1]
            await uow.slots.add(member, starts_at=staff_site.clock.now().replace(hour=9, minute=0) +
                                __import__("datetime").timedelta(days=2), minutes=45, place="cafe",
                                now=staff_site.clock.now())
        page = await (await peer.get("/staff/slots")).text()
        assert "<table>" in page and "45" in page
        assert (await peer.get("/staff/referrals", allow_redirects=False)).status == 403
        day = (staff_site.clock.now() + __import__("datetime").timedelta(days=5)).date().isoformat()
        fields = {"csrf": csrf_in(page), "day": day, "time": "1030", "minutes": "30", "place": "video", "weeks": "4"}
        assert (await peer.post("/staff/slots", data=fields)).status == 200
        async with staff_site.app.uow() as uow:
            mine = await uow.slots.upcoming_of(member.id, staff_site.clock.now())
            assert sorted(s.minutes for s in mine) == [30, 30, 30, 30, 45]
        late = {**fields, "time": "2330"}  # not a time to meet: refused by the service, and audited
        await peer.post("/staff/slots", data=late)
        assert len(await audit(staff_site, "slots.refused")) == 1
        page = await (await peer.get("/staff/slots")).text()
        first = re.search(r'name="remove" value="(\d+)"', page)
        assert first is not None
        await peer.post("/staff/slots", data={"csrf": csrf_in(page), "remove": first.group(1)})
        async with staff_site.app.uow() as uow:
            assert len(await uow.slots.upcoming_of(member.id, staff_site.clock.now())) == 4


async def test_a_coordinator_presses_seen_on_an_urgent_case(staff_site: StaffSite) -> None:
    coordinator, _ = await joined(staff_site, "coordinator")
    consultant, _ = await joined(staff_site, "consultant")
    async with coordinator, consultant:
        made = await referral(staff_site, 1003, {"phq9.9": "2"})
        assert made.urgent
        page = await (await coordinator.get("/staff/urgent")).text()
        found = re.search(r'action="/staff/esc/(\d+)"', page)
        assert found is not None, page
        seen = await coordinator.post(f"/staff/esc/{found.group(1)}", data={"csrf": csrf_in(page)},
                                      allow_redirects=False)
        assert seen.status == 303
        async with staff_site.app.uow() as uow:
            row = await uow.escalations.get(int(found.group(1)))
            assert row is not None and row.seen_at is not None
        assert len(await audit(staff_site, "escalation.seen")) == 1
        assert "R-" not in await (await coordinator.get("/staff/urgent")).text()


async def test_removing_a_consultant_ends_their_session_at_once(staff_site: StaffSite) -> None:
    coordinator, _ = await joined(staff_site, "coordinator")
    consultant, passkey = await joined(staff_site, "consultant")
    async with coordinator, consultant:
        assert (await consultant.get("/staff/cases")).status == 200
        team = await (await coordinator.get("/staff/team")).text()
        target = re.findall(r'name="staff" value="(\d+)"', team)
        assert len(target) == 1
        gone = await coordinator.post("/staff/team/remove", data={"csrf": csrf_in(team), "staff": target[0]},
                                      allow_redirects=False)
        assert gone.status == 303
        assert (await consultant.get("/staff/cases", allow_redirects=False)).status == 303
        assert [e.detail for e in await audit(staff_site, "staff.session_ended")] == []  # ended by the removal
        other = staff_site.browser()
        async with other:
            assert (await sign_in(other, passkey)).status == 403


async def test_a_coordinator_invites_and_the_invite_registers(staff_site: StaffSite) -> None:
    from tests.channels.web.staff_kit import Passkey, register

    coordinator, _ = await joined(staff_site, "coordinator")
    async with coordinator:
        team = await (await coordinator.get("/staff/team")).text()
        made = await (await coordinator.post("/staff/team/invite", data={"csrf": csrf_in(team), "role": "peer",
                                                                         "name": "Pia"})).text()
        code = re.search(r"register\?code=([\w-]+)", made)
        assert code is not None
    newcomer = staff_site.browser()
    async with newcomer:
        assert (await register(staff_site, newcomer, code.group(1), Passkey())).status == 200
        assert (await newcomer.get("/staff/slots")).status == 200


async def test_the_dashboard_is_the_coordinators(staff_site: StaffSite) -> None:
    coordinator, _ = await joined(staff_site, "coordinator")
    async with coordinator:
        await referral(staff_site, 1004)
        answer = await coordinator.get("/staff/dashboard")
        assert answer.status == 200
        assert "style-src-attr 'unsafe-inline'" in answer.headers["Content-Security-Policy"]
        assert "<table" in await answer.text()
        assert len(await audit(staff_site, "dashboard.viewed")) == 1
        table = await coordinator.get("/staff/dashboard.csv")
        assert table.status == 200 and (await table.text()).startswith("programme,table,row,column,value,label")
        assert [e.detail for e in await audit(staff_site, "report")] == ["pilot csv"]


async def test_the_chat_link_opens_the_referral_where_it_is(staff_site: StaffSite) -> None:
    consultant, _ = await joined(staff_site, "consultant")
    async with consultant:
        made = await referral(staff_site, 1005)
        first = await consultant.get(f"/staff/r/{made.id}", allow_redirects=False)
        assert first.headers["Location"] == "/staff/referrals"
        page = await (await consultant.get("/staff/referrals")).text()
        await consultant.post(f"/staff/ref/{made.id}", data={"csrf": csrf_in(page), "button": "claim"})
        held = await consultant.get(f"/staff/r/{made.id}", allow_redirects=False)
        assert held.headers["Location"] == "/staff/cases"
    stranger = staff_site.browser()
    async with stranger:
        assert (await stranger.get(f"/staff/r/{made.id}", allow_redirects=False)).headers["Location"] == "/staff/login"
