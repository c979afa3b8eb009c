"""The IPS case, named once: its clocks (when each step first happened), the steps a consultant
records, and the outcomes a case can end with. Summaries, exports, the JSON schema, storage and
casework read these."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# A case-card button -> the clock its first press starts (first contact, meeting, employer contact).
CASE_STEP_CLOCKS: Mapping[str, str] = MappingProxyType(
    {"contact": "first_contact_at", "meeting": "first_meeting_at", "jobsearch": "job_search_at"}
)
# Every clock after the referral was made, in the order they happen: the referral's columns and the
# export's `case` keys.
CLOCKS: tuple[str, ...] = ("claimed_at", *CASE_STEP_CLOCKS.values(), "outcome_at", "closed_at")
# What a case card shows: from the referral's creation through the recorded steps.
CARD_CLOCKS = ("created_at", *CASE_STEP_CLOCKS.values())
CASE_OUTCOMES = ("ordinary_full", "ordinary_part", "ordinary_under_25", "flex", "education", "education_under_25",
                 "subsidised", "none")
