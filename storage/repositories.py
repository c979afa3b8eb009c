"""The `UnitOfWork` that bundles the repositories per incoming message, and where each repository lives.

A unit of work is one transaction: everything a handler changes for one message or update is
committed together, or rolled back together if the handler raises.

Times are always passed in (the caller owns the clock) and must be timezone-aware.

The repositories, one module per aggregate: `storage.candidates` (candidates, intakes),
`storage.referrals`, `storage.cases` (staff, invites, offers and cases, slots), `storage.risks`,
`storage.escalations`, `storage.outbox` (outbox, shown messages), `storage.inbox` (updates), `storage.audit`,
`storage.dashboard` (what the coordinator dashboard reads). They are
imported here too, so `from storage.repositories import ...` keeps working.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.audit import AuditRepository
from storage.candidates import CandidateRepository, IntakeRepository, StaleStateError, subject_hash
from storage.cases import CaseRepository, InviteRepository, SlotRepository, StaffRepository
from storage.dashboard import DashboardRepository
from storage.escalations import EscalationRepository
from storage.followups import FollowUpRepository
from storage.inbox import Received, UpdateRepository
from storage.outbox import OutboxRepository, ShownRepository
from storage.referrals import ReferralRepository
from storage.risks import RiskRepository
from storage.staff_web import StaffWebRepository

__all__ = [
    "AuditRepository",
    "CandidateRepository",
    "IntakeRepository",
    "OutboxRepository",
    "Received",
    "ReferralRepository",
    "ShownRepository",
    "StaleStateError",
    "UnitOfWork",
    "UpdateRepository",
    "subject_hash",
]


class UnitOfWork:
    """One session and transaction per incoming message or update, with the repositories on it.

    ::

        async with UnitOfWork(factory) as uow:
            candidate = await uow.candidates.get_or_create("telegram", "123", language="da", now=now)
            ...
        # committed here; rolled back instead if the block raised

    Do not open a second unit of work while one is open in the same task: on SQLite every
    transaction takes the write lock at BEGIN (see `storage.db`), so the inner one would wait for
    the outer one for the busy timeout and then fail with "database is locked".
    """

    session: AsyncSession
    candidates: CandidateRepository
    intakes: IntakeRepository
    referrals: ReferralRepository
    audit: AuditRepository
    updates: UpdateRepository
    outbox: OutboxRepository
    staff: StaffRepository
    invites: InviteRepository
    cases: CaseRepository
    slots: SlotRepository
    risks: RiskRepository
    shown: ShownRepository
    followups: FollowUpRepository
    escalations: EscalationRepository
    dashboard: DashboardRepository
    staff_web: StaffWebRepository

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory
        self._turn: asyncio.Lock | None = None

    async def __aenter__(self) -> UnitOfWork:
        self._turn = _sqlite_turn(self._factory)
        if self._turn is not None:
            try:  # bounded, so a unit of work nested in another fails loudly instead of hanging
                await asyncio.wait_for(self._turn.acquire(), timeout=30)
            except TimeoutError:
                self._turn = None
                raise TimeoutError("waited 30 s for the SQLite write turn; is a unit of work nested?") from None
        try:
            self.session = self._factory()
            await self.session.begin()
        except BaseException:
            self._release()
            raise
        self.candidates = CandidateRepository(self.session)
        self.intakes = IntakeRepository(self.session)
        self.referrals = ReferralRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.updates = UpdateRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.staff = StaffRepository(self.session)
        self.invites = InviteRepository(self.session)
        self.cases = CaseRepository(self.session)
        self.slots = SlotRepository(self.session)
        self.risks = RiskRepository(self.session)
        self.shown = ShownRepository(self.session)
        self.followups = FollowUpRepository(self.session)
        self.escalations = EscalationRepository(self.session)
        self.dashboard = DashboardRepository(self.session)
        self.staff_web = StaffWebRepository(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            try:
                await self.session.close()
            finally:
                self._release()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of the transaction that can fail alone (the clocks: one step that raises does not undo
        the others); what it queued in the outbox is forgotten with it."""
        mark = len(self.outbox.added)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            for outbox_id in self.outbox.added[mark:]:
                self.outbox.payloads.pop(outbox_id, None)
            del self.outbox.added[mark:]
            raise

    async def take_turn(self, name: str) -> bool:
        """Whether this transaction may take a turn that one process at a time takes (the clocks): on
        PostgreSQL a transaction-level advisory lock on `name` (False: another process has it now, and
        it is released with that transaction); SQLite has one writer, so always True."""
        bind = self._factory.kw.get("bind")
        if bind is None or bind.dialect.name != "postgresql":
            return True
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
        return bool(await self.session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}))

    def _release(self) -> None:
        if self._turn is not None:
            self._turn.release()
            self._turn = None


# SQLite has one writer at a time. Within a process, units of work queue on an asyncio lock
# instead of on SQLite's busy handler, which polls with sleeps of up to 100 ms and so turns a few
# concurrent writers into long tail latencies. Other processes still meet the busy timeout.
_SQLITE_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _sqlite_turn(factory: async_sessionmaker[AsyncSession]) -> asyncio.Lock | None:
    bind = factory.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return None
    per_loop = _SQLITE_TURNS.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(id(bind), asyncio.Lock())
