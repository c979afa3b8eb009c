"""Questionnaires as data (the YAML files beside this module) and their scoring.

An instrument is items with a shared response scale, optional combined items (MDI 8a/8b), a sum
score, severity bands, risk items and, for the MDI, the ICD-10 and DSM-IV algorithms.

Some instruments (MANSA) also have unscored items with their own answers (yes/no), a mean score
instead of a sum, and no severity bands. `reliable_change` is the published reliable-change
threshold of the total, with its source, or none (`reliable_change_source` then says none is published).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flows import yamlfile

INSTRUMENT_DIR = Path(__file__).resolve().parent
# the name the instrument files give their most severe band and algorithm level
SEVERE = "severe"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Strict):
    score: int
    label: str


class Item(_Strict):
    id: str
    text: str
    # an item with its own answers (MANSA's yes/no questions): not part of the score
    options: tuple[Option, ...] | None = None

    @property
    def scored(self) -> bool:
        return self.options is None


class Combine(_Strict):
    items: tuple[str, ...]
    as_: str = Field(alias="as")


class Band(_Strict):
    min: int
    max: int
    band: str


class RiskRule(_Strict):
    item: str
    min: int
    flag: str


class Threshold(_Strict):
    items: tuple[str, ...]
    min: int


class Icd10Level(_Strict):
    level: str
    core: int
    other: int


class Icd10Algorithm(_Strict):
    kind: Literal["icd10"]
    core: Threshold
    other: Threshold
    levels: tuple[Icd10Level, ...]
    otherwise: str

    @property
    def levels_named(self) -> tuple[str, ...]:
        """Every result the algorithm can give."""
        return (*(level.level for level in self.levels), self.otherwise)


class Dsm4Algorithm(_Strict):
    kind: Literal["dsm4"]
    thresholds: dict[str, int]
    merge: tuple[tuple[str, ...], ...] = ()
    required_any: tuple[str, ...]
    min_symptoms: int
    positive: str
    otherwise: str

    @property
    def levels_named(self) -> tuple[str, ...]:
        """Every result the algorithm can give."""
        return (self.positive, self.otherwise)


class Loinc(_Strict):
    panel: str
    total: str
    items: dict[str, str] = Field(default_factory=dict)  # item id -> LOINC code of the item
    # option score -> LOINC answer code (LA...), for instruments whose answer list LOINC codes
    answers: dict[int, str] = Field(default_factory=dict)


class Instrument(_Strict):
    id: str
    name: str
    intro: str
    period_days: int
    loinc: Loinc | None = None
    options: tuple[Option, ...]
    items: tuple[Item, ...]
    combine: tuple[Combine, ...] = ()
    bands: tuple[Band, ...] = ()  # none: the score has no severity bands (MANSA); the band is then ""
    # "sum" of the scored items (GAD-7, MDI, PHQ-9), or their "mean" (MANSA, rounded to 2 decimals)
    scoring: Literal["sum", "mean"] = "sum"
    # the smallest change of the score between two answers that counts as reliable (Jacobson & Truax), or None
    reliable_change: float | None = None
    reliable_change_source: str = ""  # where `reliable_change` is published, or why there is none
    band_set: str = "default"  # the name of `bands`, the default band set
    # other published band sets a programme may choose instead (programme file: band_sets)
    other_bands: dict[str, tuple[Band, ...]] = Field(default_factory=dict)
    risk: tuple[RiskRule, ...] = ()
    algorithms: dict[str, Icd10Algorithm | Dsm4Algorithm] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        ids = [i.id for i in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids must be unique")
        self._check_bands()
        if not self.reliable_change_source.strip():
            raise ValueError("reliable_change_source must name the source of the threshold, or say none is published")
        self._check_references(ids)
        return self

    def _check_bands(self) -> None:
        """Each band set covers the totals from the least to the most, without a gap or an overlap."""
        lo, hi = self.min_total, self.max_total
        if not self.bands and self.other_bands:
            raise ValueError("other band sets need a default band set")
        for bands in (self.bands, *self.other_bands.values()):
            if not bands:
                continue
            edges = sorted(bands, key=lambda b: b.min)
            if edges[0].min != lo or edges[-1].max != hi:
                raise ValueError(f"bands must cover {lo}..{hi}")
            for a, b in itertools.pairwise(edges):
                if b.min != a.max + 1:
                    raise ValueError(f"bands leave a gap or overlap between {a.band} and {b.band}")

    def _check_references(self, ids: list[str]) -> None:
        """The LOINC codes, risk rules and algorithms name only items and scores the instrument has."""
        if self.loinc is not None:
            unknown_items = set(self.loinc.items) - set(ids)
            unknown_scores = set(self.loinc.answers) - set(self.scores)
            if unknown_items or unknown_scores:
                raise ValueError(
                    f"LOINC codes for unknown items {sorted(unknown_items)} or scores {sorted(unknown_scores)}")
        for rule in self.risk:
            if rule.item not in ids:
                raise ValueError(f"risk item {rule.item} is not an item")
        scored = self.scored_item_ids
        for algo in self.algorithms.values():
            named = (
                algo.core.items + algo.other.items
                if isinstance(algo, Icd10Algorithm)
                else tuple(algo.thresholds)
            )
            unknown = set(named) - set(scored)
            if unknown:
                raise ValueError(f"algorithm names unknown items {sorted(unknown)}")

    @property
    def scores(self) -> tuple[int, ...]:
        return tuple(o.score for o in self.options)

    @property
    def scored_item_ids(self) -> tuple[str, ...]:
        """Item ids after combining (MDI: 1..10)."""
        merged = {i: c.as_ for c in self.combine for i in c.items}
        out: list[str] = []
        for item in self.items:
            if not item.scored:
                continue
            sid = merged.get(item.id, item.id)
            if sid not in out:
                out.append(sid)
        return tuple(out)

    @property
    def band_set_names(self) -> tuple[str, ...]:
        return (self.band_set, *self.other_bands)

    def bands_of(self, band_set: str | None) -> tuple[Band, ...]:
        """The bands of a named set; the default set for None. KeyError for an unknown name."""
        if band_set is None or band_set == self.band_set:
            return self.bands
        return self.other_bands[band_set]

    @property
    def min_total(self) -> int:
        return len(self.scored_item_ids) * min(self.scores)

    @property
    def max_total(self) -> int:
        return len(self.scored_item_ids) * max(self.scores)

    def options_of(self, item: Item) -> tuple[Option, ...]:
        """The answers of an item: its own, or the instrument's shared scale."""
        return item.options if item.options is not None else self.options

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


@dataclass(frozen=True, slots=True)
class Result:
    """An instrument's scores: raw answers, combined items, total, band, algorithm results, flags."""

    instrument: str
    answers: Mapping[str, int]
    items: Mapping[str, int]
    total: int
    band: str
    algorithms: Mapping[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    mean: float | None = None  # the mean of the scored items, for a "mean" instrument (MANSA)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "answers": dict(self.answers),
            "items": list(self.items.values()),
            "total": self.total,
            "band": self.band,
            **dict(self.algorithms),
            "flags": list(self.flags),
        }
        if self.mean is not None:
            out["mean"] = self.mean
        return out

    @property
    def score(self) -> float:
        """The instrument's score: the mean for a "mean" instrument, else the total."""
        return self.mean if self.mean is not None else float(self.total)

    @property
    def severe(self) -> bool:
        """In the instrument's own severe band (GAD-7 15-21, MDI 31-50 or the band set's, PHQ-9 20-27),
        or severe by one of its algorithms (MDI ICD-10): the bands and levels named so in its file."""
        return self.band == SEVERE or SEVERE in self.algorithms.values()


def risk_flags(instrument: Instrument, item_id: str, score: int) -> tuple[str, ...]:
    """Flags raised by one answer (checked as soon as it is given, not at the end)."""
    return tuple(r.flag for r in instrument.risk if r.item == item_id and score >= r.min)


@dataclass(frozen=True, slots=True)
class RiskSignal:
    """A risk answer: which instrument's item, and the score given."""

    instrument: str
    item: str
    score: int


def risk_signal(step: str, value: object) -> RiskSignal | None:
    """The one place an answer becomes a risk signal, for the conversation, the web form and the follow-ups.

    `step` names an item ("mdi.6"), `value` is what was answered (a score, as given). A signal only for
    one of the item's own answers that meets a risk rule of the instrument's file; anything else (an
    unknown item, "²", a number of 5,000 digits) is simply no signal."""
    iid, _, item_id = str(step).partition(".")
    text = str(value)
    digits = text.removeprefix("-")
    if not item_id or iid not in available() or not (digits.isascii() and digits.isdigit()) or len(text) > 4:
        return None
    instrument = load(iid)
    if item_id not in {i.id for i in instrument.items}:
        return None
    score = int(text)
    if score not in {o.score for o in instrument.options_of(instrument.item(item_id))}:
        return None
    return RiskSignal(iid, item_id, score) if risk_flags(instrument, item_id, score) else None


def score(instrument: Instrument, answers: Mapping[str, int], band_set: str | None = None) -> Result:
    """Score a complete set of answers, banded by `band_set` (the instrument's default for None).

    Raises ValueError on a missing or impossible answer."""
    for item in instrument.items:
        if item.id not in answers:
            raise ValueError(f"{instrument.id}: item {item.id} is not answered")
        if answers[item.id] not in {o.score for o in instrument.options_of(item)}:
            raise ValueError(f"{instrument.id}: {answers[item.id]!r} is not a score of item {item.id}")
    merged = {i: c.as_ for c in instrument.combine for i in c.items}
    items: dict[str, int] = {}
    for item in instrument.items:
        if not item.scored:
            continue
        sid = merged.get(item.id, item.id)
        items[sid] = max(items.get(sid, 0), answers[item.id])
    total = sum(items.values())
    mean = round(total / len(items), 2) if instrument.scoring == "mean" and items else None
    bands = instrument.bands_of(band_set)
    band = next((b.band for b in bands if b.min <= total <= b.max), "")
    algorithms = {name: _run(algo, items) for name, algo in instrument.algorithms.items()}
    flags = sorted({f for item_id, s in answers.items() for f in risk_flags(instrument, item_id, s)})
    return Result(
        instrument=instrument.id,
        answers={i.id: answers[i.id] for i in instrument.items},
        items=items,
        total=total,
        band=band,
        algorithms=algorithms,
        flags=tuple(flags),
        mean=mean,
    )


def _run(algo: Icd10Algorithm | Dsm4Algorithm, items: Mapping[str, int]) -> str:
    if isinstance(algo, Icd10Algorithm):
        core = sum(items[i] >= algo.core.min for i in algo.core.items)
        other = sum(items[i] >= algo.other.min for i in algo.other.items)
        for level in algo.levels:
            if core >= level.core and other >= level.other:
                return level.level
        return algo.otherwise
    present = {i for i, threshold in algo.thresholds.items() if items[i] >= threshold}
    symptoms = len(present)
    for group in algo.merge:  # a merged group counts once however many of its items are present
        hits = sum(i in present for i in group)
        symptoms -= max(0, hits - 1)
    if symptoms >= algo.min_symptoms and any(i in present for i in algo.required_any):
        return algo.positive
    return algo.otherwise


_extra_dir: Path | None = None


def use_directory(extra_dir: Path | None) -> None:
    """Read instruments from `extra_dir` too (the setting INSTRUMENTS_DIR), from now on."""
    global _extra_dir
    _extra_dir = extra_dir
    reload()


def directories() -> tuple[Path, ...]:
    """Where instrument files are read: the shipped ones, then the folder of the setting INSTRUMENTS_DIR
    (given by `use_directory`: the app and the command line do, from the settings).

    A new instrument is one YAML file there (plus its catalogue entries); programmes name it by its
    file name, and the flow, scoring, triage facts, summary, CSV columns, JSON schema and FHIR
    Questionnaire all follow from the file."""
    return (INSTRUMENT_DIR, _extra_dir) if _extra_dir else (INSTRUMENT_DIR,)


@cache
def _paths() -> dict[str, Path]:
    paths: dict[str, Path] = {}
    for directory in directories():
        for path in sorted(directory.glob("*.yaml")):
            paths.setdefault(path.stem, path)  # a shipped instrument is never replaced
    return paths


@cache
def load(instrument_id: str) -> Instrument:
    path = _paths().get(instrument_id)
    if path is None:
        raise KeyError(f"no instrument {instrument_id!r}")
    instrument = Instrument.model_validate(yamlfile.load(path))  # strict: a key given twice is an error
    if instrument.id != instrument_id:
        raise ValueError(f"{path}: id {instrument.id!r} must be the file name")
    return instrument


@cache
def available() -> tuple[str, ...]:
    return tuple(sorted(_paths()))


def reload() -> None:
    """Forget the instruments read so far (after INSTRUMENTS_DIR changed)."""
    for cached in (_paths, load, available):
        cached.cache_clear()
