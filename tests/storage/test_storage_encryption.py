"""Encryption at rest through the database: no plaintext in the raw columns, wrong keys, rotation."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import crypto
from storage.crypto import Cipher, WrongKeyError
from storage.repositories import UnitOfWork

Factory = async_sessionmaker[AsyncSession]

ANSWER = "Jeg hører stemmer om natten"  # a known free-text answer
CHAT_ID = 918273645


async def _store_everything(factory: Factory, now: datetime) -> tuple[int, int]:
    async with UnitOfWork(factory) as uow:
        candidate = await uow.candidates.get_or_create(
            "telegram", str(CHAT_ID), language="da", now=now, contact={"chat_id": CHAT_ID}
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
    assert str(CHAT_ID).encode() not in raw_contact and b"chat_id" not in raw_contact
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
        # re-encrypt the stored token with the newest key, as a rotation job would
        raw = bytes((await uow.session.execute(text("SELECT payload FROM referrals"))).scalar_one())
        await uow.session.execute(
            text("UPDATE referrals SET payload = :token WHERE id = :id"),
            {"token": rotated.rotate(raw), "id": referral_id},
        )

    crypto.configure(Cipher([new_key], hash_key))  # the old key is gone now
    async with UnitOfWork(factory) as uow:
        referral = await uow.referrals.get(referral_id)
        assert referral is not None and referral.payload == {"motivation": ANSWER}
        with pytest.raises(WrongKeyError):
            await uow.intakes.latest(candidate.id)  # never re-encrypted: needs the old key
