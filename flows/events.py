"""What one step of the intake returns: the new state, the screens to show, the events to persist."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flows.screens import Screen


class EventKind(StrEnum):
    """What the caller must persist or act on; the values are the stored and logged names."""

    CONSENT = "consent"  # consent given: {version, language}
    DECLINED = "declined"  # consent refused: the intake ends
    COMPLETED = "completed"  # the intake is finished: the referral content
    RISK = "risk"  # a risk answer: {instrument, item, score}, stored at once
    LANGUAGE = "language"  # the language was changed: {lang}
    RESTART = "restart"  # the answers go; a new intake starts
    DELETE = "delete"  # the person erases everything
    MYDATA = "mydata"  # the caller adds the machine-readable copy of the person's data


@dataclass(frozen=True, slots=True)
class Event:
    """Something the caller must persist or act on, in the same transaction as the new state."""

    kind: EventKind
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Reply:
    state: dict[str, Any]
    screens: list[Screen]
    events: list[Event] = field(default_factory=list)
    stale: bool = False  # a tap on a button of another question: nothing changed

    @property
    def asking(self) -> Screen | None:
        """The screen that asks the current question, if any."""
        return next((s for s in reversed(self.screens) if s.asks), None)
