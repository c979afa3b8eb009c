"""Staff sign-in for the staff web area: sessions, one-time tokens and sign-in links (OWASP ASVS V3).

A session is an opaque random value in the browser's cookie; only its keyed hash is stored. It
is checked on every request against what is stored now, never trusted from the cookie: it ends
after `IDLE` without a request, `ABSOLUTE` after sign-in, and at once when the member of staff is
removed (inactive) or signs out. Signing in and every privilege step make a new session (the old
one ends), so a value seen before sign-in is worth nothing after it. An export needs a passkey
assertion within `FRESH` (`verified_at`).

One-time tokens (WebAuthn challenges, sign-in links) are stored hashed, used once, and short-lived.
Transport-neutral: the channel (`bot/channels/web/staff`) does the WebAuthn ceremony and the cookie.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.services.notify import Notifier, Who, staff_address
from flows.address import Address
from flows.screens import Screen
from locales import Translator
from storage.crypto import keyed_hash
from storage.models import Staff, StaffSession
from storage.repositories import UnitOfWork

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
FRESH = timedelta(minutes=5)  # an export asks for the passkey again unless it was given this recently
CHALLENGE = timedelta(minutes=5)
LINK = timedelta(minutes=10)  # a sign-in link sent to a member of staff's own conversation
WEB = "web"  # the channel of a member of staff who joined in the staff area


def hashed(raw: str) -> str:
    return keyed_hash(f"staff-token:{raw}")


def new_value() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A checked session: the row, the member of staff as stored now, and who they are to the services."""

    row: StaffSession
    staff: Staff
    who: Who

    def fresh(self, now: datetime) -> bool:
        return self.row.verified_at is not None and now - self.row.verified_at <= FRESH


def who_of(staff: Staff, identity: dict[str, Any] | None) -> Who:
    """The member of staff as the services find them (`uow.staff.find(channel, external_id)`); what the
    services answer goes to their own address (their messenger, their e-mail)."""
    identity = identity or {}
    return Who(str(identity.get("channel", "")), str(identity.get("id", "")), staff_address(staff.contact),
               staff.language)


def web_identity() -> tuple[str, Address]:
    """A new identity for someone joining in the staff area: a random id the services know them by."""
    ident = secrets.token_urlsafe(18)
    return ident, Address(WEB, ident)


async def open_session(uow: UnitOfWork, staff: Staff, now: datetime, *, verified: bool,
                       previous: str | None = None) -> str:
    """A new session (the raw value for the cookie); the one the browser held before ends (rotation)."""
    if previous:
        await end_session(uow, previous, now)
    raw = new_value()
    await uow.staff_web.open_session(hashed(raw), staff.id, now, verified=verified)
    await uow.audit.record(actor=f"staff:{staff.id}", action="staff.signed_in", at=now,
                           detail="passkey" if verified else "link")
    return raw


async def end_session(uow: UnitOfWork, raw: str, now: datetime) -> None:
    row = await uow.staff_web.session_of(hashed(raw))
    if row is not None:
        row.ended_at = now


async def current(uow: UnitOfWork, raw: str | None, now: datetime) -> SignedIn | None:
    """The session of this cookie value as it stands now, touched; None (and ended) if it is over."""
    if not raw or len(raw) > 100:
        return None
    row = await uow.staff_web.session_of(hashed(raw))
    if row is None:
        return None
    staff = await uow.staff.get(row.staff_id)
    over = ("removed" if staff is None or not staff.active else "idle" if now - row.seen_at > IDLE
            else "absolute" if now - row.created_at > ABSOLUTE else "")
    if staff is None or over:
        row.ended_at = now  # and the refusal is kept: a removed member's browser still knocking is worth knowing
        await uow.audit.record(actor=f"staff:{row.staff_id}", action="staff.session_ended", at=now, detail=over)
        return None
    row.seen_at = now
    return SignedIn(row, staff, who_of(staff, await uow.staff_web.identity(staff.id)))


async def add_token(uow: UnitOfWork, kind: str, data: dict[str, Any], now: datetime, *,
                    staff_id: int | None = None, lifetime: timedelta = CHALLENGE) -> str:
    await uow.staff_web.forget_tokens(now)
    raw = new_value()
    await uow.staff_web.add_token(hashed(raw), kind, staff_id, data, now + lifetime)
    return raw


async def take_token(uow: UnitOfWork, raw: str | None, kind: str, now: datetime) -> dict[str, Any] | None:
    """The token's data, used up; None if it is unknown, used, of another kind or expired."""
    if not raw or len(raw) > 100:
        return None
    row = await uow.staff_web.take_token(hashed(raw), kind, now)
    if row is None:
        return None
    return {**row.data, "staff_id": row.staff_id}


async def send_link(uow: UnitOfWork, notifier: Notifier, who: Who, base_url: str, now: datetime) -> int | None:
    """A one-time sign-in link to a member of staff's own address (they asked there, e.g. `/web`)."""
    staff = await uow.staff.find(who.channel, who.external_id)
    if staff is None or not staff.active:
        return None
    raw = await add_token(uow, "link", {"channel": who.channel, "id": who.external_id}, now, staff_id=staff.id,
                          lifetime=LINK)
    await uow.audit.record(actor=f"staff:{staff.id}", action="staff.link_sent", at=now)
    text = Translator(staff.language)("staff.web.link", url=f"{base_url.rstrip('/')}/staff/link?t={raw}",
                                      minutes=int(LINK.total_seconds() // 60))
    return await notifier.queue(uow, staff_address(staff.contact), [Screen(text)], now)


async def use_link(uow: UnitOfWork, raw: str | None, now: datetime) -> Staff | None:
    """The member of staff a sign-in link was sent to, if it is unused, in time and they are still active."""
    data = await take_token(uow, raw, "link", now)
    if data is None or data.get("staff_id") is None:
        return None
    staff = await uow.staff.find(str(data["channel"]), str(data["id"]))
    if staff is None or staff.id != data["staff_id"] or not staff.active:
        return None
    await uow.staff_web.set_identity(staff.id, {"channel": data["channel"], "id": data["id"]}, now)
    return staff
