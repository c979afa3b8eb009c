"""Programmes as data: one YAML file each (shipped beside this module, more in PROGRAMMES_DIR).

A programme names its country, languages, age range, instruments, triage rules, caseload cap,
crisis resources and contact text. ``check`` validates files and reports errors with file and line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from flows import instruments, questions, yamlfile
from flows.ips import CASE_OUTCOMES
from flows.triage import COMBINATORS, COMPARISONS, REASON_PATTERN, Outcome, Rule, fact_names
from locales import LANGUAGES

SHIPPED_DIR = Path(__file__).resolve().parent
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
        for iid, band_set in self.band_sets.items():
            if iid not in self.instruments:
                raise ValueError(f"band_sets names {iid!r}, which the programme does not use")
            known_sets = instruments.load(iid).band_set_names
            if band_set not in known_sets:
                raise ValueError(f"{iid} has no band set {band_set!r}; known: {list(known_sets)}")
        if len({normalise_place(m) for m in self.municipalities}) != len(self.municipalities) or not all(
                m.strip() for m in self.municipalities):
            raise ValueError("municipalities must be distinct names")

        ids = [f.id for f in self.followups]
        if len(set(ids)) != len(ids):
            raise ValueError(f"follow-up ids must be unique, got {ids}")
        for followup in self.followups:
            wrong = [i for i in followup.instruments if i not in instruments.available()]
            wrong += [o for o in followup.trigger.outcomes if o not in CASE_OUTCOMES]
            if wrong:
                raise ValueError(f"follow-up {followup.id}: unknown instruments or outcomes {wrong}")

        unknown_outcomes = [o for o in self.outcome_counts if o not in CASE_OUTCOMES]
        if unknown_outcomes or not self.outcome_counts:
            raise ValueError(f"outcome_counts must be case outcomes of {list(CASE_OUTCOMES)}, got {unknown_outcomes}")
        if not self.triage or self.triage[-1].when is not None:
            raise ValueError("the last triage rule must have no 'when', so that every intake gets a result")
        known = known_facts(self)
        for rule in self.triage:
            _check_condition(rule.when)
            unknown = fact_names(rule.when) - known
            if unknown:
                raise ValueError(f"triage rule refers to unknown facts {sorted(unknown)}")
        return self

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


# --- loading with line numbers -------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """Records the line of every mapping key so errors can point into the file."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    yamlfile.refuse_duplicates(loader, node)  # a key given twice is an error with its line, not the last one wins
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
    lines = {}
    for key_node, _ in node.value:
        lines[loader.construct_object(key_node, deep=True)] = key_node.start_mark.line + 1
    mapping["__lines__"] = lines
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k not in ("__lines__", "__line__")}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _line_of(raw: Any, loc: tuple[int | str, ...]) -> int:
    line = raw.get("__line__", 1) if isinstance(raw, dict) else 1
    node = raw
    for part in loc:
        if isinstance(node, dict):
            line = node.get("__lines__", {}).get(part, line)
            node = node.get(part)
            if isinstance(node, dict):
                line = node.get("__line__", line)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, dict):
                line = node.get("__line__", line)
        else:
            break
    return int(line)


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def parse_file(path: Path) -> tuple[Programme | None, list[Problem]]:
    try:
        raw = yaml.load(yamlfile.text_of(path), Loader=_LineLoader)
    except yamlfile.NotUtf8Error as exc:
        return None, [Problem(path, exc.line, exc.message)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [Problem(path, (mark.line + 1) if mark else 1, f"not valid YAML: {exc}")]
    if not isinstance(raw, dict):
        return None, [Problem(path, 1, "a programme file must be a mapping")]
    try:
        programme = Programme.model_validate(_strip_lines(raw))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if isinstance(p, int | str))
            where = ".".join(str(p) for p in loc) or "(file)"
            problems.append(Problem(path, _line_of(raw, loc), f"{where}: {err['msg']}"))
        return None, problems
    if programme.id != path.stem:
        return None, [Problem(path, raw["__lines__"].get("id", 1), "id must match the file name")]
    return programme, []


def programme_files(extra_dir: Path | None = None) -> list[Path]:
    files = sorted(SHIPPED_DIR.glob("*.yaml"))
    if extra_dir is not None:
        files += sorted(Path(extra_dir).glob("*.yaml"))
    return files


def check(paths: Iterable[Path]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, Path] = {}
    for path in paths:
        programme, found = parse_file(path)
        problems += found
        if programme is not None:
            if programme.id in seen:
                problems.append(Problem(path, 1, f"programme id {programme.id!r} also in {seen[programme.id]}"))
            seen[programme.id] = path
    return problems


class ProgrammeError(ValueError):
    pass


class Registry:
    """The programmes a process serves, loaded once and validated."""

    def __init__(self, programmes: Mapping[str, Programme]) -> None:
        self._by_id = dict(programmes)

    @classmethod
    def load(cls, extra_dir: Path | None = None) -> Registry:
        paths = programme_files(extra_dir)
        problems = check(paths)
        if problems:
            raise ProgrammeError("\n".join(str(p) for p in problems))
        loaded: dict[str, Programme] = {}
        for path in paths:
            programme, found = parse_file(path)
            if programme is None:  # checked above; a file changed in between
                raise ProgrammeError("\n".join(str(p) for p in found) or f"{path}: cannot be read")
            loaded[programme.id] = programme
        return cls(loaded)

    def get(self, programme_id: str | None) -> Programme | None:
        return self._by_id.get(programme_id or "")

    def __getitem__(self, programme_id: str) -> Programme:
        return self._by_id[programme_id]

    def __contains__(self, programme_id: object) -> bool:
        return programme_id in self._by_id

    def all(self) -> list[Programme]:
        return list(self._by_id.values())

    def for_language(self, lang: str) -> list[Programme]:
        """Programmes offered to someone speaking `lang` (all of them for English)."""
        if lang == "en":
            return self.all()
        return [p for p in self._by_id.values() if lang in p.languages] or self.all()
