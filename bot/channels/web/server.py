"""The web channel's routes (aiohttp): start, resume, answer, language, my data, delete, Mini App.

Every answer goes to `IntakeService.answer`, one transaction each, exactly as the chat's do; this
module only turns form fields into `Tap`/`Text`/`Command` and outcomes into pages. A questionnaire
page feeds its items to the service one by one, in order, in one request (the flow scores, flags
risk and triages; nothing of that is repeated here). Its risk answers go to the service first of all
(`IntakeService.note_risks`): the flow reaches an item only after the ones before it, so a risk answer
after an item left out, with "back", or on an old page would otherwise not be stored (H1).

Safety: a CSRF token in every form, a strict Content-Security-Policy (Telegram's script only on the
Mini App page; framing only by Telegram), size limits on the request and on every field, rate limits
per address and per session, no access log (paths can hold a resume token), `Cache-Control: no-store`.

Sessions (docs/security.md, T36 to T38): a browser's POST acts on the session of its cookie only
(a Mini App's on the signed session its form carries), and a cross-site POST is refused, so a planted
link or form cannot log someone into another person's intake. A browser that has answered nothing
holds a session that stands for no one (`n`): opening a programme's link stores nothing. The resume
token rotates when the person consents and when a resume link is used; a resume link asks before it
takes over a device. An active intake found by cookie is not shown before the person says it is
theirs; a finished one ends the session on the device. A GET changes nothing. No request makes the
server fail: what cannot be read is a 400 page in the person's language, and every response,
errors included, carries the security headers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from multidict import MultiDictProxy

from bot.app import App
from bot.channels.web import pages, staff, tokens
from bot.services.intake import Outcome, Person
from bot.settings import Settings
from flows import instruments
from flows.address import Address
from flows.answers import Answer, Command, Tap, Text
from flows.screens import Screen, Tone
from flows.state import State
from locales import LANGUAGES, Translator, format_when, normalise

log = logging.getLogger(__name__)

COOKIE = "ipsbot"
HERE_COOKIE = "ipsbot_here"  # the person on this device said the intake is theirs, a while ago (tokens.HERE)
MAX_REQUEST = 64 * 1024  # bytes of one form; a longer body is refused before it is read
MAX_FIELD = 16_000  # characters of one typed answer the flow is asked to judge; the flow's own limits are lower
STATIC = Path(__file__).parent / "static"
FRAMERS = "https://web.telegram.org"
TELEGRAM_PAGE = web.RequestKey("telegram", bool)  # this response may load Telegram's script
ROTATED = web.RequestKey("rotated", tokens.Session)  # the session this request moved to (stored, or rotated)
MAX_DIGITS = 1000  # digits in one typed answer: no question needs more, and int() refuses over 4,300
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


def version_of(form: MultiDictProxy[Any]) -> int | None:
    """The page's question version; None unless a short run of ASCII digits ("²" is a digit to Python)."""
    version = str(form.get("version", ""))
    return int(version) if version.isascii() and version.isdigit() and len(version) <= 9 else None


@dataclass(slots=True)
class Current:
    state: dict[str, Any]
    screens: list[Screen]
    notices: list[Screen] = field(default_factory=list)
    chosen: dict[str, str] = field(default_factory=dict)
    typed: str = ""
    gone: bool = False  # erased: the page says so, and the cookie goes
    ended: bool = False  # finished (completed or declined) by this request: the device forgets the session
    started: datetime | None = None  # when the intake began (to say whose answers a page acts on)


def asking(screens: list[Screen]) -> Screen | None:
    return next((s for s in reversed(screens) if s.asks), None)


def instrument_of(step: str) -> instruments.Instrument | None:
    iid, _, item = step.partition(".")
    if "@" in step or not item or iid not in instruments.available():
        return None
    return instruments.load(iid)


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


def any_risk(instrument: instruments.Instrument, given: dict[str, str]) -> bool:
    return any(instruments.risk_signal(k, v) for k, v in given.items() if k.partition(".")[0] == instrument.id)


class WebChannel:
    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.per_address = tokens.RateLimit(settings.web_rate_per_address)
        self.per_session = tokens.RateLimit(settings.web_rate_per_session)

    # --- wiring ------------------------------------------------------------------------------

    def add_routes(self, web_app: web.Application) -> None:
        web_app.middlewares.append(self.guard)
        r = web_app.router
        r.add_get("/p/{programme}", self.start)
        r.add_post("/new", self.start_as_someone_new)
        r.add_post("/continue", self.continue_here)
        r.add_get("/r/{token}", self.resume_link)
        r.add_post("/r/{token}", self.resume)
        r.add_get("/f", self.form)
        r.add_post("/answer", self.answer)
        r.add_post("/lang", self.language)
        r.add_get("/mydata", self.my_data_page)
        r.add_post("/mydata", self.my_data)
        r.add_post("/mydata.json", self.my_data_file)
        r.add_get("/delete", self.delete_page)
        r.add_post("/delete", self.delete)
        r.add_get("/help", self.help_page)
        r.add_get("/tg", self.telegram_page)
        r.add_post("/tg/auth", self.telegram_auth)
        r.add_get("/static/{name}", self.static)
        staff.add_routes(web_app, self.app, self.settings)  # the staff area (/staff)

    def application(self) -> web.Application:
        web_app = web.Application(client_max_size=MAX_REQUEST)
        self.add_routes(web_app)
        return web_app

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Security headers on every response, errors included; what cannot be read is a 400 page, and
        anything unforeseen a 500 page: never a traceback, never a bare error."""
        try:
            response = await handler(request)
        except BadRequest:
            response = self._problem(request, "web.bad_request", 400, await self._language(request))
        except web.HTTPException as exc:  # the router's 404 and 405, a 413
            if exc.status < 400:
                raise
            msgid = {404: "web.not_found", 413: "web.too_large"}.get(exc.status, "web.bad_request")
            response = self._problem(request, msgid, exc.status, await self._language(request))
            if "Allow" in exc.headers:  # a 405 says which methods the address takes
                response.headers["Allow"] = exc.headers["Allow"]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("web request failed")  # the traceback names code, not what was sent
            response = self._problem(request, "web.failed", 500)
        return secure(request, response)

    # --- sessions ----------------------------------------------------------------------------

    def _now(self) -> Any:
        return self.app.clock.now()

    def _cookie(self, request: web.Request) -> tokens.Session | None:
        """The browser's own session: its cookie (a Mini App session is never a cookie)."""
        session = tokens.parse(request.cookies.get(COOKIE), self._now())
        return session if session is not None and session.kind in ("w", "n") else None

    def _posted_session(self, request: web.Request, form: MultiDictProxy[Any]) -> tokens.Session | None:
        """The session a POST acts on: a verified Mini App session named in the form (signed, bound to its
        init data's time), else the cookie's. A browser session named in the form is never taken: a
        planted form would log the person into someone else's intake."""
        named = tokens.parse(str(form.get("s", "")) or None, self._now())
        if named is not None and named.kind == "t":
            return named
        return self._cookie(request)

    def _same_origin(self, request: web.Request) -> bool | None:
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

    @staticmethod
    def person(session: tokens.Session, language: str | None = None) -> Person:
        if session.kind == "t":  # the same candidate as in the chat: private chat id = user id
            return Person("telegram", session.ident, language=language, address=Address("telegram", session.ident))
        return Person("web", session.external_id, language=language)

    def _address(self, request: web.Request) -> str:
        if self.settings.web_trust_proxy:  # behind the README's reverse proxy: its last hop is the client
            forwarded = request.headers.get("X-Forwarded-For", "")
            if forwarded:
                return forwarded.split(",")[-1].strip()
        return request.remote or "?"

    def _limited(self, request: web.Request, session: tokens.Session | None) -> bool:
        if not self.per_address.allow(self._address(request)):
            return True
        return session is not None and not self.per_session.allow(f"{session.kind}.{session.ident}")

    def _base(self, request: web.Request) -> str:
        return (self.settings.web_url or f"{request.scheme}://{request.host}").rstrip("/")

    def _set_cookie(self, request: web.Request, response: web.StreamResponse, value: str, max_age: int) -> None:
        response.set_cookie(COOKIE, value, max_age=max_age, path="/", httponly=True, samesite="Lax",
                            secure=self._base(request).startswith("https://"))

    def _respond(self, request: web.Request, body: str, session: tokens.Session | None = None, *,
                 status: int = 200, forget: bool = False, short: bool = False) -> web.Response:
        response = web.Response(text=body, content_type="text/html", charset="utf-8", status=status)
        now = self._now()
        if forget:
            response.del_cookie(COOKIE, path="/")
            response.del_cookie(HERE_COOKIE, path="/")
        elif session is not None and short:  # a finished intake's visit: the device forgets it soon
            self._set_cookie(request, response, tokens.short(session, now), int(tokens.FINISHED_VISIT.total_seconds()))
            self._mark_here(request, response, session, tokens.FINISHED_VISIT)
        elif session is not None and session.kind == "w":  # sliding expiry for the kept link
            self._set_cookie(request, response, tokens.renewed(session, now), int(tokens.WEB_SESSION.total_seconds()))
        elif session is not None and session.kind == "n":
            self._set_cookie(request, response, tokens.token(session), int(tokens.NEW_SESSION.total_seconds()))
        return response

    def _mark_here(self, request: web.Request, response: web.StreamResponse, session: tokens.Session,
                   lifetime: Any = tokens.HERE) -> None:
        """The person on this device has said, or shown by answering, that the intake is theirs."""
        response.set_cookie(HERE_COOKIE, tokens.here_mark(session, self._now(), lifetime),
                            max_age=int(lifetime.total_seconds()), path="/", httponly=True, samesite="Strict",
                            secure=self._base(request).startswith("https://"))

    def _here(self, request: web.Request, session: tokens.Session) -> bool:
        return tokens.here_ok(session, request.cookies.get(HERE_COOKIE), self._now())

    @staticmethod
    def _browser_language(request: web.Request) -> str:
        """The language the page asks for, else the browser's, else English."""
        asked = request.query.get("lang") or request.query.get("hl")
        if asked in LANGUAGES:
            return asked
        for part in request.headers.get("Accept-Language", "").split(","):
            code = part.split(";")[0].strip().lower()[:2]
            if code in LANGUAGES:
                return code
        return "en"

    async def _language(self, request: web.Request) -> str:
        """The person's language for an error page: the asked one, their intake's, their browser's, or English."""
        asked = request.query.get("lang") or request.query.get("hl")
        if asked in LANGUAGES:
            return asked
        session = self._cookie(request)
        if session is not None and session.kind == "w":
            try:
                current = await self._current(self.person(session))
            except Exception:  # an error page must not fail on its way out
                current = None
            if current is not None:
                return normalise(current.state.get("lang", "en"))
        return self._browser_language(request)

    def _problem(self, request: web.Request, msgid: str, status: int, lang: str | None = None, *,
                 notices: list[Screen] | None = None, programme: str = "", forget: bool = False) -> web.Response:
        lang = lang or self._browser_language(request)
        t = Translator(lang)
        links = [(f"/p/{p.id}", p.name(lang)) for p in self.app.registry.all()]
        body = pages.plain(lang, t("web.title"), [t(msgid)], links, notices=notices or [], programme=programme)
        return self._respond(request, body, status=status, forget=forget)

    async def _form(self, request: web.Request) -> MultiDictProxy[Any]:
        """The posted form; a body that cannot be read (a bad multipart boundary, invalid UTF-8) is a 400."""
        try:
            return await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise
        except Exception as exc:
            raise BadRequest() from exc

    async def _current(self, person: Person) -> Current | None:
        """The person's intake as stored (none, or one withdrawn: nothing to show)."""
        async with self.app.uow() as uow:
            candidate = await uow.candidates.find(person.channel, person.external_id)
            intake = await uow.intakes.latest(candidate.id) if candidate is not None else None
            if intake is None or not intake.state or intake.status == "withdrawn":
                return None
            state = dict(intake.state)
            started = intake.started_at
        return Current(state, self.app.flow.show(state), started=started)

    async def _rotate(self, session: tokens.Session) -> tokens.Session:
        """A new resume token for the same person; the old one stops working at once."""
        fresh = tokens.new_session("w", self._now())
        async with self.app.uow() as uow:
            candidate = await uow.candidates.find("web", session.external_id)
            if candidate is None:
                return session
            await uow.candidates.rekey(candidate, "web", fresh.external_id)
        return fresh

    # --- pages -------------------------------------------------------------------------------

    def _whose(self, current: Current) -> Screen:
        """Whose answers a page acts on ("See my data", "Delete my answers"), before it acts."""
        state = current.state
        lang = normalise(state.get("lang", "en"))
        t = Translator(lang)
        programme = self.app.registry.get(state.get("programme"))
        when = format_when(current.started, lang, programme.timezone if programme else "UTC") \
            if current.started else ""
        name = str(state.get("answers", {}).get("name") or "")
        if name:
            return Screen(t("web.whose", name=name, when=when))
        return Screen(t("web.whose_unnamed", when=when))

    def _help_lines(self, state: dict[str, Any]) -> Screen:
        """The programme's crisis lines (per region and age) under a calm heading: help on every result page."""
        flow_state = State.from_dict(state)
        t = Translator(flow_state.lang)
        return Screen(t("web.help_now.intro") + "\n\n" + self.app.flow.screens.crisis_lines(flow_state, t))

    def page(self, request: web.Request, session: tokens.Session, current: Current, *,
             crisis: bool = False) -> web.Response:
        """The page of `current`; with `crisis`, the programme's crisis help first if the flow did not add it."""
        session = request.get(ROTATED, session)
        state = current.state
        lang = normalise(state.get("lang", "en"))
        t = Translator(lang)
        programme = self.app.registry.get(state.get("programme"))
        if current.gone:  # everything erased; the link and the cookie end here
            again = [(f"/p/{programme.id}", t("web.start_again"))] if programme else []
            body = pages.plain(lang, t("web.title"), [s.text for s in current.screens], again,
                               programme=programme.id if programme else "")
            return self._respond(request, body, forget=True)
        question = asking(current.screens) or (current.screens[-1] if current.screens else None)
        notices = [*current.notices, *(s for s in current.screens if s is not question)]
        flow_state = State.from_dict(state)
        if crisis and not any(s.tone is Tone.CRISIS for s in notices):
            notices.append(self.app.flow.screens.crisis(flow_state))
        finished = state.get("status") in ("completed", "declined")
        if finished and programme is not None:  # as /help is in the chat: whom to call, on every result page
            notices.append(self._help_lines(state))
        if finished and session.kind == "w":  # a shared phone: the next person must not find these answers
            ended = "web.session_ended" if state.get("status") == "completed" else "web.session_ended_declined"
            notices.append(Screen(t(ended if current.ended else "web.finished_visit")))
        notices.sort(key=lambda s: s.tone is not Tone.CRISIS)  # crisis help first, before anything else
        questionnaire = None
        if question is not None and instrument_of(question.step) is not None:
            help_now = self.app.flow.screens.crisis(flow_state)  # the flow's own crisis screen, for the script
            questionnaire = pages.questionnaire(question.step, lang, state.get("answers", {}), current.chosen,
                                                help_now)
        progress = None
        if question is not None and programme is not None and state.get("status") == "active":
            sequence = self.app.flow.screens.sequence(flow_state)
            step = question.step.partition("@")[0]
            if questionnaire is not None:
                step = questionnaire.items[0].step
            if step in sequence:
                progress = round(100 * sequence.index(step) / len(sequence))
        resume = f"{self._base(request)}/r/{tokens.renewed(session, self._now())}" if session.kind == "w" else ""
        hide = frozenset({"chat"}) if session.kind != "t" and question is not None and \
            question.step == "q.contact" else frozenset()  # a form has no chat to write back to
        body = pages.render(pages.Page(
            lang, programme.name(lang) if programme else t("web.title"),
            session=tokens.renewed(session, self._now()) if session.kind == "t" else "",
            csrf=tokens.csrf_token(session), notices=notices,
            question=question, questionnaire=questionnaire, progress=progress, typed=current.typed,
            resume_link=resume, hide_buttons=hide, programme=programme.id if programme else "",
            footer_actions=session.kind != "n" and not (finished and current.ended),
        ))
        ended_here = finished and session.kind == "w"
        response = self._respond(request, body, session, forget=ended_here and current.ended,
                                 short=ended_here and not current.ended)
        if session.kind == "w" and not finished:  # shown to the person here: "it is me" slides on
            self._mark_here(request, response, session)
        return response

    def _first_page(self, request: web.Request, session: tokens.Session, programme: str,
                    lang: str | None) -> web.Response:
        """A programme's first question for a browser that has stored nothing: nothing is stored now either."""
        reply = self.app.flow.begin(programme, lang)
        return self.page(request, session, Current(reply.state, list(reply.screens)))

    async def _feed(self, request: web.Request, session: tokens.Session, answer: Answer) -> Outcome:
        """One answer to the service; a consent rotates the resume token (a planted link stops here)."""
        session = request.get(ROTATED, session)
        outcome = await self.app.intake.answer(self.person(session), answer)
        # what went to staff (an urgent referral, a claim's notice) goes now, not on the clocks' next round
        self.app.wake({i: outcome.fresh[i] for i in outcome.others if i in outcome.fresh})
        if session.kind == "w" and any(e.kind == "consent" for e in outcome.events):
            request[ROTATED] = await self._rotate(session)
        return outcome

    @staticmethod
    def _shown(outcome: Outcome, extra: list[Screen] | None = None) -> Current:
        gone = any(e.kind == "delete" for e in outcome.events)
        ended = any(e.kind in ("completed", "declined") for e in outcome.events)
        return Current(outcome.state, list(outcome.screens), notices=list(extra or []), gone=gone, ended=ended)

    # --- routes: reading ---------------------------------------------------------------------

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
        programme = self.app.registry.get(request.match_info["programme"].lower())
        lang = request.query.get("lang")
        lang = lang if lang in LANGUAGES else None
        if programme is None:
            return self._problem(request, "start.unknown_programme", 404, lang)
        session = self._cookie(request)
        if self._limited(request, session):
            return self._problem(request, "web.rate_limited", 429, lang or programme.default_language)
        if session is not None and session.kind == "w":
            current = await self._current(self.person(session))
            if current is not None and current.state.get("status") == "active":
                return self._ask_whose(request, session, current, programme.id, lang)
        if session is None or session.kind != "n":
            session = tokens.new_session("n", self._now())
        return self._first_page(request, session, programme.id, lang)

    def _ask_whose(self, request: web.Request, session: tokens.Session, current: Current, programme: str,
                   lang: str | None) -> web.Response:
        """"Continue as Ana? / Start as someone new": nothing of the intake is shown before the answer."""
        page_lang = normalise(current.state.get("lang", "en"))
        t = Translator(page_lang)
        name = str(current.state.get("answers", {}).get("name") or "")
        ask = t("web.whose.ask", name=name) if name else t("web.whose.ask_unnamed")
        csrf = tokens.csrf_token(session)
        forms = (pages.button_form("/continue", {"csrf": csrf}, t("web.whose.continue", name=name) if name
                                   else t("web.whose.continue_unnamed"))
                 + pages.button_form("/new", {"csrf": csrf, "p": programme, "hl": lang or ""}, t("web.whose.new")))
        body = pages.plain(page_lang, t("web.title"), [ask], forms=forms, programme=programme)
        return self._respond(request, body, session)

    async def form(self, request: web.Request) -> web.Response:
        """`/f`: the intake of this device, if the person here has said it is theirs in the last half hour
        (a kiosk's history holds this address); otherwise they are asked first."""
        found = await self._found_here(request)
        if isinstance(found, web.Response):
            return found
        return self.page(request, *found)

    async def _found_here(self, request: web.Request) -> tuple[tokens.Session, Current] | web.Response:
        """The cookie's intake, for a GET that would show it: asked "Continue as Ana?" first unless the
        person here said, or showed by answering, that it is theirs in the last half hour."""
        session = self._cookie(request)
        if self._limited(request, session):
            return self._problem(request, "web.rate_limited", 429)
        current = await self._current(self.person(session)) if session is not None and session.kind == "w" else None
        if session is None or current is None:
            return self._problem(request, "web.expired", 410)
        asked = self._whose_first(request, session, current)
        return asked if asked is not None else (session, current)

    def _whose_first(self, request: web.Request, session: tokens.Session, current: Current) -> web.Response | None:
        """On a device where the person has not said lately that the intake is theirs: "whose is it?"
        first (a finished intake's short visit is simply over); None when it is theirs."""
        if session.kind != "w" or self._here(request, session):
            return None
        if current.state.get("status") != "active":
            return self._problem(request, "web.expired", 410, forget=True)
        return self._ask_whose(request, session, current, str(current.state.get("programme") or ""), None)

    async def continue_here(self, request: web.Request) -> web.StreamResponse:
        """"Continue as Ana": the person here says the intake is theirs; then its page."""
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        session, _ = checked
        if session.kind != "w" or await self._current(self.person(session)) is None:
            return self._problem(request, "web.expired", 410)
        response = web.Response(status=303, headers={"Location": "/f"})
        self._mark_here(request, response, session)
        return response

    async def help_page(self, request: web.Request) -> web.Response:
        """"Help now": the crisis lines of the programme (per region, and per age once it is known);
        without a programme, every programme's. Reads only."""
        lang = request.query.get("lang")
        lang = lang if lang in LANGUAGES else "en"
        t = Translator(lang)
        programme = self.app.registry.get(request.query.get("p", "").lower()[:40])
        state: dict[str, Any] | None = None
        session = self._cookie(request)
        # the person's own lines (their region and age), only for the person here: on a shared phone the
        # next one would learn the last one's age band; for anyone else, the lines shown to everyone
        if session is not None and session.kind == "w" and self._here(request, session):
            current = await self._current(self.person(session))
            if current is not None and (programme is None or current.state.get("programme") == programme.id):
                state = {**current.state, "lang": lang}
        chosen = [programme] if programme is not None else self.app.registry.all()
        parts = [t("web.help_now.intro")]
        for each in chosen:
            lines_state = state if state is not None else {**self.app.flow.begin(each.id, lang).state, "lang": lang}
            parts.append((each.name(lang) + "\n" if programme is None else "")
                         + self.app.flow.screens.crisis_lines(State.from_dict(lines_state), t))
        body = pages.render(pages.Page(lang, t("web.help_now"), actions=False, help_link=False,
                                       programme=programme.id if programme else "",
                                       notices=[Screen("\n\n".join(parts), tone=Tone.CRISIS)]))
        return self._respond(request, body)

    async def my_data_page(self, request: web.Request) -> web.Response:
        """`/mydata` as a page: reading changes nothing, so a plain link may open it (asked first, as `/f`)."""
        found = await self._found_here(request)
        if isinstance(found, web.Response):
            return found
        return self._my_data(request, *found)

    def _my_data(self, request: web.Request, session: tokens.Session, current: Current) -> web.Response:
        """What is stored, shown without changing anything, and whose it is; the file one press away."""
        state = State.from_dict(current.state)
        t = Translator(state.lang)
        shown = Current(current.state, [self.app.flow.screens.my_data(state), *current.screens],
                        started=current.started, notices=[self._whose(current)])
        shown.notices.append(Screen(t("web.mydata.file_hint")))
        form = pages.button_form("/mydata.json", {"s": tokens.renewed(session, self._now()) if session.kind == "t"
                                                  else "", "csrf": tokens.csrf_token(session)}, t("web.mydata.file"))
        response = self.page(request, session, shown)
        response.text = (response.text or "").replace("</main>", form + "</main>", 1)
        return response

    async def delete_page(self, request: web.Request) -> web.Response:
        """`/delete` as a page: says whose answers would go, and asks; a GET changes nothing (asked first, as `/f`)."""
        found = await self._found_here(request)
        if isinstance(found, web.Response):
            return found
        session, current = found
        t = Translator(normalise(current.state.get("lang", "en")))
        form = pages.button_form("/delete", {"csrf": tokens.csrf_token(session)}, t("web.delete"))
        body = pages.plain(normalise(current.state.get("lang", "en")), t("web.title"), [self._whose(current).text],
                           forms=form, programme=str(current.state.get("programme") or ""))
        return self._respond(request, body, session)

    # --- routes: resume ----------------------------------------------------------------------

    @staticmethod
    def _link_token(request: web.Request) -> str:
        token = request.match_info["token"]
        if not token.isascii():  # not a link we made (a MAC of other characters): cannot be read
            raise BadRequest()
        return token

    async def resume_link(self, request: web.Request) -> web.Response:
        """`/r/<token>`: asks before this device takes the intake over (a GET sets no cookie)."""
        session = tokens.parse(self._link_token(request), self._now())
        if self._limited(request, session):
            return self._problem(request, "web.rate_limited", 429)
        current = await self._current(self.person(session)) if session is not None and session.kind == "w" else None
        if session is None or current is None:
            return self._problem(request, "web.expired", 410)
        lang = normalise(current.state.get("lang", "en"))
        t = Translator(lang)
        texts = [t("web.resume.ask")]
        here = self._cookie(request)
        if here is not None and here.kind == "w" and here.ident != session.ident:
            other = await self._current(self.person(here))
            if other is not None and other.state.get("status") == "active":
                texts.append(t("web.resume.replaces"))  # never replaced without asking
        form = pages.button_form(f"/r/{request.match_info['token']}", {"csrf": tokens.csrf_token(session)},
                                 t("web.resume.continue"))
        body = pages.plain(lang, t("web.title"), texts, forms=form, programme=str(current.state.get("programme") or ""))
        return self._respond(request, body)

    async def resume(self, request: web.Request) -> web.StreamResponse:
        """The person said "continue here": a new token for this device; the link used stops working."""
        form = await self._form(request)
        session = tokens.parse(self._link_token(request), self._now())
        if self._limited(request, session):
            return self._problem(request, "web.rate_limited", 429)
        if self._same_origin(request) is False or session is None or session.kind != "w" \
                or not tokens.csrf_ok(session, str(form.get("csrf", ""))):
            return self._problem(request, "web.csrf", 403, await self._language(request))
        if await self._current(self.person(session)) is None:  # erased or withdrawn: the token is dead
            return self._problem(request, "web.expired", 410)
        fresh = await self._rotate(session)
        response = web.Response(status=303, headers={"Location": "/f"})  # the token leaves the address bar
        self._set_cookie(request, response, tokens.renewed(fresh, self._now()), int(tokens.WEB_SESSION.total_seconds()))
        self._mark_here(request, response, fresh)  # they just said "continue here"
        return response

    # --- routes: posting ---------------------------------------------------------------------

    def _risky(self, form: MultiDictProxy[Any]) -> dict[str, str]:
        """The page's risk answers (item step -> score), if it was a questionnaire page with one."""
        instrument = instrument_of(str(form.get("step", "")))
        given = chosen_on(instrument, form) if instrument is not None else {}
        return given if instrument is not None and any_risk(instrument, given) else {}

    async def _refused(self, request: web.Request, form: MultiDictProxy[Any], msgid: str, status: int,
                       session: tokens.Session | None = None) -> web.Response:
        """A POST refused (expired, out of date, from another site). A risk answer on it still gets
        crisis help first; stored too, if the request provably comes from our page and the cookie's intake."""
        lang = str(form.get("hl", ""))
        lang = lang if lang in LANGUAGES else await self._language(request)
        risky = self._risky(form)
        if not risky:
            return self._problem(request, msgid, status, lang)
        state: dict[str, Any] | None = None
        if session is not None and session.kind in ("w", "t") and self._same_origin(request):
            person = self.person(session)
            await self.app.intake.note_risks(person, risky)
            current = await self._current(person)
            state = current.state if current is not None else None
        programme = self.app.registry.get(str(form.get("p", ""))[:40]) if state is None else \
            self.app.registry.get(state.get("programme"))
        if programme is None:
            return self._problem(request, msgid, status, lang, notices=[self._all_crisis(lang)])
        if state is None:
            state = self.app.flow.begin(programme.id, lang).state
        crisis = self.app.flow.screens.crisis(State.from_dict({**state, "lang": lang}))
        return self._problem(request, msgid, status, lang, notices=[crisis], programme=programme.id)

    def _all_crisis(self, lang: str) -> Screen:
        t = Translator(lang)
        lines = [p.name(lang) + "\n" + self.app.flow.screens.crisis_lines(
            State.from_dict({**self.app.flow.begin(p.id, lang).state, "lang": lang}), t)
            for p in self.app.registry.all()]
        return Screen("\n\n".join([t("crisis.text"), *lines]), tone=Tone.CRISIS)

    async def _checked(self, request: web.Request) -> tuple[tokens.Session, MultiDictProxy[Any]] | web.Response:
        """The form and its session, after the size, origin, rate and CSRF checks; or the refusal."""
        try:
            form = await self._form(request)
        except web.HTTPRequestEntityTooLarge:
            return self._problem(request, "web.too_large", 413, await self._language(request))
        session = self._posted_session(request, form)
        if self._limited(request, session):  # a risk answer still gets crisis help first (nothing stored)
            return await self._refused(request, form, "web.rate_limited", 429)
        if self._same_origin(request) is False:  # a form on another site: login CSRF, a planted session
            return await self._refused(request, form, "web.csrf", 403)
        if session is None:
            return await self._refused(request, form, "web.expired", 410)
        if not tokens.csrf_ok(session, str(form.get("csrf", ""))):
            # the page was not made for this cookie's session (another person's old page on a shared
            # phone): crisis help first, but nothing stored in the intake the cookie names
            return await self._refused(request, form, "web.csrf", 403)
        return session, form

    async def _stored(self, request: web.Request, session: tokens.Session,
                      form: MultiDictProxy[Any]) -> tuple[tokens.Session, Current] | web.Response:
        """The session's stored intake. A browser that has stored nothing stores its intake now, under a
        new token (its first answer); a token whose intake was erased stays dead."""
        if session.kind == "n":
            programme = self.app.registry.get(str(form.get("p", ""))[:40])
            if programme is None:
                return self._problem(request, "web.expired", 410)
            lang = str(form.get("hl", ""))
            stored = tokens.new_session("w", self._now())
            outcome = await self.app.intake.start(self.person(stored, lang if lang in LANGUAGES else None),
                                                  programme.id, fresh=True)
            request[ROTATED] = stored
            return stored, Current(outcome.state, self.app.flow.show(outcome.state))
        current = await self._current(self.person(session))
        if current is None:
            return await self._refused(request, form, "web.expired", 410)
        return session, current

    async def answer(self, request: web.Request) -> web.Response:
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        session, form = checked
        step = str(form.get("step", ""))
        instrument = instrument_of(step)
        given = chosen_on(instrument, form) if instrument is not None else {}
        risky = instrument is not None and any_risk(instrument, given)
        if risky:
            # before anything else: the flow takes a page's items in order and would store a risk answer
            # only when it reaches it; left out before it, "back" or an old page must not lose it (H1, H24)
            await self.app.intake.note_risks(self.person(session), given)
        stored = await self._stored(request, session, form)
        if isinstance(stored, web.Response):
            return stored
        session, current = stored
        version = version_of(form)
        button = str(form.get("b", "")) or None
        question = asking(current.screens)
        if version is None:  # not from our page ("²", 5,000 digits): a 400, with crisis help for a risk answer
            return await self._refused(request, form, "web.bad_request", 400, session)
        if instrument is not None and button not in ("skip",) and question is not None and question.step == step \
                and question.version == version:
            return await self._questionnaire(request, session, current, instrument, given,
                                             back=button == "back", risky=risky)
        if button is not None:  # a choice, a shortcut, back or skip: the flow refuses an old page's press
            outcome = await self._feed(request, session, Tap(step, version, button))
            return self.page(request, session, self._shown(outcome), crisis=risky)
        text = str(form.get("text", ""))
        if question is None or question.step != step or question.version != version:
            # a typed answer is not tied to its question by the flow: an old page must not answer a newer one
            stale = Screen(Translator(current.state.get("lang", "en"))("stale.tap"), tone=Tone.ERROR)
            current.notices.append(stale)
            return self.page(request, session, current, crisis=risky)
        if len(text) > MAX_FIELD:
            t = Translator(current.state.get("lang", "en"))
            current.notices.append(Screen(t("web.too_long", max=MAX_FIELD), tone=Tone.ERROR))
            current.typed = text  # given back: nothing is lost
            return self.page(request, session, current)
        if sum(c.isdecimal() for c in text) > MAX_DIGITS:  # no question asks that many; int() would refuse it
            raise BadRequest()
        outcome = await self._feed(request, session, Text(text))
        shown = self._shown(outcome)
        after = asking(outcome.screens)
        if after is not None and after.step == step and any(s.tone is Tone.ERROR for s in outcome.screens):
            shown.typed = text  # refused (too long, not a phone number): the text stays in the field
        return self.page(request, session, shown)

    async def _questionnaire(self, request: web.Request, session: tokens.Session, current: Current,
                             instrument: instruments.Instrument, given: dict[str, str], *,
                             back: bool, risky: bool) -> web.Response:
        """A questionnaire page: its items fed to the service one by one, in order, in this request.

        `given` are the page's valid answers; `risky` says one is a risk answer (stored already)."""
        keys = [f"{instrument.id}.{item.id}" for item in instrument.items]
        question = asking(current.screens)
        if question is None or question.step not in keys:
            return self.page(request, session, current, crisis=risky)
        at = keys.index(question.step)
        stored = current.state.get("answers", {})
        if back:
            rewind = at + 1  # to the first item, then one more: the step before the questionnaire
        else:  # the page shows every item: start again at the first one changed since it was stored
            changed = next((i for i, k in enumerate(keys[:at]) if k in given and str(stored.get(k)) != given[k]), at)
            rewind = at - changed
        outcome: Outcome | None = None
        crisis: list[Screen] = []
        for _ in range(rewind):
            outcome = await self._feed(request, session, Tap(question.step, question.version, "back"))
            question = asking(outcome.screens)
            if question is None:
                break
        if back and outcome is not None:
            return self.page(request, session, self._shown(outcome), crisis=risky)
        for key in keys[keys.index(question.step) if question is not None and question.step in keys else len(keys):]:
            if key not in given or question is None or question.step != key:
                break
            outcome = await self._feed(request, session, Tap(key, question.version, given[key]))
            crisis += [s for s in outcome.screens if s.tone is Tone.CRISIS and s.text not in {c.text for c in crisis}]
            question = asking(outcome.screens)
        shown = self._shown(outcome) if outcome is not None else current
        shown.screens = [s for s in shown.screens if s.tone is not Tone.CRISIS]
        shown.notices = crisis
        missing = [n for n, k in enumerate(keys) if k not in given]
        if missing:
            t = Translator(shown.state.get("lang", "en"))
            first = missing[0]
            text = t("web.missing_item", number=first + 1, text=t(instrument.items[first].text))
            shown.notices.append(Screen(text, tone=Tone.ERROR))
            shown.chosen = given
        # a risk answer after an item left out is not taken by the flow yet (it takes them in order), but
        # it was stored on arrival and its help is shown now, as the chat shows it on the answer
        return self.page(request, session, shown, crisis=risky)

    async def language(self, request: web.Request) -> web.Response:
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        session, form = checked
        lang = str(form.get("lang", ""))
        if session.kind == "n":  # nothing stored: the first page again, in that language
            programme = self.app.registry.get(str(form.get("p", ""))[:40])
            if programme is None:
                return self._problem(request, "web.expired", 410)
            return self._first_page(request, session, programme.id, lang if lang in LANGUAGES else None)
        current = await self._current(self.person(session))
        if current is None:
            return self._problem(request, "web.expired", 410)
        if lang not in LANGUAGES:  # the same page again (a Mini App's session is in the form, not a cookie)
            return self.page(request, session, current)
        overlay = asking((await self._feed(request, session, Command("language"))).screens)
        if overlay is None:
            return self.page(request, session, await self._current(self.person(session)) or current)
        outcome = await self._feed(request, session, Tap(overlay.step, overlay.version, lang))
        return self.page(request, session, self._shown(outcome))

    async def _posted_intake(self, request: web.Request) -> tuple[tokens.Session, Current] | web.Response:
        """A POST's session and its stored intake; a session that stored nothing, or was erased, acts on nothing."""
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        session, form = checked
        current = await self._current(self.person(session)) if session.kind != "n" else None
        if current is None:
            return await self._refused(request, form, "web.expired", 410)
        asked = self._whose_first(request, session, current)  # an old page on a shared phone
        return asked if asked is not None else (session, current)

    async def my_data(self, request: web.Request) -> web.Response:
        found = await self._posted_intake(request)
        if isinstance(found, web.Response):
            return found
        return self._my_data(request, *found)

    async def my_data_file(self, request: web.Request) -> web.StreamResponse:
        found = await self._posted_intake(request)
        if isinstance(found, web.Response):
            return found
        outcome = await self._feed(request, found[0], Command("mydata"))
        response = web.Response(body=json.dumps(outcome.personal_data or {}, ensure_ascii=False, indent=2),
                                content_type="application/json", charset="utf-8")
        response.headers["Content-Disposition"] = 'attachment; filename="ipsbot-mydata.json"'
        return response

    async def delete(self, request: web.Request) -> web.Response:
        found = await self._posted_intake(request)
        if isinstance(found, web.Response):
            return found
        session, current = found
        outcome = await self._feed(request, session, Command("delete"))
        shown = self._shown(outcome, [self._whose(current)])  # whose answers "yes" would erase
        return self.page(request, session, shown)

    async def start_as_someone_new(self, request: web.Request) -> web.Response:
        """"Start as someone new" on a device that holds someone's intake: a new, empty session here.
        The other intake is left as it is (its owner has their link)."""
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        _, form = checked
        programme = self.app.registry.get(str(form.get("p", ""))[:40])
        if programme is None:
            return self._problem(request, "start.unknown_programme", 404)
        lang = str(form.get("hl", ""))
        return self._first_page(request, tokens.new_session("n", self._now()), programme.id,
                                lang if lang in LANGUAGES else None)

    # --- the Mini App ------------------------------------------------------------------------

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
        return self._respond(request, pages.render(pages.Page(lang, t("web.title"), actions=False, body=body,
                                                              telegram=True, help_link=False)))

    async def telegram_auth(self, request: web.Request) -> web.Response:
        try:
            form = await self._form(request)
        except web.HTTPRequestEntityTooLarge:
            return self._problem(request, "web.too_large", 413)
        if not self.per_address.allow(self._address(request)):
            return self._problem(request, "web.rate_limited", 429)
        if self._same_origin(request) is False:
            return self._problem(request, "web.telegram.refused", 403)
        token = self.settings.bot_token.get_secret_value() if self.settings.bot_token else ""
        session = tokens.telegram_session(token, str(form.get("init_data", "")), self._now()) if token else None
        if session is None:  # forged, stale, or not from Telegram at all: nothing about the page's claims is used
            return self._problem(request, "web.telegram.refused", 403)
        person = self.person(session)
        current = await self._current(person)
        if current is None or current.state.get("status") != "active":
            programme = str(form.get("p", ""))[:40] or None
            return self.page(request, session, self._shown(await self.app.intake.start(person, programme)))
        return self.page(request, session, current)


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
