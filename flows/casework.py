"""Casework's rules without a database: who a new referral is offered to, the caseload cap on a
claim, what a case-card button does to a case, the IPS clocks a card shows and an export carries,
and the files of a consultant's case export.

`bot.services.offers`, `bot.services.cases` and `bot.services.staffing` load what these need, call
them, and store and send what they decide; so every rule here is tested without a database
(`tests/flows/test_casework.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from flows.ips import CARD_CLOCKS, CASE_OUTCOMES, CASE_STEP_CLOCKS, CLOCKS
from flows.referral import export_record

T = TypeVar("T")

# --- offering ------------------------------------------------------------------------------------


class Routing(StrEnum):
    """Where a new eligible referral goes."""

    OFFER = "offer"  # to the consultants named
    FULL = "full"  # every consultant is at the cap: the waiting list, with a place
    NO_CONSULTANT = "no_consultant"  # the programme has none: it waits without a place


@dataclass(frozen=True)
class Offering(Generic[T]):
    routing: Routing
    to: tuple[T, ...] = ()
    tell_coordinators: bool = False  # nobody to offer it to: the coordinators must know (urgent: its escalation)


def who_is_offered(urgent: bool, consultants: Sequence[T], with_room: Sequence[T]) -> Offering[T]:
    """A new referral goes to every consultant with room; an urgent one to every consultant, full or
    not (an urgent claim may exceed the cap)."""
    if not consultants:
        return Offering(Routing.NO_CONSULTANT, tell_coordinators=not urgent)
    to = tuple(consultants if urgent else with_room)
    return Offering(Routing.OFFER, to) if to else Offering(Routing.FULL)


class ClaimCheck(StrEnum):
    """A claim against the caseload cap."""

    WITHIN = "within"
    OVER_CAP = "over_cap"  # urgent, above the cap: allowed, and kept on the referral for the report
    FULL = "full"  # refused: the consultant has no room


def check_claim(open_cases: int, cap: int, urgent: bool) -> ClaimCheck:
    if open_cases < cap:
        return ClaimCheck.WITHIN
    return ClaimCheck.OVER_CAP if urgent else ClaimCheck.FULL


def due_again(created_at: datetime, urgent_window_hours: int, now: datetime) -> bool:
    """Whether an unclaimed urgent referral has waited its programme's window: offered again now."""
    return created_at < now - timedelta(hours=urgent_window_hours)


Update = Literal["edit", "send", "withdraw", "none"]


def update_on_completion(eligible: bool, shown: bool) -> Update:
    """An open offer of an urgent partial referral whose person came back and finished it: the whole
    summary replaces the shown one (`edit`), or goes now if none was shown yet (`send`); outside the
    target group, a shown offer is replaced by a notice, so no Claim is left to press (`withdraw`)."""
    if eligible:
        return "edit" if shown else "send"
    return "withdraw" if shown else "none"


def told_of_withdrawal(holder_id: int | None, offered_ids: Iterable[int]) -> list[int]:
    """Who is told that a person withdrew: whoever holds their referral, then whoever was offered it;
    each once."""
    return list(dict.fromkeys([*([holder_id] if holder_id else []), *offered_ids]))


# --- the case card ---------------------------------------------------------------------------------


class CaseMove(StrEnum):
    """What a button on a case card asks for."""

    ASK_OUTCOME = "ask_outcome"  # the question of the outcome
    CHANGE = "change"  # a step, an outcome or closing: recorded, then the card anew
    CANCEL_MEETING = "cancel_meeting"  # the booked first meeting
    NOTHING = "nothing"


@dataclass(frozen=True)
class CaseStep:
    move: CaseMove
    changes: Mapping[str, object] = field(default_factory=dict)  # the case's fields it sets
    closes: bool = False
    audit: str = ""  # the audit action ("case.contact") and its detail (the outcome)
    detail: str = ""
    card_again: bool = False  # answered on the outcome question: the card comes as a new message

    @property
    def recorded(self) -> bool:
        return self.move is CaseMove.CHANGE


def case_step(button: str, clocks: Mapping[str, datetime | None], now: datetime) -> CaseStep:
    """What a case-card button does to the case, given its clocks now. A step's clock starts at its
    first press only (the IPS clocks count from the first contact, meeting, employer contact)."""
    if button == "outcome":
        return CaseStep(CaseMove.ASK_OUTCOME)
    if button == "meetcancel":
        return CaseStep(CaseMove.CANCEL_MEETING)
    kind, _, value = button.partition(":")
    audit = f"case.{kind}"
    if kind == "outcome" and value in CASE_OUTCOMES:
        return CaseStep(CaseMove.CHANGE, {"case_outcome": value, "outcome_at": now}, audit=audit, detail=value,
                        card_again=True)
    if button in CASE_STEP_CLOCKS:
        clock = CASE_STEP_CLOCKS[button]
        return CaseStep(CaseMove.CHANGE, {clock: now} if clocks.get(clock) is None else {}, audit=audit)
    if button == "close":
        return CaseStep(CaseMove.CHANGE, {"closed_at": now}, closes=True, audit=audit)
    return CaseStep(CaseMove.NOTHING)


def card_clocks(case: object) -> dict[str, datetime | None]:
    """The clocks a case card shows, read from a stored case (its attributes of those names)."""
    return {name: getattr(case, name) for name in CARD_CLOCKS}


# --- the case export -------------------------------------------------------------------------------


def export_clocks(case: object) -> dict[str, str | None]:
    """Every IPS clock of a stored case, as ISO text (None where it has not happened)."""
    values: dict[str, datetime | None] = {name: getattr(case, name) for name in CLOCKS}
    return {name: value.isoformat() if value else None for name, value in values.items()}


def case_documents(referral_id: int, created_at: datetime, status: str, payload: dict[str, Any],
                   clocks: dict[str, str | None], outcome: str | None) -> list[dict[str, str]]:
    """A consultant's export of one case: the referral record (JSON) and its FHIR responses."""
    from flows.fhir import questionnaire_responses  # fhir.resources' models cost memory: only on an export

    created = created_at.isoformat()
    record = export_record(referral_id, created, status, payload, clocks, outcome)
    responses = questionnaire_responses(referral_id, created, payload)
    return [
        {"filename": f"referral-{referral_id}.json", "content": json.dumps(record, ensure_ascii=False, indent=2)},
        {"filename": f"referral-{referral_id}.fhir.json",
         "content": "[" + ",".join(r.model_dump_json(exclude_none=True) for r in responses) + "]"},
    ]
