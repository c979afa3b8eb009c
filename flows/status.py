"""The statuses of an intake and of a referral, each named once (storage stores their values).

`IntakeStatus` is both the conversation state's `status` and the stored intake's; `ReferralStatus` is
the referral's. Everything else compares with these members, never with a raw string
(`tests/test_architecture.py` checks it).
"""

from __future__ import annotations

from enum import StrEnum


class IntakeStatus(StrEnum):
    """Where an intake stands. The flow moves a state between the first three; the service withdraws."""

    ACTIVE = "active"  # under way
    COMPLETED = "completed"  # finished: the referral content is stored
    DECLINED = "declined"  # consent refused: it ends without a referral
    WITHDRAWN = "withdrawn"  # the person deleted their data (/delete)

    @classmethod
    def closed(cls) -> tuple[str, ...]:
        """Ended without a referral to keep open."""
        return (cls.DECLINED.value, cls.WITHDRAWN.value)


class ReferralStatus(StrEnum):
    """Where a referral stands."""

    NEW = "new"  # eligible: offered to the programme's consultants with room
    WAITING = "waiting"  # eligible, but every consultant is full: on the programme's waiting list
    CLAIMED = "claimed"  # a consultant's open case
    CLOSED = "closed"  # the case is closed (with or without an outcome)
    REDIRECTED = "redirected"  # not for this programme: the candidate was pointed elsewhere

    @classmethod
    def open(cls) -> tuple[str, ...]:
        return (cls.NEW.value, cls.WAITING.value, cls.CLAIMED.value)
