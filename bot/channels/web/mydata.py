"""A person's own data: see it (`/mydata`, and the file `/mydata.json`), and delete it (`/delete`).

Reading changes nothing, so a plain link may open the pages (asked "whose is it?" first, as `/f`);
each says whose answers it shows or would erase before it acts. The file and the erasure are POSTs,
after the CSRF check, as `/mydata` and `/delete` are in the chat.
"""

from __future__ import annotations

import json

from aiohttp import web

from bot.channels.web import pages, tokens
from bot.channels.web.assembly import Shown
from bot.channels.web.site import Site
from bot.services.current import Current
from flows.answers import Command
from flows.screens import Screen
from flows.state import State
from locales import Translator


def routes(site: Site) -> list[web.RouteDef]:
    part = MyData(site)
    return [web.get("/mydata", part.my_data_page), web.post("/mydata", part.my_data),
            web.post("/mydata.json", part.my_data_file),
            web.get("/delete", part.delete_page), web.post("/delete", part.delete)]


class MyData:
    def __init__(self, site: Site) -> None:
        self.site = site

    async def my_data_page(self, request: web.Request) -> web.Response:
        """`/mydata` as a page: reading changes nothing, so a plain link may open it (asked first, as `/f`)."""
        found = await self.site.found_here(request)
        if isinstance(found, web.Response):
            return found
        return self._my_data(request, *found)

    async def my_data(self, request: web.Request) -> web.Response:
        found = await self.site.posted_intake(request)
        if isinstance(found, web.Response):
            return found
        return self._my_data(request, *found)

    def _my_data(self, request: web.Request, session: tokens.Session, current: Current) -> web.Response:
        """What is stored, shown without changing anything, and whose it is; the file one press away."""
        state = State.from_dict(current.state)
        t = Translator(state.lang)
        shown = Shown(current.state, [self.site.app.flow.screens.my_data(state), *current.screens],
                      started=current.started)
        shown.notices = [self.site.pages.whose(shown), Screen(t("web.mydata.file_hint"))]
        now = self.site.sessions.now()
        form = pages.button_form("/mydata.json", {"s": tokens.renewed(session, now) if session.kind == "t"
                                                  else "", "csrf": tokens.csrf_token(session)}, t("web.mydata.file"))
        response = self.site.pages.page(request, session, shown)
        response.text = (response.text or "").replace("</main>", form + "</main>", 1)
        return response

    async def my_data_file(self, request: web.Request) -> web.StreamResponse:
        found = await self.site.posted_intake(request)
        if isinstance(found, web.Response):
            return found
        outcome = await self.site.feed(request, found[0], Command("mydata"))
        response = web.Response(body=json.dumps(outcome.personal_data or {}, ensure_ascii=False, indent=2),
                                content_type="application/json", charset="utf-8")
        response.headers["Content-Disposition"] = 'attachment; filename="ipsbot-mydata.json"'
        return response

    async def delete_page(self, request: web.Request) -> web.Response:
        """`/delete` as a page: says whose answers would go, and asks; a GET changes nothing (asked first, as `/f`)."""
        found = await self.site.found_here(request)
        if isinstance(found, web.Response):
            return found
        session, current = found
        t = Translator(current.lang)
        form = pages.button_form("/delete", {"csrf": tokens.csrf_token(session)}, t("web.delete"))
        body = pages.plain(current.lang, t("web.title"), [self.site.pages.whose(Shown.of(current)).text],
                           forms=form, programme=str(current.state.get("programme") or ""))
        return self.site.pages.respond(request, body, session)

    async def delete(self, request: web.Request) -> web.Response:
        found = await self.site.posted_intake(request)
        if isinstance(found, web.Response):
            return found
        session, current = found
        outcome = await self.site.feed(request, session, Command("delete"))
        shown = Shown.after(outcome, [self.site.pages.whose(Shown.of(current))])  # whose answers "yes" would erase
        return self.site.pages.page(request, session, shown)
