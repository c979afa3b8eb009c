"""The dashboard's numbers against counts made independently, on each backend.

A seeded programme (`tests.support.dashboard_seed`: 160 people over 20 weeks, so that some weeks and groups are
small) is exported as `ipsbot export --format json` writes it; the referral counts, clocks and MANSA at
enrolment are counted again from those lines. What the export does not carry (follow-ups, escalations,
over-cap claims) is counted from the rows. Then every published cell is either that exact number or
hidden, "<5" exactly for 1 to 4, and nothing hidden follows from a shown total.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import App
from bot.clock import ManualClock
from bot.exports.dashboard import build, gather, publish
from bot.exports.dashboard_render import dashboard_html
from bot.exports.referrals import write
from storage.models import Escalation, FollowUp, Referral
from storage.repositories import UnitOfWork
from tests.support.dashboard_seed import REGISTRY, seed, template_payload
from tests.unit.test_dashboard import assert_section_safe

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW = START + timedelta(weeks=60)
Factory = async_sessionmaker[AsyncSession]
PEOPLE = 160


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def rank(values: list[float], q: float) -> float:
    return sorted(values)[math.ceil(q * len(values)) - 1]


async def exported(factory: Factory) -> list[dict[str, Any]]:
    """The referrals, as `ipsbot export --format json` writes them."""
    app = cast(App, SimpleNamespace(uow=lambda: UnitOfWork(factory), registry=REGISTRY, clock=ManualClock(NOW)))
    out = io.StringIO()
    await write(app, out, "json", programme="dash")
    return [json.loads(line) for line in out.getvalue().splitlines()]


def from_export(records: list[dict[str, Any]]) -> dict[str, Any]:
    counted = REGISTRY["dash"].outcome_counts
    referred = [r for r in records if r["status"] != "redirected"]
    claimed = [r for r in referred if r["case"]["claimed_at"]]
    weekly: Counter[date] = Counter()
    for r in referred:
        day = datetime.fromisoformat(r["created_at"]).astimezone(ZoneInfo("Europe/Copenhagen")).date()
        weekly[day - timedelta(days=day.weekday())] += 1
    hours = [(when(r["case"]["claimed_at"]) - when(r["created_at"])).total_seconds() / 3600  # type: ignore[operator]
             for r in claimed]
    meeting = [(when(r["case"]["first_meeting_at"]) - when(r["created_at"])).total_seconds() / 3600  # type: ignore[operator]
               for r in referred if r["case"]["first_meeting_at"]]
    employer = [r for r in referred if r["case"]["job_search_at"]
                and when(r["case"]["job_search_at"]) - when(r["created_at"]) <= timedelta(days=30)]  # type: ignore[operator]
    return {
        "referred": len(referred), "redirected": len(records) - len(referred), "claimed": len(claimed),
        "weekly": {w: n for w, n in weekly.items() if n},
        "met": sum(bool(r["case"]["first_meeting_at"]) for r in referred), "employer_30": len(employer),
        "in_work": sum(r["case"]["outcome"] in counted for r in claimed),
        "other": sum(bool(r["case"]["outcome"]) and r["case"]["outcome"] not in counted for r in claimed),
        "waiting": sum(r["status"] == "waiting" for r in referred),
        "claim_p50": rank(hours, 0.5), "claim_p90": rank(hours, 0.9), "claim_max": max(hours),
        "meeting": [rank(meeting, 0.5), rank(meeting, 0.9), max(meeting)],
        "mansa": sorted(r["instruments"]["mansa"]["mean"] for r in claimed),
    }


async def test_the_dashboards_numbers_equal_counts_made_from_the_json_export(factory: Factory) -> None:
    await seed(factory, await template_payload(factory, START), PEOPLE, start=START)
    expected = from_export(await exported(factory))
    async with UnitOfWork(factory) as uow:
        f = await gather(uow, REGISTRY, "dash", NOW)
    assert expected["referred"] + expected["redirected"] == PEOPLE + 1  # and the template's own intake
    assert (f.referred, f.redirected, f.claimed, f.met, f.employer_30, f.in_work, f.other_outcome, f.waiting) == (
        expected["referred"], expected["redirected"], expected["claimed"], expected["met"], expected["employer_30"],
        expected["in_work"], expected["other"], expected["waiting"])
    assert {w: n for w, n in f.weekly.items() if n} == expected["weekly"]
    assert len(f.weekly) == (max(f.weekly) - min(f.weekly)).days // 7 + 1  # every week, the empty ones too
    assert sorted(f.mansa_enrolment) == expected["mansa"]
    section = publish(f, REGISTRY["dash"])
    times = {r.key: r.cells for r in section.table("times").rows}
    assert [c.value for c in times["claim"][1:]] == [expected["claim_p50"], expected["claim_p90"],
                                                     expected["claim_max"]]
    assert [c.value for c in times["meeting"][1:]] == expected["meeting"]
    assert min(f.weekly.values()) < 5 and f.in_work > 0  # the seed has small weeks: the rule was exercised
    assert_section_safe(f, section)


async def test_follow_ups_risk_answers_and_over_cap_claims_equal_the_rows(factory: Factory) -> None:
    await seed(factory, await template_payload(factory, START), PEOPLE, start=START)
    async with UnitOfWork(factory) as uow:
        f = await gather(uow, REGISTRY, "dash", NOW)
        referrals = {r.id: r for r in (await uow.session.scalars(select(Referral))).all()}
        rows = list((await uow.session.scalars(select(FollowUp))).all())
        escalations = list((await uow.session.scalars(select(Escalation))).all())
    for key in ("6m", "12m"):
        mine = [r for r in rows if r.key == key]
        answered = [r for r in mine if r.status == "answered"]
        point = f.points[key]
        assert (point.asked, point.answered, point.lapsed, point.stopped, point.open, point.missed) == (
            sum(r.status != "missed" for r in mine), len(answered), sum(r.status == "lapsed" for r in mine),
            sum(r.status == "stopped" for r in mine), sum(r.status == "open" for r in mine),
            sum(r.status == "missed" for r in mine))
        assert point.in_work == sum(r.state["status"] in ("job", "education") for r in answered)
        assert sorted(point.mansa_pairs) == sorted(
            (referrals[r.referral_id].payload["instruments"]["mansa"]["mean"], r.state["results"]["mansa"]["mean"])
            for r in answered if "mansa" in r.state["results"])
    # from each escalation's opening (the risk answer) to "Seen" or the claim, or still waiting now
    seen = [(e.seen_at - e.opened_at).total_seconds() / 3600 for e in escalations if e.seen_at]
    unseen = [(NOW - e.opened_at).total_seconds() / 3600 for e in escalations if not e.seen_at]
    assert sorted(f.seen_hours) == sorted(seen) and sorted(f.unseen_hours) == sorted(unseen)
    assert len(seen) >= 5 and unseen and any(e.followup_id for e in escalations)
    assert f.over_cap == sum(r.over_cap for r in referrals.values() if r.status != "redirected")
    assert_section_safe(f, publish(f, REGISTRY["dash"]))


async def test_the_dashboard_of_all_programmes_has_a_section_per_programme_with_referrals(factory: Factory) -> None:
    await seed(factory, await template_payload(factory, START), 20, start=START)
    dashboard = await build(lambda: UnitOfWork(factory), REGISTRY, None, NOW)
    async with UnitOfWork(factory) as uow:
        f = await gather(uow, REGISTRY, "dash", NOW)
    assert dashboard.sections == (publish(f, REGISTRY["dash"]),) and f.referred >= 5
    served, fragment = await dashboard_html(lambda: UnitOfWork(factory), REGISTRY, "dash", NOW, "sv")
    assert served == dashboard and fragment.startswith('<section class="dash" aria-labelledby="dash-dash">')
    assert "Remisser per vecka" in fragment and fragment.count("<svg ") == 4


def test_a_derived_value_is_kept_by_its_ciphertext_and_only_until_the_next_look() -> None:
    from storage.dashboard import KEPT, Derived

    derived: list[bytes] = []

    def derive(token: bytes) -> int:
        derived.append(token)
        return len(token)

    look = Derived("test", "p")
    assert [look.value(token, derive) for token in (b"a", b"bb")] == [1, 2]
    look.end()
    look = Derived("test", "p")  # "bb" changed (re-encrypted, or erased): "ccc" is there instead
    assert [look.value(token, derive) for token in (b"a", b"ccc")] == [1, 3]
    look.end()
    assert derived == [b"a", b"bb", b"ccc"]  # "a" was not decrypted again
    assert len(KEPT[("test", "p")]) == 2  # and "bb"'s value is gone
    assert Derived("test", "other").value(b"a", derive) == 1 and derived[-1] == b"a"  # programmes apart
    del KEPT[("test", "p")]


async def test_a_second_look_counts_a_changed_payload_anew(factory: Factory) -> None:
    await seed(factory, await template_payload(factory, START), 40, start=START)
    async with UnitOfWork(factory) as uow:
        first = await uow.dashboard.enrolment_mansa("dash")
    changed = next(iter(first))
    async with UnitOfWork(factory) as uow:
        referral = await uow.referrals.get(changed)
        assert referral is not None
        payload = dict(referral.payload)
        payload["instruments"] = {**payload["instruments"], "mansa": {"mean": first[changed] + 1.0}}
        referral.payload = payload
    async with UnitOfWork(factory) as uow:
        again = await uow.dashboard.enrolment_mansa("dash")
    assert again == {**first, changed: first[changed] + 1.0}
