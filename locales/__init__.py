"""Gettext catalogues (da, sv, en) and the translator the flows and adapters use.

Message ids are keys (``consent.ask``), so every user-visible text, English included, lives in a
catalogue and nowhere in code. English is the fallback for a missing translation.
The ``.mo`` files are compiled from the ``.po`` files when the package is built (``setup.py``: the
wheel has them, and an editable install writes them beside the ``.po``), never at run time into the
package folder, so a read-only install works. A source tree whose ``.po`` is newer than its ``.mo`` (an
edited catalogue, not yet reinstalled) is compiled in memory instead.
"""

from __future__ import annotations

import gettext
import io
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


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


def compile_catalogue(po: Path, lang: str) -> bytes:
    """A ``.po`` file as the bytes of its ``.mo`` (fuzzy entries left out)."""
    with po.open("rb") as src:
        catalog = read_po(src, locale=lang)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def compile_catalogues(target: Path) -> list[Path]:
    """Write every language's ``.mo`` under `target` (``<lang>/LC_MESSAGES/``); the build calls this."""
    written = []
    for lang in LANGUAGES:
        po = po_path(lang)
        if not po.exists():
            continue
        mo = target / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        mo.parent.mkdir(parents=True, exist_ok=True)
        mo.write_bytes(compile_catalogue(po, lang))
        written.append(mo)
    return written


def _catalogue(lang: str) -> gettext.NullTranslations | None:
    """The built ``.mo``; the ``.po`` compiled in memory where that is newer or the ``.mo`` is missing."""
    po, mo = po_path(lang), mo_path(lang)
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fp:
            return gettext.GNUTranslations(fp)
    if po.exists():
        return gettext.GNUTranslations(io.BytesIO(compile_catalogue(po, lang)))
    return None


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
    chain: gettext.NullTranslations | None = None
    for code in ([lang, FALLBACK] if lang != FALLBACK else [FALLBACK]):
        found = _catalogue(code)
        if found is None:
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
