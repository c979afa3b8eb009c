"""Erasure by age: closed intakes after their programme's retention period, unfinished ones sooner.

Closed means: declined, withdrawn, or completed with a referral that is no longer open (redirected
elsewhere, or a closed case, counted from its closing; a referral on offer, waiting or worked on is
kept). A candidate left with no intake is
erased too, and so are handled Telegram updates after a week (they only guard against a repeat, which
Telegram sends within a day). Counts only are returned and audited, never content.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select

from storage.models import AuditEvent, Candidate, Intake, OutboxMessage, Referral, ReferralStatus
from storage.repositories import UnitOfWork

CLOSED = ("declined", "withdrawn")
HANDLED_UPDATES_KEPT = timedelta(days=7)
OPEN_REFERRALS = ReferralStatus.open()


async def purge(
    uow: UnitOfWork,
    *,
    now: datetime,
    retention: Mapping[str, timedelta],
    default_retention: timedelta,
    unfinished_after: timedelta = timedelta(days=90),
) -> dict[str, int]:
    """Erase what is past its time; `retention` per programme id. Returns counts per kind."""
    case_closed = select(Referral.closed_at).where(Referral.intake_id == Intake.id).scalar_subquery()
    closed_at = func.coalesce(case_closed, Intake.completed_at, Intake.updated_at)
    referral_open = exists().where(Referral.intake_id == Intake.id, Referral.status.in_(OPEN_REFERRALS))
    closed = or_(Intake.status.in_(CLOSED), and_(Intake.status == "completed", ~referral_open))

    def past(cutoff: datetime, programme_filter: ColumnElement[bool]) -> ColumnElement[bool]:
        return and_(programme_filter, closed, closed_at < cutoff)

    per_programme = [past(now - period, Intake.programme_id == pid) for pid, period in retention.items()]
    others = past(now - default_retention, Intake.programme_id.not_in(list(retention)))
    unfinished = and_(Intake.status == "active", Intake.updated_at < now - unfinished_after)
    doomed = select(Intake.id).where(or_(*per_programme, others, unfinished))

    session = uow.session
    ids = list((await session.scalars(doomed)).all())
    counts = {"intakes": len(ids), "referrals": 0, "candidates": 0}
    if ids:
        referral_ids = list((await session.scalars(select(Referral.id).where(Referral.intake_id.in_(ids)))).all())
        counts["referrals"] = len(referral_ids)
        await session.execute(delete(Referral).where(Referral.id.in_(referral_ids)))
        await session.execute(delete(Intake).where(Intake.id.in_(ids)))
    orphans = select(Candidate.id).where(~exists().where(Intake.candidate_id == Candidate.id))
    orphan_ids = list((await session.scalars(orphans)).all())
    if orphan_ids:
        await session.execute(delete(OutboxMessage).where(OutboxMessage.candidate_id.in_(orphan_ids)))
        await session.execute(delete(Candidate).where(Candidate.id.in_(orphan_ids)))
        counts["candidates"] = len(orphan_ids)
    counts["updates"] = await uow.updates.forget(now - HANDLED_UPDATES_KEPT)
    session.add(AuditEvent(at=now, actor="cli", action="purge",
                           detail=" ".join(f"{k}={v}" for k, v in counts.items())))
    return counts
