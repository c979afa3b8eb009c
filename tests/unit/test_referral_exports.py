"""What issue 13 left out of the exports: partial referrals meet the schema and say so; the diagnosis
areas and the substance-treatment answer reach the staff summary, the CSV and the JSON export.

The payloads are made by walking the real intake flow; the schema is the shipped file."""

from __future__ import annotations

import copy
import csv
import io
import json
from typing import Any

import jsonschema
import pytest

from bot.exports.csv_export import csv_lines
from bot.exports.fhir import questionnaire_responses
from flows.intake import IntakeFlow
from flows.programmes import Registry
from flows.referral import export_record
from flows.schema import SCHEMA_PATH, render
from flows.summary import summary_text
from locales import Translator
from tests.support.flow import FLOW, REGISTRY, Walker

CREATED = "2026-03-05T14:30:00+00:00"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def valid(record: dict[str, Any]) -> None:
    jsonschema.validate(record, SCHEMA, format_checker=jsonschema.FormatChecker())


def csv_row(payload: dict[str, Any], status: str = "new") -> dict[str, str]:
    return next(csv.DictReader(io.StringIO("\n".join(csv_lines([(5, CREATED, status, payload)])))))


@pytest.fixture(scope="module")
def partial() -> dict[str, Any]:
    """Reconnect (GAD-7, MDI): left right after a risk answer to MDI item 6; GAD-7 is complete, MDI not."""
    walker = Walker("reconnect", "da")
    walker.run_until("mdi.6")
    walker.tap("3")
    assert walker.events("risk") and walker.state["step"] == "mdi.7"
    return FLOW.partial(walker.state)


@pytest.fixture(scope="module")
def hjorring() -> dict[str, Any]:
    """Hjørring asks the diagnosis areas and substance use; at B it asks about treatment."""
    walker = Walker("hjorring", "da")
    walker.run({"q.age": "35", "q.diagnoses": ["anxiety", "depression"], "q.substance": "B",
                "q.substance_treatment": "maybe"})
    (payload,) = walker.events("completed")
    return payload


def test_the_shipped_schema_is_the_one_built_from_the_instruments() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(), "run: python -m flows.schema --write"


def test_a_partial_referral_meets_the_schema_and_is_marked(partial: dict[str, Any]) -> None:
    record = export_record(9, CREATED, "new", partial)
    valid(record)
    assert record["partial"] is True
    assert record["triage"]["urgent"] is True and record["triage"]["outcome"] == "eligible-urgent"
    assert set(record["instruments"]) == {"gad7"}  # only the instrument answered in full is scored
    assert record["motivation"] == {}


def test_a_partial_marker_cannot_hide_a_finished_referrals_gaps(hjorring: dict[str, Any]) -> None:
    """Without `partial: true` the schema still wants every required answer."""
    record = copy.deepcopy(export_record(9, CREATED, "new", hjorring))
    valid(record)
    assert record["partial"] is False
    del record["candidate"]["name"]
    with pytest.raises(jsonschema.ValidationError):
        valid(record)
    valid({**record, "partial": True, "triage": {**record["triage"], "urgent": True}})
    with pytest.raises(jsonschema.ValidationError):  # a partial referral is always urgent
        valid({**record, "partial": True, "triage": {**record["triage"], "urgent": False}})


def test_a_partial_referral_in_csv_and_fhir(partial: dict[str, Any], hjorring: dict[str, Any]) -> None:
    row = csv_row(partial)
    assert row["partial"] == "true" and row["gad7_total"] and row["mdi_total"] == ""
    assert csv_row(hjorring)["partial"] == "false"
    (response,) = questionnaire_responses(9, CREATED, partial)
    assert response.status == "in-progress"
    assert {r.status for r in questionnaire_responses(9, CREATED, hjorring)} == {"completed"}


def test_the_partial_referral_uses_the_programmes_band_set() -> None:
    """A programme's chosen band set (band_sets) counts in a partial referral as in a finished one:
    an MDI total of 20 is "mild" by the Danish calculators, "none" by Bech 2015 (the default)."""
    programme = REGISTRY["reconnect"].model_copy(update={"band_sets": {"mdi": "dk-calculators"}})
    flow = IntakeFlow(Registry({"reconnect": programme}))
    walker = Walker("reconnect", "da", flow=flow)
    walker.run_until("q.goal", {"mdi.6": 2}, default_score=2)  # every MDI item 2 (item 6: a risk answer)
    result = flow.partial(walker.state)["instruments"]["mdi"]
    assert result["total"] == 20 and result["band"] == "mild"


def test_diagnoses_and_substance_treatment_in_the_summary_in_the_readers_language(hjorring: dict[str, Any]) -> None:
    for lang in ("da", "sv"):
        t = Translator(lang)
        text = summary_text(4, hjorring, REGISTRY["hjorring"], lang, None)
        areas = f"{t('q.diagnoses.anxiety')}, {t('q.diagnoses.depression')}"
        assert t("staff.summary.line", label=t("q.diagnoses.short"), value=areas) in text
        assert t("staff.summary.line", label=t("q.substance_treatment.short"),
                 value=t("q.substance_treatment.maybe")) in text


def test_diagnoses_and_substance_treatment_only_where_asked() -> None:
    walker = Walker("reconnect", "da")
    walker.run()
    (payload,) = walker.events("completed")
    t = Translator("da")
    text = summary_text(4, payload, REGISTRY["reconnect"], "da", None)
    assert t("q.diagnoses.short") not in text and t("q.substance_treatment.short") not in text
    row = csv_row(payload)
    assert row["diagnoses"] == "" and row["substance_treatment"] == ""


def test_diagnoses_and_substance_treatment_in_csv_and_json(hjorring: dict[str, Any]) -> None:
    row = csv_row(hjorring)
    assert row["diagnoses"] == "anxiety depression" and row["substance_treatment"] == "maybe"
    assert row["substance"] == "B"
    record = export_record(4, CREATED, "new", hjorring)
    valid(record)
    assert record["candidate"]["diagnoses"] == ["anxiety", "depression"]
    assert record["substance_treatment"] == "maybe"
