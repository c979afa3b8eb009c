"""Exports for coordinators; they stream referrals, so 10,000 rows never sit in memory at once.

JSON and FHIR lines carry every control character as a `\\uXXXX` escape (`bot.output.terminal_safe`):
the same data to a JSON reader, and nothing a terminal would act on when the file is shown. CSV is
written as stored, except to a terminal.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, TextIO

from bot.app import App
from bot.output import terminal_safe
from flows.ips import CLOCKS
from flows.referral import export_record


async def json_lines(app: App, *, since: datetime | None = None, programme: str | None = None
                     ) -> AsyncIterator[str]:
    async with app.uow() as uow:
        async for referral in uow.referrals.stream(since=since, programme_id=programme):
            clocks = {k: (getattr(referral, k).isoformat() if getattr(referral, k) else None) for k in CLOCKS}
            record = export_record(referral.id, referral.created_at.isoformat(), referral.status,
                                   referral.payload, clocks, referral.case_outcome)
            yield json.dumps(record, ensure_ascii=False, separators=(",", ":"))


async def records(app: App, *, since: datetime | None = None, programme: str | None = None
                  ) -> AsyncIterator[tuple[int, str, str, dict[str, Any]]]:
    """(id, created_at, status, content) of each referral, streamed."""
    async with app.uow() as uow:
        async for referral in uow.referrals.stream(since=since, programme_id=programme):
            yield referral.id, referral.created_at.isoformat(), referral.status, referral.payload


async def write(app: App, out: TextIO, fmt: str, *, since: datetime | None = None,
                programme: str | None = None) -> int:
    """Write an export (json, fhir or csv) a line at a time; returns the number of referrals."""
    from bot.exports.csv_export import csv_lines
    from bot.exports.fhir import fhir_lines

    count = 0
    safe = fmt != "csv" or out.isatty()
    if fmt == "json":
        async for line in json_lines(app, since=since, programme=programme):
            out.write(terminal_safe(line) + "\n")
            count += 1
    else:
        # the header (CSV) or the Questionnaires (FHIR) first, then each referral as it streams in
        if fmt == "csv":
            head = list(csv_lines([]))
        else:
            head = list(fhir_lines([], instruments=app.registry[programme].instruments if programme else None))
        out.writelines(line + "\n" for line in head)
        async for row in records(app, since=since, programme=programme):
            lines = list(csv_lines([row]))[1:] if fmt == "csv" else list(fhir_lines([row], instruments=()))
            out.writelines((terminal_safe(line, keep_newlines=True) if safe else line) + "\n" for line in lines)
            count += 1
    async with app.uow() as uow:  # an export is an access to health data: it is logged
        detail = f"format={fmt} count={count} programme={programme or '*'} since={since.isoformat() if since else '*'}"
        await uow.audit.record(actor="cli", action="export", at=app.clock.now(), detail=detail)
    return count
