"""The IPS clocks of a case: their names, in order, and the case-card buttons that start them.

The one source for the referral columns read by the exports, the case card's buttons and the JSON
schema's ``case`` object (``created_at`` is the referral's own time and comes first).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# A case-card button -> the clock its first press starts (first contact, meeting, employer contact).
CASE_STEP_CLOCKS: Mapping[str, str] = MappingProxyType(
    {"contact": "first_contact_at", "meeting": "first_meeting_at", "jobsearch": "job_search_at"}
)
# Every clock after the referral was made, in the order they happen.
CLOCKS: tuple[str, ...] = ("claimed_at", *CASE_STEP_CLOCKS.values(), "outcome_at", "closed_at")
