"""The coordinator dashboard as data, channel-neutral: what `ipsbot report` prints and writes, and what
the staff area will serve.

Per programme, by its own definitions and goal (`outcome_counts`, `outcome_goal` in its file; the IPS
clocks of `flows.ips`): referrals per week; the funnel referred -> claimed -> first meeting -> first
employer contact within 30 days of the referral -> job or education; that share against the goal;
hours from referral to claim, to the first meeting, and from a risk answer to "Seen" (p50, p90, longest; percentiles by
nearest rank); follow-up answer rates; MANSA at enrolment and at follow-up (the same people); urgent
claims over the caseload cap.

Two steps: `gather` reads the programme through `storage.dashboard` into exact `Figures` (never
published as they are), and `publish` turns them into `Table`s where small groups are hidden
(`bot.exports.disclosure`): a hidden number is None in the data, so no renderer can show it.
Rendering (text, CSV, HTML, charts) is `bot.exports.dashboard_render`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.exports.disclosure import SMALL, Count, Hidden, breakdown, part_of, share, single
from flows.followup import counts as counts_as_work
from flows.programmes import DEFAULT_OUTCOME_COUNTS, Programme, Registry
from storage.dashboard import CaseRow, FollowUpRow, RiskWait
from storage.models import FollowUpStatus, ReferralStatus
from storage.repositories import UnitOfWork

EMPLOYER_CONTACT_DAYS = 30  # IPS: the first employer contact within 30 days of the referral
# plain strings: an enum member's `.value` costs a lookup, and these are read once per follow-up
MISSED, LAPSED, STOPPED, OPEN, ANSWERED = (s.value for s in (FollowUpStatus.MISSED, FollowUpStatus.LAPSED,
                                                             FollowUpStatus.STOPPED, FollowUpStatus.OPEN,
                                                             FollowUpStatus.ANSWERED))


@dataclass
class PointFigures:
    """One follow-up point: asked = answered + no answer + stopped + open; missed were never asked."""

    key: str
    asked: int = 0
    answered: int = 0
    lapsed: int = 0
    stopped: int = 0
    open: int = 0
    missed: int = 0
    in_work: int = 0  # of the answered, by the programme's outcome_counts
    mansa_pairs: list[tuple[float, float]] = field(default_factory=list)  # (enrolment, this follow-up)


@dataclass
class Figures:
    """A programme's exact numbers: internal, for `publish` and the tests."""

    programme_id: str
    referred: int = 0
    redirected: int = 0
    weekly: dict[date, int] = field(default_factory=dict)  # Monday (programme's time zone) -> referred
    claimed: int = 0
    met: int = 0
    employer_30: int = 0
    in_work: int = 0  # claimed cases with an outcome the programme counts
    other_outcome: int = 0
    over_cap: int = 0
    waiting: int = 0
    claim_hours: list[float] = field(default_factory=list)
    meeting_hours: list[float] = field(default_factory=list)  # from the referral to the first meeting
    seen_hours: list[float] = field(default_factory=list)
    unseen_hours: list[float] = field(default_factory=list)  # how long each unseen risk answer has waited
    mansa_enrolment: list[float] = field(default_factory=list)
    points: dict[str, PointFigures] = field(default_factory=dict)
    consultants: int = 0
    coordinators: int = 0

    @property
    def open_cases(self) -> int:
        return self.claimed - self.in_work - self.other_outcome


def hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def week_of(moment: datetime, zone: ZoneInfo) -> date:
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


def weeks_between(counted: Mapping[date, int]) -> dict[date, int]:
    """Every week from the first to the last, with 0 for a week without referrals."""
    if not counted:
        return {}
    first, last = min(counted), max(counted)
    return {first + timedelta(weeks=n): counted.get(first + timedelta(weeks=n), 0)
            for n in range((last - first).days // 7 + 1)}


def case_figures(f: Figures, cases: Sequence[CaseRow], counted: Sequence[str], timezone: str) -> None:
    weekly: dict[date, int] = {}
    zone, within = ZoneInfo(timezone), timedelta(days=EMPLOYER_CONTACT_DAYS)
    for case in cases:
        f.referred += 1
        week = week_of(case.created_at, zone)
        weekly[week] = weekly.get(week, 0) + 1
        f.over_cap += case.over_cap
        f.waiting += case.status == ReferralStatus.WAITING.value
        if case.first_meeting_at is not None:
            f.met += 1
            f.meeting_hours.append(hours(case.created_at, case.first_meeting_at))
        if case.job_search_at and case.job_search_at - case.created_at <= within:
            f.employer_30 += 1
        if case.claimed_at is None:
            continue
        f.claimed += 1
        f.claim_hours.append(hours(case.created_at, case.claimed_at))
        if case.case_outcome in counted:
            f.in_work += 1
        elif case.case_outcome:
            f.other_outcome += 1
    f.weekly = weeks_between(weekly)


def followup_figures(f: Figures, rows: Sequence[FollowUpRow], programme: Programme | None,
                     enrolment: Mapping[int, float]) -> None:
    for defined in (programme.followups if programme else ()):  # the programme's order, asked or not
        f.points[defined.id] = PointFigures(defined.id)
    for row in rows:
        point = f.points.setdefault(row.key, PointFigures(row.key))
        if row.status == MISSED:
            point.missed += 1
            continue
        point.asked += 1
        point.lapsed += row.status == LAPSED
        point.stopped += row.status == STOPPED
        point.open += row.status == OPEN
        if row.status != ANSWERED or row.state is None:
            continue
        point.answered += 1
        point.in_work += programme is not None and counts_as_work(row.state.get("status"), programme)
        mansa = row.state.get("results", {}).get("mansa")
        if mansa and "mean" in mansa and row.referral_id in enrolment:
            point.mansa_pairs.append((enrolment[row.referral_id], float(mansa["mean"])))


def figures_of(programme_id: str, programme: Programme | None, cases: Sequence[CaseRow],
               followups: Sequence[FollowUpRow], enrolment: Mapping[int, float], waits: Sequence[RiskWait],
               now: datetime) -> Figures:
    """The exact figures of one programme from its rows (no I/O)."""
    f = Figures(programme_id)
    counted = programme.outcome_counts if programme else DEFAULT_OUTCOME_COUNTS
    case_figures(f, cases, counted, programme.timezone if programme else "UTC")
    followup_figures(f, followups, programme, enrolment)
    f.mansa_enrolment = list(enrolment.values())
    for wait in waits:
        if wait.seen_at is None:
            f.unseen_hours.append(hours(wait.at, now))
        else:
            f.seen_hours.append(hours(wait.at, wait.seen_at))
    return f


async def gather(uow: UnitOfWork, registry: Registry, programme_id: str, now: datetime) -> Figures:
    """Read one programme's rows and count them."""
    reader, programme = uow.dashboard, registry.get(programme_id)
    # MANSA at enrolment costs a decryption per case: only where the intake asks it
    asks_mansa = programme is None or "mansa" in programme.instruments
    enrolment = await reader.enrolment_mansa(programme_id) if asks_mansa else {}
    f = figures_of(programme_id, programme, await reader.cases(programme_id), await reader.followups(programme_id),
                   enrolment, await reader.risk_to_seen_durations(programme_id), now)
    f.redirected = await reader.redirected(programme_id)
    f.consultants = len(await uow.staff.with_role(programme_id, "consultant"))
    f.coordinators = len(await uow.staff.with_role(programme_id, "coordinator"))
    return f


# --- what may be published --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    """A published value; None when hidden (`hidden` says why) or when there is nothing to show."""

    value: float | None
    kind: str = "count"  # count | share | hours | mean | number (not of people: staff)
    hidden: Hidden = Hidden.SHOWN


@dataclass(frozen=True, slots=True)
class Row:
    key: str  # stable, for the CSV
    label: str  # message id
    cells: tuple[Cell, ...]
    params: Mapping[str, Any] = field(default_factory=dict)  # the label's placeholders (a date is a week)


@dataclass(frozen=True, slots=True)
class Table:
    key: str
    title: str  # message id
    columns: tuple[str, ...]  # message ids, one per cell
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class Section:
    """One programme's dashboard, as it may be shown to anyone who may see the dashboard."""

    programme_id: str
    names: Mapping[str, str]
    timezone: str
    goal: float
    counted: tuple[str, ...]
    tables: tuple[Table, ...]
    notices: tuple[tuple[str, Mapping[str, Any]], ...] = ()  # (message id, params)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("en") or self.programme_id


@dataclass(frozen=True, slots=True)
class Dashboard:
    generated_at: datetime
    sections: tuple[Section, ...]


def count(c: Count) -> Cell:
    return Cell(None if c.value is None else float(c.value), "count", c.hidden)


def nearest_rank(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def spread(values: Sequence[float], n: Count) -> tuple[Cell, Cell, Cell]:
    """p50, p90 and the longest, when the group is shown and not small."""
    if n.value is None or n.value < SMALL:
        return Cell(None, "hours", n.hidden), Cell(None, "hours", n.hidden), Cell(None, "hours", n.hidden)
    return (Cell(nearest_rank(values, 0.5), "hours"), Cell(nearest_rank(values, 0.9), "hours"),
            Cell(max(values), "hours"))


def mean_of(values: Sequence[float], n: Count) -> Cell:
    if n.value is None or n.value < SMALL:
        return Cell(None, "mean", n.hidden)
    return Cell(sum(values) / len(values), "mean")


def ratio(part: Count, whole: Count) -> Cell:
    value = share(part, whole)
    return Cell(value, "share", Hidden.SHOWN if value is not None else (part.hidden or whole.hidden))


PEOPLE = ("dash.col.people",)


def weekly_table(f: Figures) -> tuple[Table, Count]:
    weeks, referred = breakdown({w.isoformat(): n for w, n in f.weekly.items()}, single(f.referred))
    rows = tuple(Row(w.isoformat(), "dash.week", (count(weeks[w.isoformat()]),), {"monday": w}) for w in f.weekly)
    return Table("weekly", "dash.weekly.title", ("dash.col.referrals",), rows), referred


def outcome_table(f: Figures, goal: float) -> tuple[Table, Count, Count]:
    parts, claimed = breakdown({"work": f.in_work, "other": f.other_outcome, "open": f.open_cases}, single(f.claimed))
    rows = (Row("work", "dash.goal.work", (count(parts["work"]),)),
            Row("other", "dash.goal.other", (count(parts["other"]),)),
            Row("open", "dash.goal.open", (count(parts["open"]),)),
            Row("claimed", "dash.goal.claimed", (count(claimed),)),
            Row("share", "dash.goal.share", (ratio(parts["work"], claimed),)),
            Row("goal", "dash.goal.target", (Cell(goal, "share"),)))
    return Table("goal", "dash.goal.title", PEOPLE, rows), parts["work"], claimed


def funnel_table(f: Figures, referred: Count, claimed: Count, met: Count, work: Count) -> Table:
    stages = (("referred", referred), ("claimed", claimed), ("met", met),
              ("employer", single(f.employer_30)), ("work", work))
    rows = tuple(Row(key, f"dash.funnel.{key}", (count(c),)) for key, c in stages)
    return Table("funnel", "dash.funnel.title", PEOPLE, (*rows, Row("redirected", "dash.funnel.redirected",
                                                                    (count(single(f.redirected)),))))


def risk_table(f: Figures) -> tuple[Table, Count, Count]:
    parts, answers = breakdown({"seen": len(f.seen_hours), "unseen": len(f.unseen_hours)},
                               single(len(f.seen_hours) + len(f.unseen_hours)))
    rows = (Row("answers", "dash.risk.answers", (count(answers),)),
            Row("seen", "dash.risk.seen", (count(parts["seen"]),)),
            Row("unseen", "dash.risk.unseen", (count(parts["unseen"]),)))
    return Table("risk", "dash.risk.title", PEOPLE, rows), parts["seen"], parts["unseen"]


def times_table(f: Figures, claimed: Count, met: Count, seen: Count, unseen: Count) -> Table:
    # how long the oldest unseen risk answer has waited: a duration, no count; shown whatever their number
    waited = Cell(max(f.unseen_hours), "hours") if f.unseen_hours else Cell(None, "hours")
    rows = (Row("claim", "dash.times.claim", (count(claimed), *spread(f.claim_hours, claimed))),
            Row("meeting", "dash.times.meeting", (count(met), *spread(f.meeting_hours, met))),
            Row("seen", "dash.times.seen", (count(seen), *spread(f.seen_hours, seen))),
            Row("unseen", "dash.times.unseen", (count(unseen), Cell(None, "hours"), Cell(None, "hours"), waited)))
    return Table("times", "dash.times.title", ("dash.col.n", "dash.col.p50", "dash.col.p90", "dash.col.longest"),
                 rows)


FOLLOWUP_COLUMNS = ("dash.col.asked", "dash.col.answered", "dash.col.lapsed", "dash.col.stopped", "dash.col.open",
                    "dash.col.rate", "dash.col.missed", "dash.col.work", "dash.col.work_share")


def followup_rows(f: Figures) -> tuple[tuple[Row, ...], dict[str, Count]]:
    rows, answered = [], {}
    for key, p in f.points.items():
        parts, asked = breakdown({"answered": p.answered, "lapsed": p.lapsed, "stopped": p.stopped,
                                  "open": p.open}, single(p.asked))
        work = part_of(p.in_work, parts["answered"])
        answered[key] = parts["answered"]
        cells = (count(asked), *(count(parts[k]) for k in ("answered", "lapsed", "stopped", "open")),
                 ratio(parts["answered"], asked), count(single(p.missed)), count(work),
                 ratio(work, parts["answered"]))
        rows.append(Row(key, "dash.followup.point", cells, {"key": key}))
    return tuple(rows), answered


def mansa_table(f: Figures, claimed: Count, answered: Mapping[str, Count]) -> Table:
    n = part_of(len(f.mansa_enrolment), claimed)
    rows = [Row("enrolment", "dash.mansa.enrolment", (count(n), mean_of(f.mansa_enrolment, n), Cell(None, "mean")))]
    for key, p in f.points.items():
        if not p.mansa_pairs:  # this follow-up asks no MANSA, or nobody answered it yet
            continue
        pairs = part_of(len(p.mansa_pairs), answered[key])
        before, after = [a for a, _ in p.mansa_pairs], [b for _, b in p.mansa_pairs]
        rows.append(Row(key, "dash.mansa.point", (count(pairs), mean_of(before, pairs), mean_of(after, pairs)),
                        {"key": key}))
    return Table("mansa", "dash.mansa.title", ("dash.col.n", "dash.col.before", "dash.col.after"), tuple(rows))


def casework_table(f: Figures) -> Table:
    rows = (Row("over_cap", "dash.casework.over_cap", (count(single(f.over_cap)),)),
            Row("consultants", "dash.casework.consultants", (Cell(f.consultants, "number"),)),
            Row("coordinators", "dash.casework.coordinators", (Cell(f.coordinators, "number"),)))
    return Table("casework", "dash.casework.title", ("dash.col.n",), rows)


def notices(f: Figures) -> tuple[tuple[str, Mapping[str, Any]], ...]:
    if f.consultants:
        return ()
    waiting = single(f.waiting)
    params = {"n": Cell(None if waiting.value is None else waiting.value, "count", waiting.hidden)}
    return (("dash.notice.no_consultant" if f.coordinators else "dash.notice.nobody", params),)


def publish(f: Figures, programme: Programme | None) -> Section:
    """The programme's tables with every small group hidden, consistently across tables."""
    goal = programme.outcome_goal if programme else 0.5
    weekly, referred = weekly_table(f)
    goal_table, work, claimed = outcome_table(f, goal)
    risk, seen, unseen = risk_table(f)
    points, answered = followup_rows(f)
    met = single(f.met)
    tables = [funnel_table(f, referred, claimed, met, work), weekly, goal_table, risk,
              times_table(f, claimed, met, seen, unseen),
              Table("followups", "dash.followups.title", FOLLOWUP_COLUMNS, points),
              mansa_table(f, claimed, answered), casework_table(f)]
    return Section(f.programme_id, dict(programme.names) if programme else {}, programme.timezone if programme
                   else "UTC", goal, programme.outcome_counts if programme else DEFAULT_OUTCOME_COUNTS,
                   tuple(tables), notices(f))


async def build(uow_factory: Callable[[], UnitOfWork], registry: Registry, programme_id: str | None,
                now: datetime) -> Dashboard:
    """The dashboard of one programme, or of every programme with referrals."""
    async with uow_factory() as uow:
        ids = [programme_id] if programme_id is not None else await uow.dashboard.programme_ids()
        sections = [publish(await gather(uow, registry, pid, now), registry.get(pid)) for pid in ids]
    return Dashboard(now, tuple(sections))
