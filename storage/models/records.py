"""The tables about candidates and what happens to them: intakes, referrals, risk answers,
follow-ups, escalations, and the inbox, audit and outbox that carry them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import EncryptedJSON, EncryptedText
from storage.models.base import Base, BigId


class Candidate(Base):
    """A person who started an intake on some channel; identified only by a keyed hash."""

    __tablename__ = "candidates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # storage.candidates.subject_hash(channel, external_id)
    subject_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    channel: Mapped[str] = mapped_column(String(16))  # the channel they came by, e.g. "console"
    # where they are reached: an address {"channel", "id"} (`flows.address.Address`); encrypted
    contact: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON(), nullable=True)
    language: Mapped[str] = mapped_column(String(5))
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    # the person said /stop to follow-ups (their data stays; erasure is /delete)
    followups_stopped_at: Mapped[datetime | None]


class Intake(Base):
    """One run through a programme's questions: its conversation state and consent."""

    __tablename__ = "intakes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    programme_id: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(16))  # flows.status.IntakeStatus
    # the flow's conversation state (answers included); encrypted
    state: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())
    # +1 on each IntakeRepository.save_state; a save based on an older version is refused
    state_version: Mapped[int] = mapped_column(Integer, default=0)
    # who acted, in the audit trail: random per intake (not derived from the person), so an audit row
    # cannot be linked to anyone once the intake is erased, nor to the same person's next intake
    actor_ref: Mapped[str | None] = mapped_column(String(32))
    consent_version: Mapped[str | None] = mapped_column(String(32))
    consent_at: Mapped[datetime | None]
    consent_language: Mapped[str | None] = mapped_column(String(5))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class Referral(Base):
    """The result of a completed intake, for a consultant (status "new") or redirected elsewhere."""

    __tablename__ = "referrals"
    # the staff area's waiting list: a programme's waiting referrals in their order (migration 0016)
    __table_args__ = (Index("ix_referrals_waiting_list", "programme_id", "status", "waiting_since", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intake_id: Mapped[int] = mapped_column(ForeignKey("intakes.id", ondelete="CASCADE"), unique=True)
    programme_id: Mapped[str] = mapped_column(String(32), index=True)
    language: Mapped[str] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(index=True)
    # triage outcome, reason key and priority are health facts: encrypted (read as str/str/bool in Python;
    # no SQL filter can use them). `urgent` stays plain: the urgent re-send query needs it.
    outcome: Mapped[str] = mapped_column(EncryptedText())
    reason: Mapped[str] = mapped_column(EncryptedText())
    urgent: Mapped[bool] = mapped_column(Boolean)
    priority: Mapped[bool] = mapped_column(EncryptedJSON())
    status: Mapped[str] = mapped_column(String(16))  # flows.status.ReferralStatus
    # candidate facts, instruments, flags, motivation, triage, as built by the flows; encrypted
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())
    # the case, once a consultant has it (the IPS clocks: claimed, first contact, meeting, job search, outcome)
    consultant_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"), index=True)
    waiting_since: Mapped[datetime | None]
    resent_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    first_contact_at: Mapped[datetime | None]
    first_meeting_at: Mapped[datetime | None]
    job_search_at: Mapped[datetime | None]
    outcome_at: Mapped[datetime | None]
    case_outcome: Mapped[str | None] = mapped_column(String(32))
    closed_at: Mapped[datetime | None]
    # an urgent referral claimed by a consultant already at the caseload cap (counted in the report)
    over_cap: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RiskEvent(Base):
    """A risk answer (e.g. MDI item 6, PHQ-9 item 9), stored the moment it is given.

    Kept when the intake is restarted or abandoned, so a later referral of the same person still
    carries it, and an abandoned intake can still reach staff. Erased with the person (cascade).
    `detail` ({instrument, item, score}) is encrypted; its audit event holds no content.
    """

    __tablename__ = "risk_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    # the intake it was given in; kept (as a number) when that intake is purged
    intake_id: Mapped[int | None] = mapped_column(ForeignKey("intakes.id", ondelete="SET NULL"), index=True)
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())


class FollowUpStatus(StrEnum):
    """Values of `FollowUp.status`."""

    OPEN = "open"  # asked, waiting for (the rest of) the answers
    ANSWERED = "answered"
    LAPSED = "lapsed"  # no answer within the window, reminder included: "no answer" in the report
    STOPPED = "stopped"  # the person stopped follow-ups while this one was open
    MISSED = "missed"  # its window passed unasked (the bot was not running): never asked, counted in the report


class FollowUp(Base):
    """One follow-up of a claimed case (a programme's `followups` entry), asked once.

    Unique per referral and follow-up id, so that a restart or a second scheduler never asks twice;
    written with its outbox messages in one transaction. `state` (the dialogue: work/study status,
    instrument answers and scores) is encrypted; erased with the person (cascade).
    """

    __tablename__ = "followups"
    __table_args__ = (UniqueConstraint("referral_id", "key", name="uq_followups_referral_id_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"), index=True)
    programme_id: Mapped[str] = mapped_column(String(32), index=True)
    key: Mapped[str] = mapped_column(String(24))  # the programme's follow-up id, e.g. "6m"
    due_at: Mapped[datetime]  # when the trigger fired
    sent_at: Mapped[datetime]  # when it was asked (a missed one: when it was recorded as missed)
    status: Mapped[str] = mapped_column(String(16), index=True)  # FollowUpStatus
    version: Mapped[int] = mapped_column(Integer, default=0)  # +1 per accepted answer: older buttons are stale
    state: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())
    answered_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]  # lapsed, stopped or missed


class Escalation(Base):
    """An urgent case climbing the ladder until a named person has seen it (`flows.escalation`).

    Opened by a risk answer (in an intake, `PENDING` until the intake had its time to finish; at a
    follow-up) or by an urgent referral; one open escalation per person and cause at a time. Who was
    told (`told`, staff ids), the rung told last, when the next step is due, and who saw it when:
    no content. Erased with the person (cascade), which is how an escalation ends without a press.
    """

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_status_next_at", "status", "next_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    programme_id: Mapped[str] = mapped_column(String(32), index=True)
    cause: Mapped[str] = mapped_column(String(16))  # EscalationCause
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"), index=True)
    followup_id: Mapped[int | None] = mapped_column(ForeignKey("followups.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # flows.escalation.Status
    rung: Mapped[int] = mapped_column(Integer, default=-1)
    next_at: Mapped[datetime | None]
    told: Mapped[list[int]] = mapped_column(JSON, default=list)
    opened_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]  # first told to someone
    seen_at: Mapped[datetime | None]
    seen_by: Mapped[int | None] = mapped_column(Integer)  # a staff id


class EscalationCause(StrEnum):
    """Values of `Escalation.cause`."""

    INTAKE = "intake"  # a risk answer in an intake, or an urgent referral
    FOLLOWUP = "followup"  # a risk answer at a follow-up
    HOLDER_LEFT = "holder_left"  # an urgent case whose consultant was removed


class EscalationCopy(Base):
    """One staff member's copy of an escalation's message, so that every copy can say who took it.

    Like an offer: where it was sent (encrypted) and the channel's reference to the message, recorded
    when it is sent; erased with the escalation (cascade), so with the person.
    """

    __tablename__ = "escalation_copies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    rung: Mapped[int] = mapped_column(Integer)
    address: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())
    message_ref: Mapped[BigId | None]
    created_at: Mapped[datetime]


class InboxUpdate(Base):
    """An event a channel received (a Telegram update, say): kept until handled, then remembered for
    exactly-once handling.

    Keyed by the channel's `source` (one per bot or account, e.g. "telegram:<bot id>") and its own
    `event_id`. Polling writes each event here before confirming it (see `docs/design.md`, "Updates
    confirmed before they are handled"), so a crash loses nothing; `payload` (the raw event,
    encrypted: it holds what the person typed) is cleared once handled. `processed_at` is set in the
    same transaction as the event's effect, so a repeat is recognised and changes nothing.
    """

    __tablename__ = "update_inbox"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[BigId] = mapped_column(primary_key=True, autoincrement=False)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    payload: Mapped[Any | None] = mapped_column(EncryptedJSON)
    # who sent it: 60 bits of a keyed hash of the hash of their address (`storage.inbox.sender_key`),
    # never the address, so one person's waiting events can be taken, or erased, on their own;
    # cleared once handled
    sender_key: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_update_inbox_sender", "source", "sender_key", "processed_at"),)


class AuditEvent(Base):
    """Who saw or changed what, when. Content-free: `detail` never holds health data.

    `referral_id` has no foreign key on purpose: erasing a candidate keeps their audit trail.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))  # "candidate:<hash8>", "consultant:<id>", "cli"
    action: Mapped[str] = mapped_column(String(64))
    referral_id: Mapped[int | None] = mapped_column(Integer, index=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class OutboxMessage(Base):
    """Something to send, written in the same transaction as the change that caused it.

    A sender delivers it and marks it sent; if the process dies in between, the next sender sends
    it again, so nothing committed is lost (a message may, rarely, arrive twice). Rows of a
    candidate go with them when they are erased.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(String(16))  # which adapter sends it
    candidate_id: Mapped[int | None] = mapped_column(
        ForeignKey("candidates.id", ondelete="CASCADE"), index=True
    )
    # the person the message is about, whoever receives it (a consultant's summary, a peer's booking
    # notice, a reminder): erasing the person erases it, sent or not
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    # the adapter's rendered messages and recipient (may hold answers echoed back); encrypted
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    # why it was given up, e.g. "blocked"; never message content
    failure: Mapped[str] = mapped_column(String(64), default="")
    due_at: Mapped[datetime | None] = mapped_column(index=True)  # not before this (reminders)
    topic: Mapped[str] = mapped_column(String(64), default="", index=True)  # e.g. "slot:12" to cancel reminders
