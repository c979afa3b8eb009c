"""Every export carries each risk answer with its instrument, item, the answer given and its time, also
when the answer was changed later (issue 20 point 7): JSON (against the shipped schema), CSV, FHIR (a
flag extension on the response item) and the consultant's Export, which is built from the same two.

The payloads are made by walking the real intake flow; `risks` is what the intake service fills from
the stored risk events (`storage.risks.as_listed`)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import jsonschema
import pytest
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from bot.exports.csv_export import columns, csv_lines
from bot.exports.fhir import ITEM_CODE, LOINC, RISK_SIGNAL, questionnaire_responses
from flows.referral import export_record
from flows.schema import SCHEMA_PATH
from tests.support.flow import FLOW, Walker

CREATED = "2026-03-05T14:30:00+00:00"
GIVEN = "2026-03-05T14:10:00+00:00"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def valid(record: dict[str, Any]) -> None:
    jsonschema.validate(record, SCHEMA, format_checker=jsonschema.FormatChecker())


@pytest.fixture(scope="module")
def changed() -> dict[str, Any]:
    """RECONNECT: MDI item 6 answered "some of the time" (2), then /back and changed to "at no time"."""
    walker = Walker("reconnect", "da")
    walker.run_until("mdi.6")
    walker.tap("2")
    walker.command("back")
    walker.tap("0")
    walker.run()
    (payload,) = walker.events("completed")
    assert payload["instruments"]["mdi"]["answers"]["6"] == 0 and payload["flags"] == ["risk"]
    return {**payload, "risks": [{"instrument": "mdi", "item": "6", "score": 2, "at": GIVEN}]}


@pytest.fixture(scope="module")
def partial() -> dict[str, Any]:
    """RECONNECT: left right after MDI item 6 at 3; the GAD-7 is complete, the MDI has no response yet.
    An earlier restarted intake's PHQ-9 9 risk answer is carried too (a person who moved programme)."""
    walker = Walker("reconnect", "da")
    walker.run_until("mdi.6")
    walker.tap("3")
    payload = FLOW.partial(walker.state)
    assert "mdi" not in payload["instruments"] and "gad7" in payload["instruments"]
    return {**payload, "risks": [{"instrument": "phq9", "item": "9", "score": 1, "at": "2026-03-01T10:00:00+00:00"},
                                 {"instrument": "mdi", "item": "6", "score": 3, "at": GIVEN}]}


def test_the_json_export_carries_the_risk_answer_as_given_though_changed_later(changed: dict[str, Any]) -> None:
    record = export_record(7, CREATED, "new", changed)
    valid(record)
    assert record["risks"] == [{"instrument": "mdi", "item": "6", "score": 2, "answer": "mdi.option.2", "at": GIVEN}]
    assert record["instruments"]["mdi"]["items"][5] == 0  # the answer now; the risk keeps the one given


def test_a_risk_time_without_a_zone_is_exported_in_utc(changed: dict[str, Any]) -> None:
    naive = {**changed, "risks": [{**changed["risks"][0], "at": "2026-03-05T14:10:00"}]}  # as SQLite may give it
    record = export_record(7, CREATED, "new", naive)
    valid(record)
    assert record["risks"][0]["at"] == GIVEN


def test_the_schema_refuses_a_risk_without_its_answer_or_time(changed: dict[str, Any]) -> None:
    record = export_record(7, CREATED, "new", changed)
    for key in ("answer", "at", "item"):
        broken = {**record, "risks": [{k: v for k, v in record["risks"][0].items() if k != key}]}
        with pytest.raises(jsonschema.ValidationError):
            valid(broken)
    with pytest.raises(jsonschema.ValidationError):
        valid({k: v for k, v in record.items() if k != "risks"})


def test_the_csv_carries_the_risk_answer_as_given(changed: dict[str, Any]) -> None:
    assert columns().index("risks") == columns().index("flags") + 1
    row = next(csv.DictReader(io.StringIO("\n".join(csv_lines([(7, CREATED, "new", changed)])))))
    assert row["risks"] == f"mdi.6=2 (mdi.option.2) {GIVEN}"
    assert row["mdi_total"] == str(changed["instruments"]["mdi"]["total"])
    two = {**changed, "risks": [*changed["risks"], {"instrument": "mdi", "item": "6", "score": 5, "at": CREATED}]}
    row = next(csv.DictReader(io.StringIO("\n".join(csv_lines([(7, CREATED, "new", two)])))))
    assert row["risks"] == f"mdi.6=2 (mdi.option.2) {GIVEN}; mdi.6=5 (mdi.option.5) {CREATED}"


def risk_flags(item: Any) -> list[dict[str, Any]]:
    return [{sub.url: (sub.valueCoding.code if sub.valueCoding else sub.valueDateTime.isoformat())
             for sub in ext.extension} for ext in (item.extension or []) if ext.url == RISK_SIGNAL]


def test_fhir_flags_the_item_with_the_answer_given_and_its_time(changed: dict[str, Any]) -> None:
    responses = {r.id: r for r in questionnaire_responses(7, CREATED, changed)}
    mdi = responses["7-mdi"]
    QuestionnaireResponse.model_validate_json(mdi.model_dump_json(exclude_none=True))  # valid R4B
    items = {i.linkId: i for i in mdi.item}
    assert items["6"].answer[0].valueCoding.code == "0"  # the answer now
    assert risk_flags(items["6"]) == [{"answer": "2", "time": GIVEN}]  # the answer given, and when
    assert not any(risk_flags(i) for link, i in items.items() if link != "6")
    assert not any(risk_flags(i) for i in responses["7-gad7"].item)


def test_fhir_flags_a_risk_answer_to_an_instrument_without_a_response(partial: dict[str, Any]) -> None:
    responses = {r.id: r for r in questionnaire_responses(8, CREATED, partial)}
    assert set(responses) == {"8-gad7", "8-mdi", "8-phq9"}
    assert all(r.status == "in-progress" for r in responses.values())
    (item,) = responses["8-mdi"].item  # the flagged item alone: no answers, no total
    assert item.linkId == "6" and item.answer is None
    assert risk_flags(item) == [{"answer": "3", "time": GIVEN}]
    (item,) = responses["8-phq9"].item
    assert item.linkId == "9" and item.answer is None
    code = next(e for e in item.extension if e.url == ITEM_CODE).valueCoding
    assert code.system == LOINC and code.code == "44260-8"
    assert risk_flags(item) == [{"answer": "LA6569-3", "time": "2026-03-01T10:00:00+00:00"}]  # LOINC-coded
    record = export_record(8, CREATED, "new", partial)
    valid(record)
    assert [(r["instrument"], r["answer"]) for r in record["risks"]] == [("phq9", "phq9.option.1"),
                                                                      ("mdi", "mdi.option.3")]


def test_a_referral_without_risks_exports_an_empty_list(changed: dict[str, Any]) -> None:
    calm = {k: v for k, v in changed.items() if k != "risks"}
    assert export_record(7, CREATED, "new", calm)["risks"] == []
    assert not any(risk_flags(i) for r in questionnaire_responses(7, CREATED, calm) for i in r.item)
