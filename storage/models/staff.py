"""The tables about staff: members, invites, offers and cases' slots, what they were shown, and
the staff area's sign-in (passkeys, sessions, one-time links)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import EncryptedJSON
from storage.models.base import Base, BigId


class Staff(Base):
    """A consultant, peer or coordinator who joined with an invite; found by a keyed hash of their id."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)  # storage.candidates.subject_hash
    contact: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())  # their address {"channel", "id"}; encrypted
    role: Mapped[str] = mapped_column(String(16))  # consultant | peer | coordinator | operator (programme "*")
    programme_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(80))
    language: Mapped[str] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class Invite(Base):
    """A one-time code to join as staff; only its hash is stored."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    programme_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class InviteAttempt(Base):
    """Wrong invite codes counted per person and hour: one row per window, not one per attempt.

    `subject_hash` is the keyed hash of the channel identity (as for staff and candidates); rows of
    past windows are deleted when a new attempt is counted.
    """

    __tablename__ = "invite_attempts"

    subject_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Offer(Base):
    """A referral summary sent to one consultant, so that their message can be updated later."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    # where the summary was sent (the consultant's address {"channel", "id"}; encrypted), and the
    # channel's reference to that message, so that it can be edited later
    address: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())
    message_ref: Mapped[BigId | None]
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class Slot(Base):
    """A time a peer (or consultant) offers for a first meeting; booked by at most one referral."""

    __tablename__ = "slots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    programme_id: Mapped[str] = mapped_column(String(32), index=True)
    starts_at: Mapped[datetime] = mapped_column(index=True)  # UTC
    minutes: Mapped[int] = mapped_column(Integer)
    place: Mapped[str] = mapped_column(String(16))  # jobcentre | psychiatry | cafe | video
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id", ondelete="SET NULL"), index=True)
    booked_at: Mapped[datetime | None]
    bookings: Mapped[int] = mapped_column(Integer, default=0)  # how often booked: part of the calendar UID
    withdrawn_at: Mapped[datetime | None]  # the peer took it back
    created_at: Mapped[datetime]


class ShownMessage(Base):
    """A message in a staff chat that showed a person (summary, export, booking notice, calendar file).

    Recorded when the outbox row is sent, so that erasing the person can delete or edit it; content-free
    (which address, encrypted, which message, what kind, when) and erased once the withdrawal is queued.
    """

    __tablename__ = "shown_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    address: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())  # {"channel", "id"}
    message_ref: Mapped[BigId]  # the channel's reference to the message
    kind: Mapped[str] = mapped_column(String(16))  # "text" | "document"
    sent_at: Mapped[datetime]


class StaffLogin(Base):
    """How a member of staff signs in to the staff area (`bot/channels/web/staff`): the channel identity
    the services know them by (`Staff.subject_hash` is only its hash), encrypted, and an e-mail address."""

    __tablename__ = "staff_logins"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True)
    identity: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())  # {"channel", "id"}
    created_at: Mapped[datetime]


class StaffCredential(Base):
    """A passkey (WebAuthn credential) of a member of staff: its id, public key and signature counter."""

    __tablename__ = "staff_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url, as the browser sends it
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE key: public, not secret
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class StaffSession(Base):
    """A signed-in browser: only the hash of its random cookie value is stored."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime]  # the last request: 30 minutes idle ends it
    verified_at: Mapped[datetime | None]  # the last passkey assertion: an export needs a fresh one
    ended_at: Mapped[datetime | None]


class StaffToken(Base):
    """A short-lived one-time token of the staff area: a WebAuthn challenge ("register", "login",
    "verify") or a sign-in link sent to a staff chat ("link"). Only its hash is stored."""

    __tablename__ = "staff_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())  # challenge, invite code, identity
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
