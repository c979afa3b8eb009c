"""Erasure by age: closed intakes after their programme's retention period, unfinished ones sooner.

Closed means: declined, withdrawn, or completed with a referral that is no longer open (redirected
elsewhere, or a closed case, counted from its closing; a referral on offer, waiting or worked on is
kept). A candidate left with no intake is erased too, through the same erasure as `/delete` (the
`erase` the caller passes: `bot.services.erasure.erase`, which also withdraws what staff were shown);
so are handled updates of the update inbox after a week (they only guard against a channel sending
the same update again, which happens within a day) and outbox messages a week after they were sent
(a sent row has no further use; until then it shows what went out when something is queried).
Counts only are returned and audited, never content.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select

from storage.models import AuditEvent, Candidate, Intake, IntakeStatus, Referral, ReferralStatus
from storage.repositories import UnitOfWork

CLOSED = IntakeStatus.closed()
HANDLED_UPDATES_KEPT = timedelta(days=7)
SENT_MESSAGES_KEPT = timedelta(days=7)
Erase = Callable[[UnitOfWork, int], Awaitable[object]]
OPEN_REFERRALS = ReferralStatus.open()


async def purge(
    uow: UnitOfWork,
    *,
    now: datetime,
    retention: Mapping[str, timedelta],
    default_retention: timedelta,
    unfinished_after: timedelta = timedelta(days=90),
    erase: Erase | None = None,
) -> dict[str, int]:
    """Erase what is past its time; `retention` per programme id. Returns counts per kind.

    `erase(uow, candidate_id)` erases a person left with nothing kept (default: the rows only,
    `CandidateRepository.delete`; the application passes `bot.services.erasure.erase`)."""
    case_closed = select(Referral.closed_at).where(Referral.intake_id == Intake.id).scalar_subquery()
    closed_at = func.coalesce(case_closed, Intake.completed_at, Intake.updated_at)
    referral_open = exists().where(Referral.intake_id == Intake.id, Referral.status.in_(OPEN_REFERRALS))
    closed = or_(Intake.status.in_(CLOSED), and_(Intake.status == IntakeStatus.COMPLETED.value, ~referral_open))

    def past(cutoff: datetime, programme_filter: ColumnElement[bool]) -> ColumnElement[bool]:
        return and_(programme_filter, closed, closed_at < cutoff)

    per_programme = [past(now - period, Intake.programme_id == pid) for pid, period in retention.items()]
    others = past(now - default_retention, Intake.programme_id.not_in(list(retention)))
    unfinished = and_(Intake.status == IntakeStatus.ACTIVE.value, Intake.updated_at < now - unfinished_after)
    doomed = select(Intake.id).where(or_(*per_programme, others, unfinished))

    session = uow.session
    ids = list((await session.scalars(doomed)).all())
    counts = {"intakes": len(ids), "referrals": 0, "candidates": 0}
    if ids:
        referral_ids = list((await session.scalars(select(Referral.id).where(Referral.intake_id.in_(ids)))).all())
        counts["referrals"] = len(referral_ids)
    # people with nothing left to keep are erased whole (their intakes and referrals with them) ...
    kept = exists().where(Intake.candidate_id == Candidate.id, Intake.id.not_in(ids))
    orphan_ids = list((await session.scalars(select(Candidate.id).where(~kept))).all())
    for candidate_id in orphan_ids:
        if erase is not None:
            await erase(uow, candidate_id)
        else:
            await uow.candidates.delete(candidate_id)
    counts["candidates"] = len(orphan_ids)
    # ... the others lose only the intakes past their time
    if ids:
        await session.execute(delete(Referral).where(Referral.intake_id.in_(ids)))
        await session.execute(delete(Intake).where(Intake.id.in_(ids)))
    counts["updates"] = await uow.updates.forget(now - HANDLED_UPDATES_KEPT)
    counts["outbox"] = await uow.outbox.forget_sent(now - SENT_MESSAGES_KEPT)
    session.add(AuditEvent(at=now, actor="cli", action="purge",
                           detail=" ".join(f"{k}={v}" for k, v in counts.items())))
    return counts
