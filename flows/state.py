"""The conversation state: a plain, JSON-serialisable value saved after every answer."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

from flows.status import IntakeStatus

STATE_FORMAT = 1


@dataclass
class State:
    programme: str | None = None
    lang: str = "en"
    step: str = "programme"
    status: IntakeStatus = IntakeStatus.ACTIVE
    # answers by key: question id ("age") or instrument item ("gad7.3"); None means skipped
    answers: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # sticky: a risk once shown stays on the referral
    risk_items: list[str] = field(default_factory=list)
    # what is stored about the person from before this intake, as the service knows it: "risk" (risk
    # answers, kept under the consent they gave), "referral" (a referral sent to the programme)
    kept: list[str] = field(default_factory=list)
    consent: dict[str, str] | None = None  # {"version": ..., "language": ...}
    programme_fixed: bool = False  # chosen by the start link, so the chooser is skipped
    overlay: str | None = None  # "language" | "correct" | "restart" | "delete" on top of `step`
    return_to: str | None = None  # after a correction, go back here
    version: int = 0  # bumped on every move, so a tap on an old question can be told apart
    result: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        # copies of the mutable fields, not `dataclasses.asdict` (its deep copy of every answer was
        # the flow's largest cost per step); answers are JSON values that the flow replaces, never mutates
        data = {name: getattr(self, name) for name in _FIELDS}
        data["answers"] = dict(self.answers)
        data["history"] = list(self.history)
        data["flags"] = list(self.flags)
        data["risk_items"] = list(self.risk_items)
        data["kept"] = list(self.kept)
        data["consent"] = dict(self.consent) if self.consent is not None else None
        data["result"] = copy.deepcopy(self.result)
        data["status"] = self.status.value
        data["format"] = STATE_FORMAT
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> State:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        state = cls(**known)
        state.status = IntakeStatus(state.status)
        return state


_FIELDS = tuple(f.name for f in fields(State))
