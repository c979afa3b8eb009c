"""The staff area's storage and session rules on each backend: sessions checked against what is stored
(idle, absolute, removal), one-time tokens used once (a race or a replay gets nothing), and the lists the
pages read."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import staff_sessions as sessions
from bot.services.casework import Casework
from bot.services.notify import Who
from flows.programmes import Registry
from storage.repositories import UnitOfWork

REGISTRY = Registry.load()


async def a_member(factory: async_sessionmaker[AsyncSession], now: datetime, role: str = "consultant") -> int:
    casework = Casework(REGISTRY)
    ident, address = sessions.web_identity()
    async with UnitOfWork(factory) as uow:
        code = await casework.invite(uow, role=role, programme_id="vejle", name="M", now=now)
        await casework.join(uow, Who("web", ident, address, "da"), code, now)
        staff = await uow.staff.find("web", ident)
        assert staff is not None
        await uow.staff_web.set_identity(staff.id, {"channel": "web", "id": ident}, now)
        return staff.id


async def test_a_session_is_checked_against_the_database(factory: async_sessionmaker[AsyncSession],
                                                         now: datetime) -> None:
    staff_id = await a_member(factory, now)
    async with UnitOfWork(factory) as uow:
        staff = await uow.staff.get(staff_id)
        assert staff is not None
        raw = await sessions.open_session(uow, staff, now, verified=True)
    async with UnitOfWork(factory) as uow:
        signed = await sessions.current(uow, raw, now + timedelta(minutes=29))
        assert signed is not None and signed.who.channel == "web" and signed.fresh(now + timedelta(minutes=4))
        assert not signed.fresh(now + timedelta(minutes=29))
    async with UnitOfWork(factory) as uow:  # touched at 29 minutes: alive at 58, gone at 90
        assert await sessions.current(uow, raw, now + timedelta(minutes=58)) is not None
    async with UnitOfWork(factory) as uow:
        assert await sessions.current(uow, raw, now + timedelta(minutes=90)) is None
    async with UnitOfWork(factory) as uow:  # ended, and stays ended
        assert await sessions.current(uow, raw, now + timedelta(minutes=91)) is None
        again = await sessions.open_session(uow, staff, now, verified=False)
        await uow.staff.remove(staff_id, now)
    async with UnitOfWork(factory) as uow:
        assert await sessions.current(uow, again, now + timedelta(minutes=1)) is None


async def test_a_token_is_used_once(factory: async_sessionmaker[AsyncSession], now: datetime) -> None:
    async with UnitOfWork(factory) as uow:
        raw = await sessions.add_token(uow, "login", {"challenge": "c"}, now)
    async with UnitOfWork(factory) as uow:
        assert await sessions.take_token(uow, raw, "register", now) is None  # another kind
        assert await sessions.take_token(uow, raw, "login", now) == {"challenge": "c", "staff_id": None}
    async with UnitOfWork(factory) as uow:
        assert await sessions.take_token(uow, raw, "login", now) is None
        late = await sessions.add_token(uow, "login", {}, now)
    async with UnitOfWork(factory) as uow:
        assert await sessions.take_token(uow, late, "login", now + sessions.CHALLENGE + timedelta(seconds=1)) is None


async def test_the_lists_the_pages_read(factory: async_sessionmaker[AsyncSession], now: datetime) -> None:
    staff_id = await a_member(factory, now)
    async with UnitOfWork(factory) as uow:
        assert await uow.staff_web.offered_to(staff_id) == []
        assert await uow.staff_web.waiting("vejle") == ([], 0)
        assert await uow.staff_web.escalations_sent("vejle") == ([], 0)
        assert await uow.staff_web.end_sessions(staff_id, now) == 0
