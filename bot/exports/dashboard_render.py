"""The dashboard written out: as text (`ipsbot report`), as CSV (the aggregated table), as an HTML fragment
with inline SVG charts (for the staff area) and as one self-contained HTML page (`ipsbot report --html`).

Everything is rendered from the published tables (`bot.exports.dashboard.publish`), so each form shows
the same numbers with the same ones hidden. Each chart has its table beside it, for screen readers and
for anyone who wants the numbers. The page has no external resource: no script, font, style sheet
or image is fetched; its style is inline and its charts are `<svg>` elements.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import datetime
from html import escape
from typing import TextIO

from bot.exports.dashboard import Cell, Dashboard, Section, Table, build
from bot.exports.disclosure import Hidden
from bot.exports.formatting import Formatter
from flows.programmes import Registry
from locales import format_when
from storage.repositories import UnitOfWork

TEXT_TABLES = ("funnel", "goal", "risk", "times", "followups", "mansa", "casework")  # per week: CSV and HTML


def goal_line(section: Section, fmt: Formatter) -> str:
    counted = ", ".join(fmt.t(f"case_outcome.{o}") for o in section.counted)
    return fmt.t("dash.goal.line", share=fmt.percent(section.goal), counted=counted)


def notice_lines(section: Section, fmt: Formatter) -> list[str]:
    return [fmt.text(msgid, params) for msgid, params in section.notices]


# --- text ---------------------------------------------------------------------------------------


def write_text(dashboard: Dashboard, out: TextIO, lang: str = "en") -> None:
    fmt = Formatter(lang)
    for section in dashboard.sections:
        out.write(f"{section.name(fmt.lang)} ({section.programme_id})\n  {goal_line(section, fmt)}\n")
        out.writelines(f"  {line}\n" for line in notice_lines(section, fmt))
        for table in section.tables:
            if table.key in TEXT_TABLES and table.rows:
                out.write(f"  {fmt.t(table.title)}\n")
                out.writelines(f"    {line}\n" for line in text_rows(table, fmt))
    out.write(fmt.t("dash.legend") + "\n")


def text_rows(table: Table, fmt: Formatter) -> Iterator[str]:
    for row in table.rows:
        if len(table.columns) == 1:
            yield f"{fmt.label(row)}: {fmt.cell(row.cells[0])}"
        else:
            yield f"{fmt.label(row)}: " + "; ".join(
                f"{fmt.t(column)} {fmt.cell(cell)}" for column, cell in zip(table.columns, row.cells, strict=True))


# --- CSV ----------------------------------------------------------------------------------------

CSV_HEADER = ("programme", "table", "row", "column", "value", "label")


def plain(cell: Cell) -> str:
    """A value for a spreadsheet: a number with a dot, "<5", "x" (hidden), or empty (nothing)."""
    if cell.value is None:
        return {Hidden.SMALL: "<5", Hidden.SECONDARY: "x"}.get(cell.hidden, "")
    if cell.kind in ("count", "number"):
        return str(round(cell.value))
    return f"{cell.value:.{3 if cell.kind == 'share' else 2}f}"


def write_csv(dashboard: Dashboard, out: TextIO, lang: str = "en") -> int:
    """One line per published value; returns the number of lines after the header."""
    fmt, lines = Formatter(lang), 0
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for section in dashboard.sections:
        for table in section.tables:
            for row in table.rows:
                for column, cell in zip(table.columns, row.cells, strict=True):
                    writer.writerow((section.programme_id, table.key, row.key, column.removeprefix("dash.col."),
                                     plain(cell), f"{fmt.t(table.title)}: {fmt.label(row)}: {fmt.t(column)}"))
                    lines += 1
    return lines


# --- HTML ---------------------------------------------------------------------------------------


def html_table(table: Table, fmt: Formatter, table_id: str) -> str:
    head = "".join(f'<th scope="col">{escape(fmt.t(c))}</th>' for c in table.columns)
    body = "".join(
        f'<tr><th scope="row">{escape(fmt.label(row))}</th>'
        + "".join(f"<td>{escape(fmt.cell(cell))}</td>" for cell in row.cells) + "</tr>"
        for row in table.rows)
    return (f'<div class="dash-table" role="region" aria-labelledby="{table_id}" tabindex="0"><table>'
            f'<caption id="{table_id}">{escape(fmt.t(table.title))}</caption><thead><tr><td></td>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def html_figure(section: Section, table: Table, fmt: Formatter) -> str:
    from bot.exports.charts import chart

    base = escape(f"dash-{section.programme_id}-{table.key}")
    svg = chart(table, fmt, salt=base)
    drawing = ""
    if svg is not None:  # named by the table's caption; the table beside it carries the numbers
        drawing = svg.replace("<svg ", f'<svg role="img" aria-labelledby="{base}" ', 1)
        drawing = f'<div class="dash-chart">{drawing}</div>'
    return f'<div class="dash-figure">{drawing}{html_table(table, fmt, base)}</div>'


def html_fragment(dashboard: Dashboard, lang: str = "en") -> str:
    """The dashboard as HTML to put into a page: one `<section>` per programme, headed `<h2>`."""
    fmt, parts = Formatter(lang), []
    for section in dashboard.sections:
        heading = escape(f"dash-{section.programme_id}")
        notices = "".join(f'<p class="dash-notice">{escape(line)}</p>' for line in notice_lines(section, fmt))
        figures = "".join(html_figure(section, t, fmt) for t in section.tables if t.rows)
        parts.append(f'<section class="dash" aria-labelledby="{heading}"><h2 id="{heading}">'
                     f"{escape(section.name(fmt.lang))}</h2><p>{escape(goal_line(section, fmt))}</p>"
                     f"{notices}{figures}</section>")
    return "".join(parts)


async def dashboard_html(uow_factory: Callable[[], UnitOfWork], registry: Registry, programme_id: str | None,
                         now: datetime, lang: str) -> tuple[Dashboard, str]:
    """What the staff area serves: the dashboard of one programme (None: of each with referrals) as
    data and as an HTML fragment in the reader's language. The caller audits the look."""
    dashboard = await build(uow_factory, registry, programme_id, now)
    return dashboard, html_fragment(dashboard, lang)


STYLE = """
body{font-family:system-ui,sans-serif;color:#222;background:#fff;margin:0 auto;max-width:72rem;padding:1rem}
h1,h2{line-height:1.2}.dash{border-top:2px solid #1f4e79;margin-top:2rem}
.dash-figure{display:flex;flex-wrap:wrap;gap:1rem 2rem;align-items:flex-start;margin:1.5rem 0}
.dash-chart{flex:1 1 28rem;max-width:40rem}.dash-chart svg{width:100%;height:auto}
.dash-table{flex:1 1 18rem;max-height:28rem;overflow:auto}
table{border-collapse:collapse}caption{font-weight:bold;text-align:left;padding:.25rem 0}
th,td{border-bottom:1px solid #767676;padding:.2rem .5rem;text-align:right}th[scope=row]{text-align:left}
.dash-notice{border-left:.3rem solid #a3400b;padding:.25rem .75rem;font-weight:bold}
:focus{outline:3px solid #1f4e79;outline-offset:2px}
"""


def html_page(dashboard: Dashboard, lang: str = "en", timezone: str = "Europe/Copenhagen") -> str:
    """One self-contained HTML file: the dashboard for the steering group."""
    fmt = Formatter(lang)
    made = fmt.t("dash.generated", when=format_when(dashboard.generated_at, fmt.lang, timezone))
    title = escape(fmt.t("dash.page_title"))
    return (f'<!DOCTYPE html>\n<html lang="{fmt.lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            f"<style>{STYLE}</style></head><body><main><h1>{title}</h1><p>{escape(made)}</p>"
            f"<p>{escape(fmt.t('dash.legend'))}</p>{html_fragment(dashboard, lang)}</main></body></html>\n")
