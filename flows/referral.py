"""From a finished intake to the facts triage reads and the referral a consultant receives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flows import instruments, questions
from flows.ips import CLOCKS
from flows.triage import Decision

if TYPE_CHECKING:
    from flows.programmes import Programme
    from flows.state import State


def _answered(state: State, sequence: list[str], section: questions.Section) -> dict[str, Any]:
    """Answers of the questions in `section` that apply (a follow-up dropped by a change is left out)."""
    asked = {s.removeprefix("q.") for s in sequence if s.startswith("q.")}
    return {
        q.id: state.answers.get(q.id)
        for q in questions.ALL.values()
        if q.section is section and q.id in asked
    }


def score_all(state: State, programme: Programme) -> dict[str, instruments.Result]:
    scores = {}
    for iid in programme.instruments:
        instrument = instruments.load(iid)
        answers = {item.id: state.answers[f"{iid}.{item.id}"] for item in instrument.items}
        scores[iid] = instruments.score(instrument, answers, programme.band_sets.get(iid))
    return scores


def build_facts(
    state: State, programme: Programme, sequence: list[str]
) -> tuple[dict[str, Any], dict[str, instruments.Result]]:
    """The named facts of the triage rules (see flows/triage.py)."""
    scores = score_all(state, programme)
    facts: dict[str, Any] = {"country": programme.country, "flags.risk": "risk" in state.flags}
    for section in questions.Section:
        facts.update(_answered(state, sequence, section))
    if programme.municipalities:
        facts["municipality_in_area"] = programme.in_area(facts.get("municipality"))
    for iid, result in scores.items():
        facts[f"{iid}.total"] = result.total
        facts[f"{iid}.band"] = result.band
        for name, level in result.algorithms.items():
            facts[f"{iid}.{name}"] = level
        for item_id, item_score in result.items.items():
            facts[f"{iid}.item.{item_id}"] = item_score
    return facts, scores


def build_referral(
    state: State,
    programme: Programme,
    sequence: list[str],
    scores: dict[str, instruments.Result],
    decision: Decision,
) -> dict[str, Any]:
    """The referral content: what the export and the consultant's summary are made of."""
    facts = _answered(state, sequence, questions.Section.FACTS)
    contact: dict[str, Any] = {"preference": facts.pop("contact", None)}
    for detail in ("phone", "email"):
        if detail in facts:
            contact[detail] = facts.pop(detail)
    substance_answers = _answered(state, sequence, questions.Section.SUBSTANCE)
    return {
        "programme": programme.id,
        "language": state.lang,
        "consent": dict(state.consent or {}),
        "candidate": {**facts, "contact": contact},
        "instruments": {iid: result.as_dict() for iid, result in scores.items()},
        "flags": list(state.flags),
        "risk_items": list(state.risk_items),
        "substance": substance_answers.get("substance"),
        "substance_treatment": substance_answers.get("substance_treatment"),
        "motivation": _answered(state, sequence, questions.Section.MOTIVATION),
        "triage": decision.as_dict(),
    }


PARTIAL_TRIAGE = {"outcome": "eligible-urgent", "reason": "reason.partial_risk", "urgent": True, "priority": False}


def build_partial_referral(state: State, programme: Programme, sequence: list[str],
                           answered: list[str]) -> dict[str, Any]:
    """An unfinished intake with a risk answer, for the programme's staff: what was answered so far.

    Only instruments answered in full are scored; `answered` lists the steps the person got to, so
    the summary can say which questions are missing. Not triaged: the staff judge it.
    """
    facts = _answered(state, sequence, questions.Section.FACTS)
    facts = {k: v for k, v in facts.items() if k in state.answers}
    candidate = dict(facts)
    if "contact" in facts:  # a contact the person did not choose yet is left out, not given as null
        contact: dict[str, Any] = {"preference": candidate.pop("contact")}
        for detail in ("phone", "email"):
            if detail in candidate:
                contact[detail] = candidate.pop(detail)
        candidate["contact"] = contact
    scores = {}
    for iid in programme.instruments:
        instrument = instruments.load(iid)
        if all(f"{iid}.{item.id}" in state.answers for item in instrument.items):
            answers = {item.id: state.answers[f"{iid}.{item.id}"] for item in instrument.items}
            scores[iid] = instruments.score(instrument, answers, programme.band_sets.get(iid)).as_dict()
    motivation = _answered(state, sequence, questions.Section.MOTIVATION)
    substance = _answered(state, sequence, questions.Section.SUBSTANCE)
    return {
        "programme": programme.id,
        "language": state.lang,
        "consent": dict(state.consent or {}),
        "candidate": candidate,
        "instruments": scores,
        "flags": list(state.flags),
        "risk_items": list(state.risk_items),
        "substance": substance.get("substance"),
        "substance_treatment": substance.get("substance_treatment"),
        "motivation": {k: v for k, v in motivation.items() if k in state.answers},
        "triage": dict(PARTIAL_TRIAGE),
        "partial": True,
        "answered": list(answered),
    }




def risk_signals(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Each risk answer behind a referral, for every export: instrument, item, the answer given (its score
    and the option's text id) and when (ISO 8601, UTC).

    From the payload's `risks`, which the service fills from the stored risk events, so an answer later
    changed (with /back, or in an intake restarted since) is still there as it was given."""
    signals = []
    for risk in payload.get("risks") or []:
        moment = datetime.fromisoformat(risk["at"])
        signals.append({
            "instrument": risk["instrument"],
            "item": risk["item"],
            "score": risk["score"],
            "answer": _option_label(risk["instrument"], risk["item"], risk["score"]),
            "at": (moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat(),
        })
    return signals


def _option_label(instrument_id: str, item_id: str, score: int) -> str | None:
    """The text id of the option with this score (None for an instrument or item no longer catalogued)."""
    if instrument_id not in instruments.available():
        return None
    instrument = instruments.load(instrument_id)
    if item_id not in {i.id for i in instrument.items}:
        return None
    return next((o.label for o in instrument.options_of(instrument.item(item_id)) if o.score == score), None)


def export_record(referral_id: int, created_at: str, status: str, payload: dict[str, Any],
                  clocks: dict[str, str | None] | None = None, case_outcome: str | None = None) -> dict[str, Any]:
    """One line of `ipsbot export --format json` (schema: flows/referral.schema.json).

    `clocks` are the IPS timestamps of the case (ISO 8601, None until they happen)."""
    instruments_out = {}
    for iid, result in payload["instruments"].items():
        entry = {"items": result["items"], "total": result["total"], "band": result["band"]}
        # the algorithms as the file names them, and a mean-scored instrument's mean (MANSA)
        entry.update({k: result[k] for k in (*instruments.load(iid).algorithms, "mean") if k in result})
        instruments_out[iid] = entry
    triage = payload["triage"]
    return {
        "id": referral_id,
        "programme": payload["programme"],
        "language": payload["language"],
        "created_at": created_at,
        "partial": bool(payload.get("partial")),
        "candidate": payload["candidate"],
        "instruments": instruments_out,
        "flags": payload["flags"],
        "risks": risk_signals(payload),
        "substance": payload.get("substance"),
        "substance_treatment": payload.get("substance_treatment"),
        "motivation": payload["motivation"],
        "triage": {
            "outcome": triage["outcome"],
            "reason": triage["reason"],
            "urgent": triage["urgent"],
            "priority": triage["priority"],
        },
        "consent": payload.get("consent", {}),
        "status": status,
        "case": {"outcome": case_outcome, **{k: (clocks or {}).get(k) for k in CLOCKS}},
    }
