"""How the dashboard's values read in da, sv and en: texts from the catalogues, numbers and dates by Babel.

A hidden count reads "<5" (1 to 4 people) or "×" (hidden so that a "<5" cannot be worked out); a value
there is nothing for (no case yet) reads "–".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from babel.dates import format_skeleton
from babel.numbers import format_decimal, format_percent

from bot.exports.dashboard import Cell, Row
from bot.exports.disclosure import Hidden
from locales import Translator


class Formatter:
    """Texts and numbers of the dashboard in one language."""

    def __init__(self, lang: str) -> None:
        self.t = Translator(lang)
        self.lang = self.t.lang
        self.locale = self.t.babel_locale

    def number(self, value: float) -> str:
        return format_decimal(round(value), locale=self.locale)

    def percent(self, value: float) -> str:
        return format_percent(value, locale=self.locale)

    def cell(self, cell: Cell) -> str:
        if cell.value is None:
            return self.t({Hidden.SMALL: "dash.small", Hidden.SECONDARY: "dash.hidden"}.get(cell.hidden, "dash.none"))
        if cell.kind == "share":
            return self.percent(cell.value)
        if cell.kind == "hours":
            return self.t("dash.hours", n=format_decimal(cell.value, format="#,##0.0", locale=self.locale))
        if cell.kind == "mean":
            return format_decimal(cell.value, format="0.00", locale=self.locale)
        return self.number(cell.value)

    def params(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in raw.items():
            if isinstance(value, date):  # a week, by its Monday
                year, week, _ = value.isocalendar()
                out.update(week=week, year=year, date=format_skeleton("yMMMd", value, locale=self.locale))
            elif isinstance(value, Cell):
                out[key] = self.cell(value)
            else:
                out[key] = value
        return out

    def label(self, row: Row) -> str:
        return self.t(row.label, **self.params(row.params))

    def text(self, msgid: str, params: Mapping[str, Any]) -> str:
        return self.t(msgid, **self.params(params))

    def week_tick(self, monday: date) -> str:
        return format_skeleton("MMMd", monday, locale=self.locale)
