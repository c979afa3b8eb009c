"""Casework's rules without a database: offering, the cap, case-card steps, the clocks and the export."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from flows.casework import (
    CaseMove,
    ClaimCheck,
    Offering,
    Routing,
    card_clocks,
    case_documents,
    case_step,
    check_claim,
    due_again,
    export_clocks,
    told_of_withdrawal,
    update_on_completion,
    who_is_offered,
)
from flows.ips import CASE_OUTCOMES, CLOCKS
from tests.support.flow import Walker
from tests.support.walk import TYPICAL

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(days=3)


def test_a_referral_goes_to_those_with_room_and_an_urgent_one_to_all() -> None:
    assert who_is_offered(False, ["a", "b", "c"], ["b"]).to == ("b",)
    urgent = who_is_offered(True, ["a", "b", "c"], [])
    assert urgent.routing is Routing.OFFER and urgent.to == ("a", "b", "c")
    full = who_is_offered(False, ["a", "b"], [])
    assert full.routing is Routing.FULL and full.to == () and not full.tell_coordinators


@pytest.mark.parametrize("urgent", [False, True])
def test_no_consultant_waits_and_the_coordinators_are_told_unless_urgent(urgent: bool) -> None:
    nobody: Offering[str] = who_is_offered(urgent, [], [])
    assert nobody.routing is Routing.NO_CONSULTANT and nobody.tell_coordinators is not urgent  # urgent: escalation


@pytest.mark.parametrize(("open_cases", "urgent", "expected"), [
    (2, False, ClaimCheck.WITHIN), (3, False, ClaimCheck.FULL), (4, False, ClaimCheck.FULL),
    (2, True, ClaimCheck.WITHIN), (3, True, ClaimCheck.OVER_CAP)])
def test_the_caseload_cap_on_a_claim(open_cases: int, urgent: bool, expected: ClaimCheck) -> None:
    assert check_claim(open_cases, 3, urgent) is expected


def test_an_urgent_referral_is_offered_again_after_its_window_not_at_it() -> None:
    assert not due_again(NOW - timedelta(hours=24), 24, NOW)
    assert due_again(NOW - timedelta(hours=24, seconds=1), 24, NOW)


@pytest.mark.parametrize(("eligible", "shown", "update"), [
    (True, True, "edit"), (True, False, "send"), (False, True, "withdraw"), (False, False, "none")])
def test_an_open_offer_when_a_partial_referral_is_completed(eligible: bool, shown: bool, update: str) -> None:
    assert update_on_completion(eligible, shown) == update


def test_a_withdrawal_is_told_to_the_holder_then_each_one_offered_once() -> None:
    assert told_of_withdrawal(7, [3, 7, 5, 3]) == [7, 3, 5]
    assert told_of_withdrawal(None, [3]) == [3]


def test_a_step_starts_its_clock_the_first_time_only() -> None:
    first = case_step("contact", {"first_contact_at": None}, NOW)
    assert first.move is CaseMove.CHANGE and first.changes == {"first_contact_at": NOW}
    assert first.audit == "case.contact" and not first.closes and not first.card_again
    again = case_step("contact", {"first_contact_at": EARLIER}, NOW)
    assert again.recorded and again.changes == {}  # recorded and audited again, the clock kept


@pytest.mark.parametrize("outcome", CASE_OUTCOMES)
def test_an_outcome_is_recorded_and_the_card_comes_anew(outcome: str) -> None:
    step = case_step(f"outcome:{outcome}", {}, NOW)
    assert step.changes == {"case_outcome": outcome, "outcome_at": NOW}
    assert (step.audit, step.detail, step.card_again) == ("case.outcome", outcome, True)


def test_close_the_question_the_meeting_and_anything_else() -> None:
    close = case_step("close", {}, NOW)
    assert close.closes and close.changes == {"closed_at": NOW} and close.audit == "case.close"
    assert case_step("outcome", {}, NOW).move is CaseMove.ASK_OUTCOME
    assert case_step("meetcancel", {}, NOW).move is CaseMove.CANCEL_MEETING
    for button in ("outcome:moon", "outcome:", "claim", "", "close:now"):
        assert case_step(button, {}, NOW).move is CaseMove.NOTHING, button


def test_the_clocks_of_a_card_and_of_an_export() -> None:
    case = SimpleNamespace(created_at=EARLIER, first_contact_at=NOW, first_meeting_at=None, job_search_at=None,
                           claimed_at=EARLIER, outcome_at=None, closed_at=None)
    assert card_clocks(case) == {"created_at": EARLIER, "first_contact_at": NOW, "first_meeting_at": None,
                                 "job_search_at": None}
    exported = export_clocks(case)
    assert list(exported) == list(CLOCKS) and exported["claimed_at"] == EARLIER.isoformat()
    assert exported["closed_at"] is None


def test_a_case_export_is_the_record_and_its_fhir_responses() -> None:
    walker = Walker("reconnect", "en")
    walker.run(TYPICAL)
    (payload,) = walker.events("completed")
    clocks: dict[str, str | None] = dict.fromkeys(CLOCKS)
    record_file, fhir_file = case_documents(12, EARLIER, "claimed", payload, clocks, None)
    assert record_file["filename"] == "referral-12.json" and fhir_file["filename"] == "referral-12.fhir.json"
    record = json.loads(record_file["content"])
    assert record["id"] == 12 and record["status"] == "claimed" and record["created_at"] == EARLIER.isoformat()
    assert record["instruments"].keys() == payload["instruments"].keys() and record["case"]["claimed_at"] is None
    responses = {r["identifier"]["value"]: r for r in json.loads(fhir_file["content"])}
    assert set(responses) == {f"12-{iid}" for iid in payload["instruments"]}
    assert {r["status"] for r in responses.values()} == {"completed"}


def test_fhir_models_are_loaded_only_when_a_case_is_exported() -> None:
    """`fhir.resources` builds pydantic models for all of FHIR on import (megabytes a process): a bot that
    never exports a case must not pay for them (issue 23's memory target for the runtimes)."""
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import sys\n"
        "import bot.cli, bot.app, bot.channels.telegram.runtime, bot.channels.telegram.ptb.runtime\n"
        "import bot.channels.web.server, bot.services.casework\n"
        "print('fhir.resources' in sys.modules)\n"
        "from datetime import UTC, datetime\n"
        "from flows.casework import case_documents\n"
        "from tests.support.flow import Walker\n"
        "from tests.support.walk import TYPICAL\n"
        "walker = Walker('reconnect', 'en')\n"
        "walker.run(TYPICAL)\n"
        "(payload,) = walker.events('completed')\n"
        "case_documents(1, datetime(2026, 1, 1, tzinfo=UTC), 'claimed', payload, {}, None)\n"
        "print('fhir.resources' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
