"""Things written once: the IPS clocks, the languages, the eligibility rule, the CSV instrument columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.exports.csv_export import COLUMNS
from flows import instruments
from flows.ips import CASE_STEP_CLOCKS, CLOCKS
from flows.schema import referral_schema
from flows.summary import CASE_ACTIONS
from flows.triage import Outcome, goes_to_consultant
from locales import LANGUAGES
from storage.models import Referral


def test_every_clock_is_a_referral_column_and_in_the_schema() -> None:
    columns = set(Referral.__table__.columns.keys())
    assert set(CLOCKS) <= columns
    assert set(referral_schema()["properties"]["case"]["properties"]) == {"outcome", *CLOCKS}
    assert set(CASE_STEP_CLOCKS) <= set(CASE_ACTIONS)  # each clock a consultant starts has its button


def test_one_language_list() -> None:
    catalogues = Path(__file__).resolve().parents[2] / "locales"
    assert sorted(d.name for d in catalogues.iterdir() if (d / "LC_MESSAGES").is_dir()) == sorted(LANGUAGES)
    assert referral_schema()["properties"]["language"]["enum"] == list(LANGUAGES)


@pytest.mark.parametrize("outcome", list(Outcome))
def test_one_eligibility_rule(outcome: Outcome) -> None:
    assert goes_to_consultant(outcome.value) is outcome.goes_to_consultant
    assert goes_to_consultant(outcome.value) is (outcome in (Outcome.ELIGIBLE, Outcome.ELIGIBLE_URGENT))


def test_an_unknown_stored_outcome_goes_to_nobody() -> None:
    assert goes_to_consultant("eligible-ish") is False


def test_the_csv_has_each_instruments_columns() -> None:
    for iid in instruments.available():
        instrument = instruments.load(iid)
        assert {f"{iid}_total", f"{iid}_band", *(f"{iid}_{a}" for a in instrument.algorithms)} <= set(COLUMNS)
    assert {"partial", "diagnoses", "substance_treatment"} <= set(COLUMNS)
