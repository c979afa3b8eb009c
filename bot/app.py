"""Wires settings, storage, programmes and the flow into one application object."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.services import staff_detail
from bot.services.clocks import ClockRunner, Send
from bot.services.intake import IntakeService
from bot.settings import Settings
from flows import instruments
from flows.intake import IntakeFlow
from flows.programmes import Registry
from storage import crypto, keys
from storage.db import make_engine, make_session_factory, upgrade
from storage.outbox import OutboxPayload
from storage.repositories import UnitOfWork

log = logging.getLogger(__name__)


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if getter else None


def key_settings(settings: Settings) -> tuple[str | None, str | None, Path]:
    """The configured keys as `storage.crypto` reads them: ENCRYPTION_KEY, ENCRYPTION_HASH_KEY, the key file."""
    return _secret(settings.encryption_key), _secret(settings.encryption_hash_key), settings.key_file


def configure_cipher(settings: Settings) -> None:
    """The cipher of the settings' keys, for every encrypted column of this process (made once here)."""
    crypto.configure(crypto.load_cipher(*key_settings(settings)))


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
    # set while the process runs its clocks (`bot.services.clocks`): messages to others go out at once
    clocks: ClockRunner | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    def wake(self, messages: Mapping[int, OutboxPayload]) -> None:
        """Messages to other people were just committed (`IntakeResult.others`): send them now, not on the next
        round of the clocks. Without clocks in this process they wait in the outbox for one that has them."""
        if self.clocks is not None and messages:
            self.clocks.wake(messages)

    def run_clocks(self, send: Send | None) -> ClockRunner:
        """The clocks of this process (one per process), delivering through `send`."""
        self.clocks = ClockRunner(self.uow, self.intake, self.clock, send)
        return self.clocks


async def unreachable_programmes(app: App) -> dict[str, str]:
    """Programmes whose urgent case would not reach a consultant first: id -> who it reaches first
    ("coordinators", "operators" or "nobody")."""
    found = {}
    async with app.uow() as uow:
        for programme in app.registry.all():
            reach = await app.intake.casework.escalations.reachable(uow, programme.id)
            if reach != "consultants":
                found[programme.id] = reach
    return found


async def say_who_is_reached(app: App) -> None:
    """At start, loudly: every programme where an urgent case could reach nobody today (or no consultant)."""
    for programme_id, reach in (await unreachable_programmes(app)).items():
        if reach == "nobody":
            log.error("programme %s: an urgent case would reach NOBODY (no consultant, coordinator or operator); "
                      "invite staff with `ipsbot invite`; it waits for the first who joins", programme_id)
        else:
            log.warning("programme %s has no consultant: an urgent case goes to its %s first", programme_id, reach)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


@asynccontextmanager
async def open_app(settings: Settings, clock: Clock | None = None, *, migrate: bool | None = None
                   ) -> AsyncIterator[App]:
    """Start-up and shut-down of everything a channel needs.

    SQLite databases are migrated automatically (a newcomer's first `ipsbot chat` just works);
    PostgreSQL is migrated by the operator with `ipsbot db upgrade`, once, not by every worker.
    """
    configure_cipher(settings)
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
    staff_detail.configure(settings.web_url, settings.staff_chat_detail)  # what staff chats are told
    try:
        yield app
    finally:
        staff_detail.configure(None, None)
        await engine.dispose()
