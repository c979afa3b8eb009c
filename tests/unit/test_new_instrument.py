"""A new instrument is one YAML file plus its catalogue entries; a new programme is one YAML file.

A made-up two-item instrument (`calm2`, scores 1-3, so its totals run 2-6) in a temporary INSTRUMENTS_DIR,
with its texts as catalogue entries, and a programme in a temporary PROGRAMMES_DIR that asks it and
triages on its band: it is asked, scored, triaged on, in the staff summary, the CSV columns, the JSON
schema and the FHIR export, and nothing else in the code names it.
"""

from __future__ import annotations

import csv
import functools
import gettext
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import locales
from bot.exports.csv_export import columns, csv_lines
from bot.exports.fhir import fhir_lines
from flows import instruments
from flows.intake import IntakeFlow
from flows.programmes import Registry
from flows.referral import export_record
from flows.schema import referral_schema
from flows.summary import summary_text
from locales import Translator
from tests.support.flow import Walker

INSTRUMENT = """\
id: calm2
name: instrument.calm2.name
intro: instrument.calm2.intro
period_days: 7
reliable_change_source: "none published (a made-up instrument)"
options:
  - {score: 1, label: calm2.option.1}
  - {score: 2, label: calm2.option.2}
  - {score: 3, label: calm2.option.3}
items:
  - {id: "1", text: calm2.item.1}
  - {id: "2", text: calm2.item.2}
bands:
  - {min: 2, max: 4, band: calm}
  - {min: 5, max: 6, band: restless}
risk:
  - {item: "2", min: 3, flag: risk}
"""

# the catalogue entries the instrument needs (in a real change: in locales/*/LC_MESSAGES/messages.po)
MESSAGES = {
    "da": {"instrument.calm2.name": "Ro-2", "instrument.calm2.intro": "Hvordan har du haft det den sidste uge?",
           "calm2.item.1": "Jeg har følt mig rolig", "calm2.item.2": "Jeg har kunnet sove",
           "calm2.option.1": "Ofte", "calm2.option.2": "Nogle gange", "calm2.option.3": "Sjældent",
           "band.calm": "rolig", "band.restless": "urolig", "reason.calm2_restless": "Uro fylder meget lige nu."},
    "en": {"instrument.calm2.name": "Calm-2", "instrument.calm2.intro": "How have you been this last week?",
           "calm2.item.1": "I have felt calm", "calm2.item.2": "I have been able to sleep",
           "calm2.option.1": "Often", "calm2.option.2": "Sometimes", "calm2.option.3": "Rarely",
           "band.calm": "calm", "band.restless": "restless", "reason.calm2_restless": "Restlessness fills a lot now."},
}


class _Extra(gettext.NullTranslations):
    def __init__(self, messages: dict[str, str], rest: gettext.NullTranslations) -> None:
        super().__init__()
        self.messages = messages
        self.add_fallback(rest)

    def gettext(self, message: str) -> str:
        return self.messages.get(message) or super().gettext(message)


@pytest.fixture()
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    (tmp_path / "instruments").mkdir()
    (tmp_path / "instruments" / "calm2.yaml").write_text(INSTRUMENT, encoding="utf-8")
    (tmp_path / "programmes").mkdir()
    shipped = (Path(instruments.__file__).parent.parent / "programmes" / "reconnect.yaml").read_text("utf-8")
    head = shipped[:shipped.index("triage:")].replace("id: reconnect", "id: calmtown")
    head = head.replace("instruments: [gad7, mdi]", "instruments: [calm2]")
    assert "instruments: [calm2]" in head
    (tmp_path / "programmes" / "calmtown.yaml").write_text(head + """triage:
  - when: {fact: calm2.band, eq: restless}
    outcome: refer-gp
    reason: reason.calm2_restless
  - outcome: eligible
    reason: reason.target_group
""", encoding="utf-8")
    original = locales.translations

    @functools.cache
    def with_entries(lang: str) -> gettext.NullTranslations:
        return _Extra(MESSAGES.get(lang, MESSAGES["en"]), original(lang))

    monkeypatch.setattr(locales, "translations", with_entries)
    instruments.use_directory(tmp_path / "instruments")  # as the app does with the setting INSTRUMENTS_DIR
    try:
        yield Registry.load(tmp_path / "programmes")
    finally:
        instruments.use_directory(None)


def walk(registry: Registry, plan: dict[str, Any]) -> tuple[Walker, dict[str, Any]]:
    walker = Walker("calmtown", "da", flow=IntakeFlow(registry))
    walker.run({"q.age": "20", **plan})
    (payload,) = walker.events("completed")
    return walker, payload


def test_a_new_instrument_is_asked_scored_triaged_summarised_and_exported(registry: Registry) -> None:
    assert "calm2" in instruments.available() and "calmtown" in registry
    walker, payload = walk(registry, {"calm2.1": 3, "calm2.2": 2})
    # asked: one screen per item, in the reader's language, with its own answer options
    asked = [s for r in walker.log for s in r.screens if s.step.startswith("calm2.")]
    assert [s.step for s in asked] == ["calm2.1", "calm2.2"]
    assert "Jeg har følt mig rolig" in asked[0].text and [b.label for b in asked[0].buttons] == [
        "Ofte", "Nogle gange", "Sjældent"]
    assert not any(s.step.startswith(("gad7.", "mdi.")) for r in walker.log for s in r.screens)
    # scored and triaged on
    assert payload["instruments"]["calm2"]["total"] == 5 and payload["instruments"]["calm2"]["band"] == "restless"
    assert payload["triage"]["outcome"] == "refer-gp" and payload["triage"]["reason"] == "reason.calm2_restless"
    # in the staff summary, in the reader's language
    text = summary_text(11, payload, registry["calmtown"], "da", None)
    assert Translator("da")("staff.summary.instrument", name="Ro-2", total=5, band="urolig") in text
    # CSV columns
    assert {"calm2_total", "calm2_band"} <= set(columns())
    row = next(csv.DictReader(io.StringIO("\n".join(csv_lines([(11, "2026-03-05T14:30:00+00:00", "new", payload)])))))
    assert row["calm2_total"] == "5" and row["calm2_band"] == "restless" and row["gad7_total"] == ""
    # the JSON schema knows it, with its own score range and bands
    schema = referral_schema()
    calm = schema["properties"]["instruments"]["properties"]["calm2"]["properties"]
    assert calm["total"] == {"type": "integer", "minimum": 2, "maximum": 6}
    assert calm["band"] == {"enum": ["calm", "restless"]}
    jsonschema.validate(export_record(11, "2026-03-05T14:30:00+00:00", "redirected", payload), schema,
                        format_checker=jsonschema.FormatChecker())
    # FHIR: its Questionnaire and a response with both answers
    lines = [json.loads(line) for line in fhir_lines([(11, "2026-03-05T14:30:00+00:00", "new", payload)],
                                                      instruments=["calm2"])]
    assert lines[0]["resourceType"] == "Questionnaire" and lines[0]["id"] == "calm2"
    assert lines[1]["resourceType"] == "QuestionnaireResponse" and lines[1]["id"] == "11-calm2"
    assert [i["linkId"] for i in lines[1]["item"]] == ["1", "2", "total"]


def test_a_new_instruments_risk_item_raises_the_flag_at_once(registry: Registry) -> None:
    walker, payload = walk(registry, {"calm2.1": 1, "calm2.2": 3})
    assert walker.events("risk") == [{"instrument": "calm2", "item": "2", "score": 3}]
    assert payload["triage"]["urgent"] and payload["flags"] == ["risk"]
    assert payload["instruments"]["calm2"]["band"] == "calm" and payload["triage"]["outcome"] == "eligible-urgent"
