"""The staff area's request handling: who is signed in (checked on every request), CSRF, language, refusals.

A session cookie (`COOKIE`) holds only a random value; the service (`bot/services/staff_sessions.py`)
finds and checks it against the database on every request. Before sign-in a browser holds a random
`PRE_COOKIE`, so the sign-in forms have a CSRF token too. Every POST needs the token of the browser's
own session and a same-origin request; every refusal is audited.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from multidict import MultiDictProxy

from bot.app import App
from bot.channels.web.staff import html
from bot.services import staff_sessions as sessions
from bot.services.staff_sessions import SignedIn
from bot.settings import Settings
from locales import LANGUAGES, Translator, normalise
from storage.crypto import keyed_hash
from storage.repositories import UnitOfWork

COOKIE = "ipsbot_staff"
# with an https WEB_URL: a name no sibling site (Domain=) or plain-http answer can set, so no cookie of an
# attacker's (Path=/) can shadow the one a sign-in sets (a server reads the last of two, a browser sends
# the longer path first); such a cookie must have Path=/
HOST_COOKIE = "__Host-" + COOKIE
SESSION_AGE = int(sessions.ABSOLUTE.total_seconds())
PRE_COOKIE = "ipsbot_staff_pre"
MAX_JSON = 32 * 1024


class Refused(Exception):
    """A request this browser may not make: answered with `status`, audited by whoever raises it."""

    def __init__(self, status: int, msgid: str = "staff.web.refused") -> None:
        super().__init__(msgid)
        self.status, self.msgid = status, msgid


def csrf_of(value: str) -> str:
    return keyed_hash(f"staff-csrf:{value}")[:32]


def see(location: str) -> web.Response:
    """A 303 to `location` (returned, so that the unit of work around it still commits)."""
    return web.Response(status=303, headers={"Location": location})


class Area:
    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def now(self) -> datetime:
        return self.app.clock.now()

    # --- what the browser is ----------------------------------------------------------------

    def base(self, request: web.Request) -> str:
        return (self.settings.web_url or f"{request.scheme}://{request.host}").rstrip("/")

    def rp_id(self, request: web.Request) -> str:
        return urlsplit(self.base(request)).hostname or "localhost"

    def language(self, request: web.Request, signed: SignedIn | None = None) -> str:
        asked = request.query.get("lang")
        if asked in LANGUAGES:
            return asked
        if signed is not None:
            return normalise(signed.staff.language)
        for part in request.headers.get("Accept-Language", "").split(","):
            code = part.split(";")[0].strip().lower()[:2]
            if code in LANGUAGES:
                return code
        return "en"

    def same_origin(self, request: web.Request) -> bool:
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None:
            return site in ("same-origin", "none")
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser: the cookie and the CSRF token still hold
        try:
            return urlsplit(origin).netloc in {request.host, urlsplit(self.base(request)).netloc} - {""}
        except ValueError:
            return False

    def set_cookie(self, request: web.Request, response: web.StreamResponse, name: str, value: str,
                   max_age: int) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/staff", httponly=True, samesite="Strict",
                            secure=self.base(request).startswith("https://"))

    def session_cookie(self, request: web.Request) -> str:
        return HOST_COOKIE if self.base(request).startswith("https://") else COOKIE

    def session_value(self, request: web.Request) -> str:
        """The browser's staff session value ("" if none): only ever checked against the database."""
        return request.cookies.get(self.session_cookie(request), "")

    def set_session(self, request: web.Request, response: web.StreamResponse, raw: str | None) -> None:
        """The session cookie set to `raw` (a new sign-in), or removed (None)."""
        name = self.session_cookie(request)
        path, secure = ("/", True) if name == HOST_COOKIE else ("/staff", False)
        if raw is None:
            response.del_cookie(name, path=path, secure=secure, httponly=True, samesite="Strict")
        else:
            response.set_cookie(name, raw, max_age=SESSION_AGE, path=path, httponly=True, samesite="Strict",
                                secure=secure)

    def pre_value(self, request: web.Request) -> str:
        value = request.cookies.get(PRE_COOKIE, "")
        return value if 20 <= len(value) <= 64 and value.isascii() else ""

    def pre_csrf(self, request: web.Request) -> tuple[str, str]:
        """The pre-sign-in value (new if the browser has none) and its CSRF token."""
        value = self.pre_value(request) or secrets.token_urlsafe(24)
        return value, csrf_of(f"pre:{value}")

    # --- checks -----------------------------------------------------------------------------

    async def refuse(self, uow: UnitOfWork, request: web.Request, signed: SignedIn | None, why: str) -> None:
        actor = f"staff:{signed.staff.id}" if signed is not None else "web:unknown"
        await uow.audit.record(actor=actor, action="staff.web.denied", at=self.now(),
                               detail=f"{request.method} {request.path}|{why}"[:120])

    async def signed(self, uow: UnitOfWork, request: web.Request, roles: Sequence[str]) -> SignedIn:
        """The checked session of this request in a role of `roles`; raises `Refused` (audited) otherwise."""
        signed = await sessions.current(uow, self.session_value(request), self.now())
        if signed is None:
            await self.refuse(uow, request, None, "no session")
            raise Refused(401, "staff.web.signed_out")
        if signed.staff.role not in roles:
            await self.refuse(uow, request, signed, f"role {signed.staff.role}")
            raise Refused(403)
        return signed

    async def posted(self, uow: UnitOfWork, request: web.Request, roles: Sequence[str]
                     ) -> tuple[SignedIn, MultiDictProxy[Any]]:
        """A signed-in POST: same origin, and the CSRF token of this session."""
        signed = await self.signed(uow, request, roles)
        form = await self.form(request)
        given = str(form.get("csrf", ""))
        if not self.same_origin(request) or not hmac.compare_digest(given.encode(), self.csrf(request).encode()):
            await self.refuse(uow, request, signed, "csrf")
            raise Refused(403)
        return signed, form

    def csrf(self, request: web.Request) -> str:
        return csrf_of(f"s:{self.session_value(request)}")

    @staticmethod
    async def form(request: web.Request) -> MultiDictProxy[Any]:
        try:
            return await request.post()
        except web.HTTPException:
            raise
        except Exception as exc:  # a body that cannot be read: the guard's 400 page, nothing changed
            raise web.HTTPBadRequest() from exc

    @staticmethod
    async def json_body(request: web.Request) -> dict[str, Any]:
        raw = await request.content.read(MAX_JSON + 1)
        try:
            body = json.loads(raw) if len(raw) <= MAX_JSON else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest()  # the guard's 400 page, nothing changed
        return body

    # --- answers ----------------------------------------------------------------------------

    def respond(self, body: str, status: int = 200) -> web.Response:
        return web.Response(text=body, content_type="text/html", charset="utf-8", status=status)

    def problem(self, request: web.Request, refused: Refused) -> web.StreamResponse:
        if refused.status == 401 and request.method == "GET":  # returned, not raised: the refusal is committed
            return see("/staff/login")
        lang = self.language(request)
        t = Translator(lang)
        body = (f'<p>{html.esc(t(refused.msgid))}</p>'
                f'<p><a href="/staff/login">{html.esc(t("staff.web.sign_in"))}</a></p>')
        return self.respond(html.page(lang, t("staff.web.refused_title"), body), refused.status)

    def signed_page(self, request: web.Request, signed: SignedIn, title: str, body: str, *,
                    status_line: str = "", script: bool = False) -> web.Response:
        lang = self.language(request, signed)
        return self.respond(html.page(lang, title, body, csrf=self.csrf(request), role=signed.staff.role,
                                      status_line=status_line, script=script))
