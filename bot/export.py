"""Exports for coordinators; they stream referrals, so 10,000 rows never sit in memory at once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TextIO

from bot.app import App
from flows.referral import export_record


async def json_lines(app: App, *, since: datetime | None = None, programme: str | None = None
                     ) -> AsyncIterator[str]:
    async with app.uow() as uow:
        async for referral in uow.referrals.stream(since=since, programme_id=programme):
            record = export_record(referral.id, referral.created_at.isoformat(), referral.status,
                                   referral.payload)
            yield json.dumps(record, ensure_ascii=False, separators=(",", ":"))


async def write_json(app: App, out: TextIO, *, since: datetime | None = None,
                     programme: str | None = None) -> int:
    count = 0
    async for line in json_lines(app, since=since, programme=programme):
        out.write(line + "\n")
        count += 1
    async with app.uow() as uow:  # an export is an access to health data: it is logged
        detail = f"format=json count={count} programme={programme or '*'} since={since.isoformat() if since else '*'}"
        await uow.audit.record(actor="cli", action="export", at=app.clock.now(), detail=detail)
    return count
