"""The follow-up dialogue, transport-neutral: "how are things with work or study?", then the
instruments the programme's follow-up asks, one item per screen.

A step takes the follow-up's state (a JSON value) and a button, and returns the new state, the
screens to show and what happened (a risk answer, the end, "later", "stop"). No storage, no channel:
`bot/services/followup.py` stores the state and sends the screens through the outbox.

Screens ask on the step ``fu.<follow-up id>`` with the follow-up's version; a button is a status
(``s:job``), an item score, ``later`` or ``stop``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flows import instruments
from flows.programmes import FollowUp, Programme
from flows.screens import Button, InputKind, Screen, Tone
from locales import Translator

# What a person may say about work or study, and the case outcomes (flows/summary.py CASE_OUTCOMES) each
# stands for: a programme counts a status towards its goal when its `outcome_counts` names one of them.
STATUSES: dict[str, tuple[str, ...]] = {
    "job": ("ordinary_full", "ordinary_part", "ordinary_under_25"),
    "supported_job": ("flex", "subsidised"),
    "education": ("education", "education_under_25"),
    "looking": (),
    "none": (),
}


def counts(status: str | None, programme: Programme) -> bool:
    """Does this answer count as "in work or education" by the programme's own definition?"""
    return any(o in programme.outcome_counts for o in STATUSES.get(status or "", ()))


@dataclass
class Risk:
    instrument: str
    item: str
    score: int


@dataclass
class Reply:
    state: dict[str, Any]
    screens: list[Screen] = field(default_factory=list)
    accepted: bool = False  # the answer moved the dialogue on (the version goes up)
    done: bool = False
    later: bool = False
    stop: bool = False
    risks: list[Risk] = field(default_factory=list)


def begin() -> dict[str, Any]:
    return {"at": "status", "status": None, "answers": {}, "results": {}}


def step_id(followup_id: int) -> str:
    return f"fu.{followup_id}"


def screen(state: dict[str, Any], spec: FollowUp, programme: Programme, lang: str, followup_id: int,
           version: int, *, reminder: bool = False) -> Screen:
    """The question the follow-up is at."""
    t = Translator(lang)
    at = state["at"]
    if at == "status":
        buttons = [Button(f"s:{s}", t(f"followup.status.{s}")) for s in STATUSES]
        buttons += [Button("later", t("followup.later")), Button("stop", t("followup.stop"))]
        head = t("followup.reminder" if reminder else "followup.ask", programme=programme.name(t.lang))
        return Screen(head, step_id(followup_id), version, InputKind.CHOICE, tuple(buttons))
    iid, _, item_id = at.partition(".")
    instrument = instruments.load(iid)
    item = instrument.item(item_id)
    position = [i.id for i in instrument.items].index(item_id) + 1
    return Screen(t(instrument.intro) + "\n\n" + t(item.text), step_id(followup_id), version, InputKind.CHOICE,
                  tuple(Button(str(o.score), t(o.label)) for o in instrument.options_of(item)),
                  progress=t("progress", current=position, total=len(instrument.items)))


def _sequence(spec: FollowUp) -> list[str]:
    return [f"{iid}.{item.id}" for iid in spec.instruments for item in instruments.load(iid).items]


def crisis(programme: Programme, lang: str, age: int | None) -> Screen:
    t = Translator(lang)
    lines = "\n".join(t(line.label, phone=line.phone) for line in programme.crisis_for(age))
    return Screen(t("crisis.text") + "\n\n" + lines, tone=Tone.CRISIS)


def answer(state: dict[str, Any], spec: FollowUp, programme: Programme, lang: str, button: str, *,
           age: int | None = None) -> Reply:
    """One button; an answer that does not fit the question changes nothing (no screens)."""
    state = {**state, "answers": {k: dict(v) for k, v in state["answers"].items()},
             "results": dict(state["results"])}
    at = state["at"]
    if button == "stop":
        return Reply(state, stop=True)
    if at == "status":
        if button == "later":
            return Reply(state, [Screen(Translator(lang)("followup.later_ok"))], later=True)
        status = button.removeprefix("s:")
        if not button.startswith("s:") or status not in STATUSES:
            return Reply(state)
        state["status"] = status
        return _next(state, spec, programme, lang, [], None)
    iid, _, item_id = at.partition(".")
    instrument = instruments.load(iid)
    item = instrument.item(item_id)
    if not button.lstrip("-").isdigit() or int(button) not in {o.score for o in instrument.options_of(item)}:
        return Reply(state)
    score = int(button)
    state["answers"].setdefault(iid, {})[item_id] = score
    risks = [Risk(iid, item_id, score)] if instruments.risk_signal(at, score) else []
    screens = [crisis(programme, lang, age)] if risks else []  # help first, before the next question
    if len(state["answers"][iid]) == len(instrument.items):
        state["results"][iid] = instruments.score(instrument, state["answers"][iid]).as_dict()
    return _next(state, spec, programme, lang, screens, at, risks)


def _next(state: dict[str, Any], spec: FollowUp, programme: Programme, lang: str, screens: list[Screen],
          current: str | None, risks: list[Risk] | None = None) -> Reply:
    sequence = _sequence(spec)
    following = sequence[sequence.index(current) + 1:] if current in sequence else sequence
    if not following:
        state["at"] = "done"
        return Reply(state, [*screens, Screen(Translator(lang)("followup.thanks"))], accepted=True, done=True,
                     risks=risks or [])
    state["at"] = following[0]
    return Reply(state, screens, accepted=True, risks=risks or [])
