"""The Telegram Mini App: the same form inside Telegram, on the same intake as the chat.

Its first page loads Telegram's script (the only page that may), which posts the signed init data to
`/tg/auth`. Only init data whose signature checks with the bot token opens a session, and nothing of
the page's own claims about the user is read.
"""

from __future__ import annotations

from aiohttp import web

from bot.channels.web import pages, tokens
from bot.channels.web.assembly import Shown
from bot.channels.web.middleware import TELEGRAM_PAGE, read_form
from bot.channels.web.sessions import person
from bot.channels.web.site import Site
from locales import LANGUAGES, Translator


def routes(site: Site) -> list[web.RouteDef]:
    part = MiniApp(site)
    return [web.get("/tg", part.telegram_page), web.post("/tg/auth", part.telegram_auth)]


class MiniApp:
    def __init__(self, site: Site) -> None:
        self.site = site

    async def telegram_page(self, request: web.Request) -> web.Response:
        """The Mini App's first page: its script posts Telegram's signed init data to `/tg/auth`."""
        request[TELEGRAM_PAGE] = True
        lang = request.query.get("lang", "en")
        lang = lang if lang in LANGUAGES else "en"
        t = Translator(lang)
        programme = request.query.get("p", "")
        body = (f'<form id="tg-auth" method="post" action="/tg/auth"><input type="hidden" name="init_data" value="">'
                f'<input type="hidden" name="p" value="{pages.esc(programme[:40])}">'
                f'<p>{pages.esc(t("web.telegram.opening"))}</p></form>')
        return self.site.pages.respond(request, pages.render(pages.Page(lang, t("web.title"), actions=False, body=body,
                                                                        telegram=True, help_link=False)))

    async def telegram_auth(self, request: web.Request) -> web.Response:
        site = self.site
        try:
            form = await read_form(request)
        except web.HTTPRequestEntityTooLarge:
            return site.pages.problem(request, "web.too_large", 413)
        if not site.gate.per_address.allow(site.gate.address(request)):
            return site.pages.problem(request, "web.rate_limited", 429)
        if site.gate.same_origin(request) is False:
            return site.pages.problem(request, "web.telegram.refused", 403)
        token = site.settings.bot_token.get_secret_value() if site.settings.bot_token else ""
        session = tokens.telegram_session(token, str(form.get("init_data", "")), site.sessions.now()) \
            if token else None
        if session is None:  # forged, stale, or not from Telegram at all: nothing about the page's claims is used
            return site.pages.problem(request, "web.telegram.refused", 403)
        current = await site.current(session)
        if current is None or not current.active:  # none under way: as /start in the chat
            programme = str(form.get("p", ""))[:40] or None
            return site.pages.page(request, session, Shown.after(await site.app.intake.start(person(session),
                                                                                              programme)))
        return site.pages.page(request, session, Shown.of(current))
