"""The JSON Schema of one line of ``ipsbot export --format json``, built from the data it describes.

The static parts (ids, times, triage, consent, status) are written here once; every enum comes from
its one source: the questions (``flows/questions.py``), the instrument files (ids, score ranges,
bands, algorithm levels, risk flags), the outcomes (``flows/triage.py``), the case outcomes and IPS
clocks, the languages (``locales``). ``flows/referral.schema.json`` is this schema written out for
readers outside the code; ``python -m flows.schema --write`` rewrites it and a test fails when it
is out of date. A partial referral (``partial: true``, an intake left after a risk answer) meets it
too: its candidate, motivation and instruments may be incomplete, and it is always urgent.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from flows import instruments, questions
from flows.ips import CASE_OUTCOMES, CLOCKS
from flows.triage import REASON_PATTERN, Outcome
from locales import LANGUAGES

SCHEMA_PATH = Path(__file__).resolve().parent / "referral.schema.json"
# storage/models.py ReferralStatus (flows/ does not import storage/)
REFERRAL_STATUSES = ("new", "waiting", "claimed", "closed", "redirected")


def _question(question: questions.Question, *, nullable: bool = False) -> dict[str, Any]:
    """The schema of one answer, from the question's kind, options and limits."""
    if question.kind is questions.Kind.CHOICE:
        options = list(dict.fromkeys(o for country in ("DK", "SE") for o in question.options_for(country)))
        if "other" in options:  # the catch-all last, as people read the list
            options = [o for o in options if o != "other"] + ["other"]
        return {"enum": [*options, None] if nullable else options}
    if question.kind is questions.Kind.MULTI:
        return {"type": "array", "uniqueItems": True, "items": {"enum": list(question.options)}}
    if question.kind is questions.Kind.NUMBER:
        return {"type": "integer", "minimum": question.minimum, "maximum": question.maximum}
    out: dict[str, Any] = {"type": ["string", "null"] if nullable else "string"}
    if question.kind is questions.Kind.TEXT:
        out.update({"minLength": 1} if not nullable else {}, maxLength=question.max_length)
    return out


def instrument_schema(instrument: instruments.Instrument) -> dict[str, Any]:
    """One instrument's result in the export: its scored items, total, band and algorithm levels."""
    bands = list(dict.fromkeys(b.band for name in instrument.band_set_names for b in instrument.bands_of(name)))
    count = len(instrument.scored_item_ids)
    properties: dict[str, Any] = {
        "items": {"type": "array", "minItems": count, "maxItems": count,
                  "items": {"type": "integer", "minimum": min(instrument.scores), "maximum": max(instrument.scores)}},
        "total": {"type": "integer", "minimum": instrument.min_total, "maximum": instrument.max_total},
        "band": {"enum": bands},
    }
    for name, algorithm in instrument.algorithms.items():
        properties[name] = {"enum": list(dict.fromkeys(algorithm.levels_named))}
    return {"type": "object", "additionalProperties": False, "required": ["items", "total", "band"],
            "properties": properties}


def referral_schema() -> dict[str, Any]:
    """The schema, for the instruments catalogued now (shipped and INSTRUMENTS_DIR)."""
    facts = {q.id: q for q in (*questions.FACTS, questions.DIAGNOSES)}
    candidate_required = [q.id for q in questions.FACTS if q.only_if is None and q.id != "contact"] + ["contact"]
    candidate = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **{qid: _question(q) for qid, q in facts.items() if qid not in ("contact", "phone", "email")},
            "contact": {
                "type": "object",
                "additionalProperties": False,
                "required": ["preference"],
                "properties": {"preference": _question(facts["contact"]), "phone": {"type": "string"},
                               "email": {"type": "string"}},
            },
        },
    }
    motivation = {
        "type": "object",
        "additionalProperties": False,
        "properties": {q.id: _question(q, nullable=q.optional) for q in questions.MOTIVATION},
    }
    motivation_required = [q.id for q in questions.MOTIVATION if not q.optional]
    catalogued = instruments.available()
    loaded = [instruments.load(iid) for iid in catalogued]
    flags = sorted({rule.flag for instrument in loaded for rule in instrument.risk})
    risky = [instrument for instrument in loaded if instrument.risk]
    risk = {
        "type": "object",
        "additionalProperties": False,
        "required": ["instrument", "item", "score", "answer", "at"],
        "properties": {
            "instrument": {"enum": [instrument.id for instrument in risky]},
            "item": {"enum": sorted({rule.item for instrument in risky for rule in instrument.risk})},
            "score": {"type": "integer", "minimum": min((min(i.scores) for i in risky), default=0),
                      "maximum": max((max(i.scores) for i in risky), default=0)},
            "answer": {"type": ["string", "null"], "description": "the text id of the option chosen"},
            "at": {"type": "string", "format": "date-time", "pattern": "(Z|\\+00:00)$"},
        },
    }
    substance = {q.id: q for q in questions.SUBSTANCE}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/ips-intake/ipsbot/referral.schema.json",
        "title": "IPS intake referral (one line of `ipsbot export --format json`)",
        "description": "Generated by flows/schema.py from the questions, instruments and outcomes; do not edit.",
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "programme", "language", "created_at", "candidate", "instruments", "flags", "risks",
                     "motivation", "triage", "status", "partial"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "programme": {"type": "string", "pattern": "^[a-z][a-z0-9_-]{1,31}$"},
            "language": {"enum": list(LANGUAGES)},
            "created_at": {"type": "string", "format": "date-time", "pattern": "(Z|\\+00:00)$"},
            "partial": {"type": "boolean", "description": "true: an intake left unfinished after a risk answer; "
                        "what was answered so far, not triaged (urgent, for the staff to judge)"},
            "candidate": candidate,
            "instruments": {
                "type": "object",
                "propertyNames": {"enum": list(catalogued)},
                "properties": {instrument.id: instrument_schema(instrument) for instrument in loaded},
            },
            "flags": {"type": "array", "items": {"enum": flags}, "uniqueItems": True},
            "risks": {"type": "array", "items": risk,
                      "description": "each risk answer as it was given (also when changed later), oldest first"},
            "substance": _question(substance["substance"], nullable=True),
            "substance_treatment": {**_question(substance["substance_treatment"], nullable=True),
                                    "description": "motivation for treatment of substance use (asked at B or C)"},
            "motivation": motivation,
            "triage": {
                "type": "object",
                "additionalProperties": False,
                "required": ["outcome", "reason", "urgent", "priority"],
                "properties": {
                    "outcome": {"enum": [o.value for o in Outcome]},
                    "reason": {"type": "string", "pattern": REASON_PATTERN},
                    "urgent": {"type": "boolean"},
                    "priority": {"type": "boolean"},
                },
            },
            "consent": {
                "type": "object",
                "properties": {"version": {"type": "string"}, "language": {"enum": list(LANGUAGES)}},
            },
            "status": {"enum": list(REFERRAL_STATUSES)},
            "case": {
                "type": "object",
                "description": "The IPS clocks: created_at above, then these (ISO 8601 UTC, null until they happen)",
                "additionalProperties": False,
                "properties": {
                    "outcome": {"enum": [*CASE_OUTCOMES, None]},
                    **{clock: {"type": ["string", "null"], "format": "date-time"} for clock in CLOCKS},
                },
            },
        },
        # a finished referral has every required answer and at least one instrument; a partial one
        # has what was answered before the person stopped, and is always urgent
        "if": {"required": ["partial"], "properties": {"partial": {"const": True}}},
        "then": {"properties": {"triage": {"properties": {"urgent": {"const": True}}}}},
        "else": {
            "properties": {
                "candidate": {"required": candidate_required},
                "motivation": {"required": motivation_required},
                "instruments": {"minProperties": 1},
            },
        },
    }


def render() -> str:
    """The schema as the shipped file: indented, a list of plain values on one line."""
    text = json.dumps(referral_schema(), ensure_ascii=False, indent=2)
    flat = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)
    return flat + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help=f"write {SCHEMA_PATH.name}")
    args = parser.parse_args(argv)
    if args.write:
        SCHEMA_PATH.write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
