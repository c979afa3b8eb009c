"""What every request passes: security headers, error pages, body size, origin and rate limits.

A strict Content-Security-Policy (Telegram's script only on the Mini App page; framing only by
Telegram), `Cache-Control: no-store`, size limits on the request and on every field, rate limits per
address and per session. No request makes the server fail: what cannot be read is a 400 page in the
person's language, anything unforeseen a 500 page, and every response, errors included, carries the
security headers. The CSRF token itself is checked where a POST is read (`site.Site.checked`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import MultiDictProxy

from bot.channels.web import tokens
from bot.settings import Settings

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024  # bytes of one form; a longer body is refused before it is read
FRAMERS = "https://web.telegram.org"
TELEGRAM_PAGE = web.RequestKey("telegram", bool)  # this response may load Telegram's script
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Problem = Callable[[web.Request, str, int, str | None], web.Response]  # an error page: msgid, status, language
Language = Callable[[web.Request], Awaitable[str]]


class BadRequest(Exception):
    """A request that cannot be read (a broken body, a number out of range): a 400 page, nothing changed."""


def csp(telegram: bool) -> str:
    script = "'self' https://telegram.org" if telegram else "'self'"
    return ("default-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            f"script-src {script}; form-action 'self'; base-uri 'none'; frame-ancestors {FRAMERS}")


def secure(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Content-Security-Policy"] = csp(request.get(TELEGRAM_PAGE, False))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def guard(problem: Problem, language: Language) -> Middleware:
    """The middleware: security headers on every response, errors included; what cannot be read is a 400
    page, and anything unforeseen a 500 page: never a traceback, never a bare error."""

    @web.middleware
    async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except BadRequest:
            response = problem(request, "web.bad_request", 400, await language(request))
        except web.HTTPException as exc:  # the router's 404 and 405, a 413
            if exc.status < 400:
                raise
            msgid = {404: "web.not_found", 413: "web.too_large"}.get(exc.status, "web.bad_request")
            response = problem(request, msgid, exc.status, await language(request))
            if "Allow" in exc.headers:  # a 405 says which methods the address takes
                response.headers["Allow"] = exc.headers["Allow"]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("web request failed")  # the traceback names code, not what was sent
            response = problem(request, "web.failed", 500, None)
        return secure(request, response)

    return guarded


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form; a body that cannot be read (a bad multipart boundary, invalid UTF-8) is a 400."""
    try:
        return await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise
    except Exception as exc:
        raise BadRequest() from exc


def version_of(form: MultiDictProxy[Any]) -> int | None:
    """The page's question version; None unless a short run of ASCII digits ("²" is a digit to Python)."""
    version = str(form.get("version", ""))
    return int(version) if version.isascii() and version.isdigit() and len(version) <= 9 else None


class Gate:
    """Where a request comes from, and how often: the origin check and the rate limits."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.per_address = tokens.RateLimit(settings.web_rate_per_address)
        self.per_session = tokens.RateLimit(settings.web_rate_per_session)

    def same_origin(self, request: web.Request) -> bool | None:
        """True if the browser says this request comes from our own pages, False if from another site,
        None if it says nothing (not a browser: the cookie binding and the CSRF token still hold)."""
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None:
            return site in ("same-origin", "none")
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        ours = {request.host, urlsplit(self.settings.web_url or "").netloc} - {""}
        try:
            return urlsplit(origin).netloc in ours
        except ValueError:  # "http://[": not an origin of ours
            return False

    def address(self, request: web.Request) -> str:
        if self.settings.web_trust_proxy:  # behind the README's reverse proxy: its last hop is the client
            forwarded = request.headers.get("X-Forwarded-For", "")
            if forwarded:
                return forwarded.split(",")[-1].strip()
        return request.remote or "?"

    def limited(self, request: web.Request, session: tokens.Session | None) -> bool:
        if not self.per_address.allow(self.address(request)):
            return True
        return session is not None and not self.per_session.allow(f"{session.kind}.{session.ident}")
