"""The staff web area (`/staff`): passkey sign-in, and the consultant's, peer's and coordinator's pages.

`add_routes(web_app, app, settings)` is the one call the web application makes. The pages share the
form's guard (security headers, error pages); this package sets its own Content-Security-Policy when
the response is prepared: no framing at all, and the dashboard's chart drawings may carry the style
attributes matplotlib writes (no script, no inline `<style>` anywhere).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.app import App
from bot.channels.web.staff import mail
from bot.channels.web.staff.auth import Auth
from bot.channels.web.staff.operator import Operator
from bot.channels.web.staff.peer import Peer
from bot.channels.web.staff.roles import Roles
from bot.channels.web.staff.team import Team
from bot.settings import Settings

STATIC = Path(__file__).parent / "static"
FILES = {"staff.js": "text/javascript", "staff.css": "text/css"}


def csp(path: str) -> str:
    attrs = " style-src-attr 'unsafe-inline';" if path == "/staff/dashboard" else ""
    return ("default-src 'none'; style-src 'self';" + attrs + " img-src 'self'; connect-src 'self'; "
            "script-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/staff" or request.path.startswith("/staff/"):
        response.headers["Content-Security-Policy"] = csp(request.path)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        # the guard sets these on what a handler returns; a raised redirect passes it by
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # a sign-in link's token stays on its page


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in FILES:
        raise web.HTTPNotFound()
    return web.Response(body=(STATIC / name).read_bytes(), content_type=FILES[name], charset="utf-8")


def add_routes(web_app: web.Application, app: App, settings: Settings) -> None:
    router = web_app.router
    router.add_get("/staff/static/{name}", _static)
    for part in (Auth(app, settings), Roles(app, settings), Peer(app, settings), Team(app, settings),
                 Operator(app, settings)):
        part.add_routes(router)
    web_app.on_response_prepare.append(_headers)
    mail.start_with(web_app, app, settings)  # e-mail to staff without Telegram (SMTP_URL)
