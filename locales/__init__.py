"""Gettext catalogues (da, sv, en) and the translator the flows and adapters use.

Message ids are keys (``consent.ask``), so every user-visible text, English included, lives in a
catalogue and nowhere in code. English is the fallback for a missing translation.
Catalogues are compiled with Babel from the ``.po`` files when a ``.mo`` is missing or older.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent
DOMAIN = "messages"
LANGUAGES: tuple[str, ...] = ("da", "sv", "en")
FALLBACK = "en"
# Babel locale used for dates and numbers, per catalogue language.
BABEL_LOCALES: Mapping[str, str] = {"da": "da_DK", "sv": "sv_SE", "en": "en_GB"}


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalogues(force: bool = False) -> list[Path]:
    """Compile every ``.po`` whose ``.mo`` is missing or stale; returns the files written."""
    written = []
    for lang in LANGUAGES:
        po = po_path(lang)
        mo = po.with_suffix(".mo")
        if not po.exists():
            continue
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as src:
            catalog = read_po(src, locale=lang)
        tmp = mo.with_suffix(f".mo.{os.getpid()}.tmp")  # one per process: bot workers may start together
        with tmp.open("wb") as dst:
            write_mo(dst, catalog, use_fuzzy=False)
        tmp.replace(mo)  # atomic, so a concurrent reader never sees half a file
        written.append(mo)
    translations.cache_clear()
    return written


def normalise(lang: str | None) -> str:
    """Map a Telegram language code or locale name (``sv-SE``, ``da_DK``) to a catalogue language."""
    if not lang:
        return FALLBACK
    short = lang.replace("-", "_").split("_")[0].lower()
    if short == "nb" or short == "nn" or short == "no":
        return FALLBACK
    return short if short in LANGUAGES else FALLBACK


@cache
def translations(lang: str) -> gettext.NullTranslations:
    compile_catalogues()
    chain: gettext.NullTranslations | None = None
    for code in ([lang, FALLBACK] if lang != FALLBACK else [FALLBACK]):
        try:
            found = gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[code])
        except FileNotFoundError:
            continue
        if chain is None:
            chain = found
        else:
            chain.add_fallback(found)
    return chain or gettext.NullTranslations()


class Translator:
    """Looks up message ids in one language and fills ``{named}`` placeholders."""

    __slots__ = ("_t", "lang")

    def __init__(self, lang: str) -> None:
        self.lang = normalise(lang)
        self._t = translations(self.lang)

    @property
    def babel_locale(self) -> str:
        return BABEL_LOCALES[self.lang]

    def __call__(self, msgid: str, **params: Any) -> str:
        text = self._t.gettext(msgid)
        return text.format_map(params) if params else text

    def plural(self, singular: str, plural: str, n: int, **params: Any) -> str:
        text = self._t.ngettext(singular, plural, n)
        return text.format_map({"n": n, **params})

    def has(self, msgid: str) -> bool:
        return self._t.gettext(msgid) != msgid


# How a moment is written for a reader, per language (Babel patterns): 5. marts 2026 kl. 15.30
DATETIME_PATTERNS: Mapping[str, str] = {"da": "d. MMMM y 'kl.' HH.mm", "sv": "d MMMM y HH:mm", "en": "d MMMM y, HH:mm"}


def format_when(moment: Any, lang: str, timezone: str) -> str:
    """A UTC datetime in the reader's language, in the programme's time zone."""
    from zoneinfo import ZoneInfo

    from babel.dates import format_datetime

    code = normalise(lang)
    return format_datetime(moment, DATETIME_PATTERNS[code], tzinfo=ZoneInfo(timezone), locale=BABEL_LOCALES[code])
