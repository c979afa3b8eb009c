"""Repositories and the unit of work, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flows.address import Address
from storage.db import make_engine, make_session_factory
from storage.inbox import address_hash
from storage.models import AuditEvent, Candidate, Intake, Referral
from storage.repositories import CandidateRepository, Received, ReferralRepository, StaleStateError, UnitOfWork
from tests.support.people import tg_address

Factory = async_sessionmaker[AsyncSession]


async def _count(factory: Factory, model: type[Any]) -> int:
    async with UnitOfWork(factory) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


def _referral_fields(now: datetime, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "programme_id": "reconnect",
        "language": "da",
        "outcome": "eligible",
        "reason": "triage.default",
        "urgent": False,
        "priority": False,
        "status": "new",
        "payload": {"gad7": {"total": 12, "band": "moderate"}},
        "now": now,
    }
    fields.update(overrides)
    return fields


async def _finished_intake(factory: Factory, now: datetime, external_id: str = "1") -> Intake:
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.get_or_create("telegram", external_id, language="da", now=now)
        intake = await uow.intakes.start(
            candidate.id, programme_id="reconnect", language="da", state={"step": "done"}, now=now
        )
        await uow.intakes.finish(intake, status="completed", now=now)
    return intake


# --- candidates -----------------------------------------------------------------------------------


async def test_get_or_create_is_idempotent(factory: Factory, now: datetime) -> None:
    async with UnitOfWork(factory) as uow:
        first = await uow.candidates.get_or_create(
            "telegram", "123456789", language="da", now=now, contact=tg_address(123456789).to_dict()
        )
        again = await uow.candidates.get_or_create("telegram", "123456789", language="sv", now=now)
        assert again is first
    async with UnitOfWork(factory) as uow:
        found = await uow.candidates.find("telegram", "123456789")
        assert found is not None and found.id == first.id
        assert found.language == "da" and found.channel == "telegram"
        assert found.contact == {"channel": "telegram", "id": "123456789"}
        assert found.unreachable is False
        assert len(found.subject_hash) == 64 and "123456789" not in found.subject_hash
        assert await uow.candidates.find("console", "123456789") is None
        other = await uow.candidates.get_or_create("console", "123456789", language="da", now=now)
        assert other.id != first.id
    assert await _count(factory, Candidate) == 2


@pytest.mark.parametrize("code", ["zh-hans", "pt-br-x-long", "sv-SE", "DA"])
async def test_a_long_telegram_language_code_is_stored_as_a_supported_language(
        factory: Factory, now: datetime, code: str) -> None:
    """Telegram sends IETF tags longer than the 5-character columns (`zh-hans`); PostgreSQL refused them."""
    expected = {"sv-SE": "sv", "DA": "da"}.get(code, "en")
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.get_or_create("telegram", "55", language=code, now=now)
        invite = await uow.invites.create("c0de", role="consultant", programme_id="reconnect", name="Mette",
                                          now=now, expires_at=now + timedelta(days=7))
        member = await uow.staff.join(invite, "telegram", "66", contact=tg_address(66).to_dict(), language=code,
                                      now=now)
    async with UnitOfWork(factory) as uow:
        found = await uow.candidates.find("telegram", "55")
        assert found is not None and found.id == candidate.id and found.language == expected
        stored = await uow.staff.get(member.id)
        assert stored is not None and stored.language == expected


async def test_get_or_create_updates_contact_and_reachability(factory: Factory, now: datetime) -> None:
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.get_or_create("telegram", "7", language="da", now=now)
        candidate.unreachable = True
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.get_or_create(
            "telegram", "7", language="da", now=now, contact=tg_address(7).to_dict()
        )
    async with UnitOfWork(factory) as uow:
        found = await uow.candidates.find("telegram", "7")
        assert found is not None and found.contact == {"channel": "telegram", "id": "7"} and found.unreachable is False


async def test_get_or_create_concurrent_sessions_make_one_candidate(factory: Factory, now: datetime) -> None:
    async def create() -> int:
        async with UnitOfWork(factory) as uow:
            candidate = await uow.candidates.get_or_create("telegram", "555", language="da", now=now)
            await asyncio.sleep(0.05)  # hold the transaction open so the other one overlaps
            return candidate.id

    ids = await asyncio.gather(*(create() for _ in range(4)))
    assert len(set(ids)) == 1
    assert await _count(factory, Candidate) == 1


async def test_get_or_create_recovers_from_a_lost_race(
    factory: Factory, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with UnitOfWork(factory) as uow:
        winner = await uow.candidates.get_or_create("telegram", "99", language="da", now=now)

    original = CandidateRepository._with_latest
    calls = 0

    async def blind_first_lookup(self: CandidateRepository, hashed: str) -> tuple[Candidate, Intake | None] | None:
        nonlocal calls
        calls += 1
        return None if calls == 1 else await original(self, hashed)

    monkeypatch.setattr(CandidateRepository, "_with_latest", blind_first_lookup)
    async with UnitOfWork(factory) as uow:
        loser = await uow.candidates.get_or_create("telegram", "99", language="sv", now=now)
        assert loser.id == winner.id
        # the savepoint kept the outer transaction usable
        await uow.audit.record(actor="cli", action="test.after_race", at=now)
    assert calls == 2
    assert await _count(factory, Candidate) == 1
    assert await _count(factory, AuditEvent) == 1


async def test_delete_cascades_but_keeps_audit(factory: Factory, now: datetime) -> None:
    intake = await _finished_intake(factory, now)
    async with UnitOfWork(factory) as uow:
        referral, _ = await uow.referrals.create_once(intake, **_referral_fields(now))
        await uow.audit.record(actor="cli", action="referral.created", at=now, referral_id=referral.id)
        await uow.candidates.get_or_create("telegram", "other", language="da", now=now)
    async with UnitOfWork(factory) as uow:
        await uow.candidates.delete(intake.candidate_id)
    assert await _count(factory, Candidate) == 1
    assert await _count(factory, Intake) == 0
    assert await _count(factory, Referral) == 0
    async with UnitOfWork(factory) as uow:
        events = await uow.audit.for_referral(referral.id)
        assert [event.action for event in events] == ["referral.created"]


async def test_delete_removes_every_row_about_the_person(factory: Factory, now: datetime) -> None:
    """Messages to them and about them (sent or not), the record of what staff were shown, their
    waiting updates: gone; other people's stay."""
    from storage.candidates import subject_hash
    from storage.models import InviteAttempt, OutboxMessage, ShownMessage

    intake = await _finished_intake(factory, now, external_id="555")
    async with UnitOfWork(factory) as uow:
        await uow.referrals.create_once(intake, **_referral_fields(now))
        other = await uow.candidates.get_or_create("telegram", "666", language="da", now=now)
        person = intake.candidate_id
        await uow.outbox.add(channel="telegram", payload={"t": "x"}, now=now, candidate_id=person)
        about = await uow.outbox.add(channel="telegram", payload={"t": "x"}, now=now, subject_id=person)
        keep = await uow.outbox.add(channel="telegram", payload={"t": "y"}, now=now, subject_id=other.id)
        await uow.outbox.finish(about, at=now)  # sent already: goes too
        assert await uow.shown.record(person, 4242, [(10, "text"), (11, "document")], now)
        assert await uow.shown.record(other.id, 4242, [(12, "text")], now)
        await uow.updates.receive("telegram:1", [
            Received(1, tg_address(555), {"update_id": 1, "message": {"from": {"id": 555}, "text": "secret"}}),
            Received(2, tg_address(555), {"update_id": 2, "callback_query": {"from": {"id": 555}, "data": "x"}}),
            Received(3, tg_address(666), {"update_id": 3, "message": {"from": {"id": 666}, "text": "other"}}),
        ], now)
        for who in ("555", "666"):  # wrong invite codes typed (the counter is keyed by their identity's hash)
            await uow.invites.count_wrong_code(subject_hash("telegram", who), now)
    async with UnitOfWork(factory) as uow:
        await uow.candidates.delete(person)
    async with UnitOfWork(factory) as uow:
        counters = (await uow.session.scalars(select(InviteAttempt.subject_hash))).all()
        assert counters == [subject_hash("telegram", "666")]
        assert (await uow.session.scalars(select(OutboxMessage.id))).all() == [keep]
        assert [s.subject_id for s in (await uow.session.scalars(select(ShownMessage))).all()] == [other.id]
        assert [u["update_id"] for u in await uow.updates.waiting("telegram:1")] == [3]
        assert not await uow.shown.record(person, 4242, [(13, "text")], now)  # too late to record: erased


async def test_foreign_keys_cascade_in_the_database(factory: Factory, now: datetime) -> None:
    """On SQLite this holds only with PRAGMA foreign_keys=ON, set by make_engine."""
    intake = await _finished_intake(factory, now)
    async with UnitOfWork(factory) as uow:
        await uow.referrals.create_once(intake, **_referral_fields(now))
    async with UnitOfWork(factory) as uow:
        await uow.session.execute(text("DELETE FROM candidates"))
    assert await _count(factory, Intake) == 0
    assert await _count(factory, Referral) == 0


# --- intakes --------------------------------------------------------------------------------------


async def test_state_round_trip_and_resume_in_a_new_process(database_url: str, now: datetime) -> None:
    state = {"step": "gad7.3", "answers": {"gad7.1": 2, "gad7.2": 3}, "name": "Søren", "tags": [1, None]}
    engine = make_engine(database_url)
    try:
        factory = make_session_factory(engine)
        async with UnitOfWork(factory) as uow:
            candidate = await uow.candidates.get_or_create("telegram", "42", language="da", now=now)
            intake = await uow.intakes.start(
                candidate.id, programme_id="reconnect", language="da", state={"step": "start"}, now=now
            )
            assert intake.state_version == 0
        async with UnitOfWork(factory) as uow:
            active = await uow.intakes.active(candidate.id)
            assert active is not None
            later = now + timedelta(minutes=3)
            await uow.intakes.save_state(active, state, programme_id=None, language="sv", now=later)
            assert active.state_version == 1 and active.language == "sv"
    finally:
        await engine.dispose()

    engine = make_engine(database_url)  # as if the process had restarted
    try:
        async with UnitOfWork(make_session_factory(engine)) as uow:
            candidate_again = await uow.candidates.find("telegram", "42")
            assert candidate_again is not None
            resumed = await uow.intakes.active(candidate_again.id)
            assert resumed is not None and resumed.id == intake.id
            assert resumed.state == state
            assert resumed.state_version == 1
            assert resumed.language == "sv" and resumed.programme_id == "reconnect"
            assert resumed.updated_at == later and resumed.started_at == now
            assert resumed.updated_at.tzinfo is not None
    finally:
        await engine.dispose()


async def test_save_state_refuses_a_stale_copy(factory: Factory, now: datetime) -> None:
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.get_or_create("telegram", "8", language="da", now=now)
        await uow.intakes.start(candidate.id, programme_id="p", language="da", state={"n": 0}, now=now)
    async with UnitOfWork(factory) as uow:
        stale = await uow.intakes.active(candidate.id)
    async with UnitOfWork(factory) as uow:
        fresh = await uow.intakes.active(candidate.id)
        assert fresh is not None
        await uow.intakes.save_state(fresh, {"n": 1}, programme_id="p2", language="da", now=now)
    assert stale is not None
    with pytest.raises(StaleStateError):
        async with UnitOfWork(factory) as uow:
            await uow.intakes.save_state(stale, {"n": -1}, programme_id=None, language="da", now=now)
    async with UnitOfWork(factory) as uow:
        current = await uow.intakes.active(candidate.id)
        assert current is not None
        assert current.state == {"n": 1} and current.state_version == 1 and current.programme_id == "p2"
        # saving again from the up-to-date copy works, also after changing the dict in place
        current.state["n"] = 2
        await uow.intakes.save_state(current, current.state, programme_id=None, language="da", now=now)
    async with UnitOfWork(factory) as uow:
        again = await uow.intakes.active(candidate.id)
        assert again is not None and again.state == {"n": 2} and again.state_version == 2


async def test_consent_is_recorded(factory: Factory, now: datetime) -> None:
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.get_or_create("console", "me", language="sv", now=now)
        intake = await uow.intakes.start(candidate.id, programme_id="p", language="sv", state={}, now=now)
        assert intake.consent_at is None
        await uow.intakes.record_consent(
            intake, version="2026-01", language="sv", at=now + timedelta(seconds=5)
        )
    async with UnitOfWork(factory) as uow:
        loaded = await uow.intakes.latest(candidate.id)
        assert loaded is not None
        assert loaded.consent_version == "2026-01"
        assert loaded.consent_language == "sv"
        assert loaded.consent_at == now + timedelta(seconds=5)
        assert loaded.consent_at is not None and loaded.consent_at.tzinfo is not None


async def test_finish_active_and_latest(factory: Factory, now: datetime) -> None:
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.get_or_create("console", "x", language="da", now=now)
        assert await uow.intakes.active(candidate.id) is None
        assert await uow.intakes.latest(candidate.id) is None
        first = await uow.intakes.start(candidate.id, programme_id="p", language="da", state={}, now=now)
        with pytest.raises(ValueError, match="cannot finish"):
            await uow.intakes.finish(first, status="active", now=now)
        await uow.intakes.finish(first, status="declined", now=now + timedelta(minutes=1))
        assert await uow.intakes.active(candidate.id) is None
        second = await uow.intakes.start(
            candidate.id, programme_id="p", language="da", state={}, now=now + timedelta(minutes=2)
        )
    async with UnitOfWork(factory) as uow:
        active = await uow.intakes.active(candidate.id)
        latest = await uow.intakes.latest(candidate.id)
        assert active is not None and latest is not None
        assert active.id == latest.id == second.id
        await uow.intakes.finish(active, status="completed", now=now + timedelta(minutes=9))
    async with UnitOfWork(factory) as uow:
        assert await uow.intakes.active(candidate.id) is None
        done = await uow.intakes.latest(candidate.id)
        assert done is not None and done.status == "completed"
        assert done.completed_at == now + timedelta(minutes=9)


async def test_the_joined_read_gives_the_latest_intake_of_that_candidate(factory: Factory, now: datetime) -> None:
    async with UnitOfWork(factory) as uow:
        ana = await uow.candidates.get_or_create("telegram", "ana", language="da", now=now)
        bo = await uow.candidates.get_or_create("telegram", "bo", language="da", now=now)
        _, none_yet = await uow.candidates.get_or_create_with_latest("telegram", "ana", language="da", now=now)
        assert none_yet is None
        await uow.intakes.start(ana.id, programme_id="p", language="da", state={}, now=now)
        later = await uow.intakes.start(ana.id, programme_id="p", language="da", state={"n": 2},
                                        now=now + timedelta(minutes=1))
        same_time = await uow.intakes.start(ana.id, programme_id="p", language="da", state={"n": 3},
                                            now=now + timedelta(minutes=1))  # the higher id wins a tie
        older = await uow.intakes.start(bo.id, programme_id="p", language="da", state={}, now=now - timedelta(1))
        assert later.id < same_time.id
    async with UnitOfWork(factory) as uow:
        candidate, latest = await uow.candidates.get_or_create_with_latest("telegram", "ana", language="da", now=now)
        assert candidate.id == ana.id and latest is not None and latest.id == same_time.id
        assert latest.state == {"n": 3}  # decrypted like any other read
        _, of_bo = await uow.candidates.get_or_create_with_latest("telegram", "bo", language="da", now=now)
        assert of_bo is not None and of_bo.id == older.id
        new, nothing = await uow.candidates.get_or_create_with_latest("telegram", "cy", language="sv", now=now)
        assert nothing is None and new.language == "sv"


# --- referrals ------------------------------------------------------------------------------------


async def test_create_once_makes_one_referral(factory: Factory, now: datetime) -> None:
    intake = await _finished_intake(factory, now)
    async with UnitOfWork(factory) as uow:
        first, created = await uow.referrals.create_once(intake, **_referral_fields(now))
        assert created is True
        again, created_again = await uow.referrals.create_once(
            intake, **_referral_fields(now, outcome="other", payload={})
        )
        assert created_again is False and again.id == first.id
    async with UnitOfWork(factory) as uow:
        third, created_third = await uow.referrals.create_once(intake, **_referral_fields(now))
        assert created_third is False and third.id == first.id
        assert third.outcome == "eligible" and third.payload == {"gad7": {"total": 12, "band": "moderate"}}
    assert await _count(factory, Referral) == 1


async def test_create_once_from_concurrent_sessions(factory: Factory, now: datetime) -> None:
    intake = await _finished_intake(factory, now)

    async def create() -> tuple[int, bool]:
        async with UnitOfWork(factory) as uow:
            referral, created = await uow.referrals.create_once(intake, **_referral_fields(now))
            await asyncio.sleep(0.05)
            return referral.id, created

    results = await asyncio.gather(create(), create(), create())
    assert len({referral_id for referral_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, True]
    assert await _count(factory, Referral) == 1


async def test_create_once_recovers_from_a_lost_race(
    factory: Factory, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    intake = await _finished_intake(factory, now)
    async with UnitOfWork(factory) as uow:
        winner, _ = await uow.referrals.create_once(intake, **_referral_fields(now))

    original = ReferralRepository.for_intake
    calls = 0

    async def blind_first_lookup(self: ReferralRepository, intake_id: int) -> Referral | None:
        nonlocal calls
        calls += 1
        return None if calls == 1 else await original(self, intake_id)

    monkeypatch.setattr(ReferralRepository, "for_intake", blind_first_lookup)
    async with UnitOfWork(factory) as uow:
        loser, created = await uow.referrals.create_once(intake, **_referral_fields(now))
    assert created is False and loser.id == winner.id
    assert await _count(factory, Referral) == 1


async def test_stream_in_order_with_filters(factory: Factory, now: datetime) -> None:
    expected: list[tuple[int, str, datetime]] = []
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.get_or_create("console", "many", language="da", now=now)
        for number in range(30):
            programme = "reconnect" if number % 3 else "ips-adult"
            created_at = now + timedelta(hours=number)
            intake = await uow.intakes.start(
                candidate.id, programme_id=programme, language="da", state={}, now=created_at
            )
            referral, _ = await uow.referrals.create_once(
                intake, **_referral_fields(created_at, programme_id=programme, payload={"n": number})
            )
            expected.append((referral.id, programme, created_at))

    async with UnitOfWork(factory) as uow:
        everything = [(r.id, r.programme_id, r.created_at) async for r in uow.referrals.stream(batch=7)]
        assert everything == sorted(expected)

        since = now + timedelta(hours=10)
        some = [r.id async for r in uow.referrals.stream(since=since, programme_id="reconnect", batch=4)]
        assert some == [
            i for i, programme, at in sorted(expected) if programme == "reconnect" and at >= since
        ]
        assert len(some) == 14

        # a `since` in another zone means the same instant
        copenhagen = since.astimezone(ZoneInfo("Europe/Copenhagen"))
        assert [r.id async for r in uow.referrals.stream(since=copenhagen, programme_id="reconnect")] == some

        async with aclosing(uow.referrals.stream(batch=2)) as stream:  # stopping early closes the cursor
            async for referral in stream:
                assert referral.payload == {"n": 0}
                break

        got = await uow.referrals.get(expected[5][0])
        assert got is not None and got.payload == {"n": 5}
        assert await uow.referrals.get(10**6) is None


# --- audit, processed updates, unit of work -----------------------------------------------------------


async def test_audit_events_for_a_referral(factory: Factory, now: datetime) -> None:
    async with UnitOfWork(factory) as uow:
        await uow.audit.record(
            actor="consultant:1", action="referral.viewed", at=now + timedelta(minutes=2), referral_id=7
        )
        await uow.audit.record(actor="cli", action="referral.exported", at=now, referral_id=7, detail="json")
        await uow.audit.record(actor="cli", action="purge", at=now)
    async with UnitOfWork(factory) as uow:
        events = await uow.audit.for_referral(7)
    assert [(e.action, e.detail) for e in events] == [("referral.exported", "json"), ("referral.viewed", "")]
    assert all(e.at.tzinfo is not None for e in events)


async def test_processed_updates(factory: Factory, now: datetime) -> None:
    source, event_id = "telegram:7000000001", 9_000_000_123  # beyond 32 bits
    async with UnitOfWork(factory) as uow:
        assert await uow.updates.seen(source, event_id) is False
        assert await uow.updates.mark(source, event_id, now) is True
        assert await uow.updates.mark(source, event_id, now) is False
        assert await uow.updates.seen(source, event_id) is True
        assert await uow.updates.seen("telegram:7000000002", event_id) is False
    async with UnitOfWork(factory) as uow:
        assert await uow.updates.mark(source, event_id, now) is False
        assert await uow.updates.mark("telegram:7000000002", event_id, now) is True


def _received(raw: list[dict[str, Any]]) -> list[Received]:
    return [Received(u["update_id"], None, u) for u in raw]


async def test_the_inbox_keeps_updates_until_handled(factory: Factory, now: datetime) -> None:
    source, other_source = "telegram:7000000001", "telegram:7000000002"
    raw = [{"update_id": 9_000_000_000 + n, "message": {"text": f"svar {n} <b>"}} for n in (1, 2, 3)]
    async with UnitOfWork(factory) as uow:
        assert await uow.updates.receive(source, _received(raw[:2]), now) == {9_000_000_001, 9_000_000_002}
    async with UnitOfWork(factory) as uow:  # a repeat of one, and a new one: only the new one is new
        assert await uow.updates.receive(source, _received(raw[1:]), now) == {9_000_000_003}
        assert await uow.updates.receive(other_source, _received(raw[:1]), now) == {9_000_000_001}  # another's
    async with UnitOfWork(factory) as uow:
        assert await uow.updates.waiting(source) == raw
        assert await uow.updates.seen(source, 9_000_000_001) is False  # received is not handled
        assert await uow.updates.mark(source, 9_000_000_001, now) is True  # a handler's own mark
        await uow.updates.finish(source, [9_000_000_001, 9_000_000_002], now)  # closes only the other one
    async with UnitOfWork(factory) as uow:
        assert await uow.updates.waiting(source) == raw[2:]
        assert await uow.updates.mark(source, 9_000_000_002, now) is False  # finished counts as handled
        assert await uow.updates.receive(source, _received(raw[:1]), now) == set()  # handled: never again
        payloads = (await uow.session.execute(text(
            "SELECT event_id, payload FROM update_inbox WHERE source = :s ORDER BY event_id"), {"s": source})).all()
    assert [p is None for _, p in payloads] == [True, True, False]  # handled rows keep no payload
    assert b"svar" not in payloads[2][1]  # and the waiting one is encrypted

    async with UnitOfWork(factory) as uow:
        assert await uow.updates.forget(now + timedelta(seconds=1)) == 2  # the handled rows
    async with UnitOfWork(factory) as uow:
        assert await uow.updates.waiting(source) == raw[2:]  # a waiting one is never forgotten
        assert await uow.updates.waiting(other_source) == raw[:1]


async def test_the_inbox_takes_one_persons_waiting_updates_and_stores_no_user_id(factory: Factory,
                                                                                  now: datetime) -> None:
    source = "telegram:7000000002"
    alice, bob = tg_address(424_242), tg_address(515_151)

    def sent(update_id: int, user: int, kind: str = "message") -> dict[str, Any]:
        return {"update_id": update_id, kind: {"from": {"id": user}, "text": "hej"}}

    def sender(payload: Any) -> Address:  # the channel's reading of a payload: storage never parses one
        return tg_address(payload[next(k for k in payload if k != "update_id")]["from"]["id"])

    raw = [sent(1, 424_242), sent(2, 515_151), sent(3, 424_242, "callback_query"), sent(4, 424_242, "edited_message")]
    async with UnitOfWork(factory) as uow:
        await uow.updates.receive(source, [Received(u["update_id"], sender(u), u) for u in raw], now)
    async with UnitOfWork(factory) as uow:
        assert await uow.updates.waiting_of(source, alice, 10) == [raw[0], raw[2], raw[3]]  # in order
        assert await uow.updates.waiting_of(source, alice, 2) == [raw[0], raw[2]]
        assert await uow.updates.waiting_of(source, alice, 10, after=1) == [raw[2], raw[3]]
        assert await uow.updates.waiting_of(source, bob, 10) == [raw[1]]
        assert await uow.updates.waiting_of("telegram:1", alice, 10) == []  # another source's
        # folding closes them in the caller's transaction and says how many were still open
        assert await uow.updates.finish(source, [1, 3, 2], now) == 3
        assert await uow.updates.finish(source, [1, 3], now) == 0
    async with UnitOfWork(factory) as uow:
        assert await uow.updates.waiting_of(source, alice, 10) == [raw[3]]
        keys = dict((await uow.session.execute(text(
            "SELECT event_id, sender_key FROM update_inbox WHERE source = :s"), {"s": source})).all())
    # cleared once handled; never the id, nor a prefix of the person's look-up hash (a copy of the
    # database cannot link the row to the candidate)
    assert keys[1] is None and keys[4] is not None and keys[4] not in (424_242, 515_151)
    assert keys[4] != int(address_hash(alice)[:15], 16)
    async with UnitOfWork(factory) as uow:  # a row from before the inbox knew senders gets one at the start
        await uow.session.execute(text("UPDATE update_inbox SET sender_key = NULL WHERE source = :s"), {"s": source})
    async with UnitOfWork(factory) as uow:
        assert await uow.updates.waiting_of(source, alice, 10) == []
        assert await uow.updates.stamp_senders(source, sender) == await uow.updates.waiting(source)
    async with UnitOfWork(factory) as uow:
        assert await uow.updates.waiting_of(source, alice, 10) == [raw[3]]


async def test_erasure_drops_the_waiting_updates_sent_from_any_of_the_persons_addresses(
        factory: Factory, now: datetime) -> None:
    """Found by the hashes of the addresses the person is known by (their identity, and a contact
    that differs from it), on every source, without reading a payload; nobody else's go."""
    async with UnitOfWork(factory) as uow:
        person = await uow.candidates.get_or_create("telegram", "111", language="da", now=now,
                                                    contact=tg_address(222).to_dict())
        other = await uow.candidates.get_or_create("telegram", "333", language="da", now=now,
                                                   contact=tg_address(333).to_dict())
        assert person.subject_hash == address_hash(tg_address(111))  # the identity's hash is the look-up hash
        for source in ("telegram:1", "telegram:2"):
            await uow.updates.receive(source, [
                Received(1, tg_address(111), "by identity"), Received(2, tg_address(222), "by contact"),
                Received(3, tg_address(333), "someone else"), Received(4, None, "nobody's"),
                Received(5, Address("web", "111"), "another channel's 111"),
            ], now)
        await uow.updates.mark("telegram:1", 6, now)  # handled: the person's or not, it has no sender
        person_id, other_id = person.id, other.id
    async with UnitOfWork(factory) as uow:
        await uow.candidates.delete(person_id)
    async with UnitOfWork(factory) as uow:
        for source in ("telegram:1", "telegram:2"):
            assert await uow.updates.waiting(source) == ["someone else", "nobody's", "another channel's 111"]
        assert await uow.updates.seen("telegram:1", 6)
        await uow.candidates.delete(other_id)
    async with UnitOfWork(factory) as uow:
        assert await uow.updates.waiting("telegram:1") == ["nobody's", "another channel's 111"]


async def test_unit_of_work_rolls_back_on_error(factory: Factory, now: datetime) -> None:
    with pytest.raises(RuntimeError, match="handler failed"):
        async with UnitOfWork(factory) as uow:
            await uow.candidates.get_or_create("telegram", "1", language="da", now=now)
            raise RuntimeError("handler failed")
    assert await _count(factory, Candidate) == 0


# --- time -----------------------------------------------------------------------------------------


async def test_datetimes_come_back_aware_in_utc(factory: Factory) -> None:
    local = datetime(2026, 7, 1, 9, 15, tzinfo=ZoneInfo("Europe/Stockholm"))
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.get_or_create("console", "tz", language="sv", now=local)
        await uow.updates.mark("telegram:1", 1, local)
    async with UnitOfWork(factory) as uow:
        loaded = await uow.candidates.find("console", "tz")
        assert loaded is not None and loaded.id == candidate.id
        assert loaded.created_at.tzinfo is not None
        assert loaded.created_at.utcoffset() == timedelta(0)
        assert loaded.created_at == local
        assert loaded.created_at == datetime(2026, 7, 1, 7, 15, tzinfo=UTC)


async def test_naive_datetimes_are_refused(factory: Factory) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with UnitOfWork(factory) as uow:
            await uow.candidates.get_or_create("console", "naive", language="da", now=datetime(2026, 1, 1))
