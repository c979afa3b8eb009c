"""Migrations: the stairway (each revision up, down, up) and models matching the migrated schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from storage.db import HEAD_REVISION, alembic_config, current_revision, downgrade, make_engine, upgrade
from storage.models import Base


async def _table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names) - {"alembic_version"}


async def test_stairway(backend_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(backend_url))
    revisions = list(script.walk_revisions("base", "heads"))
    revisions.reverse()
    assert revisions, "no migrations found"

    await downgrade(backend_url, "base")
    assert await _table_names(backend_url) == set()
    for revision in revisions:
        await upgrade(backend_url, revision.revision)
        await downgrade(backend_url, "-1")
        await upgrade(backend_url, revision.revision)
    assert await _table_names(backend_url) == {table.name for table in Base.metadata.sorted_tables}

    await downgrade(backend_url, "base")
    assert await _table_names(backend_url) == set()


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_models_match_migrations(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def test_upgrade_is_idempotent_and_creates_sqlite_directory(backend_url: str) -> None:
    await upgrade(backend_url)
    await upgrade(backend_url)
    assert "candidates" in await _table_names(backend_url)


async def test_head_revision_is_alembics_head_and_an_upgraded_database_needs_no_alembic(
        backend_url: str, tmp_path: Path) -> None:
    assert ScriptDirectory.from_config(alembic_config(backend_url)).get_heads() == [HEAD_REVISION]
    assert await current_revision(backend_url) in (None, HEAD_REVISION)  # fresh, or shared and migrated
    await upgrade(backend_url)
    assert await current_revision(backend_url) == HEAD_REVISION
    # a bot starting on a migrated database (SQLite migrates at every start) does not load Alembic
    probe = ("import asyncio, sys; from storage.db import upgrade; asyncio.run(upgrade(sys.argv[1])); "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic'}))")
    done = subprocess.run([sys.executable, "-c", probe, backend_url], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2], check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    await downgrade(backend_url, "0004")
    assert await current_revision(backend_url) == "0004"
    await upgrade(backend_url)  # not at head: Alembic runs
    assert await current_revision(backend_url) == HEAD_REVISION


async def test_downgrading_past_the_inbox_waits_for_its_updates(backend_url: str) -> None:
    """Updates in the inbox were confirmed to Telegram already: dropping the table would lose them."""
    await upgrade(backend_url)
    engine = make_engine(backend_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM update_inbox"))
            await connection.execute(text(
                "INSERT INTO update_inbox (source, event_id, received_at, processed_at, payload) "
                "VALUES ('telegram:1', 10, CURRENT_TIMESTAMP, NULL, NULL), "
                "('telegram:1', 9, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, NULL)"))
        with pytest.raises(RuntimeError, match="still waiting in the inbox"):
            await downgrade(backend_url, "0004")
        assert await current_revision(backend_url) == HEAD_REVISION  # nothing was changed
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE update_inbox SET processed_at = CURRENT_TIMESTAMP"))
    finally:
        await engine.dispose()
    await downgrade(backend_url, "0004")
    engine = make_engine(backend_url)
    try:
        async with engine.connect() as connection:
            kept = (await connection.execute(text("SELECT update_id FROM processed_updates ORDER BY 1"))).scalars()
            assert list(kept) == [9, 10]  # the handled ones come back as processed updates
    finally:
        await engine.dispose()
    await upgrade(backend_url)


async def test_0007_encrypts_triage_facts_and_offer_chats_and_decrypts_them_again(backend_url: str) -> None:
    """Existing plain health facts are encrypted by the upgrade, audit rows made content-free; the
    downgrade gives the plain values back."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from storage.crypto import current
    from storage.db import make_session_factory
    from storage.models import AuditEvent, Intake, Referral

    await downgrade(backend_url, "base")
    await upgrade(backend_url, "0005")
    at = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    token = current().encrypt(b'{"answers":{}}')
    engine = make_engine(backend_url)
    try:
        async with engine.begin() as connection:
            for statement in (
                "INSERT INTO candidates (id, subject_hash, channel, language, unreachable, created_at) "
                "VALUES (1, 'h1', 'telegram', 'sv', false, :at)",
                "INSERT INTO intakes (id, candidate_id, programme_id, language, status, state, state_version, "
                "started_at, updated_at) VALUES (1, 1, 'jonkoping', 'sv', 'completed', :token, 3, :at, :at)",
                "INSERT INTO referrals (id, intake_id, programme_id, language, created_at, outcome, reason, urgent, "
                "priority, status, payload) VALUES (1, 1, 'jonkoping', 'sv', :at, 'refer-gp', "
                "'reason.severe_symptoms', true, true, 'redirected', :token)",
                "INSERT INTO staff (id, subject_hash, contact, role, programme_id, name, language, active, created_at) "
                "VALUES (1, 's1', :token, 'consultant', 'jonkoping', 'Mia', 'sv', true, :at)",
                "INSERT INTO offers (id, referral_id, staff_id, chat_id, message_id, passed, created_at) "
                "VALUES (1, 1, 1, 424242, 7, false, :at)",
                "INSERT INTO audit_events (id, at, actor, action, referral_id, detail) "
                "VALUES (1, :at, 'candidate:abcd1234', 'referral.created', 1, 'refer-gp')",
            ):
                await connection.execute(text(statement), {"at": at, "token": token})
        await upgrade(backend_url, "0008")
        await engine.dispose()  # PostgreSQL: statements prepared before the schema changed are stale
        async with engine.connect() as connection:
            raw = (await connection.execute(text("SELECT outcome, reason, priority FROM referrals"))).one()
            chat = (await connection.execute(text("SELECT chat_id FROM offers"))).scalar_one()
        assert all(bytes(value).startswith(b"gAAAAA") for value in (*raw, chat))
        assert b"refer-gp" not in bytes(raw[0]) and b"424242" not in bytes(chat)
        async with make_session_factory(engine)() as session:
            referral = (await session.scalars(select(Referral))).one()
            assert (referral.outcome, referral.reason, referral.priority, referral.urgent) == (
                "refer-gp", "reason.severe_symptoms", True, True)
            assert orjson.loads(current().decrypt(bytes(chat))) == 424242
            actor_ref = (await session.scalars(select(Intake))).one().actor_ref
            assert actor_ref and len(actor_ref) == 16 and "abcd1234" not in actor_ref
            audit = (await session.scalars(select(AuditEvent))).one()
            assert (audit.actor, audit.detail) == ("candidate", "")
        await downgrade(backend_url, "0005")
        await engine.dispose()
        async with engine.connect() as connection:
            plain = (await connection.execute(text("SELECT outcome, reason, priority FROM referrals"))).one()
            assert tuple(plain) == ("refer-gp", "reason.severe_symptoms", True)
            assert (await connection.execute(text("SELECT chat_id FROM offers"))).scalar_one() == 424242
        await upgrade(backend_url)
        await engine.dispose()
    finally:
        async with engine.begin() as connection:  # leave no rows for the other tests' ciphers
            for table in ("offers", "audit_events", "referrals", "staff", "intakes", "candidates"):
                await connection.execute(text(f"DELETE FROM {table}"))
        await engine.dispose()


async def test_0011_turns_chats_into_addresses_and_back(backend_url: str) -> None:
    """Stored Telegram chat ids (offers, shown messages, contacts, unsent outbox payloads) become
    channel-neutral addresses that the new code reads; the downgrade gives the old form back."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from flows.address import Address
    from storage.crypto import current
    from storage.db import make_session_factory
    from storage.models import Candidate, Offer, OutboxMessage, ShownMessage, Staff

    def seal(value: Any) -> bytes:
        return current().encrypt(orjson.dumps(value))

    def unseal(token: Any) -> Any:
        return orjson.loads(current().decrypt(bytes(token)))

    await downgrade(backend_url, "base")
    await upgrade(backend_url, "0008")
    at = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    old_payload = {"chat_id": 424242, "user_id": 424242, "screens": [], "documents": [], "offer_id": None,
                   "edit": {"message_id": 7, "screen": {"text": "x"}}, "about": None,
                   "withdraw": [{"message_id": 8, "kind": "text", "delete": True}], "notice": "n"}
    values = {"at": at, "state": seal({"answers": {}}), "contact": seal({"chat_id": 555}),
              "staff_contact": seal({"chat_id": 424242}), "chat": seal(424242), "payload": seal(old_payload),
              "sent": seal({"chat_id": 1, "user_id": 1})}
    engine = make_engine(backend_url)
    try:
        async with engine.begin() as connection:
            for statement in (
                "INSERT INTO candidates (id, subject_hash, channel, contact, language, unreachable, created_at) "
                "VALUES (1, 'h1', 'telegram', :contact, 'sv', false, :at)",
                "INSERT INTO intakes (id, candidate_id, programme_id, language, status, state, state_version, "
                "started_at, updated_at) VALUES (1, 1, 'jonkoping', 'sv', 'completed', :state, 3, :at, :at)",
                "INSERT INTO referrals (id, intake_id, programme_id, language, created_at, outcome, reason, urgent, "
                "priority, status, payload) VALUES (1, 1, 'jonkoping', 'sv', :at, :state, :state, false, :state, "
                "'new', :state)",
                "INSERT INTO staff (id, subject_hash, contact, role, programme_id, name, language, active, created_at) "
                "VALUES (1, 's1', :staff_contact, 'consultant', 'jonkoping', 'Mia', 'sv', true, :at)",
                "INSERT INTO offers (id, referral_id, staff_id, chat_id, message_id, passed, created_at) "
                "VALUES (1, 1, 1, :chat, 7, false, :at)",
                "INSERT INTO shown_messages (id, subject_id, chat_id, message_id, kind, sent_at) "
                "VALUES (1, 1, :chat, 8, 'text', :at)",
                "INSERT INTO outbox (id, created_at, channel, payload, attempts, failure, topic) "
                "VALUES (1, :at, 'telegram', :payload, 0, '', '')",
                "INSERT INTO outbox (id, created_at, channel, payload, attempts, sent_at, failure, topic) "
                "VALUES (2, :at, 'telegram', :sent, 1, :at, '', '')",
            ):
                await connection.execute(text(statement), values)
        await upgrade(backend_url, "0011")
        await engine.dispose()
        chat = Address("telegram", "424242")
        async with make_session_factory(engine)() as session:
            offer = (await session.scalars(select(Offer))).one()
            assert (Address.from_dict(offer.address), offer.message_ref) == (chat, 7)
            shown = (await session.scalars(select(ShownMessage))).one()
            assert (Address.from_dict(shown.address), shown.message_ref) == (chat, 8)
            candidate = (await session.scalars(select(Candidate))).one()
            assert Address.from_dict(candidate.contact) == Address("telegram", "555")
            assert Address.from_dict((await session.scalars(select(Staff))).one().contact) == chat
            unsent, sent = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
            assert unsent.payload["to"] == chat.to_dict() and "chat_id" not in unsent.payload
            assert unsent.payload["edit"]["ref"] == 7 and unsent.payload["withdraw"][0]["ref"] == 8
            assert sent.payload == {"chat_id": 1, "user_id": 1}  # sent: never read again, left alone
        async with engine.connect() as connection:
            raw = (await connection.execute(text("SELECT address FROM offers"))).scalar_one()
        assert bytes(raw).startswith(b"gAAAAA") and b"424242" not in bytes(raw)  # still encrypted

        await downgrade(backend_url, "0008")
        await engine.dispose()
        async with engine.connect() as connection:
            offer_row = (await connection.execute(text("SELECT chat_id, message_id FROM offers"))).one()
            shown_row = (await connection.execute(text("SELECT chat_id, message_id FROM shown_messages"))).one()
            contact = (await connection.execute(text("SELECT contact FROM candidates"))).scalar_one()
            staff_contact = (await connection.execute(text("SELECT contact FROM staff"))).scalar_one()
            payload = (await connection.execute(text("SELECT payload FROM outbox WHERE id = 1"))).scalar_one()
        assert (unseal(offer_row[0]), offer_row[1]) == (424242, 7)
        assert (unseal(shown_row[0]), shown_row[1]) == (424242, 8)
        assert unseal(contact) == {"chat_id": 555} and unseal(staff_contact) == {"chat_id": 424242}
        assert unseal(payload) == old_payload
        await upgrade(backend_url)
        await engine.dispose()
    finally:
        async with engine.begin() as connection:  # leave no rows for the other tests' ciphers
            for table in ("outbox", "shown_messages", "offers", "referrals", "staff", "intakes", "candidates"):
                await connection.execute(text(f"DELETE FROM {table}"))
        await engine.dispose()


async def test_0012_keys_the_inbox_by_source_and_back(backend_url: str) -> None:
    """The inbox keyed by a bot's id becomes one keyed by a neutral source; waiting rows' sender notes
    are made again from the hash of the sender's address (read once from the encrypted payload), so
    the new code takes one person's updates and erases them; the downgrade gives the old shape back."""
    from datetime import UTC, datetime

    from storage.crypto import current, keyed_hash
    from storage.db import make_session_factory
    from storage.inbox import address_hash
    from storage.repositories import UnitOfWork
    from tests.support.people import tg_address

    def seal(value: Any) -> bytes:
        return current().encrypt(orjson.dumps(value))

    def old_key(user: int) -> int:
        return int(keyed_hash(f"inbox:telegram:{user}")[:15], 16)

    bot, source = 7_000_000_001, "telegram:7000000001"
    typed = {"update_id": 10, "message": {"from": {"id": 555}, "chat": {"id": 555}, "text": "hemligt"}}
    tapped = {"update_id": 11, "callback_query": {"from": {"id": 666}, "data": "x"}}
    nobodys = {"update_id": 12, "my_chat_member": {"chat": {"id": -5}}}
    at = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    await downgrade(backend_url, "base")
    await upgrade(backend_url, "0011")
    engine = make_engine(backend_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO update_inbox (bot_id, update_id, received_at, processed_at, payload, sender_key) "
                "VALUES (:bot, 10, :at, NULL, :typed, :k555), (:bot, 11, :at, NULL, :tapped, NULL), "
                "(:bot, 12, :at, NULL, :nobodys, NULL), (:bot, 9, :at, :at, NULL, NULL), "
                "(42, 10, :at, :at, NULL, NULL)"),
                {"bot": bot, "at": at, "typed": seal(typed), "tapped": seal(tapped), "nobodys": seal(nobodys),
                 "k555": old_key(555)})
        await upgrade(backend_url, "0012")
        await engine.dispose()
        factory = make_session_factory(engine)
        async with UnitOfWork(factory) as uow:
            assert await uow.updates.waiting(source) == [typed, tapped, nobodys]
            assert await uow.updates.waiting_of(source, tg_address(555), 10) == [typed]
            assert await uow.updates.waiting_of(source, tg_address(666), 10) == [tapped]
            assert await uow.updates.seen(source, 9) and await uow.updates.seen("telegram:42", 10)
            assert not await uow.updates.mark(source, 9, at)  # handled before: still once
            assert await uow.updates.drop_waiting_of({address_hash(tg_address(666))}) == 1
        async with engine.connect() as connection:
            columns = await connection.run_sync(lambda sync: inspect(sync).get_pk_constraint("update_inbox"))
        assert columns["constrained_columns"] == ["source", "event_id"]

        async with engine.begin() as connection:  # a source the old inbox has no place for: refused
            await connection.execute(text("INSERT INTO update_inbox (source, event_id, received_at, processed_at) "
                                          "VALUES ('web:1', 1, :at, :at)"), {"at": at})
        with pytest.raises(RuntimeError, match="web:1"):
            await downgrade(backend_url, "0011")
        assert await current_revision(backend_url) == "0012"
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM update_inbox WHERE source = 'web:1'"))

        await downgrade(backend_url, "0011")
        await engine.dispose()
        async with engine.connect() as connection:
            rows = (await connection.execute(text(
                "SELECT bot_id, update_id, processed_at IS NULL, sender_key FROM update_inbox "
                "ORDER BY bot_id, update_id"))).all()
            columns = await connection.run_sync(lambda sync: inspect(sync).get_pk_constraint("update_inbox"))
        assert [tuple(row) for row in rows] == [(42, 10, False, None), (bot, 9, False, None),
                                                (bot, 10, True, old_key(555)), (bot, 12, True, None)]
        assert columns["constrained_columns"] == ["bot_id", "update_id"]
        await upgrade(backend_url)
        await engine.dispose()
    finally:
        async with engine.begin() as connection:  # leave no rows for the other tests' ciphers
            await connection.execute(text("DELETE FROM update_inbox"))
        await engine.dispose()


async def test_0013_adds_risk_alerts_to_follow_ups_and_takes_them_away_again(backend_url: str) -> None:
    """A follow-up asked before 0013 keeps its row (no alert yet); an alert copy goes with the downgrade."""
    from datetime import UTC, datetime

    from storage.crypto import current

    await downgrade(backend_url, "base")
    await upgrade(backend_url, "0012")
    at = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    sealed = current().encrypt(orjson.dumps({"at": "status"}))
    engine = make_engine(backend_url)
    try:
        async with engine.begin() as connection:
            for statement in (
                "INSERT INTO candidates (id, subject_hash, channel, language, unreachable, created_at) "
                "VALUES (1, 'h1', 'telegram', 'da', false, :at)",
                "INSERT INTO intakes (id, candidate_id, programme_id, language, status, state, state_version, "
                "started_at, updated_at) VALUES (1, 1, 'vejle', 'da', 'completed', :state, 3, :at, :at)",
                "INSERT INTO referrals (id, intake_id, programme_id, language, created_at, outcome, reason, urgent, "
                "priority, status, payload) VALUES (1, 1, 'vejle', 'da', :at, :state, :state, true, :state, "
                "'claimed', :state)",
                "INSERT INTO staff (id, subject_hash, contact, role, programme_id, name, language, active, created_at) "
                "VALUES (1, 's1', :state, 'coordinator', 'vejle', 'Mia', 'da', true, :at)",
                "INSERT INTO followups (id, candidate_id, referral_id, programme_id, key, due_at, sent_at, status, "
                "version, state) VALUES (1, 1, 1, 'vejle', '6m', :at, :at, 'open', 2, :state)",
            ):
                await connection.execute(text(statement), {"at": at, "state": sealed})
        await upgrade(backend_url, "0013")
        await engine.dispose()
        async with engine.begin() as connection:
            row = (await connection.execute(text(
                "SELECT key, version, alerted_at, alert_seen_at, alert_seen_by, alert_resent_at FROM followups"))).one()
            assert tuple(row) == ("6m", 2, None, None, None, None)
            await connection.execute(text("UPDATE followups SET alerted_at = :at, alert_seen_by = 1"), {"at": at})
            await connection.execute(text("INSERT INTO alert_copies (id, followup_id, staff_id, message_ref, "
                                          "created_at) VALUES (1, 1, 1, 77, :at)"), {"at": at})
        await downgrade(backend_url, "0012")
        await engine.dispose()
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT key, version FROM followups"))).one() == ("6m", 2)
        assert "alert_copies" not in await _table_names(backend_url)
    finally:
        await upgrade(backend_url)
        await engine.dispose()
        async with engine.begin() as connection:  # leave no rows for the other tests' ciphers
            for table in ("escalation_copies", "escalations", "followups", "referrals", "staff", "intakes",
                          "candidates"):
                await connection.execute(text(f"DELETE FROM {table}"))
        await engine.dispose()


async def test_0014_turns_follow_up_risk_alerts_into_escalations_and_back(backend_url: str) -> None:
    """An unseen follow-up alert becomes an escalation due at once, a seen one a seen escalation (who and
    when kept); the downgrade puts them back on the follow-ups."""
    from datetime import UTC, datetime

    from storage.crypto import current

    await downgrade(backend_url, "base")
    await upgrade(backend_url, "0013")
    at = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    sealed = current().encrypt(orjson.dumps({"at": "status"}))
    engine = make_engine(backend_url)
    try:
        async with engine.begin() as connection:
            for statement in (
                "INSERT INTO candidates (id, subject_hash, channel, language, unreachable, created_at) "
                "VALUES (1, 'h1', 'telegram', 'da', false, :at)",
                "INSERT INTO intakes (id, candidate_id, programme_id, language, status, state, state_version, "
                "started_at, updated_at) VALUES (1, 1, 'vejle', 'da', 'completed', :state, 3, :at, :at)",
                "INSERT INTO referrals (id, intake_id, programme_id, language, created_at, outcome, reason, urgent, "
                "priority, status, payload) VALUES (1, 1, 'vejle', 'da', :at, :state, :state, true, :state, "
                "'claimed', :state)",
                "INSERT INTO staff (id, subject_hash, contact, role, programme_id, name, language, active, created_at) "
                "VALUES (1, 's1', :state, 'coordinator', 'vejle', 'Mia', 'da', true, :at)",
                "INSERT INTO followups (id, candidate_id, referral_id, programme_id, key, due_at, sent_at, status, "
                "version, state, alerted_at) VALUES (1, 1, 1, 'vejle', '6m', :at, :at, 'open', 2, :state, :at)",
                "INSERT INTO followups (id, candidate_id, referral_id, programme_id, key, due_at, sent_at, status, "
                "version, state, alerted_at, alert_seen_at, alert_seen_by) VALUES (2, 1, 1, 'vejle', '12m', :at, "
                ":at, 'answered', 3, :state, :at, :at, 1)",
                "INSERT INTO alert_copies (id, followup_id, staff_id, message_ref, created_at) "
                "VALUES (1, 1, 1, 77, :at)",
                # in hand too: an urgent referral nobody claimed, and a risk answer no referral carries (left)
                "INSERT INTO candidates (id, subject_hash, channel, language, unreachable, created_at) "
                "VALUES (2, 'h2', 'telegram', 'da', false, :at), (3, 'h3', 'telegram', 'da', false, :at)",
                "INSERT INTO intakes (id, candidate_id, programme_id, language, status, state, state_version, "
                "started_at, updated_at) VALUES (2, 2, 'vejle', 'da', 'completed', :state, 3, :at, :at), "
                "(3, 3, 'vejle', 'da', 'active', :state, 3, :at, :at)",
                "INSERT INTO referrals (id, intake_id, programme_id, language, created_at, outcome, reason, urgent, "
                "priority, status, payload) VALUES (2, 2, 'vejle', 'da', :at, :state, :state, true, :state, "
                "'new', :state)",
                "INSERT INTO risk_events (id, candidate_id, intake_id, at, detail) VALUES (1, 3, 3, :at, :state)",
            ):
                await connection.execute(text(statement), {"at": at, "state": sealed})
        await upgrade(backend_url, "0014")
        await engine.dispose()
        async with engine.connect() as connection:
            rows = (await connection.execute(text(
                "SELECT followup_id, cause, status, seen_by, next_at IS NULL FROM escalations "
                "WHERE followup_id IS NOT NULL ORDER BY followup_id"))).all()
            assert [tuple(r) for r in rows] == [(1, "followup", "sent", None, False), (2, "followup", "seen", 1, True)]
            rows = (await connection.execute(text(
                "SELECT candidate_id, referral_id, status FROM escalations WHERE followup_id IS NULL "
                "ORDER BY candidate_id"))).all()
            assert [tuple(r) for r in rows] == [(2, 2, "sent"), (3, None, "pending")]  # due at once
        assert "alert_copies" not in await _table_names(backend_url)
        await downgrade(backend_url, "0013")
        await engine.dispose()
        async with engine.connect() as connection:
            rows = (await connection.execute(text(
                "SELECT id, alerted_at IS NOT NULL, alert_seen_by FROM followups ORDER BY id"))).all()
            assert [tuple(r) for r in rows] == [(1, True, None), (2, True, 1)]
        assert "escalations" not in await _table_names(backend_url)
    finally:
        await upgrade(backend_url)
        await engine.dispose()
        async with engine.begin() as connection:  # leave no rows for the other tests' ciphers
            for table in ("escalation_copies", "escalations", "followups", "referrals", "staff", "intakes",
                          "candidates"):
                await connection.execute(text(f"DELETE FROM {table}"))
        await engine.dispose()
