"""The coordinator dashboard without a database: small groups, totals that give nothing away, the charts,
the self-contained page, the languages, and matplotlib loaded only when a chart is drawn.

"Nothing can be worked out" is checked by `feasible`, a reader's brute force (every value each hidden
cell can take, given the shown cells and the total), written apart from `disclosure.exposed`.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.exports import charts
from bot.exports.dashboard import Cell, Dashboard, Figures, Section, Table, figures_of, publish
from bot.exports.dashboard_render import html_fragment, html_page, write_csv, write_text
from bot.exports.disclosure import SMALL, Count, Hidden, part_of, protect
from bot.exports.formatting import Formatter
from flows.ips import CASE_OUTCOMES
from locales import Translator
from storage.dashboard import CaseRow, FollowUpRow, RiskWait
from tests.support.dashboard_seed import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW = START + timedelta(days=400)
DASH = REGISTRY["dash"]


def feasible(cells: Mapping[str, Cell], total: int) -> dict[str, set[int]]:
    """Every value each hidden cell can take: "<5" is 1 to 4, "×" is 5 or more, and all add up to `total`."""
    rest = total - sum(int(c.value) for c in cells.values() if c.value is not None)
    domains = {k: range(1, SMALL) if c.hidden is Hidden.SMALL else range(SMALL, rest + 1)
               for k, c in cells.items() if c.value is None}
    found: dict[str, set[int]] = {}
    for key, domain in domains.items():
        sums = {0}
        for other, values in domains.items():
            if other != key:
                sums = {s + v for s in sums for v in values if s + v <= rest}
        found[key] = {v for v in domain if rest - v in sums}
    return found


def assert_safe(cells: Mapping[str, Cell], total: Cell, exact: Mapping[str, int]) -> None:
    """Shown cells are exact, "<5" exactly for 1 to 4, and no "<5" follows from the shown total."""
    for key, cell in cells.items():
        assert cell.value is None or cell.value == exact[key], key
        assert (cell.hidden is Hidden.SMALL) == (0 < exact[key] < SMALL), (key, cell, exact[key])
    if total.value is None:
        assert all(c.value in (None, 0) for c in cells.values())  # a breakdown of a hidden total is hidden
        return
    for key, values in feasible(cells, int(total.value)).items():
        assert exact[key] in values
        if cells[key].hidden is Hidden.SMALL:
            assert len(values) >= 2, f"{key} = {exact[key]} can be worked out: {sorted(values)}"


def as_cells(published: Mapping[str, Count]) -> dict[str, Cell]:
    return {k: Cell(None if c.value is None else float(c.value), "count", c.hidden) for k, c in published.items()}


# --- the rule ---------------------------------------------------------------------------------


def test_a_small_part_hides_the_smallest_other_part_too() -> None:
    cells, shown = protect({"a": 3, "b": 10, "c": 12}, 25)
    assert shown and cells == {"a": Count(None, Hidden.SMALL), "b": Count(None, Hidden.SECONDARY), "c": Count(12)}
    assert_safe(as_cells(cells), Cell(25), {"a": 3, "b": 10, "c": 12})


def test_two_ones_beside_a_shown_total_are_not_enough() -> None:
    cells, shown = protect({"a": 1, "b": 1, "c": 20}, 22)  # 22 - 20 = 2 = 1 + 1
    assert shown and cells["c"] == Count(None, Hidden.SECONDARY)


def test_the_total_is_hidden_when_nothing_else_can_be() -> None:
    cells, shown = protect({"a": 4, "b": 4}, 8)  # 4 + 4 is the only way to make 8 of two "<5"
    assert not shown and all(c.value is None for c in cells.values())
    assert protect({"a": 4, "b": 1}, 5)[1]  # 5 = 1 + 4 = 2 + 3 = ...: nothing follows


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=25), min_size=1, max_size=7))
def test_no_small_part_can_be_worked_out_from_a_shown_total(parts: list[int]) -> None:
    exact = {f"p{i}": n for i, n in enumerate(parts)}
    cells, shown = protect(exact, sum(parts))
    total = Cell(sum(parts)) if shown else Cell(None, "count", Hidden.SECONDARY)
    assert_safe(as_cells(cells), total, exact)


@pytest.mark.parametrize(("n", "whole", "shown"), [
    (0, 10, "0"), (3, 10, "<5"), (7, 10, "×"), (5, 10, "5"), (10, 10, "10"), (6, None, "×"), (2, None, "<5")])
def test_a_part_whose_rest_is_small_is_hidden(n: int, whole: int | None, shown: str) -> None:
    published = part_of(n, Count(whole) if whole is not None else Count(None, Hidden.SECONDARY))
    assert Formatter("en").cell(Cell(None if published.value is None else float(published.value), "count",
                                     published.hidden)) == shown


# --- a whole programme --------------------------------------------------------------------------


def synthetic(seed: int, n: int) -> Figures:
    """A small programme drawn at random: the sizes where small groups happen."""
    rng = random.Random(seed)
    cases, followups, waits = [], [], []
    for i in range(n):
        created = START + timedelta(hours=rng.uniform(0, 24 * 7 * 6))
        claimed = created + timedelta(hours=rng.uniform(1, 100)) if rng.random() < 0.8 else None
        outcome = rng.choice([*CASE_OUTCOMES, None, None]) if claimed else None
        meeting = claimed + timedelta(days=2) if claimed and rng.random() < 0.6 else None
        employer = created + timedelta(days=rng.uniform(5, 50)) if claimed and rng.random() < 0.5 else None
        cases.append(CaseRow(i, created, "claimed" if claimed else "new", rng.random() < 0.1, False, claimed,
                             meeting, employer, outcome))
        if claimed and rng.random() < 0.7:
            status = rng.choice(["answered", "answered", "lapsed", "stopped", "open", "missed"])
            state = {"status": rng.choice(["job", "education", "none"]), "results": {"mansa": {"mean": 4.0}}}
            followups.append(FollowUpRow(i, "6m", status, state if status == "answered" else None))
        if rng.random() < 0.15:
            waits.append(RiskWait(created, created + timedelta(hours=rng.uniform(0, 30)) if rng.random() < 0.7
                                  else None))
    enrolment = {c.id: rng.uniform(1, 7) for c in cases if c.claimed_at and rng.random() < 0.9}
    return figures_of("dash", DASH, cases, followups, enrolment, waits, NOW)


def rows(table: Table) -> dict[str, Cell]:
    return {r.key: r.cells[0] for r in table.rows}


def assert_section_safe(f: Figures, section: Section) -> None:
    """Every table of the section against the exact figures, and across tables."""
    funnel, goal, risk = rows(section.table("funnel")), rows(section.table("goal")), rows(section.table("risk"))
    weekly = rows(section.table("weekly"))
    assert_safe(weekly, funnel["referred"], {w.isoformat(): n for w, n in f.weekly.items()})
    outcomes = {"work": goal["work"], "other": goal["other"], "open": goal["open"]}
    assert_safe(outcomes, goal["claimed"], {"work": f.in_work, "other": f.other_outcome, "open": f.open_cases})
    assert_safe({"seen": risk["seen"], "unseen": risk["unseen"]}, risk["answers"],
                {"seen": len(f.seen_hours), "unseen": len(f.unseen_hours)})
    # the same number wherever it appears
    assert funnel["claimed"] == goal["claimed"] and funnel["work"] == goal["work"]
    times = {r.key: r.cells for r in section.table("times").rows}
    assert times["claim"][0] == goal["claimed"] and times["seen"][0] == risk["seen"]
    assert times["meeting"][0] == funnel["met"]
    for exact, shown in ((f.referred, funnel["referred"]), (f.claimed, goal["claimed"]), (f.met, funnel["met"]),
                         (f.employer_30, funnel["employer"]), (len(f.seen_hours) + len(f.unseen_hours),
                                                                risk["answers"])):
        assert shown.value in (exact, None) and (shown.hidden is Hidden.SMALL) == (0 < exact < SMALL)
    for row in section.table("followups").rows:
        point = f.points[row.key]
        parts = dict(zip(("answered", "lapsed", "stopped", "open"), row.cells[1:5], strict=True))
        assert_safe(parts, row.cells[0], {"answered": point.answered, "lapsed": point.lapsed,
                                          "stopped": point.stopped, "open": point.open})
        rate, work, work_share = row.cells[5], row.cells[7], row.cells[8]
        assert rate.value is None or (parts["answered"].value is not None and row.cells[0].value)
        # those in work of those who answered: the rest (answered, not in work) is a group too
        assert (work.hidden is Hidden.SMALL) == (0 < point.in_work < SMALL)
        assert work.value in (None, point.in_work)
        if work.value is not None and parts["answered"].value is not None:  # the rest follows: not small
            assert not 0 < point.answered - point.in_work < SMALL
        assert work_share.value is None or work.value is not None


@settings(max_examples=120, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=45))
def test_every_small_group_shows_less_than_five_and_none_can_be_worked_out(seed: int, n: int) -> None:
    f = synthetic(seed, n)
    assert_section_safe(f, publish(f, DASH))


def test_a_chart_shows_no_more_than_its_table() -> None:
    drawn = []
    for weeks in ([12, 3, 9, 0, 14], [12, 2, 10, 0, 14]):  # the same shown numbers, other hidden ones
        f = synthetic(3, 40)
        f.weekly, f.referred = {START.date() + timedelta(weeks=i): n for i, n in enumerate(weeks)}, 38
        weekly = publish(f, DASH).table("weekly")
        assert [Formatter("en").cell(c) for c in rows(weekly).values()] == ["12", "<5", "×", "0", "14"]
        drawn.append(charts.chart(weekly, Formatter("en"), "test"))
    assert drawn[0] == drawn[1]  # the chart is drawn from what is shown, nothing else
    assert drawn[0] is not None and drawn[0].count(">&lt;5<") == 1 and drawn[0].count(">×<") == 1


# --- rendering ----------------------------------------------------------------------------------


def dashboard() -> Dashboard:
    f = synthetic(11, 45)
    return Dashboard(NOW, (publish(f, DASH),))


class Resources(HTMLParser):
    """Tags and the addresses the page would fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.addresses: list[str] = []
        self.ids: list[str] = []
        self.labelled_by: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "srcset", "data", "poster") and value:
                self.addresses.append(value)
            if name == "id" and value:
                self.ids.append(value)
            if name == "aria-labelledby" and value:
                self.labelled_by.append(value)


def test_the_html_file_is_self_contained() -> None:
    page = html_page(dashboard(), "da")
    parsed = Resources()
    parsed.feed(page)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(parsed.tags)
    assert all(a.startswith("#") for a in parsed.addresses), parsed.addresses  # only within the page
    import re

    assert re.findall(r"url\((?!#)", page) == [] and "@import" not in page and "<!DOCTYPE svg" not in page
    assert parsed.tags.count("svg") == 4 and page.count('role="img"') == 4
    assert set(parsed.labelled_by) <= set(parsed.ids)  # every chart and table is named by a caption on the page
    assert len(parsed.ids) == len(set(parsed.ids)), "an id twice: the charts' ids must differ"
    assert page.startswith('<!DOCTYPE html>\n<html lang="da">')


def test_the_same_data_draws_the_same_page() -> None:
    assert html_fragment(dashboard(), "sv") == html_fragment(dashboard(), "sv")


def test_the_fragment_has_a_table_beside_each_chart() -> None:
    fragment = html_fragment(dashboard(), "en")
    for block in fragment.split('<div class="dash-figure">')[1:]:
        assert "<table>" in block  # each chart or table has its table, with a caption, for screen readers
    assert fragment.count('<div class="dash-chart">') == 4


@pytest.mark.parametrize("lang", ["da", "sv", "en"])
def test_every_text_comes_from_the_catalogue_in_each_language(lang: str) -> None:
    t = Translator("en")
    section = dashboard().sections[0]
    ids = {table.title for table in section.tables} | {c for table in section.tables for c in table.columns}
    ids |= {row.label for table in section.tables for row in table.rows}
    assert all(t.has(msgid) for msgid in ids), sorted(m for m in ids if not t.has(m))
    out = __import__("io").StringIO()
    write_text(dashboard(), out, lang)
    assert "dash." not in out.getvalue()  # no message id shown as such


def test_numbers_and_dates_follow_the_language() -> None:
    assert Formatter("da").percent(0.38) == "38\xa0%" and Formatter("en").percent(0.38) == "38%"
    assert Formatter("sv").number(5400) == "5\xa0400" and Formatter("da").number(5400) == "5.400"
    assert Formatter("da").cell(Cell(12.25, "hours")) == "12,2 t" or Formatter("da").cell(Cell(12.25, "hours")) \
        == "12,3 t"
    monday = START.date()
    assert Formatter("da").week_tick(monday) == "5. jan." and Formatter("sv").week_tick(monday) == "5 jan."


def test_the_csv_has_one_line_per_published_value() -> None:
    import csv
    import io

    out = io.StringIO()
    lines = write_csv(dashboard(), out, "en")
    read = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(read) == lines == sum(len(t.columns) * len(t.rows) for t in dashboard().sections[0].tables)
    values = {r["value"] for r in read}
    assert values <= {"<5", "x", ""} | {v for v in values if v.replace(".", "").isdigit()}


def relative_luminance(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


@pytest.mark.parametrize(("colour", "needed"), [(charts.BAR, 3.0), (charts.GRID, 3.0), (charts.TEXT, 4.5),
                                                 (charts.GOAL, 4.5)])
def test_chart_colours_pass_contrast_on_white(colour: str, needed: float) -> None:
    ratio = (1.05) / (relative_luminance(colour) + 0.05)
    assert ratio >= needed, f"{colour}: {ratio:.2f}:1"


def test_matplotlib_is_imported_only_when_a_chart_is_drawn() -> None:
    probe = (
        "import sys\n"
        "import bot.cli, bot.app, bot.channels.telegram.runtime, bot.channels.web.server\n"
        "import bot.exports.dashboard, bot.exports.dashboard_render, bot.exports.charts\n"
        "print('matplotlib' in sys.modules)\n"
        "from tests.unit.test_dashboard import dashboard\n"
        "bot.exports.dashboard_render.html_fragment(dashboard())\n"
        "print('matplotlib' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_percentiles_are_by_nearest_rank() -> None:
    from bot.exports.dashboard import nearest_rank

    values = [float(v) for v in range(1, 11)]
    assert nearest_rank(values, 0.5) == 5 and nearest_rank(values, 0.9) == 9 and nearest_rank([7.0], 0.9) == 7
    assert nearest_rank(values[:7], 0.9) == values[math.ceil(0.9 * 7) - 1]


def test_a_two_year_programme_page_is_at_most_30_kb_apart_from_its_charts() -> None:
    import re

    f = synthetic(5, 45)
    rng = random.Random(5)
    f.weekly = {START.date() + timedelta(weeks=i): rng.randint(0, 140) for i in range(104)}
    f.referred = sum(f.weekly.values())
    page = html_page(Dashboard(NOW, (publish(f, DASH),)), "sv")
    without_charts = re.sub(r"<svg .*?</svg>", "", page, flags=re.S)
    assert len(without_charts.encode()) <= 30_000, len(without_charts.encode())
    assert len(page.encode()) > len(without_charts.encode()) + 20_000  # the charts were there


def test_a_chart_looked_at_again_is_the_one_drawn_and_the_kept_ones_are_bounded() -> None:
    weekly = dashboard().sections[0].table("weekly")
    charts.DRAWN.clear()
    first = charts.chart(weekly, Formatter("en"), "again")
    charts.DRAWN.clear()
    assert charts.chart(weekly, Formatter("en"), "again") == first  # a fresh drawing is the same SVG
    assert charts.chart(weekly, Formatter("da"), "again") != first  # another language is drawn again
    for n in range(charts.DRAWN_KEPT + 5):
        charts.chart(weekly, Formatter("en"), f"salt{n}")
    assert len(charts.DRAWN) == charts.DRAWN_KEPT


def test_a_coordinators_page_loads_matplotlib_ahead_of_the_dashboard_in_the_background() -> None:
    """The dashboard's first view need not wait for matplotlib's import: the coordinator's first page
    starts it in a thread (`charts.warm`), once; a process without coordinators never loads it."""
    probe = (
        "import sys\n"
        "import bot.channels.web.server\n"
        "from bot.exports import charts\n"
        "print('matplotlib' in sys.modules)\n"
        "charts.warm()\n"
        "charts.warm()\n"
        "print(len(charts._WARMING))\n"
        "charts._WARMING[0].join(60)\n"
        "print('matplotlib.figure' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "1", "True"]
