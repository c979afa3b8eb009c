"""A programme's model: the fields of a programme file and the rules that make one consistent.

Loading the files (with line numbers for errors) and the registry are in `flows/programmes/__init__.py`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flows import instruments, questions
from flows.ips import CASE_OUTCOMES
from flows.triage import COMBINATORS, COMPARISONS, REASON_PATTERN, Outcome, Rule, fact_names
from locales import LANGUAGES

# by default every case outcome but "none" counts towards a programme's goal
DEFAULT_OUTCOME_COUNTS = tuple(outcome for outcome in CASE_OUTCOMES if outcome != "none")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgeRange(_Strict):
    min: int = Field(ge=0, le=120)
    max: int = Field(ge=0, le=120)


class CrisisLine(_Strict):
    label: str  # message id, e.g. crisis.dk.livslinien
    phone: str
    # shown only to people of these ages (youth lines: max_age 17); shown to everyone while the age
    # is not yet known, so nobody misses a line that may be theirs
    min_age: int | None = Field(default=None, ge=0, le=120)
    max_age: int | None = Field(default=None, ge=0, le=120)

    def applies_to(self, age: int | None) -> bool:
        if age is None:
            return True
        return (self.min_age is None or age >= self.min_age) and (self.max_age is None or age <= self.max_age)


# The regions a programme may name, per country (Danish regions; Swedish regions, "län").
REGIONS: dict[str, tuple[str, ...]] = {
    "DK": ("hovedstaden", "sjaelland", "syddanmark", "midtjylland", "nordjylland"),
    "SE": (
        "stockholm", "uppsala", "sormland", "ostergotland", "jonkoping", "kronoberg", "kalmar", "gotland",
        "blekinge", "skane", "halland", "vastra_gotaland", "varmland", "orebro", "vastmanland", "dalarna",
        "gavleborg", "vasternorrland", "jamtland_harjedalen", "vasterbotten", "norrbotten",
    ),
}
# Each Danish region's own number for acute help outside the GP's hours; it is also the way to the
# psychiatric emergency department. Sources in locales/REVIEW.md.
REGIONAL_NUMBERS: dict[str, str] = {
    "hovedstaden": "1813",
    "sjaelland": "1818",
    "syddanmark": "70 11 07 07",
    "midtjylland": "70 11 31 31",
    "nordjylland": "70 15 03 00",
}
# Crisis lines that belong to one region only: (region, phone).
REGIONAL_LINES: dict[str, tuple[str, str]] = {
    "crisis.dk.1813": ("hovedstaden", "1813"),
    "crisis.dk.1818": ("sjaelland", "1818"),
}
# Lines whose number is the programme region's own number (REGIONAL_NUMBERS).
REGION_NUMBER_LINES = ("crisis.dk.psychiatry", "crisis.dk.laegevagt")


class RuleSpec(_Strict):
    when: dict[str, Any] | None = None
    outcome: Outcome
    reason: str = Field(pattern=REASON_PATTERN)
    priority: bool = False


class FollowUpTrigger(_Strict):
    """When a follow-up is due: days after the referral, or after the consultant recorded one of `outcomes`."""

    after: Literal["referral", "outcome"]
    days: int = Field(ge=1, le=3650)
    outcomes: tuple[str, ...] = ()  # for "outcome": the case outcomes that start the clock


class FollowUp(_Strict):
    """A follow-up of a claimed case: its trigger, the instruments it asks, how long it stays open."""

    id: str = Field(pattern=r"^[a-z0-9_-]{1,24}$")  # e.g. "6m"; unique within the programme
    trigger: FollowUpTrigger
    instruments: tuple[str, ...] = ()  # asked after "how are things with work or study?"
    # the reminder comes this many days after the first message; the follow-up lapses ("no answer")
    # `window_days` after it
    reminder_days: int = Field(default=3, ge=1, le=30)
    window_days: int = Field(default=7, ge=2, le=60)
    # the report's point this follow-up belongs to (e.g. "½ year"); the id if empty
    label: str = ""

    @model_validator(mode="after")
    def _sane(self) -> FollowUp:
        if self.reminder_days >= self.window_days:
            raise ValueError("the reminder must come before the follow-up lapses (reminder_days < window_days)")
        if self.trigger.after == "outcome" and not self.trigger.outcomes:
            raise ValueError("a follow-up after an outcome names the outcomes that start it")
        return self


class Programme(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,31}$")
    # where the rules and numbers come from (the programme's own description), for sign-off
    source: str = ""
    names: dict[str, str]
    country: Literal["DK", "SE"]
    region: str  # where the programme runs: decides the regional crisis numbers (REGIONS)
    timezone: str
    languages: tuple[str, ...]
    age: AgeRange | None = None  # no range: nobody is outside the target group for their age
    instruments: tuple[str, ...]
    # a published band set per instrument, where the programme uses another than the instrument's default
    band_sets: dict[str, str] = Field(default_factory=dict)
    diagnoses: bool = False  # ask which areas the person has a diagnosis for or is being assessed for
    substance: bool = False
    show_scores: bool = False
    zero_exclusion: bool = False
    caseload_cap: int = Field(default=20, ge=1, le=200)
    retention_months: int = Field(default=24, ge=1, le=120)
    outcome_goal: float = Field(default=0.5, gt=0, le=1)  # share of cases in job or education (IPS: 50 %)
    # an intake left this long after a risk answer becomes an urgent partial referral
    risk_abandon_hours: int = Field(default=24, ge=1, le=24 * 14)
    # an urgent referral nobody claimed this long is sent again and the coordinator is told
    urgent_window_hours: int = Field(default=24, ge=1, le=24 * 14)
    # the case outcomes that count towards the goal (flows/ips.py CASE_OUTCOMES)
    outcome_counts: tuple[str, ...] = DEFAULT_OUTCOME_COUNTS
    crisis: tuple[CrisisLine, ...]
    contact: dict[str, str]
    # the municipalities the programme serves: offered as shortcuts when the municipality is asked, and
    # the fact `municipality_in_area` (is the answer one of them) for the rules
    municipalities: tuple[str, ...] = ()
    triage: tuple[RuleSpec, ...]
    # follow-ups after a claimed referral (bot/services/followup.py); the enrolment instruments are `instruments`
    followups: tuple[FollowUp, ...] = ()

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if v not in LANGUAGES]
        if bad or not value:
            raise ValueError(f"languages must be among {LANGUAGES}, got {list(value)}")
        return value

    @field_validator("names", "contact")
    @classmethod
    def _per_language(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [lang for lang in LANGUAGES if not value.get(lang, "").strip()]
        if missing:
            raise ValueError(f"a text is needed for every language; missing: {missing}")
        return value

    @field_validator("instruments")
    @classmethod
    def _instruments(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = instruments.available()
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"unknown instruments {unknown}; known: {list(known)}")
        return value

    @model_validator(mode="after")
    def _rules(self) -> Programme:
        if self.age is not None and self.age.min > self.age.max:
            raise ValueError("age.min is above age.max")
        if self.region not in REGIONS[self.country]:
            raise ValueError(f"region {self.region!r} is not a region of {self.country}: {list(REGIONS[self.country])}")
        self._check_crisis()
        self._check_band_sets()
        if len({normalise_place(m) for m in self.municipalities}) != len(self.municipalities) or not all(
                m.strip() for m in self.municipalities):
            raise ValueError("municipalities must be distinct names")
        self._check_followups()
        unknown_outcomes = [o for o in self.outcome_counts if o not in CASE_OUTCOMES]
        if unknown_outcomes or not self.outcome_counts:
            raise ValueError(f"outcome_counts must be case outcomes of {list(CASE_OUTCOMES)}, got {unknown_outcomes}")
        self._check_triage()
        return self

    def _check_band_sets(self) -> None:
        """A band set chosen for an instrument the programme uses, and one that instrument has."""
        for iid, band_set in self.band_sets.items():
            if iid not in self.instruments:
                raise ValueError(f"band_sets names {iid!r}, which the programme does not use")
            known_sets = instruments.load(iid).band_set_names
            if band_set not in known_sets:
                raise ValueError(f"{iid} has no band set {band_set!r}; known: {list(known_sets)}")

    def _check_followups(self) -> None:
        """Follow-ups with distinct ids, asking known instruments, started by known outcomes."""
        ids = [f.id for f in self.followups]
        if len(set(ids)) != len(ids):
            raise ValueError(f"follow-up ids must be unique, got {ids}")
        for followup in self.followups:
            wrong = [i for i in followup.instruments if i not in instruments.available()]
            wrong += [o for o in followup.trigger.outcomes if o not in CASE_OUTCOMES]
            if wrong:
                raise ValueError(f"follow-up {followup.id}: unknown instruments or outcomes {wrong}")

    def _check_triage(self) -> None:
        """Well-formed conditions over known facts, ending with a rule that always matches."""
        if not self.triage or self.triage[-1].when is not None:
            raise ValueError("the last triage rule must have no 'when', so that every intake gets a result")
        known = known_facts(self)
        for rule in self.triage:
            _check_condition(rule.when)
            unknown = fact_names(rule.when) - known
            if unknown:
                raise ValueError(f"triage rule refers to unknown facts {sorted(unknown)}")

    def _check_crisis(self) -> None:
        """112 first; a regional number only in its own region; a line's age range makes sense."""
        if not self.crisis or self.crisis[0].phone != "112":
            raise ValueError("the first crisis line must be 112")
        for line in self.crisis:
            if line.label in REGIONAL_LINES:
                region, phone = REGIONAL_LINES[line.label]
                if region != self.region or line.phone != phone:
                    raise ValueError(f"{line.label} ({phone}) is for region {region}, not {self.region}")
            if line.label in REGION_NUMBER_LINES and line.phone != REGIONAL_NUMBERS.get(self.region):
                raise ValueError(f"{line.label} must have the number of region {self.region}: "
                                 f"{REGIONAL_NUMBERS.get(self.region)!r}, not {line.phone!r}")
            if line.min_age is not None and line.max_age is not None and line.min_age > line.max_age:
                raise ValueError(f"{line.label}: min_age is above max_age")

    @property
    def default_language(self) -> str:
        return self.languages[0]

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The file's rules, after an implicit first rule for the programme's age range (if it has one)."""
        rules = tuple(Rule(r.outcome, r.reason, r.when, r.priority) for r in self.triage)
        if self.age is None:
            return rules
        outside = {"any": [{"fact": "age", "lt": self.age.min}, {"fact": "age", "gt": self.age.max}]}
        return (Rule(Outcome.NOT_IN_TARGET, "reason.age_outside", outside), *rules)

    def in_area(self, municipality: str | None) -> bool | None:
        """Is this municipality one the programme serves? None when the programme names none."""
        if not self.municipalities or municipality is None:
            return None
        typed = normalise_place(municipality)
        forms = {typed, typed.removesuffix("s")}  # "Jönköpings kommun" is Jönköping
        return bool(forms & {normalise_place(m) for m in self.municipalities})

    def crisis_for(self, age: int | None) -> tuple[CrisisLine, ...]:
        """The crisis lines for someone of this age (all of them while the age is unknown)."""
        return tuple(line for line in self.crisis if line.applies_to(age))

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names["en"]

    def contact_text(self, lang: str) -> str:
        return self.contact.get(lang) or self.contact["en"]


def normalise_place(name: str) -> str:
    """A municipality name for comparison: case, accents, spaces and a trailing "kommun(e)" ignored."""
    folded = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    words = plain.replace("-", " ").split()
    if words and words[-1] in ("kommun", "kommune"):
        words = words[:-1]
    return " ".join(words)


def known_facts(programme: Programme) -> set[str]:
    facts = {"age", "flags.risk", "country"} | {q.id for q in questions.FACTS + questions.MOTIVATION}
    if programme.municipalities:
        facts.add("municipality_in_area")
    if programme.diagnoses:
        facts.add(questions.DIAGNOSES.id)
    if programme.substance:
        facts |= {q.id for q in questions.SUBSTANCE}
    for iid in programme.instruments:
        instrument = instruments.load(iid)
        facts |= {f"{iid}.total", f"{iid}.band"} | {f"{iid}.{name}" for name in instrument.algorithms}
        facts |= {f"{iid}.item.{item}" for item in instrument.scored_item_ids}
    return facts


def _check_condition(condition: Any) -> None:
    if condition is None:
        return
    if not isinstance(condition, Mapping):
        raise ValueError(f"a condition must be a mapping, got {condition!r}")
    combinators = [k for k in condition if k in COMBINATORS]
    if combinators:
        if len(condition) != 1:
            raise ValueError(f"'{combinators[0]}' must stand alone in its condition")
        inner = condition[combinators[0]]
        for sub in [inner] if combinators[0] == "not" else inner:
            _check_condition(sub)
        return
    ops = [k for k in condition if k != "fact"]
    if "fact" not in condition or len(ops) != 1 or ops[0] not in COMPARISONS:
        raise ValueError(f"a condition needs 'fact' and one of {COMPARISONS}: {dict(condition)!r}")
