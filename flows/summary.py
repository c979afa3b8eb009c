"""What a consultant reads: the referral summary and the case card, as screens with buttons.

Plain data in (the referral content and a few times), screens out; adapters render and escape them.
Button payloads name the referral (``ref.<id>`` for offers, ``case.<id>`` for cases) so the server
can check every press against who is pressing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flows import instruments, questions
from flows.ips import CASE_OUTCOMES, CASE_STEP_CLOCKS
from flows.programmes import Programme
from flows.screens import Button, InputKind, Screen, Tone
from flows.steps import Step, StepKind
from locales import Translator, format_when

CASE_ACTIONS = (*CASE_STEP_CLOCKS, "outcome", "close")
# ordinary_under_25 / education_under_25: under 25 % of full time (Jönköping's goal counts 25 % or more)


def _label(t: Translator, question_id: str, value: Any) -> str:
    question = questions.ALL[question_id]
    if value is None:
        return t("summary.skipped")
    if question.kind is questions.Kind.CHOICE:
        return t(question.option_msgid(str(value)))
    if question.kind is questions.Kind.MULTI:
        return ", ".join(t(question.option_msgid(str(v))) for v in value)
    return str(value)


def _line(t: Translator, question_id: str, value: Any) -> str:
    return t("staff.summary.line", label=t(f"q.{question_id}.short"), value=_label(t, question_id, value))


def _step_name(t: Translator, step: str) -> str:
    """A step in the staff member's language: "MDI 6" for an item, the question's short label otherwise."""
    parsed = Step.parse(step)
    if parsed is not None and parsed.kind is StepKind.ITEM:
        return t("staff.summary.item", instrument=t(instruments.load(parsed.instrument).name), item=parsed.name)
    return t(f"{step}.short") if parsed is not None and parsed.kind is StepKind.QUESTION else step


def _risk_lines(t: Translator, payload: dict[str, Any], programme: Programme) -> list[str]:
    """Each risk answer: the item that raised it, its wording, and when it was given."""
    risks = payload.get("risks") or [{"instrument": step.partition(".")[0], "item": step.partition(".")[2]}
                                      for step in payload.get("risk_items", [])]
    lines = []
    for risk in risks:
        iid, item = risk.get("instrument", ""), str(risk.get("item", ""))
        if iid not in instruments.available():
            continue
        instrument = instruments.load(iid)
        if item not in {i.id for i in instrument.items}:
            continue
        at = risk.get("at")
        when = format_when(datetime.fromisoformat(at), t.lang, programme.timezone) if at else "–"
        lines.append(t("staff.summary.risk_item", item=_step_name(t, f"{iid}.{item}"),
                       text=t(instrument.item(item).text), when=when))
    return lines


def _instrument_lines(t: Translator, results: dict[str, Any]) -> list[str]:
    """Each instrument's total and band (or mean), and its diagnostic algorithms' levels."""
    lines = []
    for iid, result in results.items():
        instrument = instruments.load(iid)
        if "mean" in result:  # MANSA: a mean, no bands
            lines.append(t("staff.summary.instrument_mean", name=t(instrument.name), mean=result["mean"]))
            continue
        lines.append(t("staff.summary.instrument", name=t(instrument.name), total=result["total"],
                       band=t(f"band.{result['band']}")))
        for name, algorithm in instrument.algorithms.items():  # as the instrument file names them
            if name in result:
                lines.append(t("staff.summary.algorithm", name=t(instrument.name),
                               algorithm=t(f"algorithm.{algorithm.kind}"), level=t(f"band.{result[name]}")))
    return lines


def summary_text(referral_id: int, payload: dict[str, Any], programme: Programme, lang: str,
                 consent_at: datetime | None) -> str:
    t = Translator(lang)
    candidate, triage = payload["candidate"], payload["triage"]
    lines = [t("staff.summary.title", id=referral_id, programme=programme.name(t.lang))]
    if triage.get("urgent"):
        lines.append(t("staff.summary.urgent"))  # first, and clearly
        lines += _risk_lines(t, payload, programme)
    if payload.get("partial"):
        lines.append(t("staff.summary.partial", answered=len(payload.get("answered", [])),
                       last=_step_name(t, payload.get("answered", [])[-1]) if payload.get("answered") else "–"))
    if triage.get("priority"):
        lines.append(t("staff.summary.priority"))
    lines.append("")
    lines.append(t("staff.summary.person", name=candidate.get("name", ""), age=candidate.get("age", ""),
                   municipality=candidate.get("municipality", "")))
    for field in ("situation", "support", "treatment"):
        lines.append(_line(t, field, candidate.get(field)))
    if "diagnoses" in candidate:  # asked only where the programme asks it
        lines.append(_line(t, "diagnoses", candidate["diagnoses"]))
    contact = candidate.get("contact", {})
    detail = contact.get("phone") or contact.get("email")
    preference = _label(t, "contact", contact.get("preference"))
    lines.append(t("staff.summary.line", label=t("q.contact.short"),
                   value=f"{preference} {detail}" if detail else preference))
    lines.append("")
    lines += _instrument_lines(t, payload["instruments"])
    if payload.get("substance"):
        lines.append(_line(t, "substance", payload["substance"]))
    if payload.get("substance_treatment"):  # asked at grade B or C
        lines.append(_line(t, "substance_treatment", payload["substance_treatment"]))
    lines.append("")
    lines += [_line(t, qid, value) for qid, value in payload["motivation"].items()]
    lines.append("")
    lines.append(t("staff.summary.triage", outcome=t(f"staff.outcome.{triage['outcome']}"), reason=t(triage["reason"])))
    consent = payload.get("consent", {})
    if consent_at is not None:
        lines.append(t("staff.summary.consent", when=format_when(consent_at, t.lang, programme.timezone),
                       version=consent.get("version", "")))
    return "\n".join(lines)


def offer_screen(referral_id: int, payload: dict[str, Any], programme: Programme, lang: str,
                 consent_at: datetime | None, note: str = "") -> Screen:
    """The summary a consultant with room receives, with Claim, Pass and Export; urgent, also "Seen — I will
    make contact" (the consultant's copy of the case's escalation)."""
    t = Translator(lang)
    text = summary_text(referral_id, payload, programme, lang, consent_at)
    urgent = payload["triage"].get("urgent")
    buttons = tuple(Button(b, t(f"staff.{b}") if b != "seen" else t("staff.escalation.seen"))
                    for b in (("claim", "seen", "pass", "export") if urgent else ("claim", "pass", "export")))
    return Screen((note + "\n\n" if note else "") + text, f"ref.{referral_id}", 0, InputKind.CHOICE, buttons,
                  tone=Tone.CRISIS if urgent else Tone.NORMAL)


def case_screen(referral_id: int, payload: dict[str, Any], lang: str, clocks: dict[str, datetime | None],
                outcome: str | None, now: datetime) -> Screen:
    """A consultant's open case: the IPS clocks and buttons to record the next step."""
    t = Translator(lang)
    candidate = payload["candidate"]

    def when(key: str) -> str:
        moment = clocks.get(key)
        return moment.date().isoformat() if moment else t("staff.case.not_yet")

    created = clocks.get("created_at")
    if created is None:  # every referral has its creation time; a caller that leaves it out is wrong
        raise ValueError(f"referral {referral_id}: case card without created_at")
    days = (now - created).days
    text = t("staff.case", id=referral_id, name=candidate.get("name", ""), age=candidate.get("age", ""),
             municipality=candidate.get("municipality", ""), days=days, contact=when("first_contact_at"),
             meeting=when("first_meeting_at"), job=when("job_search_at"),
             outcome=t(f"case_outcome.{outcome}") if outcome else t("staff.case.not_yet"))
    if days > 30 and clocks.get("job_search_at") is None:
        text += "\n" + t("staff.case.late")  # IPS: first employer contact within 30 days
    buttons = (*(Button(a, t(f"staff.case.{a}")) for a in CASE_ACTIONS), Button("export", t("staff.export")))
    return Screen(text, f"case.{referral_id}", 0, InputKind.CHOICE, buttons)


def outcome_screen(referral_id: int, lang: str) -> Screen:
    t = Translator(lang)
    buttons = tuple(Button(f"outcome:{o}", t(f"case_outcome.{o}")) for o in CASE_OUTCOMES)
    return Screen(t("staff.case.outcome_ask", id=referral_id), f"case.{referral_id}", 0, InputKind.CHOICE, buttons)
