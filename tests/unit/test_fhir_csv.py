"""The FHIR (NDJSON) and CSV exports, from payloads made by walking the real intake flow."""

from __future__ import annotations

import copy
import csv
import inspect
import io
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from bot.exports.csv_export import COLUMNS, csv_lines
from bot.exports.fhir import (
    ITEM_CODE,
    LOINC,
    ORDINAL_VALUE,
    REFERRAL_SYSTEM,
    canonical_url,
    fhir_lines,
    questionnaire,
    questionnaire_responses,
)
from flows import instruments
from locales import Translator
from tests.support.flow import Walker

CREATED = "2026-03-05T14:30:00+00:00"


def completed(programme: str, lang: str, plan: dict[str, Any] | None = None, default_score: int = 1) -> dict[str, Any]:
    walker = Walker(programme, lang)
    walker.run({"language": lang, **(plan or {})}, default_score=default_score)
    (payload,) = walker.events("completed")
    return payload


@pytest.fixture(scope="module")
def reconnect() -> dict[str, Any]:
    """GAD-7 and MDI, Danish; MDI 8a and 8b answered differently."""
    return completed("reconnect", "da", {"mdi.8a": 4, "mdi.8b": 2, "mdi.10a": 0, "mdi.10b": 3})


@pytest.fixture(scope="module")
def jonkoping() -> dict[str, Any]:
    """GAD-7 and PHQ-9, Swedish."""
    return completed("jonkoping", "sv", default_score=2)


@pytest.fixture(scope="module")
def hjorring() -> dict[str, Any]:
    return completed("hjorring", "da", {"q.age": "35"})


# --- Questionnaire -------------------------------------------------------------------------------

@pytest.mark.parametrize(("iid", "count"), [("gad7", 7), ("mdi", 12), ("phq9", 9)])
@pytest.mark.parametrize("lang", ["da", "sv", "en"])
def test_questionnaire_validates_with_one_item_per_item_and_a_total(iid: str, count: int, lang: str) -> None:
    q = Questionnaire.model_validate_json(questionnaire(iid, lang).model_dump_json(exclude_none=True))
    instrument = instruments.load(iid)
    t = Translator(lang)
    assert q.status == "active"
    assert q.url == canonical_url(iid) == f"https://ips-intake.example/fhir/Questionnaire/{iid}"
    assert q.version and q.name and q.title == t(instrument.name)
    assert q.item is not None and len(q.item) == count + 1
    *questions, total = q.item
    assert [i.linkId for i in questions] == [i.id for i in instrument.items]
    assert [i.text for i in questions] == [t(i.text) for i in instrument.items]
    assert all(i.type == "choice" for i in questions)
    assert (total.linkId, total.type, total.readOnly) == ("total", "integer", True)
    options = questions[0].answerOption
    assert options is not None and len(options) == len(instrument.options)
    for option, expected in zip(options, instrument.options, strict=True):
        coding = option.valueCoding
        assert coding is not None
        assert coding.code == answer_code(iid, expected.score) and coding.display == t(expected.label)
        assert coding.extension is not None
        (ordinal,) = coding.extension
        assert ordinal.url == ORDINAL_VALUE and ordinal.valueDecimal == expected.score


@pytest.mark.parametrize(("iid", "panel", "total"), [("gad7", "69737-5", "70274-6"), ("phq9", "44249-1", "44261-6")])
def test_loinc_codes_for_gad7_and_phq9(iid: str, panel: str, total: str) -> None:
    q = questionnaire(iid)
    assert q.code is not None and [(c.system, c.code) for c in q.code] == [(LOINC, panel)]
    total_item = q.item[-1]
    assert total_item.code is not None and [(c.system, c.code) for c in total_item.code] == [(LOINC, total)]


LOINC_ANSWERS = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}
LOINC_ITEMS = {
    "gad7": ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"],
    "phq9": ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"],
}


def answer_code(iid: str, score: int) -> str:
    """The code an answer carries: LOINC's answer code for the GAD-7 and PHQ-9, the score for the MDI."""
    return LOINC_ANSWERS[score] if iid in LOINC_ITEMS else str(score)


@pytest.mark.parametrize("iid", ["gad7", "phq9"])
def test_loinc_item_and_answer_codes(iid: str) -> None:
    q = questionnaire(iid)
    *items, _total = q.item
    assert [[(c.system, c.code) for c in item.code] for item in items] == [[(LOINC, c)] for c in LOINC_ITEMS[iid]]
    for item in items:
        assert [(o.valueCoding.system, o.valueCoding.code) for o in item.answerOption] == [
            (LOINC, LOINC_ANSWERS[s]) for s in (0, 1, 2, 3)]


def test_responses_carry_item_level_loinc_codes(jonkoping: dict[str, Any]) -> None:
    gad7, phq9, _mansa = questionnaire_responses(3, CREATED, jonkoping)
    for response, iid in ((gad7, "gad7"), (phq9, "phq9")):
        *items, total = response.item
        codes = [(e.url, e.valueCoding.system, e.valueCoding.code) for item in items for e in item.extension]
        assert codes == [(ITEM_CODE, LOINC, c) for c in LOINC_ITEMS[iid]]
        assert total.extension is None
        assert {item.answer[0].valueCoding.code for item in items} == {"LA6570-1"}  # every answer 2


def test_a_mean_scored_instrument_exports_its_mean(jonkoping: dict[str, Any]) -> None:
    """MANSA's score is the mean of its 12 ratings: FHIR's score item and the CSV carry the mean."""
    _gad7, _phq9, mansa = questionnaire_responses(3, CREATED, jonkoping)
    result = jonkoping["instruments"]["mansa"]
    assert result["mean"] is not None and result["mean"] != result["total"]
    assert mansa.item[-1].answer[0].valueDecimal == pytest.approx(result["mean"])
    assert mansa.item[-1].answer[0].valueInteger is None
    assert questionnaire("mansa").item[-1].type == "decimal" and questionnaire("gad7").item[-1].type == "integer"
    assert "mansa_mean" in COLUMNS and "gad7_mean" not in COLUMNS
    assert COLUMNS.index("mansa_total") + 1 == COLUMNS.index("mansa_mean")


def test_no_loinc_code_for_the_mdi() -> None:
    q = questionnaire("mdi")
    assert q.code is None and q.item[-1].code is None
    assert "loinc" not in questionnaire("mdi").model_dump_json(exclude_none=True)


def test_unknown_instrument() -> None:
    with pytest.raises(KeyError):
        questionnaire("nope")


# --- QuestionnaireResponse -----------------------------------------------------------------------

def answers_of(response: QuestionnaireResponse) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in response.item or []:
        (answer,) = item.answer
        out[item.linkId] = answer.valueCoding.code if answer.valueCoding is not None else answer.valueInteger
    return out


def test_responses_validate_and_carry_the_answers(reconnect: dict[str, Any]) -> None:
    responses = questionnaire_responses(42, CREATED, reconnect)
    assert [r.identifier.value for r in responses] == ["42-gad7", "42-mdi"]
    for response, (iid, result) in zip(responses, reconnect["instruments"].items(), strict=True):
        parsed = QuestionnaireResponse.model_validate_json(response.model_dump_json(exclude_none=True))
        assert parsed.status == "completed"
        assert parsed.questionnaire == canonical_url(iid)
        assert parsed.identifier.system == REFERRAL_SYSTEM
        assert parsed.authored.isoformat() == CREATED
        assert parsed.subject is None and parsed.contained is None
        answers = answers_of(parsed)
        assert answers.pop("total") == result["total"]
        assert answers == {k: answer_code(iid, v) for k, v in result["answers"].items()}


def test_mdi_parts_are_separate_items_and_the_total_uses_the_higher(reconnect: dict[str, Any]) -> None:
    mdi = questionnaire_responses(1, CREATED, reconnect)[1]
    answers = answers_of(mdi)
    assert (answers["8a"], answers["8b"], answers["10a"], answers["10b"]) == ("4", "2", "0", "3")
    expected = 6 + 4 + 1 + 3  # items 1-5, 7 and 9 at 1, 6 at 0; 8 = max(4, 2); 10 = max(0, 3)
    assert answers["total"] == reconnect["instruments"]["mdi"]["total"] == expected


def test_answers_are_shown_in_the_intake_language(jonkoping: dict[str, Any]) -> None:
    assert jonkoping["language"] == "sv"
    phq9 = questionnaire_responses(3, CREATED, jonkoping)[1]
    t = Translator("sv")
    assert phq9.language == "sv"
    first = phq9.item[0]
    assert first.text == t("phq9.item.1")
    coding = first.answer[0].valueCoding
    assert (coding.system, coding.code, coding.display) == (LOINC, "LA6570-1", t("phq9.option.2"))
    assert coding.extension[0].url == ORDINAL_VALUE and coding.extension[0].valueDecimal == 2
    assert answers_of(phq9)["total"] == 18 == jonkoping["instruments"]["phq9"]["total"]


def test_no_name_or_contact_in_the_fhir_export(reconnect: dict[str, Any]) -> None:
    payload = copy.deepcopy(reconnect)
    payload["candidate"]["name"] = "Zelda Unique"
    text = "\n".join(fhir_lines([(5, CREATED, "new", payload)]))
    assert "Zelda" not in text and payload["candidate"]["municipality"] not in text


# --- fhir_lines ----------------------------------------------------------------------------------

def test_fhir_lines_questionnaires_first_then_responses(reconnect: dict[str, Any], jonkoping: dict[str, Any]) -> None:
    lines = fhir_lines([(1, CREATED, "new", reconnect), (2, CREATED, "claimed", jonkoping)], lang="da")
    assert inspect.isgenerator(lines)
    resources = [json.loads(line) for line in lines]
    kinds = [r["resourceType"] for r in resources]
    assert kinds == ["Questionnaire"] * 4 + ["QuestionnaireResponse"] * 5
    assert [r["id"] for r in resources] == ["gad7", "mansa", "mdi", "phq9", "1-gad7", "1-mdi", "2-gad7", "2-phq9",
                                            "2-mansa"]
    for resource in resources:
        model = Questionnaire if resource["resourceType"] == "Questionnaire" else QuestionnaireResponse
        model.model_validate_json(json.dumps(resource))
    assert all("\n" not in line for line in fhir_lines([(1, CREATED, "new", reconnect)]))


def test_fhir_lines_can_be_limited_to_some_questionnaires(hjorring: dict[str, Any]) -> None:
    lines = list(fhir_lines([(9, CREATED, "new", hjorring)], instruments=["gad7", "mdi"]))
    assert [json.loads(line)["id"] for line in lines] == ["gad7", "mdi", "9-gad7", "9-mdi"]


def broken_after(payload: dict[str, Any], good: int) -> Iterator[tuple[int, str, str, dict[str, Any]]]:
    for i in range(good):
        yield i + 1, CREATED, "new", payload
    raise AssertionError("read further than needed: the export does not stream")


def test_fhir_lines_streams(reconnect: dict[str, Any]) -> None:
    first = list(itertools.islice(fhir_lines(broken_after(reconnect, 1)), 4 + 2))
    assert json.loads(first[-1])["id"] == "1-mdi"


# --- CSV -----------------------------------------------------------------------------------------

def parse(lines: Iterator[str]) -> list[dict[str, str]]:
    text = "\n".join(lines) + "\n"
    assert not text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == COLUMNS
    return [dict(zip(COLUMNS, r, strict=True)) for r in rows[1:]]


def test_csv_header_and_one_row_per_referral(reconnect: dict[str, Any], jonkoping: dict[str, Any],
                                             hjorring: dict[str, Any]) -> None:
    lines = csv_lines([(1, CREATED, "new", reconnect), (2, CREATED, "claimed", jonkoping),
                       (3, CREATED, "new", hjorring)])
    assert inspect.isgenerator(lines)
    rows = parse(lines)
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    first, second, third = rows
    assert first["programme"] == "reconnect" and first["language"] == "da" and first["created_at"] == CREATED
    assert first["status"] == "new" and second["status"] == "claimed"
    assert first["triage_outcome"] == reconnect["triage"]["outcome"]
    assert first["triage_reason"] == reconnect["triage"]["reason"]
    assert (first["urgent"], first["priority"]) == ("false", "false")
    assert first["name"] == "Ana" and first["age"] == "19" and first["contact_preference"] == "chat"
    assert first["gad7_total"] == str(reconnect["instruments"]["gad7"]["total"])
    assert first["mdi_total"] == str(reconnect["instruments"]["mdi"]["total"])
    assert first["mdi_icd10"] == reconnect["instruments"]["mdi"]["icd10"]
    assert first["mdi_dsm4"] == reconnect["instruments"]["mdi"]["dsm4"]
    assert first["goal"] == "work" and first["support_wanted"] == "Someone to go with me the first time"
    assert first["consent_version"] == reconnect["consent"]["version"]
    assert second["phq9_total"] == "18" and second["phq9_band"] == jonkoping["instruments"]["phq9"]["band"]
    assert second["flags"] == " ".join(jonkoping["flags"]) and second["urgent"] == str(
        jonkoping["triage"]["urgent"]).lower()
    assert third["substance"] == "A" and first["substance"] == ""


def test_csv_absent_instruments_are_empty(reconnect: dict[str, Any], jonkoping: dict[str, Any]) -> None:
    first, second = parse(csv_lines([(1, CREATED, "new", reconnect), (2, CREATED, "new", jonkoping)]))
    assert first["phq9_total"] == first["phq9_band"] == ""
    assert all(second[c] == "" for c in ("mdi_total", "mdi_band", "mdi_icd10", "mdi_dsm4"))
    assert first["phone"] == first["email"] == "" and first["flags"] == ""


@pytest.mark.parametrize("name", ['Ana, "Bee"', "Ana\nBee", 'a,b\r\n"c"', "Åse Ølgaard", " lead and trail "])
def test_csv_values_round_trip(reconnect: dict[str, Any], name: str) -> None:
    payload = copy.deepcopy(reconnect)
    payload["candidate"]["name"] = name
    payload["motivation"]["dream"] = f"{name}; and more"
    (row,) = parse(csv_lines([(7, CREATED, "new", payload)]))
    assert row["name"] == name and row["dream"] == f"{name}; and more"


@pytest.mark.parametrize("formula", ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
                                     "＝1+1", "＋1", "－2+3", "＠SUM(A1)", "﹦1", "⁺1"])
def test_csv_formula_injection_neutralised(reconnect: dict[str, Any], formula: str) -> None:
    payload = copy.deepcopy(reconnect)
    payload["candidate"]["name"] = formula
    payload["candidate"]["municipality"] = formula
    payload["motivation"]["worries"] = formula
    payload["candidate"]["contact"] = {"preference": "phone", "phone": "+45 12 34 56 78"}
    (row,) = parse(csv_lines([(7, CREATED, "new", payload)]))
    assert row["name"] == row["municipality"] == row["worries"] == "'" + formula
    assert row["phone"] == "'+45 12 34 56 78"
    assert row["created_at"] == CREATED and row["triage_reason"].startswith("reason.")


def test_csv_streams(reconnect: dict[str, Any]) -> None:
    header, first = itertools.islice(csv_lines(broken_after(reconnect, 1)), 2)
    assert header.startswith("id,programme,") and first.startswith("1,reconnect,")


def test_a_naive_time_is_taken_as_utc(reconnect: dict[str, Any]) -> None:
    (line,) = itertools.islice(fhir_lines([(1, "2026-03-05T14:30:00", "new", reconnect)], instruments=[]), 1)
    assert json.loads(line)["authored"] == "2026-03-05T14:30:00Z"
