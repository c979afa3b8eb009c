"""Wires settings, storage, programmes and the flow into one application object."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.services.intake import IntakeService
from bot.settings import Settings
from flows import instruments
from flows.intake import IntakeFlow
from flows.programmes import Registry
from locales import compile_catalogues
from storage import crypto, keys
from storage.db import make_engine, make_session_factory, upgrade
from storage.repositories import UnitOfWork

log = logging.getLogger(__name__)


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if getter else None


class SentMarker(Protocol):
    def add(self, message_id: int, at: datetime) -> None: ...


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    registry: Registry
    flow: IntakeFlow
    intake: IntakeService
    clock: Clock
    # set while a channel runs that marks sent outbox messages in batches (`bot.channels.telegram.delivery`)
    sent_marks: SentMarker | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


@asynccontextmanager
async def open_app(settings: Settings, clock: Clock | None = None, *, migrate: bool | None = None
                   ) -> AsyncIterator[App]:
    """Start-up and shut-down of everything a channel needs.

    SQLite databases are migrated automatically (a newcomer's first `ipsbot chat` just works);
    PostgreSQL is migrated by the operator with `ipsbot db upgrade`, once, not by every worker.
    """
    compile_catalogues()
    crypto.configure(crypto.load_cipher(
        _secret(settings.encryption_key), _secret(settings.encryption_hash_key), settings.key_file
    ))
    if settings.instruments_dir is not None:  # before the programmes, which name instruments
        instruments.use_directory(settings.instruments_dir)
    registry = Registry.load(settings.programmes_dir)
    if migrate if migrate is not None else is_sqlite(settings.database_url):
        await upgrade(settings.database_url)
    engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
    sessions = make_session_factory(engine)
    try:
        # every stored row: a wrong key stops here, not on someone's answer
        read = await keys.check(sessions, crypto.current())
        log.info("the encryption keys read every stored value: %s", ", ".join(f"{n} {c}" for c, n in read.items()))
    except BaseException:
        await engine.dispose()
        raise
    clock = clock or SystemClock()
    flow = IntakeFlow(registry)
    app = App(settings, engine, sessions, registry, flow,
              IntakeService(lambda: UnitOfWork(sessions), flow, clock), clock)
    try:
        yield app
    finally:
        await engine.dispose()
