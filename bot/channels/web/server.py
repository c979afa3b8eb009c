"""The web channel's application: its parts' routes on one aiohttp application, and `ipsbot web`.

Each part of the channel is a module with `routes(site)`: the pages that read (`reading`), a resume
link (`resume`), the answers (`answering`), one's own data (`mydata`) and the Telegram Mini App
(`miniapp`). `PARTS` is the one place they are added; the staff area (`staff/`, its own sessions and
pages) is added beside them.
They share one `site.Site` (sessions, page assembly, the checks before a POST acts), and every response
passes the middleware (`middleware.guard`): security headers, error pages. There is no access log
(paths can hold a resume token).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from bot.app import App
from bot.channels.web import answering, miniapp, mydata, reading, resume, staff
from bot.channels.web.middleware import MAX_REQUEST, guard
from bot.channels.web.site import Site
from bot.settings import Settings

Part = Callable[[Site], Sequence[web.AbstractRouteDef]]
PARTS: tuple[Part, ...] = (reading.routes, resume.routes, answering.routes, mydata.routes, miniapp.routes)


class WebChannel:
    """The web form and the Mini App on an aiohttp application (its own, or the Telegram webhook's)."""

    def __init__(self, app: App, settings: Settings, parts: Sequence[Part] = PARTS) -> None:
        self.app = app
        self.settings = settings
        self.site = Site(app, settings)
        self.parts = tuple(parts)

    def add_routes(self, web_app: web.Application) -> None:
        web_app.middlewares.append(guard(self.site.pages.problem, self.site.language))
        for part in self.parts:
            web_app.router.add_routes(part(self.site))
        staff.add_routes(web_app, self.app, self.settings)  # the staff area (/staff), with its own sessions

    def application(self) -> web.Application:
        web_app = web.Application(client_max_size=MAX_REQUEST)
        self.add_routes(web_app)
        return web_app


async def serve(app: App, settings: Settings, stopping: Any, started: Any = None) -> None:
    """`ipsbot web`: the pages on WEB_HOST:WEB_PORT until `stopping` is set; `started` set once listening."""
    channel = WebChannel(app, settings)
    runner = web.AppRunner(channel.application(), access_log=None)  # paths can hold a resume token
    await runner.setup()
    await web.TCPSite(runner, settings.web_host, settings.web_port).start()
    if started is not None:
        started.set()
    try:
        await stopping.wait()
    finally:
        await runner.cleanup()
