"""The pages that read: a programme's first question, the form of this device, "Help now", the static
files; and the two answers to "whose is it?" (continue here, or start as someone new).

A GET changes nothing. `/p/<programme>` stores nothing until the first answer, and an intake under
way on this device is not shown before the person says it is theirs; a finished one is never continued.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from bot.channels.web import pages, tokens
from bot.channels.web.assembly import Shown
from bot.channels.web.site import Site
from flows.screens import Screen, Tone
from flows.state import State
from locales import LANGUAGES, Translator

STATIC = Path(__file__).parent / "static"


def routes(site: Site) -> list[web.RouteDef]:
    part = Reading(site)
    return [web.get("/p/{programme}", part.start), web.post("/new", part.start_as_someone_new),
            web.post("/continue", part.continue_here), web.get("/f", part.form), web.get("/help", part.help_page),
            web.get("/static/{name}", part.static)]


class Reading:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.app = site.app

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ("app.css", "app.js"):
            raise web.HTTPNotFound()
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        response = web.Response(body=(STATIC / name).read_bytes(), content_type=kind, charset="utf-8")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    async def start(self, request: web.Request) -> web.Response:
        """`/p/<programme>`: the first question, storing nothing; an intake under way on this device is
        not shown before the person says it is theirs; a finished one is never continued."""
        site = self.site
        programme = self.app.registry.get(request.match_info["programme"].lower())
        lang = request.query.get("lang")
        lang = lang if lang in LANGUAGES else None
        if programme is None:
            return site.pages.problem(request, "start.unknown_programme", 404, lang)
        session = site.sessions.cookie(request)
        if site.gate.limited(request, session):
            return site.pages.problem(request, "web.rate_limited", 429, lang or programme.default_language)
        if session is not None and session.kind == "w":
            current = await site.current(session)
            if current is not None and current.active:
                return site.pages.ask_whose(request, session, Shown.of(current), programme.id, lang)
        if session is None or session.kind != "n":
            session = tokens.new_session("n", site.sessions.now())
        return site.pages.first_page(request, session, programme.id, lang)

    async def start_as_someone_new(self, request: web.Request) -> web.Response:
        """"Start as someone new" on a device that holds someone's intake: a new, empty session here.
        The other intake is left as it is (its owner has their link)."""
        checked = await self.site.checked(request)
        if isinstance(checked, web.Response):
            return checked
        _, form = checked
        programme = self.app.registry.get(str(form.get("p", ""))[:40])
        if programme is None:
            return self.site.pages.problem(request, "start.unknown_programme", 404)
        lang = str(form.get("hl", ""))
        return self.site.pages.first_page(request, tokens.new_session("n", self.site.sessions.now()), programme.id,
                                          lang if lang in LANGUAGES else None)

    async def form(self, request: web.Request) -> web.Response:
        """`/f`: the intake of this device, if the person here has said it is theirs in the last half hour
        (a kiosk's history holds this address); otherwise they are asked first."""
        found = await self.site.found_here(request)
        if isinstance(found, web.Response):
            return found
        session, current = found
        return self.site.pages.page(request, session, Shown.of(current))

    async def continue_here(self, request: web.Request) -> web.StreamResponse:
        """"Continue as Ana": the person here says the intake is theirs; then its page."""
        checked = await self.site.checked(request)
        if isinstance(checked, web.Response):
            return checked
        session, _ = checked
        if session.kind != "w" or await self.site.current(session) is None:
            return self.site.pages.problem(request, "web.expired", 410)
        response = web.Response(status=303, headers={"Location": "/f"})
        self.site.sessions.mark_here(request, response, session)
        return response

    async def help_page(self, request: web.Request) -> web.Response:
        """"Help now": the crisis lines of the programme (per region, and per age once it is known);
        without a programme, every programme's. Reads only."""
        lang = request.query.get("lang")
        lang = lang if lang in LANGUAGES else "en"
        t = Translator(lang)
        programme = self.app.registry.get(request.query.get("p", "").lower()[:40])
        state = await self._own_state(request, programme.id if programme is not None else None, lang)
        chosen = [programme] if programme is not None else self.app.registry.all()
        parts = [t("web.help_now.intro")]
        for each in chosen:
            lines_state = state if state is not None else {**self.app.flow.begin(each.id, lang).state, "lang": lang}
            parts.append((each.name(lang) + "\n" if programme is None else "")
                         + self.app.flow.screens.crisis_lines(State.from_dict(lines_state), t))
        body = pages.render(pages.Page(lang, t("web.help_now"), actions=False, help_link=False,
                                       programme=programme.id if programme else "",
                                       notices=[Screen("\n\n".join(parts), tone=Tone.CRISIS)]))
        return self.site.pages.respond(request, body)

    async def _own_state(self, request: web.Request, programme: str | None, lang: str) -> dict[str, Any] | None:
        """The person's own state (their region and age), only for the person here: on a shared phone the
        next one would learn the last one's age band; for anyone else, None (the lines shown to everyone)."""
        session = self.site.sessions.cookie(request)
        if session is None or session.kind != "w" or not self.site.sessions.here(request, session):
            return None
        current = await self.site.current(session)
        if current is None or (programme is not None and current.state.get("programme") != programme):
            return None
        return {**current.state, "lang": lang}
