"""ORM models: the tables of the intake bot and the column types they share.

Conventions:
- every `datetime` column is `UTCDateTime`: timezone-aware UTC in and out, on PostgreSQL
  (`timestamptz`) and on SQLite (which keeps no zone, so UTC is restored when reading);
- ids that channels hand out (update numbers, message references) are `BigId` (BIGINT); surrogate
  keys are plain INTEGER so that SQLite's rowid autoincrement works;
- what a person said or could be recognised by is encrypted (`EncryptedJSON`); look-ups go through
  `Candidate.subject_hash`, a keyed hash;
- constraints are named by `NAMING_CONVENTION`, so Alembic (batch mode on SQLite) can address them.
"""

from __future__ import annotations

from flows.status import IntakeStatus, ReferralStatus
from storage.models.base import NAMING_CONVENTION, Base, BigId, UTCDateTime
from storage.models.records import (
    AuditEvent,
    Candidate,
    Escalation,
    EscalationCause,
    EscalationCopy,
    FollowUp,
    FollowUpStatus,
    InboxUpdate,
    Intake,
    OutboxMessage,
    Referral,
    RiskEvent,
)
from storage.models.staff import (
    Invite,
    InviteAttempt,
    Offer,
    ShownMessage,
    Slot,
    Staff,
    StaffCredential,
    StaffLogin,
    StaffSession,
    StaffToken,
)

__all__ = [
    "NAMING_CONVENTION",
    "AuditEvent",
    "Base",
    "BigId",
    "Candidate",
    "Escalation",
    "EscalationCause",
    "EscalationCopy",
    "FollowUp",
    "FollowUpStatus",
    "InboxUpdate",
    "Intake",
    "IntakeStatus",
    "Invite",
    "InviteAttempt",
    "Offer",
    "OutboxMessage",
    "Referral",
    "ReferralStatus",
    "RiskEvent",
    "ShownMessage",
    "Slot",
    "Staff",
    "StaffCredential",
    "StaffLogin",
    "StaffSession",
    "StaffToken",
    "UTCDateTime",
]

