"""Encryption at rest through the database: no plaintext in the raw columns, wrong keys, rotation."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import crypto
from storage.crypto import Cipher, WrongKeyError
from storage.repositories import UnitOfWork
from tests.support.people import tg_address

Factory = async_sessionmaker[AsyncSession]

ANSWER = "Jeg hører stemmer om natten"  # a known free-text answer
CHAT_ID = 918273645


async def _store_everything(factory: Factory, now: datetime) -> tuple[int, int]:
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.get_or_create(
            "telegram", str(CHAT_ID), language="da", now=now, contact=tg_address(CHAT_ID).to_dict()
        )
        intake = await uow.intakes.start(
            candidate.id, programme_id="reconnect", language="da", state={"step": "start"}, now=now
        )
        await uow.intakes.save_state(
            intake, {"answers": {"free_text": ANSWER}}, programme_id=None, language="da", now=now
        )
        referral, _ = await uow.referrals.create_once(
            intake,
            programme_id="reconnect",
            language="da",
            outcome="eligible",
            reason="triage.default",
            urgent=False,
            priority=False,
            status="new",
            payload={"motivation": ANSWER},
            now=now,
        )
    return intake.id, referral.id


def _plaintexts() -> list[bytes]:
    return [
        ANSWER.encode("utf-8"),
        json.dumps(ANSWER).encode("ascii"),  # JSON with \\u escapes
        "hører".encode(),
        b"stemmer",
        b"free_text",
        b"motivation",
    ]


async def test_raw_columns_hold_no_plaintext(factory: Factory, now: datetime) -> None:
    intake_id, referral_id = await _store_everything(factory, now)
    async with UnitOfWork(factory) as uow:
        state = await uow.session.execute(text("SELECT state FROM intakes WHERE id = :id"), {"id": intake_id})
        payload = await uow.session.execute(
            text("SELECT payload FROM referrals WHERE id = :id"), {"id": referral_id}
        )
        contact = await uow.session.execute(text("SELECT contact, subject_hash FROM candidates"))
        raw_state = bytes(state.scalar_one())
        raw_payload = bytes(payload.scalar_one())
        raw_contact, subject_hash = contact.one()
    raw_contact = bytes(raw_contact)
    for raw in (raw_state, raw_payload):
        assert raw.startswith(b"gAAAAA")  # a Fernet token
        for plaintext in _plaintexts():
            assert plaintext not in raw
    assert str(CHAT_ID).encode() not in raw_contact and b"telegram" not in raw_contact
    assert str(CHAT_ID) not in subject_hash

    async with UnitOfWork(factory) as uow:
        referral = await uow.referrals.get(referral_id)
        assert referral is not None and referral.payload == {"motivation": ANSWER}


async def test_wrong_key_is_reported_clearly(factory: Factory, now: datetime) -> None:
    _, referral_id = await _store_everything(factory, now)
    crypto.configure(Cipher([Fernet.generate_key()]))
    with pytest.raises(WrongKeyError, match="configured encryption key"):
        async with UnitOfWork(factory) as uow:
            await uow.referrals.get(referral_id)


async def test_rotation_keeps_data_readable_and_rewrites_with_the_new_key(
    factory: Factory, now: datetime
) -> None:
    old_key = Fernet.generate_key()
    hash_key = Fernet.generate_key()
    crypto.configure(Cipher([old_key], hash_key))
    _, referral_id = await _store_everything(factory, now)

    new_key = Fernet.generate_key()
    rotated = Cipher([new_key, old_key], hash_key)
    crypto.configure(rotated)
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.find("telegram", str(CHAT_ID))  # hash key unchanged
        assert candidate is not None
        intake = await uow.intakes.active(candidate.id)
        assert intake is not None and intake.state == {"answers": {"free_text": ANSWER}}
        # re-encrypt the referral's stored tokens with the newest key, as a rotation job would
        for column in ("payload", "outcome", "reason", "priority"):
            raw = bytes((await uow.session.execute(text(f"SELECT {column} FROM referrals"))).scalar_one())
            await uow.session.execute(
                text(f"UPDATE referrals SET {column} = :token WHERE id = :id"),
                {"token": rotated.rotate(raw), "id": referral_id},
            )

    crypto.configure(Cipher([new_key], hash_key))  # the old key is gone now
    async with UnitOfWork(factory) as uow:
        referral = await uow.referrals.get(referral_id)
        assert referral is not None and referral.payload == {"motivation": ANSWER}
        with pytest.raises(WrongKeyError):
            await uow.intakes.latest(candidate.id)  # never re-encrypted: needs the old key


def test_every_encrypted_column_of_the_models_is_rotated_and_checked() -> None:
    """Rotation and `keys check` take their columns from the models, not from a list kept by hand."""
    from sqlalchemy import Column, Integer, MetaData, Table

    from storage.keys import encrypted_columns

    found = {f"{table.name}.{column.name}" for table, column in encrypted_columns()}
    assert {"staff.contact", "update_inbox.payload", "offers.address", "referrals.outcome", "referrals.reason",
            "referrals.priority", "shown_messages.address"} <= found

    later = MetaData()  # a model that gains an encrypted column, with a composite key
    Table("later", later, Column("a", Integer, primary_key=True), Column("b", Integer, primary_key=True),
          Column("secret", crypto.EncryptedText()), Column("plain", Integer))

    assert [(t.name, c.name) for t, c in encrypted_columns(later)] == [("later", "secret")]


async def test_rotation_covers_a_table_with_a_composite_key(engine: Any, factory: Factory) -> None:
    from sqlalchemy import Column, Integer, MetaData, Table, insert, select

    from storage.keys import rotate_all

    metadata = MetaData()
    probe = Table("rotation_probe", metadata, Column("a", Integer, primary_key=True, autoincrement=False),
                  Column("b", Integer, primary_key=True, autoincrement=False), Column("secret", crypto.EncryptedText()))
    old_key, new_key, hash_key = (Fernet.generate_key() for _ in range(3))
    crypto.configure(Cipher([old_key], hash_key))
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(probe), [{"a": a, "b": b, "secret": f"s{a}{b}"}
                                                     for a in range(3) for b in range(3)])
        counts = await rotate_all(factory, Cipher([new_key, old_key], hash_key), batch=2, metadata=metadata)
        assert counts == {"rotation_probe.secret": 9}
        crypto.configure(Cipher([new_key], hash_key))  # the old key is gone
        async with engine.connect() as connection:
            rows = (await connection.execute(select(probe).order_by(probe.c.a, probe.c.b))).all()
        assert [row.secret for row in rows] == [f"s{a}{b}" for a in range(3) for b in range(3)]
    finally:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.drop_all)


async def test_keys_check_reads_every_row_and_names_each_column_a_key_cannot_read(
    factory: Factory, now: datetime
) -> None:
    """A row written after a rotation by a process that still held only the old key: `keys check`
    finds it, though the first row of the column reads fine (a sample of one would pass)."""
    from storage.keys import check, rotate_all

    old_key, new_key, hash_key = (Fernet.generate_key() for _ in range(3))
    crypto.configure(Cipher([old_key], hash_key))
    await _store_everything(factory, now)
    await rotate_all(factory, Cipher([new_key, old_key], hash_key))
    async with UnitOfWork(factory) as uow:  # the process never restarted: it writes with the old key
        candidate = await uow.candidates.get_or_create("web", "late", language="da", now=now)
        await uow.intakes.start(candidate.id, programme_id="reconnect", language="da", state={"step": "x"}, now=now)

    counts = await check(factory, Cipher([new_key, old_key], hash_key), batch=1)
    assert counts["intakes.state"] == 2 and counts["referrals.payload"] == 1
    with pytest.raises(WrongKeyError) as refused:
        await check(factory, Cipher([new_key], hash_key), batch=1)
    message = str(refused.value)
    assert "intakes.state 1 of 2" in message and "referrals.payload" not in message and "\n" not in message
