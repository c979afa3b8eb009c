"""The IPS case, named once: its clocks (when each step first happened), the steps a consultant
records, and the outcomes a case can end with. Summaries, exports, storage and casework read these."""

from __future__ import annotations

# the clocks of a case, in order: the referral's columns and the export's `case` keys
CLOCKS = ("claimed_at", "first_contact_at", "first_meeting_at", "job_search_at", "outcome_at", "closed_at")
# a case card's button -> the clock it starts (the first press counts)
CASE_STEPS = {"contact": "first_contact_at", "meeting": "first_meeting_at", "jobsearch": "job_search_at"}
# what a case card shows: from the referral's creation through the recorded steps
CARD_CLOCKS = ("created_at", *CASE_STEPS.values())
CASE_OUTCOMES = ("ordinary_full", "ordinary_part", "ordinary_under_25", "flex", "education", "education_under_25",
                 "subsidised", "none")
