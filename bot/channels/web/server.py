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
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot.app import App
from bot.channels.web import pages, tokens
from bot.services.intake import Outcome, Person
from bot.settings import Settings
from flows import instruments
from flows.address import Address
from flows.answers import Answer, Command, Tap, Text
from flows.screens import Screen, Tone
from flows.state import State
from locales import LANGUAGES, Translator, normalise

log = logging.getLogger(__name__)

COOKIE = "ipsbot"
MAX_REQUEST = 64 * 1024  # bytes of one form; a longer body is refused before it is read
MAX_FIELD = 16_000  # characters of one typed answer the flow is asked to judge; the flow's own limits are lower
STATIC = Path(__file__).parent / "static"
FRAMERS = "https://web.telegram.org"
TELEGRAM_PAGE = web.RequestKey("telegram", bool)  # this response may load Telegram's script
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def csp(telegram: bool) -> str:
    script = "'self' https://telegram.org" if telegram else "'self'"
    return ("default-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            f"script-src {script}; form-action 'self'; base-uri 'none'; frame-ancestors {FRAMERS}")


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers["Content-Security-Policy"] = csp(request.get(TELEGRAM_PAGE, False))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@dataclass(slots=True)
class Current:
    state: dict[str, Any]
    screens: list[Screen]
    notices: list[Screen] = field(default_factory=list)
    chosen: dict[str, str] = field(default_factory=dict)
    typed: str = ""
    gone: bool = False  # erased: the page says so, and the cookie goes


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
    return any(instruments.risk_flags(instrument, k.partition(".")[2], int(v)) for k, v in given.items())


class WebChannel:
    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.per_address = tokens.RateLimit(settings.web_rate_per_address)
        self.per_session = tokens.RateLimit(settings.web_rate_per_session)

    # --- wiring ------------------------------------------------------------------------------

    def add_routes(self, web_app: web.Application) -> None:
        web_app.middlewares.append(security_headers)
        r = web_app.router
        r.add_get("/p/{programme}", self.start)
        r.add_get("/r/{token}", self.resume_link)
        r.add_get("/f", self.form)
        r.add_post("/answer", self.answer)
        r.add_post("/lang", self.language)
        r.add_get("/mydata", self.my_data_page)
        r.add_post("/mydata", self.my_data)
        r.add_post("/mydata.json", self.my_data_file)
        r.add_get("/delete", self.delete_page)
        r.add_post("/delete", self.delete)
        r.add_get("/tg", self.telegram_page)
        r.add_post("/tg/auth", self.telegram_auth)
        r.add_get("/static/{name}", self.static)

    def application(self) -> web.Application:
        web_app = web.Application(client_max_size=MAX_REQUEST)
        self.add_routes(web_app)
        return web_app

    # --- sessions ----------------------------------------------------------------------------

    def _now(self) -> Any:
        return self.app.clock.now()

    def _session(self, request: web.Request, form: MultiDictProxy[Any] | None = None) -> tokens.Session | None:
        given = (form.get("s") if form is not None else None) or request.cookies.get(COOKIE)
        return tokens.parse(str(given) if given else None, self._now())

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

    def _respond(self, request: web.Request, body: str, session: tokens.Session | None = None, *,
                 status: int = 200, forget: bool = False) -> web.Response:
        response = web.Response(text=body, content_type="text/html", charset="utf-8", status=status)
        if forget:
            response.del_cookie(COOKIE, path="/")
        elif session is not None and session.kind == "w":  # sliding expiry for the kept link
            response.set_cookie(COOKIE, tokens.renewed(session, self._now()), max_age=int(tokens.WEB_SESSION
                                .total_seconds()), path="/", httponly=True, samesite="Lax",
                                secure=self._base(request).startswith("https://"))
        return response

    def _problem(self, request: web.Request, msgid: str, status: int, lang: str = "en") -> web.Response:
        t = Translator(lang)
        links = [(f"/p/{p.id}", p.name(lang)) for p in self.app.registry.all()]
        return self._respond(request, pages.plain(lang, t("web.title"), [t(msgid)], links), status=status)

    async def _current(self, person: Person) -> Current | None:
        """The person's intake as stored (none, or one withdrawn: nothing to show)."""
        async with self.app.uow() as uow:
            candidate = await uow.candidates.find(person.channel, person.external_id)
            intake = await uow.intakes.latest(candidate.id) if candidate is not None else None
            if intake is None or not intake.state or intake.status == "withdrawn":
                return None
            state = dict(intake.state)
        return Current(state, self.app.flow.show(state))

    # --- pages -------------------------------------------------------------------------------

    def page(self, request: web.Request, session: tokens.Session, current: Current, *,
             crisis: bool = False) -> web.Response:
        """The page of `current`; with `crisis`, the programme's crisis help first if the flow did not add it."""
        state = current.state
        lang = normalise(state.get("lang", "en"))
        t = Translator(lang)
        programme = self.app.registry.get(state.get("programme"))
        if current.gone:  # everything erased; the link and the cookie end here
            again = [(f"/p/{programme.id}", t("web.start_again"))] if programme else []
            body = pages.plain(lang, t("web.title"), [s.text for s in current.screens], again)
            return self._respond(request, body, forget=True)
        question = asking(current.screens) or (current.screens[-1] if current.screens else None)
        notices = [*current.notices, *(s for s in current.screens if s is not question)]
        flow_state = State.from_dict(state)
        if crisis and not any(s.tone is Tone.CRISIS for s in notices):
            notices.append(self.app.flow.screens.crisis(flow_state))
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
        hide = frozenset({"chat"}) if session.kind == "w" and question is not None and \
            question.step == "q.contact" else frozenset()  # a form has no chat to write back to
        body = pages.render(pages.Page(
            lang, programme.name(lang) if programme else t("web.title"),
            session=tokens.renewed(session, self._now()), csrf=tokens.csrf_token(session), notices=notices,
            question=question, questionnaire=questionnaire, progress=progress, typed=current.typed,
            resume_link=resume, hide_buttons=hide,
        ))
        return self._respond(request, body, session)

    async def _feed(self, person: Person, answer: Answer) -> Outcome:
        outcome = await self.app.intake.answer(person, answer)
        # what went to staff (an urgent referral, a claim's notice) goes now, not on the clocks' next round
        self.app.wake({i: outcome.fresh[i] for i in outcome.others if i in outcome.fresh})
        return outcome

    def _shown(self, outcome: Outcome, extra: list[Screen] | None = None) -> Current:
        gone = any(e.kind == "delete" for e in outcome.events)
        return Current(outcome.state, list(outcome.screens), notices=list(extra or []), gone=gone)

    # --- routes ------------------------------------------------------------------------------

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ("app.css", "app.js"):
            raise web.HTTPNotFound()
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        response = web.Response(body=(STATIC / name).read_bytes(), content_type=kind, charset="utf-8")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    async def start(self, request: web.Request) -> web.Response:
        programme = self.app.registry.get(request.match_info["programme"].lower())
        lang = request.query.get("lang")
        lang = lang if lang in LANGUAGES else None
        if programme is None:
            return self._problem(request, "start.unknown_programme", 404, lang or "en")
        session = self._session(request)
        if self._limited(request, session):
            return self._problem(request, "web.rate_limited", 429, lang or programme.default_language)
        if session is not None:
            current = await self._current(self.person(session))
            if current is not None and current.state.get("status") == "active":
                return self.page(request, session, current)  # the same device: back where they were
        if session is None or session.kind != "w":
            session = tokens.parse(tokens.new_web_token(self._now()), self._now())
            if session is None:  # cannot happen: a token just made is valid
                raise web.HTTPInternalServerError()
        outcome = await self.app.intake.start(self.person(session, lang), programme.id, fresh=True)
        return self.page(request, session, self._shown(outcome))

    async def resume_link(self, request: web.Request) -> web.Response:
        session = tokens.parse(request.match_info["token"], self._now())
        if self._limited(request, session):
            return self._problem(request, "web.rate_limited", 429)
        if session is None or session.kind != "w":
            return self._problem(request, "web.expired", 410)
        response = web.Response(status=303, headers={"Location": "/f"})  # the token leaves the address bar
        response.set_cookie(COOKIE, tokens.renewed(session, self._now()), path="/", httponly=True, samesite="Lax",
                            max_age=int(tokens.WEB_SESSION.total_seconds()),
                            secure=self._base(request).startswith("https://"))
        return response

    async def form(self, request: web.Request) -> web.Response:
        session = self._session(request)
        if self._limited(request, session):
            return self._problem(request, "web.rate_limited", 429)
        if session is None:
            return self._problem(request, "web.expired", 410)
        current = await self._current(self.person(session))
        if current is None:
            return self._problem(request, "web.expired", 410)
        return self.page(request, session, current)

    async def _checked(self, request: web.Request) -> tuple[tokens.Session, MultiDictProxy[Any]] | web.Response:
        """The form and its session, after the size, rate and CSRF checks; or the refusal."""
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            return self._problem(request, "web.too_large", 413)
        session = self._session(request, form)
        if self._limited(request, session):
            return self._problem(request, "web.rate_limited", 429)
        if session is None:
            return self._problem(request, "web.expired", 410)
        if not tokens.csrf_ok(session, str(form.get("csrf", ""))):
            return self._problem(request, "web.csrf", 403)
        return session, form

    async def answer(self, request: web.Request) -> web.Response:
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        session, form = checked
        person = self.person(session)
        step = str(form.get("step", ""))
        instrument = instrument_of(step)
        given = chosen_on(instrument, form) if instrument is not None else {}
        risky = instrument is not None and any_risk(instrument, given)
        if risky:
            # before anything else: the flow takes a page's items in order and would store a risk answer
            # only when it reaches it; left out before it, "back" or an old page must not lose it (H1, H24)
            await self.app.intake.note_risks(person, given)
        current = await self._current(person)
        if current is None:
            return self._problem(request, "web.expired", 410)
        version = str(form.get("version", ""))
        button = str(form.get("b", "")) or None
        question = asking(current.screens)
        if not version.isdigit():
            return self.page(request, session, current, crisis=risky)
        if instrument is not None and button not in ("skip",) and question is not None and question.step == step \
                and str(question.version) == version:
            return await self._questionnaire(request, session, person, current, instrument, given,
                                             back=button == "back", risky=risky)
        if button is not None:  # a choice, a shortcut, back or skip: the flow refuses an old page's press
            outcome = await self._feed(person, Tap(step, int(version), button))
            return self.page(request, session, self._shown(outcome), crisis=risky)
        text = str(form.get("text", ""))
        if question is None or question.step != step or str(question.version) != version:
            # a typed answer is not tied to its question by the flow: an old page must not answer a newer one
            stale = Screen(Translator(current.state.get("lang", "en"))("stale.tap"), tone=Tone.ERROR)
            current.notices.append(stale)
            return self.page(request, session, current, crisis=risky)
        if len(text) > MAX_FIELD:
            t = Translator(current.state.get("lang", "en"))
            current.notices.append(Screen(t("web.too_long", max=MAX_FIELD), tone=Tone.ERROR))
            current.typed = text  # given back: nothing is lost
            return self.page(request, session, current)
        outcome = await self._feed(person, Text(text))
        shown = self._shown(outcome)
        after = asking(outcome.screens)
        if after is not None and after.step == step and any(s.tone is Tone.ERROR for s in outcome.screens):
            shown.typed = text  # refused (too long, not a phone number): the text stays in the field
        return self.page(request, session, shown)

    async def _questionnaire(self, request: web.Request, session: tokens.Session, person: Person, current: Current,
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
            outcome = await self._feed(person, Tap(question.step, question.version, "back"))
            question = asking(outcome.screens)
            if question is None:
                break
        if back and outcome is not None:
            return self.page(request, session, self._shown(outcome), crisis=risky)
        for key in keys[keys.index(question.step) if question is not None and question.step in keys else len(keys):]:
            if key not in given or question is None or question.step != key:
                break
            outcome = await self._feed(person, Tap(key, question.version, given[key]))
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
        person = self.person(session)
        current = await self._current(person)
        if current is None:
            return self._problem(request, "web.expired", 410)
        if lang not in LANGUAGES:  # the same page again (a Mini App's session is in the form, not a cookie)
            return self.page(request, session, current)
        overlay = asking((await self._feed(person, Command("language"))).screens)
        if overlay is None:
            return self.page(request, session, await self._current(person) or current)
        outcome = await self._feed(person, Tap(overlay.step, overlay.version, lang))
        return self.page(request, session, self._shown(outcome))

    async def my_data_page(self, request: web.Request) -> web.Response:
        """`/mydata` as a page: reading changes nothing, so a plain link may open it."""
        session = self._session(request)
        if self._limited(request, session):
            return self._problem(request, "web.rate_limited", 429)
        if session is None or await self._current(self.person(session)) is None:
            return self._problem(request, "web.expired", 410)
        return await self._my_data(request, session)

    async def my_data(self, request: web.Request) -> web.Response:
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        return await self._my_data(request, checked[0])

    async def _my_data(self, request: web.Request, session: tokens.Session) -> web.Response:
        outcome = await self._feed(self.person(session), Command("mydata"))
        shown = self._shown(outcome)
        t = Translator(outcome.state.get("lang", "en"))
        form = (f'<form method="post" action="/mydata.json"><input type="hidden" name="s" '
                f'value="{pages.esc(tokens.renewed(session, self._now()))}"><input type="hidden" name="csrf" '
                f'value="{tokens.csrf_token(session)}"><button class="nav">{pages.esc(t("web.mydata.file"))}'
                f'</button></form>')
        shown.notices.append(Screen(t("web.mydata.file_hint")))
        response = self.page(request, session, shown)
        response.text = (response.text or "").replace("</main>", form + "</main>", 1)
        return response

    async def my_data_file(self, request: web.Request) -> web.StreamResponse:
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        session, _ = checked
        outcome = await self._feed(self.person(session), Command("mydata"))
        response = web.Response(body=json.dumps(outcome.personal_data or {}, ensure_ascii=False, indent=2),
                                content_type="application/json", charset="utf-8")
        response.headers["Content-Disposition"] = 'attachment; filename="ipsbot-mydata.json"'
        return response

    async def delete_page(self, request: web.Request) -> web.Response:
        """`/delete` as a page: the same confirmation the chat asks, one press away."""
        session = self._session(request)
        if self._limited(request, session):
            return self._problem(request, "web.rate_limited", 429)
        if session is None or await self._current(self.person(session)) is None:
            return self._problem(request, "web.expired", 410)
        return await self._delete(request, session)

    async def delete(self, request: web.Request) -> web.Response:
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        return await self._delete(request, checked[0])

    async def _delete(self, request: web.Request, session: tokens.Session) -> web.Response:
        outcome = await self._feed(self.person(session), Command("delete"))
        return self.page(request, session, self._shown(outcome))

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
                                                              telegram=True)))

    async def telegram_auth(self, request: web.Request) -> web.Response:
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            return self._problem(request, "web.too_large", 413)
        if not self.per_address.allow(self._address(request)):
            return self._problem(request, "web.rate_limited", 429)
        token = self.settings.bot_token.get_secret_value() if self.settings.bot_token else ""
        user = tokens.telegram_user(token, str(form.get("init_data", "")), self._now()) if token else None
        if user is None:  # forged, stale, or not from Telegram at all: nothing about the page's claims is used
            return self._problem(request, "web.telegram.refused", 403)
        session = tokens.parse(tokens.sign("t", str(user), self._now() + tokens.TELEGRAM_SESSION), self._now())
        if session is None:
            raise web.HTTPInternalServerError()
        person = self.person(session)
        current = await self._current(person)
        if current is None or current.state.get("status") != "active":
            programme = str(form.get("p", "")) or None
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
