"""E-mail for staff without Telegram: a real local SMTP server (aiosmtpd) receives a mail with no health
data and a link to the staff area when a new referral or an urgent case reaches a member of staff who
joined in the staff area with an e-mail address."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr

from bot.channels.web.staff import mail
from storage.models import OutboxMessage
from tests.channels.web.staff_kit import ORIGIN, Passkey, StaffSite, invite, referral, register, staff_site

__all__ = ["staff_site"]


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd calls it by this name
        self.mails.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_a_new_urgent_referral_is_mailed_without_health_data(staff_site: StaffSite,
                                                                   smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    settings = staff_site.settings.model_copy(update={"smtp_url": SecretStr(f"smtp://127.0.0.1:{port}")})
    browser = staff_site.browser()
    async with browser:
        answer = await register(staff_site, browser, await invite(staff_site, "consultant"), Passkey(),
                                email="mette@kommune.example")
        assert answer.status == 200
    assert await mail.deliver(staff_site.app, settings) == 1  # the welcome
    made = await referral(staff_site, 3001, {"q.name": "Yrsa Ødegaard", "phq9.9": "2"})
    assert made.urgent
    sent = await mail.deliver(staff_site.app, settings)
    assert sent >= 1
    assert all(to == ["mette@kommune.example"] for to, _ in inbox.mails)
    bodies = "\n".join(body for _, body in inbox.mails)
    assert "Yrsa" not in bodies and "PHQ" not in bodies and f"R-{made.id}" not in bodies
    assert f"{ORIGIN}/staff" in bodies
    assert "An urgent case needs a person today" in bodies or "A new referral for you" in bodies
    async with staff_site.app.uow() as uow:  # nothing left to send
        assert await uow.outbox.pending("email", created_before=staff_site.clock.now()) == []
    assert await mail.deliver(staff_site.app, settings) == 0


async def test_a_server_that_refuses_is_recorded_without_the_text(staff_site: StaffSite) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = int(probe.getsockname()[1])  # nobody listens here
    settings = staff_site.settings.model_copy(update={"smtp_url": SecretStr(f"smtp://127.0.0.1:{dead}")})
    browser = staff_site.browser()
    async with browser:
        await register(staff_site, browser, await invite(staff_site, "peer"), Passkey(), email="p@x.example")
    assert await mail.deliver(staff_site.app, settings) == 0
    async with staff_site.app.uow() as uow:
        rows = (await uow.session.scalars(  # type: ignore[attr-defined]
            __import__("sqlalchemy").select(OutboxMessage).where(OutboxMessage.channel == "email"))).all()
        assert rows and all(r.sent_at is not None and r.failure for r in rows)


def test_smtp_url_options() -> None:
    assert mail.smtp_options("smtps://u%40x:p%2Fw@mail.example:465") == {
        "hostname": "mail.example", "port": 465, "use_tls": True, "timeout": 30, "username": "u@x",
        "password": "p/w"}
    assert mail.kind_of({"alert_copy": 3}) == "urgent" and mail.kind_of({"offer_id": 1}) == "referral"
    assert mail.kind_of({"documents": [{"filename": "meeting.ics"}]}) == "booking"


async def test_rows_for_staff_with_neither_chat_nor_mail_are_finished(staff_site: StaffSite) -> None:
    browser = staff_site.browser()
    async with browser:
        await register(staff_site, browser, await invite(staff_site, "consultant"), Passkey())
    async with staff_site.app.uow() as uow:
        assert len(await uow.outbox.pending("web", created_before=staff_site.clock.now())) == 1  # the welcome
    assert await mail.deliver(staff_site.app, staff_site.settings) == 0  # no SMTP_URL: nothing mailed
    async with staff_site.app.uow() as uow:
        assert await uow.outbox.pending("web", created_before=staff_site.clock.now()) == []
