"""CSV export of referrals for spreadsheets: ``ipsbot export --format csv``.

One header line, then one line per referral; standard comma-separated CSV (RFC 4180 quoting:
only where needed, ``"`` doubled), UTF-8 without a byte-order mark. ``csv_lines`` yields the lines
without their line end, like the JSON export (the writer adds ``"\\n"``); a free-text value may
contain a newline inside its quotes. An absent value is an empty cell. A free-text cell that starts
with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return), or with a character that Unicode
compatibility (NFKC) folds into one of them (full-width ``＝ ＋ － ＠``, small ``﹦``, superscript
``⁺``), gets a leading ``'`` so that a spreadsheet shows it as text instead of running it as a
formula – this includes a phone number written as ``+45 …``.

| column | content |
| --- | --- |
| `id` | referral id |
| `programme` | programme id (`reconnect`, `hjorring`, …) |
| `language` | language of the intake: `da`, `sv`, `en` |
| `created_at` | when the referral was made (ISO 8601, UTC) |
| `status` | referral status |
| `partial` | `true` for a partial referral (left after a risk answer: what was answered so far), else `false` |
| `triage_outcome` | `eligible`, `eligible-urgent`, `refer-gp`, `refer-coping-course`, `refer-tfa`, `not-in-target` |
| `triage_reason` | reason message id (`reason.…`) |
| `urgent` | `true` / `false` |
| `priority` | `true` / `false` |
| `name` | name as given (free text) |
| `age` | age in years |
| `municipality` | municipality (free text) |
| `situation` | `school`, `job`, `unemployed`, `sick_leave`, `other` |
| `support` | public support (`kontanthjaelp`, …, `other`) |
| `treatment` | `in_treatment`, `under_assessment`, `diagnosed`, `suspected`, `none` |
| `diagnoses` | diagnosis areas, space-separated (`anxiety depression`, …; empty when the programme does not ask) |
| `contact_preference` | `chat`, `phone`, `sms`, `email` |
| `phone` | phone number, when contact is by phone or SMS |
| `email` | e-mail address, when contact is by e-mail |
| `gad7_total` | GAD-7 sum score 0–21 (empty when not asked) |
| `gad7_band` | GAD-7 band: `minimal`, `mild`, `moderate`, `severe` |
| `mdi_total` | MDI sum score 0–50 (empty when not asked) |
| `mdi_band` | MDI band: `none`, `mild`, `moderate`, `severe` |
| `mdi_icd10` | MDI ICD-10 algorithm: `none`, `mild`, `moderate`, `severe` |
| `mdi_dsm4` | MDI DSM-IV algorithm: `none`, `major` |
| `phq9_total` | PHQ-9 sum score 0–27 (empty when not asked) |
| `phq9_band` | PHQ-9 band: `minimal`, `mild`, `moderate`, `moderately_severe`, `severe` |

The instrument columns follow the instrument files (``flows/instruments``, ``INSTRUMENTS_DIR``): for each
instrument, in the order of their ids, ``<id>_total``, ``<id>_band`` and ``<id>_<algorithm>`` for each
of its algorithms; a new instrument file adds its columns here.

| column | content |
| --- | --- |
| `flags` | flags raised, space-separated (`risk`) |
| `risks` | each risk answer as it was given, also when changed later (below) |
| `substance` | substance use grade `A`–`E` (where the programme asks) |
| `substance_treatment` | motivation for treatment at grade B or C: `yes`, `maybe`, `no` (empty when not asked) |
| `goal` | `work`, `education`, `both`, `unsure` |
| `dream` | free text |
| `background` | free text |
| `strengths` | free text |
| `hours` | hours a week wanted: `under_10`, `10_20`, `20_30`, `30_37`, `unsure` |
| `worries` | free text |
| `disclosure` | will tell an employer: `yes`, `partly`, `no`, `unsure` |
| `support_wanted` | free text |
| `consent_version` | version of the consent text agreed to |

``risks`` lists the risk answers oldest first, separated by ``; ``, each as
``<instrument>.<item>=<score> (<the option's text id>) <time, ISO 8601 UTC>``, e.g.
``mdi.6=2 (mdi.option.2) 2026-03-02T09:00:00+00:00``.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from flows import instruments
from flows.referral import risk_signals


def instrument_columns() -> list[str]:
    """Per catalogued instrument (the instrument files): its total, its mean where the instrument is
    scored by its mean (MANSA), its band and each algorithm's level."""
    out: list[str] = []
    for iid in instruments.available():
        out += [f"{iid}_{key}" for key in _keys(iid)]
    return out


def _keys(iid: str) -> tuple[str, ...]:
    instrument = instruments.load(iid)
    return ("total", *(("mean",) if instrument.scoring == "mean" else ()), "band", *instrument.algorithms)


def columns() -> list[str]:
    """The header: the fixed columns around the instruments' columns (which follow the instrument files)."""
    return [
        "id", "programme", "language", "created_at", "status", "partial",
        "triage_outcome", "triage_reason", "urgent", "priority",
        "name", "age", "municipality", "situation", "support", "treatment", "diagnoses",
        "contact_preference", "phone", "email",
        *instrument_columns(),
        "flags", "risks", "substance", "substance_treatment",
        "goal", "dream", "background", "strengths", "hours", "worries", "disclosure", "support_wanted",
        "consent_version",
    ]


# The columns for the shipped instruments (as read at import); `columns()` reads them anew.
COLUMNS: list[str] = columns()

# Cells a person typed: the only ones that can start with a formula character.
FREE_TEXT: frozenset[str] = frozenset({
    "name", "municipality", "phone", "email", "dream", "background", "strengths", "worries", "support_wanted",
})
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """Keep a spreadsheet from reading a cell as a formula (OWASP "CSV injection").

    The start is compared after NFKC: some spreadsheets fold full-width ``＝`` into ``=`` themselves.
    """
    start = unicodedata.normalize("NFKC", value[:1])
    return "'" + value if start.startswith(FORMULA_START) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def row(referral_id: int, created_at: str, status: str, payload: dict[str, Any],
        header: Sequence[str] | None = None) -> dict[str, str]:
    """One referral as ``{column: cell}`` (every column of `header`, default ``columns()``, neutralised)."""
    candidate = payload.get("candidate") or {}
    contact = candidate.get("contact") or {}
    triage = payload.get("triage") or {}
    motivation = payload.get("motivation") or {}
    scores = payload.get("instruments") or {}
    header = columns() if header is None else header
    catalogued = instruments.available()
    values: dict[str, Any] = {
        "id": referral_id,
        "programme": payload.get("programme"),
        "language": payload.get("language"),
        "created_at": created_at,
        "status": status,
        "partial": bool(payload.get("partial")),
        "triage_outcome": triage.get("outcome"),
        "triage_reason": triage.get("reason"),
        "urgent": triage.get("urgent"),
        "priority": triage.get("priority"),
        **{k: candidate.get(k) for k in ("name", "age", "municipality", "situation", "support", "treatment")},
        "diagnoses": " ".join(candidate.get("diagnoses") or []) or None,  # empty when not asked
        "contact_preference": contact.get("preference"),
        "phone": contact.get("phone"),
        "email": contact.get("email"),
        **{f"{iid}_{key}": (result or {}).get(key) for iid, result in scores.items() if iid in catalogued
           for key in _keys(iid)},
        "flags": " ".join(payload.get("flags") or []),
        "risks": "; ".join(f"{r['instrument']}.{r['item']}={r['score']} ({r['answer']}) {r['at']}"
                           for r in risk_signals(payload)),
        "substance": payload.get("substance"),
        "substance_treatment": payload.get("substance_treatment"),
        **{k: motivation.get(k) for k in ("goal", "dream", "background", "strengths", "hours", "worries",
                                          "disclosure", "support_wanted")},
        "consent_version": (payload.get("consent") or {}).get("version"),
    }
    cells = {column: _cell(values.get(column)) for column in header}
    return {column: neutralise(cell) if column in FREE_TEXT else cell for column, cell in cells.items()}


def _line(cells: Iterable[str]) -> str:
    buffer = io.StringIO()
    # "\r\n" as the writer's line end so that a cell holding a lone carriage return is quoted too
    # (Python's writer quotes only the characters of its own line end); the line end itself is cut
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()[:-2]  # without the line end; a newline inside a quoted cell stays


def csv_lines(referrals: Iterable[tuple[int, str, str, dict[str, Any]]]) -> Iterator[str]:
    """The header, then one CSV line per ``(id, created_at_iso, status, payload)``, read one at a time."""
    header = columns()
    yield _line(header)
    for referral_id, created_at, status, payload in referrals:
        cells = row(referral_id, created_at, status, payload, header)  # the header made once
        yield _line(cells[column] for column in header)
