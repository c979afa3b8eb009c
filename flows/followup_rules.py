"""The follow-ups' rules around the dialogue (`flows.followup`), without a database: whether a person
can be asked at all, when a follow-up's days count from, when an unanswered one lapses, what a press
on an asked follow-up comes to, and the follow-up lines of a case card.

`bot.services.followup` loads the rows, calls these, and stores and sends what they decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from flows import instruments
from locales import Translator, format_when

DEFAULT_WINDOW = timedelta(days=7)  # for a follow-up whose programme entry was removed since it was asked
UNASKABLE_CHANNELS = frozenset({"console"})  # an intake on the console leaves nobody to ask later


def askable(channel: str | None, unreachable: bool) -> bool:
    """Whether a person can be asked at all: an address on a channel that reaches them later. Never
    asked is never counted either (neither missed nor lapsed)."""
    return channel is not None and channel not in UNASKABLE_CHANNELS and not unreachable


def counts_from(after: str, referral_at: datetime, outcome_at: datetime | None) -> datetime | None:
    """When a follow-up's days count from: the referral, or the recorded case outcome (None until then)."""
    return referral_at if after == "referral" else outcome_at


def lapses(sent_at: datetime, window_days: int | None, now: datetime) -> bool:
    """An open follow-up lapses once its whole window passed since it was asked."""
    window = timedelta(days=window_days) if window_days is not None else DEFAULT_WINDOW
    return sent_at <= now - window


class Press(StrEnum):
    """What a person's press on an asked follow-up comes to (after it was found to be their own)."""

    STOP = "stop"  # no more follow-ups
    CLOSED = "closed"  # answered, lapsed or stopped already: said so
    ASK_AGAIN = "ask_again"  # an older question (the reminder, one answered already): the current one again
    ANSWER = "answer"  # to the dialogue


def press_on(button: str, is_open: bool, version: int, asked_version: int) -> Press:
    if button == "stop":
        return Press.STOP
    if not is_open:
        return Press.CLOSED
    return Press.ANSWER if version == asked_version else Press.ASK_AGAIN


@dataclass(frozen=True)
class Asked:
    """One follow-up as a case card shows it."""

    status: str  # the row's status (open, answered, lapsed, stopped, missed)
    is_open: bool  # asked, waiting for (the rest of) the answers
    answered: bool
    state: Mapping[str, Any]  # the dialogue's state: the status given and the instruments' results
    sent_at: datetime


def _score(result: Mapping[str, Any]) -> float:
    return float(result.get("mean", result["total"]))


def card_lines(asked: Iterable[Asked], intake_results: Mapping[str, Mapping[str, Any]], lang: str,
               timezone: str) -> list[str]:
    """The case card's follow-up lines: each one's status and scores, with the change of each score
    since the time before (the intake first) and whether that change is reliable."""
    t = Translator(lang)
    previous = {iid: _score(result) for iid, result in intake_results.items()}
    lines = [t("staff.case.followups")]
    for row in asked:
        given = row.state.get("status")
        if row.answered or given:
            status = t(f"followup.status.{given}") if given else ""
        else:
            status = t(f"staff.case.followup.{'waiting' if row.is_open else row.status}")
        lines.append(t("staff.case.followup", when=format_when(row.sent_at, lang, timezone), status=status))
        for iid, result in row.state.get("results", {}).items():
            lines.append(_score_line(t, iid, _score(result), previous.get(iid)))
            previous[iid] = _score(result)
    return lines


def _score_line(t: Translator, iid: str, value: float, before: float | None) -> str:
    instrument = instruments.load(iid)
    change = "–" if before is None else f"{value - before:+g}"
    reliable = ""
    if before is not None and instrument.reliable_change is not None:
        key = "reliable" if abs(value - before) >= instrument.reliable_change else "not_reliable"
        reliable = t(f"staff.case.followup.{key}", threshold=f"{instrument.reliable_change:g}")
    return t("staff.case.followup.score", instrument=t(instrument.name), score=f"{value:g}", change=change,
             reliable=reliable)
