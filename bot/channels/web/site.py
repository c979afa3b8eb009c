"""What every part of the web channel shares: the app, the session and page helpers, and the checks a
request passes before it may read or change an intake.

Every answer goes to `IntakeService.answer`, one transaction each, exactly as the chat's do; the
current intake is read through `bot.services.current`, as the chat reads it. A POST acts only after
the size, origin, rate and CSRF checks (`checked`); one refused still gets crisis help first for a
risk answer on it, stored too if the request provably comes from our page and the cookie's intake
(H1). An intake found by cookie is not shown before the person here says it is theirs
(`whose_first`); a finished one ends the session on the device.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot.app import App
from bot.channels.web import tokens
from bot.channels.web.assembly import Pages, Shown, browser_language, instrument_of
from bot.channels.web.middleware import Gate, read_form
from bot.channels.web.sessions import ROTATED, Sessions, person
from bot.services.current import Current, CurrentScreens
from bot.services.intake import IntakeResult
from bot.settings import Settings
from flows import instruments
from flows.answers import Answer
from locales import LANGUAGES


def chosen_on(instrument: instruments.Instrument, form: MultiDictProxy[Any]) -> dict[str, str]:
    """The page's radio answers (item step -> score), each one of its own item's answers (MANSA's
    yes/no items have 1 and 0, its ratings 1-7); anything else is left out."""
    given = {}
    for item in instrument.items:
        key = f"{instrument.id}.{item.id}"
        value = str(form.get(key, ""))
        if value in {str(o.score) for o in instrument.options_of(item)}:
            given[key] = value
    return given


def risky_on(form: MultiDictProxy[Any]) -> dict[str, str]:
    """The page's answers if one of them is a risk answer (a questionnaire page's items), else nothing."""
    instrument = instrument_of(str(form.get("step", "")))
    given = chosen_on(instrument, form) if instrument is not None else {}
    return given if any(instruments.risk_signal(k, v) for k, v in given.items()) else {}


class Site:
    """The web channel's shared parts; each group of routes gets this one object."""

    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.sessions = Sessions(settings, app.clock)
        self.gate = Gate(settings)
        self.pages = Pages(app, self.sessions)
        self.screens = CurrentScreens(app.uow, app.flow, app.clock)

    # --- reading and answering -----------------------------------------------------------------

    async def current(self, session: tokens.Session) -> Current | None:
        """The session's intake as stored (none, or one withdrawn: nothing to show)."""
        return await self.screens.current(person(session))

    async def language(self, request: web.Request) -> str:
        """The person's language for an error page: the asked one, their intake's, their browser's, or English."""
        asked = request.query.get("lang") or request.query.get("hl")
        if asked in LANGUAGES:
            return asked
        session = self.sessions.cookie(request)
        if session is not None and session.kind == "w":
            try:
                current = await self.current(session)
            except Exception:  # an error page must not fail on its way out
                current = None
            if current is not None:
                return current.lang
        return browser_language(request)

    async def feed(self, request: web.Request, session: tokens.Session, answer: Answer) -> IntakeResult:
        """One answer to the service; a consent rotates the resume token (a planted link stops here)."""
        session = request.get(ROTATED, session)
        outcome = await self.app.intake.answer(person(session), answer)
        # what went to staff (an urgent referral, a claim's notice) goes now, not on the clocks' next round
        self.app.wake({i: outcome.payloads[i] for i in outcome.others if i in outcome.payloads})
        if session.kind == "w" and any(e.kind == "consent" for e in outcome.events):
            request[ROTATED] = await self.rotate(session)
        return outcome

    async def rotate(self, session: tokens.Session) -> tokens.Session:
        """A new resume token for the same person; the old one stops working at once."""
        rotated = tokens.new_session("w", self.sessions.now())
        async with self.app.uow() as uow:
            candidate = await uow.candidates.find("web", session.external_id)
            if candidate is None:
                return session
            await uow.candidates.rekey(candidate, "web", rotated.external_id)
        return rotated

    # --- the checks before a page is shown or a POST acts ---------------------------------------

    def whose_first(self, request: web.Request, session: tokens.Session, current: Current) -> web.Response | None:
        """On a device where the person has not said lately that the intake is theirs: "whose is it?"
        first (a finished intake's short visit is simply over); None when it is theirs."""
        if session.kind != "w" or self.sessions.here(request, session):
            return None
        if not current.active:
            return self.pages.problem(request, "web.expired", 410, forget=True)
        return self.pages.ask_whose(request, session, Shown.of(current), str(current.state.get("programme") or ""),
                                    None)

    async def found_here(self, request: web.Request) -> tuple[tokens.Session, Current] | web.Response:
        """The cookie's intake, for a GET that would show it: asked "Continue as Ana?" first unless the
        person here said, or showed by answering, that it is theirs in the last half hour."""
        session = self.sessions.cookie(request)
        if self.gate.limited(request, session):
            return self.pages.problem(request, "web.rate_limited", 429)
        current = await self.current(session) if session is not None and session.kind == "w" else None
        if session is None or current is None:
            return self.pages.problem(request, "web.expired", 410)
        asked = self.whose_first(request, session, current)
        return asked if asked is not None else (session, current)

    async def checked(self, request: web.Request) -> tuple[tokens.Session, MultiDictProxy[Any]] | web.Response:
        """The form and its session, after the size, origin, rate and CSRF checks; or the refusal."""
        try:
            form = await read_form(request)
        except web.HTTPRequestEntityTooLarge:
            return self.pages.problem(request, "web.too_large", 413, await self.language(request))
        session = self.sessions.posted(request, form)
        if self.gate.limited(request, session):  # a risk answer still gets crisis help first (nothing stored)
            return await self.refused(request, form, "web.rate_limited", 429)
        if self.gate.same_origin(request) is False:  # a form on another site: login CSRF, a planted session
            return await self.refused(request, form, "web.csrf", 403)
        if session is None:
            return await self.refused(request, form, "web.expired", 410)
        if not tokens.csrf_ok(session, str(form.get("csrf", ""))):
            # the page was not made for this cookie's session (another person's old page on a shared
            # phone): crisis help first, but nothing stored in the intake the cookie names
            return await self.refused(request, form, "web.csrf", 403)
        return session, form

    async def posted_intake(self, request: web.Request) -> tuple[tokens.Session, Current] | web.Response:
        """A POST's session and its stored intake; a session that stored nothing, or was erased, acts on nothing."""
        checked = await self.checked(request)
        if isinstance(checked, web.Response):
            return checked
        session, form = checked
        current = await self.current(session) if session.kind != "n" else None
        if current is None:
            return await self.refused(request, form, "web.expired", 410)
        asked = self.whose_first(request, session, current)  # an old page on a shared phone
        return asked if asked is not None else (session, current)

    async def refused(self, request: web.Request, form: MultiDictProxy[Any], msgid: str, status: int,
                      session: tokens.Session | None = None) -> web.Response:
        """A POST refused (expired, out of date, from another site). A risk answer on it still gets
        crisis help first; stored too, if the request provably comes from our page and the cookie's intake."""
        lang = str(form.get("hl", ""))
        lang = lang if lang in LANGUAGES else await self.language(request)
        risky = risky_on(form)
        if not risky:
            return self.pages.problem(request, msgid, status, lang)
        state: dict[str, Any] | None = None
        if session is not None and session.kind in ("w", "t") and self.gate.same_origin(request):
            await self.app.intake.note_risks(person(session), risky)
            current = await self.current(session)
            state = current.state if current is not None else None
        programme = self.app.registry.get(str(form.get("p", ""))[:40]) if state is None else \
            self.app.registry.get(state.get("programme"))
        if programme is None:
            return self.pages.problem(request, msgid, status, lang, notices=[self.pages.all_crisis(lang)])
        if state is None:
            state = self.app.flow.begin(programme.id, lang).state
        crisis = self.pages.crisis(state, lang)
        return self.pages.problem(request, msgid, status, lang, notices=[crisis], programme=programme.id)
