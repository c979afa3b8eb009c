"""The first meeting's rules, without a database: which times a peer may publish, the slot draft a
peer's buttons carry, the step table of publishing slots, and a candidate's booking buttons.

A peer publishes a slot in five presses (day, time, length, place, once or weekly). No state is kept
between them: each button carries the draft so far, encoded as it always was
(``YYYYmmdd``, ``YYYYmmddHHMM``, ``YYYYmmddHHMM-45``, ``…-45-cafe``, ``…-45-cafe-4``), so a button sent
before an upgrade still works. Decoding is strict: anything else is None, never an exception.
`bot.services.meetings` loads the peer, calls `slot_step`, and stores what it decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar
from zoneinfo import ZoneInfo

from babel.dates import format_date

from flows.screens import Button, InputKind, Screen
from locales import Translator

PLACES = ("jobcentre", "psychiatry", "cafe", "video")
WEEKS = 4  # "weekly" publishes the same time this many weeks running
LENGTHS = (30, 45, 60)  # minutes a first meeting may last
BOOKING_WINDOW = timedelta(days=14)  # candidates are offered, and may book, times this far ahead
SLOT_HORIZON = timedelta(days=90)  # a peer may publish times this far ahead
DAY_START, DAY_END = time(7, 0), time(21, 0)  # a meeting starts and ends within these local hours
FIRST_HOUR, LAST_HOUR = 8, 16  # the times offered as buttons (DAY_START/DAY_END bound what is accepted)
DAYS_OFFERED = 14  # the days a peer picks from, starting tomorrow
PAGE = 4  # free times shown to a candidate at once


def slot_fits(start: datetime, minutes: int, now: datetime, timezone: str) -> bool:
    """May a peer publish a meeting at `start` (aware) lasting `minutes`?

    Not in the past, at most `SLOT_HORIZON` ahead, a length from `LENGTHS`, starting and ending on
    the same day between `DAY_START` and `DAY_END` local time, and a local time that exists (not in
    the hour skipped when summer time starts).
    """
    zone = ZoneInfo(timezone)
    local = start.astimezone(UTC).astimezone(zone)
    end = local + timedelta(minutes=minutes)
    if start.tzinfo is zone and local.replace(tzinfo=None) != start.replace(tzinfo=None):
        return False  # a wall-clock time that does not exist that day
    return (minutes in LENGTHS and now < start <= now + SLOT_HORIZON and local.time() >= DAY_START
            and end.date() == local.date() and end.time() <= DAY_END)


# ASCII digits only ("²" is a digit to str.isdigit); minutes and weeks without leading zeros, so
# that each draft has exactly one encoding
_DRAFT = re.compile(r"([0-9]{8})([0-9]{4})?(?:-(0|[1-9][0-9]{0,2})(?:-([a-z]{1,16})(?:-([1-9][0-9]?))?)?)?")


@dataclass(frozen=True)
class SlotDraft:
    """What a peer has chosen so far for a new slot; each later field needs the ones before it."""

    day: date
    at: time | None = None
    minutes: int | None = None
    place: str | None = None
    weeks: int | None = None

    @property
    def depth(self) -> int:
        """How many choices it holds: 1 (a day) to 5 (ready to publish)."""
        return 1 + sum(v is not None for v in (self.at, self.minutes, self.place, self.weeks))

    def encode(self) -> str:
        text = f"{self.day:%Y%m%d}" + (f"{self.at:%H%M}" if self.at is not None else "")
        for part in (self.minutes, self.place, self.weeks):
            if part is None:
                break
            text += f"-{part}"
        return text

    @classmethod
    def decode(cls, data: str) -> SlotDraft | None:
        """The draft a button carries, or None when it is not one (malformed, no such date or time,
        an unknown place, a repeat other than once or `WEEKS`)."""
        found = _DRAFT.fullmatch(data)
        if found is None:
            return None
        day, at, minutes, place, weeks = found.groups()
        if (minutes is not None and at is None) or (place is not None and place not in PLACES) or (
                weeks is not None and int(weeks) not in (1, WEEKS)):
            return None
        try:  # the constructors are what says "no such date" (a 31st of February) or "no such time"
            when = date(int(day[:4]), int(day[4:6]), int(day[6:]))
            moment = time(int(at[:2]), int(at[2:])) if at is not None else None
        except ValueError:
            return None
        return cls(when, moment, int(minutes) if minutes is not None else None, place,
                   int(weeks) if weeks is not None else None)

    def start(self, timezone: str) -> datetime:
        """The local start in the programme's zone (midnight of the day until a time is chosen)."""
        return datetime.combine(self.day, self.at or time(0), tzinfo=ZoneInfo(timezone))

    def moments(self, timezone: str) -> list[datetime]:
        """Every meeting it publishes: the same local time each week, across a summer-time change too."""
        start = self.start(timezone)
        return [start + timedelta(weeks=week) for week in range(self.weeks or 1)]


class SlotVerdict(StrEnum):
    """What became of a peer's press in the slot calendar."""

    DONE = "done"
    REFUSED = "refused"  # malformed or foreign: refused and audited
    OUT_OF_RANGE = "out_of_range"  # a time no one should meet at: the possible times are shown


@dataclass(frozen=True)
class SlotDecision:
    verdict: SlotVerdict
    ask: Screen | None = None  # the next question
    remove: int | None = None  # a slot to take back (whose it is, the service checks)
    publish: SlotDraft | None = None  # a complete draft: its `moments` are added


REFUSED = SlotDecision(SlotVerdict.REFUSED)
OUT_OF_RANGE = SlotDecision(SlotVerdict.OUT_OF_RANGE)


@dataclass(frozen=True)
class SlotContext:
    """What a step needs besides the draft: the time now, the programme's zone, the peer's language."""

    now: datetime
    timezone: str
    t: Translator

    def today(self, offset: timedelta = timedelta(0)) -> date:
        return (self.now + offset).astimezone(ZoneInfo(self.timezone)).date()


def _ask(text: str, step: str, buttons: tuple[Button, ...]) -> SlotDecision:
    return SlotDecision(SlotVerdict.DONE, ask=Screen(text, step, 0, InputKind.CHOICE, buttons))


def _fits(draft: SlotDraft, cal: SlotContext) -> bool:
    return slot_fits(draft.start(cal.timezone), draft.minutes or min(LENGTHS), cal.now, cal.timezone)


def _days(cal: SlotContext) -> SlotDecision:
    days = [cal.today() + timedelta(days=n) for n in range(1, DAYS_OFFERED + 1)]
    buttons = tuple(Button(SlotDraft(d).encode(), format_date(d, "EEE d MMM", locale=cal.t.babel_locale))
                    for d in days)
    return _ask(cal.t("slots.day_ask"), "slot.day", buttons)


def _times(draft: SlotDraft, cal: SlotContext) -> SlotDecision:
    if not cal.today() < draft.day <= cal.today(SLOT_HORIZON):
        return OUT_OF_RANGE
    times = [time(h, m) for h in range(FIRST_HOUR, LAST_HOUR + 1) for m in (0, 30)][:-1]
    buttons = tuple(Button(replace(draft, at=moment).encode(), f"{moment:%H:%M}") for moment in times)
    return _ask(cal.t("slots.time_ask"), "slot.time", buttons)


def _lengths(draft: SlotDraft, cal: SlotContext) -> SlotDecision:
    if not _fits(draft, cal):  # at least the shortest meeting must fit
        return OUT_OF_RANGE
    buttons = tuple(Button(replace(draft, minutes=n).encode(), cal.t("slots.minutes", minutes=n)) for n in LENGTHS)
    return _ask(cal.t("slots.length_ask"), "slot.length", buttons)


def _places(draft: SlotDraft, cal: SlotContext) -> SlotDecision:
    if not _fits(draft, cal):
        return OUT_OF_RANGE
    buttons = tuple(Button(replace(draft, place=p).encode(), cal.t(f"place.{p}")) for p in PLACES)
    return _ask(cal.t("slots.place_ask"), "slot.place", buttons)


def _repeats(draft: SlotDraft, cal: SlotContext) -> SlotDecision:
    if not _fits(draft, cal):
        return OUT_OF_RANGE
    buttons = (Button(replace(draft, weeks=1).encode(), cal.t("slots.once")),
               Button(replace(draft, weeks=WEEKS).encode(), cal.t("slots.weekly", weeks=WEEKS)))
    return _ask(cal.t("slots.repeat_ask"), "slot.repeat", buttons)


def _publish(draft: SlotDraft, cal: SlotContext) -> SlotDecision:
    if draft.minutes not in LENGTHS:  # no button offers another length: forged
        return REFUSED
    if not all(slot_fits(m, draft.minutes, cal.now, cal.timezone) for m in draft.moments(cal.timezone)):
        return OUT_OF_RANGE  # every one of them sane, or none
    return SlotDecision(SlotVerdict.DONE, publish=draft)


Step = Callable[[SlotDraft, SlotContext], SlotDecision]
# The question a button answers -> how many choices its draft holds, and what comes next.
STEPS: Mapping[str, tuple[int, Step]] = MappingProxyType({
    "slot.day": (1, _times),
    "slot.time": (2, _lengths),
    "slot.length": (3, _places),
    "slot.place": (4, _repeats),
    "slot.repeat": (5, _publish),
})


def slot_step(step: str, button: str, cal: SlotContext) -> SlotDecision:
    """One press in a peer's slot calendar: the next question, a slot to remove, or the slots to add."""
    if step == "slot.list":
        return _on_list(button, cal)
    found = STEPS.get(step)
    draft = SlotDraft.decode(button)
    if found is None or draft is None or draft.depth != found[0]:
        return REFUSED
    return found[1](draft, cal)


def _on_list(button: str, cal: SlotContext) -> SlotDecision:
    if button == "new":
        return _days(cal)
    kind, _, number = button.partition("-")
    if kind == "remove" and number.isascii() and number.isdigit() and len(number) <= 12:
        return SlotDecision(SlotVerdict.DONE, remove=int(number))
    return REFUSED


# --- a candidate's booking buttons ---------------------------------------------------------------


@dataclass(frozen=True)
class BookChoice:
    """A candidate's press under the offered times: a page of times, a slot, or cancel."""

    page: int | None = None
    slot_id: int | None = None
    cancel: bool = False

    def encode(self) -> str:
        if self.cancel:
            return "cancel"
        return f"more-{self.page}" if self.page is not None else str(self.slot_id)

    @classmethod
    def decode(cls, data: str) -> BookChoice | None:
        if data == "cancel":
            return cls(cancel=True)
        number = data.removeprefix("more-")
        if not (number.isascii() and number.isdigit() and len(number) <= 12):
            return None
        return cls(page=int(number)) if number != data else cls(slot_id=int(number))


T = TypeVar("T")


def page_of(free: list[T], page: int) -> tuple[list[T], bool]:
    """The times on `page` (the first page again past the end), and whether there are more after it."""
    shown = free[page * PAGE:(page + 1) * PAGE] or free[:PAGE]
    return shown, len(free) > (page + 1) * PAGE
