"""A resume link, `/r/<token>`: whoever holds it can continue that intake, after saying so on this device.

The GET asks first and sets no cookie; the POST gives this device a new token, and the link used stops
working (a link someone else planted or saw is dead once used). An intake on this device is never
replaced without asking.
"""

from __future__ import annotations

from aiohttp import web

from bot.channels.web import pages, tokens
from bot.channels.web.middleware import BadRequest, read_form
from bot.channels.web.site import Site
from locales import Translator


def routes(site: Site) -> list[web.RouteDef]:
    part = Resume(site)
    return [web.get("/r/{token}", part.resume_link), web.post("/r/{token}", part.resume)]


def link_token(request: web.Request) -> str:
    token = request.match_info["token"]
    if not token.isascii():  # not a link we made (a MAC of other characters): cannot be read
        raise BadRequest()
    return token


class Resume:
    def __init__(self, site: Site) -> None:
        self.site = site

    async def resume_link(self, request: web.Request) -> web.Response:
        """`/r/<token>`: asks before this device takes the intake over (a GET sets no cookie)."""
        site = self.site
        session = tokens.parse(link_token(request), site.sessions.now())
        if site.gate.limited(request, session):
            return site.pages.problem(request, "web.rate_limited", 429)
        current = await site.current(session) if session is not None and session.kind == "w" else None
        if session is None or current is None:
            return site.pages.problem(request, "web.expired", 410)
        t = Translator(current.lang)
        texts = [t("web.resume.ask")]
        here = site.sessions.cookie(request)
        if here is not None and here.kind == "w" and here.ident != session.ident:
            other = await site.current(here)
            if other is not None and other.active:
                texts.append(t("web.resume.replaces"))  # never replaced without asking
        form = pages.button_form(f"/r/{request.match_info['token']}", {"csrf": tokens.csrf_token(session)},
                                 t("web.resume.continue"))
        body = pages.plain(current.lang, t("web.title"), texts, forms=form,
                           programme=str(current.state.get("programme") or ""))
        return site.pages.respond(request, body)

    async def resume(self, request: web.Request) -> web.StreamResponse:
        """The person said "continue here": a new token for this device; the link used stops working."""
        site = self.site
        form = await read_form(request)
        session = tokens.parse(link_token(request), site.sessions.now())
        if site.gate.limited(request, session):
            return site.pages.problem(request, "web.rate_limited", 429)
        if site.gate.same_origin(request) is False or session is None or session.kind != "w" \
                or not tokens.csrf_ok(session, str(form.get("csrf", ""))):
            return site.pages.problem(request, "web.csrf", 403, await site.language(request))
        if await site.current(session) is None:  # erased or withdrawn: the token is dead
            return site.pages.problem(request, "web.expired", 410)
        rotated = await site.rotate(session)
        response = web.Response(status=303, headers={"Location": "/f"})  # the token leaves the address bar
        site.sessions.set_cookie(request, response, tokens.renewed(rotated, site.sessions.now()),
                                 int(tokens.WEB_SESSION.total_seconds()))
        site.sessions.mark_here(request, response, rotated)  # they just said "continue here"
        return response
