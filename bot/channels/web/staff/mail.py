"""E-mail to staff without Telegram: the outbox rows addressed to ``Address("email", ...)``, sent over
SMTP (`aiosmtplib`, `SMTP_URL`), each saying only that something is waiting, and where.

A member of staff who joined in the staff area with an e-mail address is reached there; the services
queue their messages (a new referral, an urgent case, a booking, a follow-up's risk) as for any
channel. What a row's screens hold (a summary, a name) is never put into a mail: the mail says what
kind of thing it is (an urgent case, a new referral, a booking or news) and links to the staff area.
Rows for a member of staff with neither chat nor e-mail (``Address("web", ...)``) have nowhere to go
but the staff area, which shows them anyway: they are finished unsent.
Runs in every process that serves the staff area (started with the web application).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
from aiohttp import web

from bot.app import App
from bot.services.staff_sessions import WEB
from bot.settings import Settings
from locales import LANGUAGES, Translator

log = logging.getLogger(__name__)

EMAIL = "email"
EVERY = 10.0  # seconds between rounds
MAIL_TASK = web.AppKey("staff_mail", asyncio.Task[None])


def kind_of(payload: dict[str, Any]) -> str:
    """What the message is about, from its form only (never from its text)."""
    if payload.get("alert_copy") is not None:
        return "urgent"
    if payload.get("offer_id") is not None:
        return "referral"
    if any(str(d.get("filename", "")).endswith(".ics") for d in payload.get("documents", [])):
        return "booking"
    return "news"


def compose(payload: dict[str, Any], base_url: str, sender: str) -> EmailMessage:
    """The mail: its kind and the staff area's address, in Danish, Swedish and English (the outbox row
    does not say which language its reader chose, and the mail is short)."""
    kind = kind_of(payload)
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = str(payload["to"]["id"])
    mail["Subject"] = " / ".join(Translator(lang)(f"staff.mail.{kind}") for lang in LANGUAGES)
    url = f"{base_url.rstrip('/')}/staff"
    mail.set_content("\n\n".join(Translator(lang)("staff.mail.body", what=Translator(lang)(f"staff.mail.{kind}"),
                                                   url=url) for lang in LANGUAGES))
    return mail


def smtp_options(url: str) -> dict[str, Any]:
    """`aiosmtplib.send` options from ``smtp://user:password@host:port`` (STARTTLS when offered) or
    ``smtps://...`` (TLS from the start)."""
    parts = urlsplit(url)
    options: dict[str, Any] = {"hostname": parts.hostname or "localhost", "port": parts.port,
                               "use_tls": parts.scheme == "smtps", "timeout": 30}
    if parts.username:
        options |= {"username": unquote(parts.username), "password": unquote(parts.password or "")}
    return options


async def deliver(app: App, settings: Settings) -> int:
    """One round: every due e-mail row sent (or given up on, content-free), "web" rows finished. The mail
    goes out after its row is taken in a transaction of its own, so a slow server holds no lock."""
    now = app.clock.now()
    mailing = settings.smtp_url is not None and bool(settings.web_url)
    async with app.uow() as uow:
        rows = [(r.id, dict(r.payload)) for r in await uow.outbox.pending(EMAIL, created_before=now)] if mailing else []
        for row in await uow.outbox.pending(WEB, created_before=now):
            await uow.outbox.finish(row.id, at=now, failure="staff area only")
    if settings.smtp_url is None or not settings.web_url:
        return 0
    sent = 0
    options = smtp_options(settings.smtp_url.get_secret_value())
    for outbox_id, payload in rows:
        failure = ""
        try:
            await aiosmtplib.send(compose(payload, settings.web_url, settings.smtp_from), **options)
            sent += 1
        except (aiosmtplib.SMTPException, OSError) as exc:
            failure = type(exc).__name__  # the address and text stay out of the log
            log.warning("staff e-mail %s not sent: %s", outbox_id, failure)
        async with app.uow() as uow:
            await uow.outbox.finish(outbox_id, at=app.clock.now(), failure=failure)
    return sent


async def _loop(app: App, settings: Settings) -> None:
    while True:
        await asyncio.sleep(EVERY)  # first after a while: a process that only starts and stops does nothing
        try:
            await deliver(app, settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("staff e-mail round failed")


def start_with(web_app: web.Application, app: App, settings: Settings) -> None:
    """Send staff e-mail (with SMTP_URL set), and finish the staff area's own rows, while this web
    application runs."""

    async def started(_: web.Application) -> None:
        web_app[MAIL_TASK] = asyncio.create_task(_loop(app, settings))

    async def stopped(_: web.Application) -> None:
        task = web_app.get(MAIL_TASK)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    web_app.on_startup.append(started)
    web_app.on_cleanup.append(stopped)
