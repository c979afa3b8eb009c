"""The dashboard's charts: matplotlib on the server, as SVG text to put inline in a page.

matplotlib is imported inside `chart` only (about half a second and 30 MB the first time), so a bot
process that never draws the dashboard never loads it (`tests/benchmarks/dashboard.py` shows it). It
draws from the published tables (`bot.exports.dashboard.Table`), where a hidden number is None: a
hidden bar is not drawn, its place is marked "<5" or "×", so a chart cannot show more than the table.

Texts, dates and numbers come from the catalogues and Babel through the `Formatter`. Colours keep
at least 3:1 against white for marks and 4.5:1 for text (WCAG 2.2, 1.4.11 and 1.4.3); the goal is a
dashed line, so it is not told by colour alone. `svg.hashsalt` (one per chart, so that ids differ
between the charts of one page) makes the output the same for the same data; text stays text
(`svg.fonttype: none`); the file's metadata, comments and DOCTYPE are left out, and its ids are
prefixed with the chart's name.
"""

from __future__ import annotations

import io
import math
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.exports.dashboard import Cell, Table
from bot.exports.disclosure import Hidden

if TYPE_CHECKING:
    from bot.exports.formatting import Formatter

BAR = "#1f4e79"  # 9.4:1 on white
GOAL = "#a3400b"  # 5.9:1 on white
TEXT = "#222222"
GRID = "#767676"  # 4.5:1 on white
CHARTED = ("funnel", "weekly", "goal", "followups")
MAX_TICKS = 12
HEIGHTS = {"funnel": 3.4, "goal": 1.7}  # inches; the rest 3.2
# fixed margins (left, bottom, right, top): matplotlib's constrained layout would find them, at 40 % more time;
# long labels (the funnel's, in three languages) stand above their bars, not beside them
MARGINS = {"funnel": (0.02, 0.14, 0.9, 0.99), "weekly": (0.1, 0.22, 0.98, 0.88), "goal": (0.02, 0.3, 0.96, 0.97),
           "followups": (0.12, 0.12, 0.98, 0.96)}


# The last charts drawn, by what they show: the same published table in the same language gives the
# same SVG (above), so a dashboard looked at again with unchanged figures is not drawn again (about
# 0.1 s of CPU for the four). Only published cells are in the key: counts under 5 are already hidden.
DRAWN: OrderedDict[tuple[str, str, str], str] = OrderedDict()
DRAWN_KEPT = 32


def chart(table: Table, fmt: Formatter, salt: str) -> str | None:
    """The table's chart as an `<svg>` element, or None for a table without one."""
    if table.key not in CHARTED or not table.rows:
        return None
    key = (fmt.lang, salt, repr(table))
    svg = DRAWN.get(key)
    if svg is None:
        svg = DRAWN[key] = draw(table, fmt, salt)
        while len(DRAWN) > DRAWN_KEPT:
            DRAWN.popitem(last=False)
    DRAWN.move_to_end(key)
    return svg


_WARMING: list[threading.Thread] = []  # at most one: started by the first coordinator page of a process


def warm() -> None:
    """Load matplotlib in a background thread, once: a coordinator is here and may open the dashboard,
    whose first view would otherwise wait for the import (0.5–0.9 s). A process no coordinator uses
    never loads it, so the bot's memory stays as it is."""
    if _WARMING or "matplotlib.figure" in sys.modules:
        return
    _WARMING.append(threading.Thread(target=_load, name="matplotlib-warm-up", daemon=True))
    _WARMING[0].start()


def _load() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.backends.backend_svg
    import matplotlib.figure
    import matplotlib.ticker


def draw(table: Table, fmt: Formatter, salt: str) -> str:
    """Draw the table's chart with matplotlib (imported here, the first time a chart is drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    style: dict[Any, Any] = {"svg.hashsalt": salt, "svg.fonttype": "none", "font.family": "sans-serif", "font.size": 11,
             "text.color": TEXT, "axes.labelcolor": TEXT, "xtick.color": TEXT, "ytick.color": TEXT,
             "axes.edgecolor": GRID}
    with matplotlib.rc_context(style):
        figure = Figure(figsize=(6.4, HEIGHTS.get(table.key, 3.2)), dpi=72)
        left, bottom, right, top = MARGINS[table.key]
        figure.subplots_adjust(left=left, bottom=bottom, right=right, top=top)
        axes = figure.add_subplot()
        DRAW[table.key](axes, table, fmt)
        axes.spines[["top", "right"]].set_visible(False)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return clean(out.getvalue(), salt)


def clean(svg: str, prefix: str) -> str:
    """The `<svg>` element alone: no XML declaration, DOCTYPE, comments or metadata; its ids prefixed.

    matplotlib numbers its groups the same in every file (`figure_1`, `patch_1`) and a clip path is
    found by its id: with several charts on one page, an id must name one element only."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r"<!--.*?-->\s*", "", svg, flags=re.S).strip()
    return re.sub(r'(\bid="|url\(#|href="#)', rf"\g<1>{prefix}-", svg)


def marker(cell: Cell, fmt: Formatter) -> str | None:
    return fmt.cell(cell) if cell.value is None and cell.hidden else None


def count_axis(axis: Any, fmt: Formatter) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt.number(v)))


def share_axis(axis: Any, fmt: Formatter) -> None:
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    axis.set_major_locator(MultipleLocator(0.25))
    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt.percent(v)))


def values(cells: Sequence[Cell]) -> list[float]:
    return [c.value or 0.0 for c in cells]


def draw_funnel(axes: Any, table: Table, fmt: Formatter) -> None:
    rows = [r for r in table.rows if r.key != "redirected"][::-1]  # the first stage on top
    cells = [r.cells[0] for r in rows]
    y = range(len(rows))
    axes.barh(y, values(cells), color=BAR, height=0.45)
    top = max([*values(cells), 1.0])
    for i, (row, cell) in enumerate(zip(rows, cells, strict=True)):
        axes.text(0, i + 0.3, fmt.label(row), va="bottom", ha="left")
        axes.text((cell.value or 0) + top * 0.01, i, fmt.cell(cell), va="center", ha="left")
    axes.set_yticks([])
    axes.set_ylim(-0.5, len(rows) - 0.05)
    axes.set_xlim(0, top * 1.12)
    count_axis(axes.xaxis, fmt)
    axes.set_xlabel(fmt.t("dash.col.people"))


def draw_weekly(axes: Any, table: Table, fmt: Formatter) -> None:
    """One filled step line for all the weeks (one element, not a bar each: a hundred weeks draw in a
    tenth of the time), and one marker line per kind of hidden week, named in the legend."""
    cells = [r.cells[0] for r in table.rows]
    axes.stairs(values(cells), [i - 0.5 for i in range(len(cells) + 1)], fill=True, color=BAR)
    for hidden, shape in ((Hidden.SMALL, "v"), (Hidden.SECONDARY, "x")):
        where = [i for i, c in enumerate(cells) if c.value is None and c.hidden is hidden]
        if where:
            label = fmt.cell(Cell(None, "count", hidden))
            axes.plot(where, [0] * len(where), linestyle="none", marker=shape, color=TEXT, markersize=5,
                      clip_on=False, label=label)
    if any(c.value is None for c in cells):
        axes.legend(loc="lower left", bbox_to_anchor=(0, 1), frameon=False, ncols=2, borderaxespad=0.2)
    step = max(1, math.ceil(len(cells) / MAX_TICKS))
    ticks = list(range(len(cells)))[::step]
    axes.set_xticks(ticks, [fmt.week_tick(table.rows[i].params["monday"]) for i in ticks], rotation=45, ha="right")
    axes.set_xlim(-0.5, len(cells) - 0.5)
    axes.set_ylim(0, max([*values(cells), 1.0]) * 1.15)
    count_axis(axes.yaxis, fmt)
    axes.set_ylabel(fmt.t("dash.col.referrals"))


def draw_goal(axes: Any, table: Table, fmt: Formatter) -> None:
    by_key = {r.key: r for r in table.rows}
    share, goal = by_key["share"].cells[0], by_key["goal"].cells[0]
    axes.barh([0], [share.value or 0.0], color=BAR, height=0.4)
    axes.text(0, 0.28, f"{fmt.label(by_key['share'])}: {fmt.cell(share)}", va="bottom", ha="left")
    axes.axvline(goal.value or 0, color=GOAL, linestyle="--", linewidth=2)
    axes.text((goal.value or 0) + 0.01, -0.05, fmt.t("dash.chart.goal", share=fmt.cell(goal)), color=GOAL,
              ha="left", va="center")
    axes.set_xlim(0, 1)
    axes.set_ylim(-0.35, 0.75)
    axes.set_yticks([])
    share_axis(axes.xaxis, fmt)


def draw_followups(axes: Any, table: Table, fmt: Formatter) -> None:
    rate = table.columns.index("dash.col.rate")
    cells = [r.cells[rate] for r in table.rows]
    x = range(len(cells))
    axes.bar(x, values(cells), color=BAR, width=0.6)
    for i, cell in enumerate(cells):
        axes.text(i, (cell.value or 0) + 0.02, fmt.cell(cell), ha="center", va="bottom")
    axes.set_xticks(list(x), [fmt.label(r) for r in table.rows])
    axes.set_ylim(0, 1.1)
    share_axis(axes.yaxis, fmt)
    axes.set_ylabel(fmt.t("dash.col.rate"))


DRAW = {"funnel": draw_funnel, "weekly": draw_weekly, "goal": draw_goal, "followups": draw_followups}
