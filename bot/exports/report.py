"""The coordinator's report: IPS clocks, outcomes against the programme's goal, a burn-up chart.

Each programme defines its goal in its file: which case outcomes count (``outcome_counts``: e.g.
no subsidised jobs in Hjørring and Sjælland; at least 25 % of full time in Jönköping) and the share
to reach (``outcome_goal``).

Streams over the referrals once (constant memory whatever their number) and aggregates per
programme and per ISO week. Follow-ups (issue 17): per follow-up point, how many were asked and
answered (the answer rate; "no answer" is a lapsed one), how many were missed (never asked: the bot
was not running during their window), the share of answers in work or education by
the programme's own `outcome_counts`, and the MANSA mean at enrolment and at each follow-up that asks
it, paired per person. Any count from 1 to 4, and a share or mean of fewer than 5, shows "<5".

The chart is a small self-contained SVG: cumulative eligible referrals
(the scope) and cumulative job or education outcomes, with the goal line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median
from typing import TextIO

from bot.app import App
from flows.followup import counts
from flows.programmes import DEFAULT_OUTCOME_COUNTS, Programme, Registry
from storage.models import FollowUpStatus
from storage.repositories import UnitOfWork

ELIGIBLE_STATUSES = ("new", "waiting", "claimed", "closed")


SMALL = 5  # groups under this size are shown as "<5"


@dataclass
class FollowUpTally:
    """One follow-up point of a programme."""

    label: str
    asked: int = 0
    answered: int = 0
    lapsed: int = 0  # "no answer"
    stopped: int = 0
    missed: int = 0  # its window passed unasked (the bot was not running): not in `asked`
    in_work_or_education: int = 0  # of the answered, by the programme's outcome_counts
    mansa_pairs: list[tuple[float, float]] = field(default_factory=list)  # (enrolment, this follow-up)


@dataclass
class Tally:
    referrals: int = 0
    eligible: int = 0
    urgent: int = 0
    claimed: int = 0
    met: int = 0
    job_search_30: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    days_to_meeting: list[float] = field(default_factory=list)
    weekly_referrals: Counter[date] = field(default_factory=Counter)
    weekly_outcomes: Counter[date] = field(default_factory=Counter)
    over_cap: int = 0  # urgent claims above the caseload cap
    waiting: int = 0
    consultants: int = 0
    coordinators: int = 0
    counted: tuple[str, ...] = DEFAULT_OUTCOME_COUNTS  # the case outcomes that count towards the goal
    followups: dict[str, FollowUpTally] = field(default_factory=dict)  # by follow-up id, in the programme's order
    mansa_enrolment: dict[int, float] = field(default_factory=dict)  # referral id -> MANSA mean at enrolment

    @classmethod
    def of(cls, programme: Programme | None) -> Tally:
        """An empty tally counting the outcomes the programme's own goal counts."""
        if programme is None:
            return cls()
        return cls(counted=programme.outcome_counts,
                   followups={f.id: FollowUpTally(f.label or f.id) for f in programme.followups})

    @property
    def in_work_or_education(self) -> int:
        return sum(self.outcomes[o] for o in self.counted)

    @property
    def rate(self) -> float:
        return self.in_work_or_education / self.claimed if self.claimed else 0.0


def monday(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


async def collect(app: App, programme: str | None = None) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    async with app.uow() as uow:
        async for referral in uow.referrals.stream(programme_id=programme):
            tally = tallies.get(referral.programme_id)
            if tally is None:
                tally = tallies[referral.programme_id] = Tally.of(app.registry.get(referral.programme_id))
            tally.referrals += 1
            if referral.status not in ELIGIBLE_STATUSES:
                continue
            tally.eligible += 1
            tally.urgent += referral.urgent
            tally.weekly_referrals[monday(referral.created_at)] += 1
            if referral.claimed_at:
                tally.claimed += 1
            tally.over_cap += bool(referral.over_cap)
            tally.waiting += referral.status == "waiting"
            if referral.first_meeting_at:
                tally.met += 1
                tally.days_to_meeting.append((referral.first_meeting_at - referral.created_at).total_seconds() / 86400)
            if referral.job_search_at and referral.job_search_at - referral.created_at <= timedelta(days=30):
                tally.job_search_30 += 1
            mansa = referral.payload.get("instruments", {}).get("mansa")
            if mansa and "mean" in mansa:
                tally.mansa_enrolment[referral.id] = float(mansa["mean"])
            if referral.case_outcome:
                tally.outcomes[referral.case_outcome] += 1
                if referral.case_outcome in tally.counted and referral.outcome_at:
                    tally.weekly_outcomes[monday(referral.outcome_at)] += 1
        await collect_followups(uow, app.registry, tallies)
        for programme_id, tally in tallies.items():  # who is there to take them
            tally.consultants = len(await uow.staff.with_role(programme_id, "consultant"))
            tally.coordinators = len(await uow.staff.with_role(programme_id, "coordinator"))
    return dict(tallies)


async def collect_followups(uow: UnitOfWork, registry: Registry, tallies: dict[str, Tally]) -> None:
    """Each programme's follow-ups: asked, answered, no answer, stopped, missed, in work or education, MANSA
    pairs."""
    for programme_id, tally in tallies.items():
        programme = registry.get(programme_id)
        if programme is None:
            continue
        for row in await uow.followups.of_programme(programme_id):
            point = tally.followups.setdefault(row.key, FollowUpTally(row.key))
            if row.status == FollowUpStatus.MISSED.value:
                point.missed += 1
                continue
            point.asked += 1
            point.lapsed += row.status == FollowUpStatus.LAPSED.value
            point.stopped += row.status == FollowUpStatus.STOPPED.value
            if row.status != FollowUpStatus.ANSWERED.value:
                continue
            point.answered += 1
            point.in_work_or_education += counts(row.state.get("status"), programme)
            mansa = row.state.get("results", {}).get("mansa")
            if mansa and row.referral_id in tally.mansa_enrolment:
                point.mansa_pairs.append((tally.mansa_enrolment[row.referral_id], float(mansa["mean"])))


def small(n: int) -> str:
    """A count, or "<5" for a group of 1 to 4 people."""
    return "<5" if 0 < n < SMALL else str(n)


def share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole >= SMALL else ("<5" if whole else "–")


def followup_lines(t: Tally, goal: float) -> str:
    out = ""
    for key, point in t.followups.items():
        out += (f"  follow-up {key} ({point.label}): asked {small(point.asked)}, answered {small(point.answered)} "
                f"({share(point.answered, point.asked)}), no answer {small(point.lapsed)}, "
                f"stopped {small(point.stopped)}, missed (never asked) {small(point.missed)}; "
                f"in job or education {small(point.in_work_or_education)} of "
                f"{small(point.answered)} = {share(point.in_work_or_education, point.answered)} (goal {goal:.0%})\n")
        if point.mansa_pairs:
            n = len(point.mansa_pairs)
            before, after = (sum(pair[i] for pair in point.mansa_pairs) / n for i in (0, 1))
            means = "<5" if n < SMALL else f"{before:.2f} -> {after:.2f}"
            out += f"  MANSA mean, enrolment -> follow-up {key}, paired: n {small(n)}, {means}\n"
    return out


def write_text(tallies: dict[str, Tally], goals: dict[str, float], out: TextIO) -> None:
    for programme, t in sorted(tallies.items()):
        goal = goals.get(programme, 0.5)
        meeting = f"{median(t.days_to_meeting):.1f} days" if t.days_to_meeting else "–"
        out.write(
            f"{programme}\n"
            f"  referrals {t.referrals}, eligible {t.eligible} (urgent {t.urgent}), claimed {t.claimed}\n"
            f"  first meeting held {t.met}; median time from referral {meeting}\n"
            f"  first employer contact within 30 days: {t.job_search_30} of {t.claimed}\n"
            f"  in job or education: {t.in_work_or_education} of {t.claimed} = {t.rate:.0%} (goal {goal:.0%}) "
            f"{'✓' if t.claimed and t.rate >= goal else '✗'}\n"
            f"  counted towards the goal: {', '.join(t.counted)}\n"
            f"  outcomes: {', '.join(f'{k} {v}' for k, v in sorted(t.outcomes.items())) or '–'}\n"
            f"  urgent claims over the caseload cap: {t.over_cap}\n"
            f"  staff: {t.consultants} job consultants, {t.coordinators} coordinators\n"
            + followup_lines(t, goal)
        )
        if not t.consultants:
            nobody = " and NO COORDINATOR to tell" if not t.coordinators else ""
            out.write(f"  ERROR: NO JOB CONSULTANT{nobody}: {t.waiting} referrals waiting with nobody to take them\n")


def burn_up_svg(programme: str, t: Tally, goal: float) -> str:
    """Cumulative eligible referrals (scope), job or education outcomes (done), and goal × scope."""
    weeks = sorted(set(t.weekly_referrals) | set(t.weekly_outcomes))
    if not weeks:
        weeks = [date.today()]
    span = [weeks[0] + timedelta(weeks=n) for n in range((weeks[-1] - weeks[0]).days // 7 + 1)]
    scope, done, total_scope, total_done = [], [], 0, 0
    for week in span:
        total_scope += t.weekly_referrals[week]
        total_done += t.weekly_outcomes[week]
        scope.append(total_scope)
        done.append(total_done)
    width, height, pad = 640, 320, 40
    top = max(scope[-1], 1)

    def points(values: Sequence[float]) -> str:
        step = (width - 2 * pad) / max(len(values) - 1, 1)
        return " ".join(f"{pad + i * step:.1f},{height - pad - v / top * (height - 2 * pad):.1f}"
                        for i, v in enumerate(values))

    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="12"><title>Burn-up: {programme}</title>'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{pad}" y="20">{programme}: eligible referrals and job or education outcomes, by week</text>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#888"/>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{points(scope)}"/>'
        f'<polyline fill="none" stroke="#ff7f0e" stroke-dasharray="6 4" points="{points([goal * s for s in scope])}"/>'
        f'<polyline fill="none" stroke="#2ca02c" stroke-width="2" points="{points(done)}"/>'
        f'<text x="{width - pad}" y="{height - 10}" text-anchor="end">{span[0]} – {span[-1]}; max {top}</text>'
        f'<text x="{pad}" y="{height - 10}" fill="#1f77b4">referrals</text>'
        f'<text x="{pad + 80}" y="{height - 10}" fill="#2ca02c">in job or education</text>'
        f'<text x="{pad + 230}" y="{height - 10}" fill="#ff7f0e">goal {goal:.0%}</text></svg>\n'
    )
