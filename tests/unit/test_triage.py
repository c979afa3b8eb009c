"""Every shipped programme's triage rules, as a table of cases, and the rule interpreter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows.programmes import Registry, check, programme_files
from flows.triage import ConditionError, Outcome, decide, matches

REGISTRY = Registry.load()


def facts(**overrides: Any) -> dict[str, Any]:
    """A typical candidate; override what a case is about. Keys with __ become dots."""
    base: dict[str, Any] = {
        "age": 20, "situation": "unemployed", "support": "kontanthjaelp", "treatment": "in_treatment",
        "contact": "chat", "gad7.total": 8, "gad7.band": "mild", "mdi.total": 23, "mdi.band": "mild",
        "mdi.icd10": "mild", "mdi.dsm4": "none", "flags.risk": False, "country": "DK",
        "diagnoses": ["anxiety", "depression"],
    }
    base.update({k.replace("__", "."): v for k, v in overrides.items()})
    return base


CASES: list[tuple[str, dict[str, Any], Outcome, str]] = [
    # RECONNECT: 15-24, outside education and work, mild-moderate in, severe to the GP
    ("reconnect", facts(), Outcome.ELIGIBLE, "reason.mild_moderate"),
    ("reconnect", facts(age=15), Outcome.ELIGIBLE, "reason.mild_moderate"),
    ("reconnect", facts(age=24), Outcome.ELIGIBLE, "reason.mild_moderate"),
    ("reconnect", facts(age=14), Outcome.NOT_IN_TARGET, "reason.age_outside"),
    ("reconnect", facts(age=25), Outcome.NOT_IN_TARGET, "reason.age_outside"),
    ("reconnect", facts(situation="school"), Outcome.NOT_IN_TARGET, "reason.in_education_or_work"),
    ("reconnect", facts(situation="job"), Outcome.NOT_IN_TARGET, "reason.in_education_or_work"),
    ("reconnect", facts(situation="sick_leave"), Outcome.ELIGIBLE, "reason.mild_moderate"),
    ("reconnect", facts(gad7__band="severe"), Outcome.REFER_GP, "reason.severe_symptoms"),
    ("reconnect", facts(mdi__band="severe", gad7__band="minimal"), Outcome.REFER_GP, "reason.severe_symptoms"),
    ("reconnect", facts(gad7__band="moderate", mdi__band="none"), Outcome.ELIGIBLE, "reason.mild_moderate"),
    ("reconnect", facts(gad7__band="minimal", mdi__band="moderate"), Outcome.ELIGIBLE, "reason.mild_moderate"),
    ("reconnect", facts(gad7__band="minimal", mdi__band="none", mdi__icd10="none"), Outcome.NOT_IN_TARGET,
     "reason.no_signs"),
    # the ICD-10 result counts, not only the total (issue 13)
    ("reconnect", facts(mdi__total=30, mdi__band="moderate", mdi__icd10="severe", gad7__band="mild"),
     Outcome.REFER_GP, "reason.severe_symptoms"),
    ("reconnect", facts(mdi__total=30, mdi__band="moderate", mdi__icd10="severe", flags__risk=True),
     Outcome.REFER_GP, "reason.severe_symptoms"),
    ("reconnect", facts(mdi__total=20, mdi__band="none", mdi__icd10="moderate", gad7__total=0, gad7__band="minimal"),
     Outcome.ELIGIBLE, "reason.mild_moderate"),
    # severe under 18: child and youth psychiatry, through the GP
    ("reconnect", facts(age=16, gad7__band="severe"), Outcome.REFER_GP, "reason.severe_symptoms_youth"),
    ("reconnect", facts(age=17, mdi__icd10="severe", mdi__band="moderate"), Outcome.REFER_GP,
     "reason.severe_symptoms_youth"),
    ("reconnect", facts(age=18, gad7__band="severe"), Outcome.REFER_GP, "reason.severe_symptoms"),
    ("reconnect", facts(flags__risk=True), Outcome.ELIGIBLE_URGENT, "reason.mild_moderate"),
    ("reconnect", facts(flags__risk=True, mdi__band="severe"), Outcome.REFER_GP, "reason.severe_symptoms"),
    # Hjørring: no age limit; D/E substance out; anxiety as the only area to the coping course; several
    # of anxiety, depression, isolation, trauma in; suspicion to TFA
    ("hjorring", facts(age=35, substance="A"), Outcome.ELIGIBLE, "reason.several_areas"),
    ("hjorring", facts(age=35, substance="A", diagnoses=["psychosis"]), Outcome.ELIGIBLE,
     "reason.diagnosed_or_assessed"),
    ("hjorring", facts(age=17, substance="A", diagnoses=["depression"]), Outcome.ELIGIBLE,
     "reason.diagnosed_or_assessed"),
    ("hjorring", facts(age=70, substance="A", diagnoses=["depression"]), Outcome.ELIGIBLE,
     "reason.diagnosed_or_assessed"),
    ("hjorring", facts(age=35, substance="A", treatment="in_treatment", diagnoses=["dont_know"]), Outcome.ELIGIBLE,
     "reason.target_group"),
    ("hjorring", facts(age=35, substance="C"), Outcome.ELIGIBLE, "reason.several_areas"),
    ("hjorring", facts(age=35, substance="D"), Outcome.NOT_IN_TARGET, "reason.substance_severe"),
    ("hjorring", facts(age=35, substance="E"), Outcome.NOT_IN_TARGET, "reason.substance_severe"),
    ("hjorring", facts(age=35, substance="A", treatment="suspected", diagnoses=["dont_know"]), Outcome.REFER_TFA,
     "reason.suspicion_only"),
    ("hjorring", facts(age=35, substance="A", treatment="none", diagnoses=["none"]), Outcome.REFER_TFA,
     "reason.suspicion_only"),
    ("hjorring", facts(age=35, substance="A", treatment="none", diagnoses=["none"], gad7__band="minimal",
                       mdi__band="none"), Outcome.NOT_IN_TARGET, "reason.no_signs"),
    # vulnerable with more than one of anxiety, depression, isolation and trauma: in, even without treatment
    ("hjorring", facts(age=35, substance="A", treatment="none", diagnoses=["isolation", "trauma"]),
     Outcome.ELIGIBLE, "reason.several_areas"),
    ("hjorring", facts(age=35, substance="A", diagnoses=["anxiety", "isolation"], gad7__band="severe",
                       mdi__band="none"), Outcome.ELIGIBLE, "reason.several_areas"),
    # anxiety alone or dominant: only when anxiety is the only area
    ("hjorring", facts(age=35, substance="A", diagnoses=["anxiety"], gad7__band="moderate", mdi__band="none"),
     Outcome.REFER_COPING_COURSE, "reason.anxiety_dominant"),
    ("hjorring", facts(age=35, substance="A", diagnoses=["anxiety"], gad7__band="severe", mdi__band="mild"),
     Outcome.REFER_COPING_COURSE, "reason.anxiety_dominant"),
    ("hjorring", facts(age=35, substance="A", diagnoses=["anxiety"], gad7__band="severe", mdi__band="moderate"),
     Outcome.ELIGIBLE, "reason.diagnosed_or_assessed"),
    ("hjorring", facts(age=35, substance="A", diagnoses=["anxiety", "adhd"], gad7__band="severe",
                       mdi__band="none"), Outcome.ELIGIBLE, "reason.diagnosed_or_assessed"),
    ("hjorring", facts(age=35, substance="A", diagnoses=["anxiety", "psychosis"], gad7__band="severe",
                       mdi__band="none"), Outcome.ELIGIBLE, "reason.diagnosed_or_assessed"),
    ("hjorring", facts(age=35, substance="A", diagnoses=["anxiety", "bipolar"], gad7__band="moderate",
                       mdi__band="none"), Outcome.ELIGIBLE, "reason.diagnosed_or_assessed"),
    ("hjorring", facts(age=35, substance="A", treatment="diagnosed", diagnoses=["ocd"]), Outcome.ELIGIBLE,
     "reason.diagnosed_or_assessed"),
    ("hjorring", facts(age=35, substance="A", treatment="under_assessment", diagnoses=["adhd"]), Outcome.ELIGIBLE,
     "reason.diagnosed_or_assessed"),
    # a diagnosis in the target group without treatment now: in, as the description says (issue 20 point 8);
    # never "no such difficulties", nor "not assessed yet"
    *[("hjorring", facts(age=35, substance="A", treatment=treatment, diagnoses=[area], gad7__band=gad7,
                         mdi__band=mdi), Outcome.ELIGIBLE, "reason.diagnosed_or_assessed")
      for treatment in ("none", "suspected") for area in ("psychosis", "bipolar", "adhd", "depression", "other")
      for gad7, mdi in (("minimal", "none"), ("moderate", "mild"))],
    # isolation alone is no diagnosis (local choice): no signs and no treatment is still outside
    ("hjorring", facts(age=35, substance="A", treatment="none", diagnoses=["isolation"], gad7__band="minimal",
                       mdi__band="none"), Outcome.NOT_IN_TARGET, "reason.no_signs"),
    # Vejle: 30-67, psychiatric care package, public support
    ("vejle", facts(age=30), Outcome.ELIGIBLE, "reason.target_group"),
    ("vejle", facts(age=67), Outcome.ELIGIBLE, "reason.target_group"),
    ("vejle", facts(age=29), Outcome.NOT_IN_TARGET, "reason.age_outside"),
    ("vejle", facts(age=68), Outcome.NOT_IN_TARGET, "reason.age_outside"),
    ("vejle", facts(age=40, support="selvforsoergende"), Outcome.NOT_IN_TARGET, "reason.not_on_support"),
    ("vejle", facts(age=40, treatment="none"), Outcome.NOT_IN_TARGET, "reason.needs_psychiatric_care"),
    ("vejle", facts(age=40, treatment="under_assessment"), Outcome.ELIGIBLE, "reason.target_group"),
    # anxiety (DF40/41) or depression (DF32), asked with the diagnosis question
    ("vejle", facts(age=40, diagnoses=["anxiety"]), Outcome.ELIGIBLE, "reason.target_group"),
    ("vejle", facts(age=40, diagnoses=["depression", "adhd"]), Outcome.ELIGIBLE, "reason.target_group"),
    ("vejle", facts(age=40, diagnoses=["dont_know"]), Outcome.ELIGIBLE, "reason.target_group"),
    ("vejle", facts(age=40, diagnoses=["psychosis"]), Outcome.NOT_IN_TARGET, "reason.needs_anxiety_or_depression"),
    ("vejle", facts(age=40, diagnoses=["none"]), Outcome.NOT_IN_TARGET, "reason.needs_anxiety_or_depression"),
    # Sjælland: adults in psychiatric treatment; exclusions are the municipality's, not claimed here
    ("sjaelland", facts(age=45, gad7__band="severe", mdi__band="severe"), Outcome.ELIGIBLE,
     "reason.target_group"),
    ("sjaelland", facts(age=45, treatment="suspected"), Outcome.NOT_IN_TARGET, "reason.needs_psychiatric_care"),
    ("sjaelland", facts(age=17), Outcome.NOT_IN_TARGET, "reason.age_outside"),
    ("sjaelland", facts(age=45, flags__risk=True), Outcome.ELIGIBLE_URGENT, "reason.target_group"),
    # Jönköping: psychosis care, zero exclusion, priority 18-29 but nobody excluded for age
    ("jonkoping", facts(age=18, country="SE"), Outcome.ELIGIBLE, "reason.zero_exclusion"),
    ("jonkoping", facts(age=16, country="SE"), Outcome.ELIGIBLE, "reason.zero_exclusion"),
    ("jonkoping", facts(age=75, country="SE"), Outcome.ELIGIBLE, "reason.zero_exclusion"),
    ("jonkoping", facts(age=50, country="SE", phq9__band="severe"), Outcome.ELIGIBLE, "reason.zero_exclusion"),
    ("jonkoping", facts(age=50, country="SE", treatment="none"), Outcome.NOT_IN_TARGET,
     "reason.needs_psychosis_care"),
]


@pytest.mark.parametrize(("programme", "case", "outcome", "reason"), CASES)
def test_programme_rules(programme: str, case: dict[str, Any], outcome: Outcome, reason: str) -> None:
    decision = decide(REGISTRY[programme].rules, case)
    assert (decision.outcome, decision.reason) == (outcome, reason)
    assert decision.urgent is bool(case["flags.risk"])


@pytest.mark.parametrize(("age", "priority"), [(17, False), (18, True), (29, True), (30, False), (67, False),
                                               (80, False)])
def test_jonkoping_priority_for_young_adults(age: int, priority: bool) -> None:
    decision = decide(REGISTRY["jonkoping"].rules, facts(age=age, country="SE"))
    assert decision.outcome is Outcome.ELIGIBLE and decision.priority is priority


def test_every_shipped_programme_is_covered_by_cases() -> None:
    assert {c[0] for c in CASES} == {p.id for p in REGISTRY.all()}


def test_shipped_programme_files_are_valid() -> None:
    assert check(programme_files()) == []
    assert {p.id for p in REGISTRY.all()} == {"reconnect", "hjorring", "vejle", "sjaelland", "jonkoping"}
    assert REGISTRY["jonkoping"].instruments == ("gad7", "phq9", "mansa")
    assert REGISTRY["hjorring"].substance and not REGISTRY["reconnect"].substance
    assert REGISTRY["hjorring"].caseload_cap == 15  # as written in Hjørring's description
    assert all(p.caseload_cap == 20 for p in REGISTRY.all() if p.id != "hjorring")


@pytest.mark.parametrize("programme", ["hjorring", "jonkoping"])
def test_no_age_exclusion_where_the_description_names_no_age_limit(programme: str) -> None:
    p = REGISTRY[programme]
    assert p.age is None
    assert all(r.reason != "reason.age_outside" for r in p.rules)
    country = p.country
    for age in (10, 16, 17, 30, 66, 67, 68, 90):
        decision = decide(p.rules, facts(age=age, country=country, substance="A"))
        assert decision.outcome is Outcome.ELIGIBLE, (age, decision)


def test_sjaelland_claims_no_zero_exclusion() -> None:
    sjaelland = REGISTRY["sjaelland"]
    assert not sjaelland.zero_exclusion
    assert all(r.reason != "reason.zero_exclusion" for r in sjaelland.rules)


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ({"contains": ["anxiety"]}, ["anxiety", "adhd"], True),
        ({"contains": "adhd"}, ["anxiety", "adhd"], True),
        ({"contains": ["trauma"]}, ["anxiety", "adhd"], False),
        ({"only": ["anxiety"]}, ["anxiety"], True),
        ({"only": ["anxiety"]}, ["anxiety", "adhd"], False),
        ({"only": ["anxiety"]}, [], False),
        ({"several_of": ["anxiety", "depression", "isolation", "trauma"]}, ["anxiety", "trauma"], True),
        ({"several_of": ["anxiety", "depression", "isolation", "trauma"]}, ["anxiety", "adhd"], False),
    ],
)
def test_multiple_choice_operators(condition: dict[str, Any], value: list[str], expected: bool) -> None:
    assert matches({"fact": "diagnoses", **condition}, {"diagnoses": value}) is expected


def test_a_multiple_choice_operator_on_a_single_value_is_an_error() -> None:
    with pytest.raises(ConditionError):
        matches({"fact": "gad7.band", "contains": ["mild"]}, facts())


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"fact": "age", "ge": 20}, True),
        ({"fact": "age", "gt": 20}, False),
        ({"fact": "age", "lt": 21}, True),
        ({"fact": "age", "le": 19}, False),
        ({"fact": "gad7.band", "in": ["mild", "moderate"]}, True),
        ({"fact": "gad7.band", "not_in": ["mild"]}, False),
        ({"fact": "gad7.band", "ne": "mild"}, False),
        ({"fact": "substance", "eq": "D"}, False),  # missing fact never satisfies a comparison
        ({"fact": "substance", "present": False}, True),
        ({"not": {"fact": "age", "eq": 20}}, False),
        ({"all": [{"fact": "age", "eq": 20}, {"fact": "mdi.band", "eq": "mild"}]}, True),
        ({"any": [{"fact": "age", "eq": 99}, {"fact": "mdi.band", "eq": "mild"}]}, True),
        ({"any": []}, False),
        ({"all": []}, True),
    ],
)
def test_condition_interpreter(condition: dict[str, Any], expected: bool) -> None:
    assert matches(condition, facts()) is expected


def test_malformed_condition_is_an_error_not_a_silent_false() -> None:
    with pytest.raises(ConditionError):
        matches({"fact": "age", "between": [1, 2]}, facts())
    with pytest.raises(ConditionError):
        matches({"fact": "gad7.band", "gt": 3}, facts())


BROKEN = """\
id: broken
names: {da: "X", sv: "X", en: "X"}
country: DK
timezone: Europe/Copenhagen
languages: [da]
age: {min: 15, max: 24}
instruments: [gad7, beck]
crisis:
  - {label: crisis.dk.112, phone: "112"}
contact: {da: "a", sv: "b", en: "c"}
caseload_cap: 0
triage:
  - when: {fact: shoe_size, gt: 40}
    outcome: eligible
    reason: reason.target_group
  - outcome: maybe
    reason: reason.target_group
region: hovedstaden
"""


def test_check_reports_every_error_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    problems = [str(p) for p in check([path])]
    assert any(p.startswith(f"{path}:7:") and "beck" in p for p in problems), problems
    assert any(p.startswith(f"{path}:11:") and "caseload_cap" in p for p in problems), problems
    assert any(":16:" in p and "outcome" in p for p in problems), problems


def test_check_reports_unknown_facts_and_missing_catch_all(tmp_path: Path) -> None:
    text = BROKEN.replace("instruments: [gad7, beck]", "instruments: [gad7]").replace(
        "caseload_cap: 0", "caseload_cap: 20").replace("outcome: maybe", "outcome: eligible")
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    problems = [str(p) for p in check([path])]
    assert any("shoe_size" in p for p in problems), problems
    path.write_text(text.replace("  - outcome: eligible\n    reason: reason.target_group\n", ""), "utf-8")
    assert any("last triage rule" in str(p) for p in check([path]))


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("id: bad\nnames: {da: [\n", encoding="utf-8")
    (problem,) = check([path])
    assert problem.line >= 2 and "YAML" in problem.message
