"""Whose session a request acts on, and the cookies that carry it (docs/security.md, T36 to T38).

A browser's POST acts on the session of its cookie only (a Mini App's on the signed session its form
carries), so a planted link or form cannot log someone into another person's intake. A browser that
has answered nothing holds a session that stands for no one (`n`). The "it is me" cookie says the
person on this device has said lately that the intake is theirs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot.channels.web import tokens
from bot.clock import Clock
from bot.services.intake import Person
from bot.settings import Settings
from flows.address import Address

COOKIE = "ipsbot"
HERE_COOKIE = "ipsbot_here"  # the person on this device said the intake is theirs, a while ago (tokens.HERE)
ROTATED = web.RequestKey("rotated", tokens.Session)  # the session this request moved to (stored, or rotated)


def person(session: tokens.Session, language: str | None = None) -> Person:
    """The candidate a session stands for."""
    if session.kind == "t":  # the same candidate as in the chat: private chat id = user id
        return Person("telegram", session.ident, language=language, address=Address("telegram", session.ident))
    return Person("web", session.external_id, language=language)


class Sessions:
    """Reads a request's session and writes the cookies of a response."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    def now(self) -> datetime:
        return self.clock.now()

    def cookie(self, request: web.Request) -> tokens.Session | None:
        """The browser's own session: its cookie (a Mini App session is never a cookie)."""
        session = tokens.parse(request.cookies.get(COOKIE), self.now())
        return session if session is not None and session.kind in ("w", "n") else None

    def posted(self, request: web.Request, form: MultiDictProxy[Any]) -> tokens.Session | None:
        """The session a POST acts on: a verified Mini App session named in the form (signed, bound to its
        init data's time), else the cookie's. A browser session named in the form is never taken: a
        planted form would log the person into someone else's intake."""
        named = tokens.parse(str(form.get("s", "")) or None, self.now())
        if named is not None and named.kind == "t":
            return named
        return self.cookie(request)

    def base(self, request: web.Request) -> str:
        return (self.settings.web_url or f"{request.scheme}://{request.host}").rstrip("/")

    def _secure(self, request: web.Request) -> bool:
        return self.base(request).startswith("https://")

    def set_cookie(self, request: web.Request, response: web.StreamResponse, value: str, max_age: int) -> None:
        response.set_cookie(COOKIE, value, max_age=max_age, path="/", httponly=True, samesite="Lax",
                            secure=self._secure(request))

    def keep(self, request: web.Request, response: web.StreamResponse, session: tokens.Session | None, *,
             forget: bool = False, short: bool = False) -> None:
        """The cookies after a page: forgotten, a finished intake's short visit, or the session kept."""
        now = self.now()
        if forget:
            response.del_cookie(COOKIE, path="/")
            response.del_cookie(HERE_COOKIE, path="/")
        elif session is not None and short:  # a finished intake's visit: the device forgets it soon
            self.set_cookie(request, response, tokens.short(session, now), int(tokens.FINISHED_VISIT.total_seconds()))
            self.mark_here(request, response, session, tokens.FINISHED_VISIT)
        elif session is not None and session.kind == "w":  # sliding expiry for the kept link
            self.set_cookie(request, response, tokens.renewed(session, now), int(tokens.WEB_SESSION.total_seconds()))
        elif session is not None and session.kind == "n":
            self.set_cookie(request, response, tokens.token(session), int(tokens.NEW_SESSION.total_seconds()))

    def mark_here(self, request: web.Request, response: web.StreamResponse, session: tokens.Session,
                  lifetime: timedelta = tokens.HERE) -> None:
        """The person on this device has said, or shown by answering, that the intake is theirs."""
        response.set_cookie(HERE_COOKIE, tokens.here_mark(session, self.now(), lifetime),
                            max_age=int(lifetime.total_seconds()), path="/", httponly=True, samesite="Strict",
                            secure=self._secure(request))

    def here(self, request: web.Request, session: tokens.Session) -> bool:
        return tokens.here_ok(session, request.cookies.get(HERE_COOKIE), self.now())
