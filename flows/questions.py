"""The intake's own questions (basic facts, substance use, motivation) as data.

Instrument items are defined in ``flows/instruments``; these are the rest. Each question has a
message id for its text; choice questions list option ids whose labels are ``<text>.<option>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    CHOICE = "choice"
    TEXT = "text"
    NUMBER = "number"
    PHONE = "phone"
    EMAIL = "email"
    MULTI = "multi"  # several options, toggled on and off, then "done"; the answer is a list


class Section(StrEnum):
    FACTS = "facts"
    SUBSTANCE = "substance"
    MOTIVATION = "motivation"


@dataclass(frozen=True, slots=True)
class Question:
    id: str  # also the fact name used by triage rules
    section: Section
    kind: Kind
    options: tuple[str, ...] = ()
    max_length: int = 500
    minimum: int = 0
    maximum: int = 0
    optional: bool = False
    # shown only when another answer has one of these values: (question id, values)
    only_if: tuple[str, tuple[str, ...]] | None = None
    # options depend on the programme's country
    per_country: dict[str, tuple[str, ...]] | None = None
    # multiple choice: options that stand alone (choosing one clears the others, and the other way round)
    exclusive: tuple[str, ...] = ()
    # options that need a channel able to write to the person later (see `Screen.needs_reach`)
    needs_reach: tuple[str, ...] = ()

    @property
    def msgid(self) -> str:
        return f"q.{self.id}"

    def option_msgid(self, option: str) -> str:
        return f"q.{self.id}.{option}"

    def options_for(self, country: str) -> tuple[str, ...]:
        if self.per_country is not None:
            return self.per_country[country]
        return self.options


SUPPORT_DK = (
    "kontanthjaelp",
    "uddannelseshjaelp",
    "sygedagpenge",
    "ressourceforloeb",
    "jobafklaring",
    "foertidspension",
    "selvforsoergende",
    "other",
)
SUPPORT_SE = ("aktivitetsersattning", "sjukersattning", "forsorjningsstod", "other")

FACTS: tuple[Question, ...] = (
    Question("name", Section.FACTS, Kind.TEXT, max_length=40),
    Question("age", Section.FACTS, Kind.NUMBER, minimum=10, maximum=110),
    Question("municipality", Section.FACTS, Kind.TEXT, max_length=60),
    Question("situation", Section.FACTS, Kind.CHOICE, ("school", "job", "unemployed", "sick_leave", "other")),
    Question("support", Section.FACTS, Kind.CHOICE, per_country={"DK": SUPPORT_DK, "SE": SUPPORT_SE}),
    Question(
        "treatment",
        Section.FACTS,
        Kind.CHOICE,
        ("in_treatment", "under_assessment", "diagnosed", "suspected", "none"),
    ),
    Question("contact", Section.FACTS, Kind.CHOICE, ("chat", "phone", "sms", "email"), needs_reach=("chat",)),
    Question("phone", Section.FACTS, Kind.PHONE, max_length=20, only_if=("contact", ("phone", "sms"))),
    Question("email", Section.FACTS, Kind.EMAIL, max_length=120, only_if=("contact", ("email",))),
)

# The areas someone has a diagnosis for or is being assessed for (asked when the programme sets
# `diagnoses: true`, right after the treatment question). "none" and "dont_know" stand alone: picking
# one of them clears the others, picking an area clears them.
DIAGNOSIS_AREAS = (
    "anxiety", "depression", "isolation", "trauma", "psychosis", "bipolar", "adhd", "autism",
    "personality", "eating", "ocd", "other",
)
DIAGNOSIS_ALONE = ("none", "dont_know")
DIAGNOSES = Question("diagnoses", Section.FACTS, Kind.MULTI, (*DIAGNOSIS_AREAS, *DIAGNOSIS_ALONE),
                     exclusive=DIAGNOSIS_ALONE)

# Hjørring's target-group description grades substance use A (no problem) to E (complete problem);
# at B or C it asks about motivation for treatment.
SUBSTANCE: tuple[Question, ...] = (
    Question("substance", Section.SUBSTANCE, Kind.CHOICE, ("A", "B", "C", "D", "E")),
    Question("substance_treatment", Section.SUBSTANCE, Kind.CHOICE, ("yes", "maybe", "no"),
             only_if=("substance", ("B", "C"))),
)

MOTIVATION: tuple[Question, ...] = (
    Question("goal", Section.MOTIVATION, Kind.CHOICE, ("work", "education", "both", "unsure")),
    Question("dream", Section.MOTIVATION, Kind.TEXT, max_length=1000, optional=True),
    Question("background", Section.MOTIVATION, Kind.TEXT, max_length=1000, optional=True),
    Question("strengths", Section.MOTIVATION, Kind.TEXT, max_length=1000, optional=True),
    Question("hours", Section.MOTIVATION, Kind.CHOICE, ("under_10", "10_20", "20_30", "30_37", "unsure")),
    Question("worries", Section.MOTIVATION, Kind.TEXT, max_length=1000, optional=True),
    Question("disclosure", Section.MOTIVATION, Kind.CHOICE, ("yes", "partly", "no", "unsure")),
    Question("support_wanted", Section.MOTIVATION, Kind.TEXT, max_length=1000, optional=True),
)

ALL: dict[str, Question] = {q.id: q for q in (*FACTS, DIAGNOSES, *SUBSTANCE, *MOTIVATION)}
