"""A programme's decision table in plain words, for a clinician and a coordinator to sign off.

``explain(programme, lang)`` renders the programme file as Markdown: who is asked what, the age
range, each triage rule in order as "if ... then OUTCOME (reason)", the risk override, the crisis
lines and the goal. ``docs/programmes/<id>.md`` are this text in English, written by
``ipsbot programmes explain --write`` (or ``python -m flows.explain``); a test checks they are current.
All words come from the catalogues (``explain.*``), so the table can be read in Danish or Swedish too.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flows import instruments, questions
from flows.programmes import Programme, Registry
from locales import Translator

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs" / "programmes"


class _Words:
    """Facts and values in plain words, in one language."""

    def __init__(self, programme: Programme, t: Translator) -> None:
        self.programme, self.t = programme, t

    def fact(self, name: str) -> str:
        t = self.t
        question = questions.ALL.get(name)
        if question is not None:
            return t(f"{question.msgid}.short")
        if name == "age":
            return t("explain.fact.age")
        if name == "flags.risk":
            return t("explain.fact.risk")
        if name == "country":
            return t("explain.fact.country")
        iid, _, rest = name.partition(".")
        loaded = instruments.load(iid)
        instrument = t(loaded.name)
        if rest.startswith("item."):
            return t("explain.fact.item", instrument=instrument, item=rest.removeprefix("item."))
        if rest in loaded.algorithms:  # named by the instrument file (MDI: icd10, dsm4)
            kind = loaded.algorithms[rest].kind
            return t("explain.fact.algorithm", instrument=instrument, algorithm=t(f"algorithm.{kind}"))
        return t(f"explain.fact.{rest}", instrument=instrument)

    def value(self, name: str, value: Any) -> str:
        if isinstance(value, list | tuple):
            return ", ".join(self.value(name, v) for v in value)
        t = self.t
        question = questions.ALL.get(name)
        if question is not None and (question.options or question.per_country):
            return t("explain.quoted", text=t(question.option_msgid(str(value))))
        iid, _, rest = name.partition(".")
        if iid in instruments.available() and (rest == "band" or rest in instruments.load(iid).algorithms):
            return t("explain.quoted", text=t(f"band.{value}"))
        return str(value)

    def condition(self, condition: Mapping[str, Any]) -> str:
        t = self.t
        for key, joiner in (("all", "explain.and"), ("any", "explain.or")):
            if key in condition:
                parts = [self.condition(c) for c in condition[key]]
                return f"({t(joiner).join(parts)})" if len(parts) > 1 else "".join(parts)
        if "not" in condition:
            return t("explain.not", condition=self.condition(condition["not"]))
        name = condition["fact"]
        op = next(k for k in condition if k != "fact")
        expected = condition[op]
        if op == "present":
            return t("explain.op.present" if expected else "explain.op.absent", fact=self.fact(name))
        return t(f"explain.op.{op}", fact=self.fact(name), value=self.value(name, expected))


def explain(programme: Programme, lang: str = "en") -> str:
    """The programme's decision table as Markdown, in `lang`."""
    t = Translator(lang)
    lines = [*_who(programme, t), "", t("explain.rules"), "", *_rules(programme, t),
             "", t("explain.risk_title"), "", *_risk(programme, t), "", t("explain.risk"),
             "", t("explain.crisis_title"), "", *_crisis(programme, t), "", t("explain.goal_title"), ""]
    counted = "; ".join(t(f"case_outcome.{o}") for o in programme.outcome_counts)
    lines.append(t("explain.goal", goal=round(programme.outcome_goal * 100), outcomes=counted))
    return "\n".join(lines) + "\n"


def _who(programme: Programme, t: Translator) -> list[str]:
    """The title, and who is asked what: place, age range, instruments, extra questions, caseload."""
    lines = [t("explain.title", name=programme.name(t.lang), id=programme.id), "",
             t("explain.generated", id=programme.id), ""]
    if programme.source:
        lines += [t("explain.source", source=programme.source), ""]
    lines.append(t("explain.where", country=programme.country, region=programme.region,
                   languages=", ".join(programme.languages)))
    if programme.age is None:
        lines.append(t("explain.age_none"))
    else:
        lines.append(t("explain.age", min=programme.age.min, max=programme.age.max,
                       reason=t("reason.age_outside")))
    names = ", ".join(t(instruments.load(i).name) for i in programme.instruments)
    lines.append(t("explain.instruments", names=names))
    for iid, band_set in programme.band_sets.items():
        lines.append(t("explain.band_set", instrument=t(instruments.load(iid).name), band_set=band_set))
    if programme.diagnoses:
        lines.append(t("explain.diagnoses"))
    if programme.substance:
        lines.append(t("explain.substance"))
    if programme.municipalities:
        lines.append(t("explain.municipalities", names=", ".join(programme.municipalities)))
    lines.append(t("explain.caseload", cap=programme.caseload_cap))
    return lines


def _rules(programme: Programme, t: Translator) -> list[str]:
    """Each triage rule in order, as "if ... then OUTCOME (reason)"."""
    words = _Words(programme, t)
    lines = []
    for n, rule in enumerate(programme.rules, start=1):
        outcome = t(f"explain.outcome.{rule.outcome.value}")
        if rule.priority:
            outcome = t("explain.priority", outcome=outcome)
        if rule.when is None:
            lines.append(t("explain.otherwise", n=n, outcome=outcome, reason=t(rule.reason)))
        else:
            lines.append(t("explain.rule", n=n, condition=words.condition(rule.when), outcome=outcome,
                           reason=t(rule.reason)))
    return lines


def _risk(programme: Programme, t: Translator) -> list[str]:
    """The instruments' risk items: an answer at or over its minimum overrides the rules."""
    lines = []
    for iid in programme.instruments:
        instrument = instruments.load(iid)
        for risk in instrument.risk:
            lines.append(t("explain.risk_item", instrument=t(instrument.name), item=risk.item, min=risk.min))
    return lines


def _crisis(programme: Programme, t: Translator) -> list[str]:
    """The crisis lines, each with the ages it serves."""
    lines = []
    for line in programme.crisis:
        text = t(line.label, phone=line.phone).lstrip("• ")
        if line.max_age is not None:
            text += " " + t("explain.crisis_max_age", max=line.max_age)
        if line.min_age is not None:
            text += " " + t("explain.crisis_min_age", min=line.min_age)
        lines.append(f"- {text}")
    return lines


def write_docs(registry: Registry, folder: Path = DOCS_DIR, only: Sequence[str] = ()) -> list[Path]:
    """Write ``<folder>/<id>.md`` (English) for each programme (or those in `only`); returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for programme in registry.all():
        if only and programme.id not in only:
            continue
        path = folder / f"{programme.id}.md"
        path.write_text(explain(programme, "en"), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m flows.explain: regenerate docs/programmes/*.md
    for written in write_docs(Registry.load()):
        print(written, file=sys.stderr)
