"""Page assembly: the flow's screens of one answer as a whole page, with the session's cookies.

Notices (crisis help first, errors, "whose answers these are") above the question; a questionnaire
item as its whole instrument; the progress; the resume link; on a result page the programme's crisis
lines, and on a shared phone the note that the session ended. Only the flow's screens and the
catalogue's `web.*` words are shown: nothing of the intake is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.app import App
from bot.channels.web import pages, tokens
from bot.channels.web.sessions import ROTATED, Sessions
from bot.services.current import Current
from bot.services.intake import IntakeResult
from flows import instruments
from flows.events import EventKind
from flows.screens import Screen, Tone
from flows.state import State
from flows.status import IntakeStatus
from locales import LANGUAGES, Translator, format_when, normalise

FINISHED = (IntakeStatus.COMPLETED, IntakeStatus.DECLINED)


@dataclass(slots=True)
class Shown:
    """What a page shows: the intake's state and the screens of the last answer (or of the stored state)."""

    state: dict[str, Any]
    screens: list[Screen]
    notices: list[Screen] = field(default_factory=list)
    chosen: dict[str, str] = field(default_factory=dict)  # a questionnaire page's answers, given back
    typed: str = ""
    gone: bool = False  # erased: the page says so, and the cookie goes
    ended: bool = False  # finished (completed or declined) by this request: the device forgets the session
    started: datetime | None = None  # when the intake began (to say whose answers a page acts on)

    @classmethod
    def of(cls, current: Current) -> Shown:
        return cls(current.state, list(current.screens), started=current.started)

    @classmethod
    def after(cls, outcome: IntakeResult, extra: list[Screen] | None = None) -> Shown:
        gone = any(e.kind == "delete" for e in outcome.events)
        ended = any(e.kind in (EventKind.COMPLETED, EventKind.DECLINED) for e in outcome.events)
        return cls(outcome.state, list(outcome.screens), notices=list(extra or []), gone=gone, ended=ended)

    @property
    def lang(self) -> str:
        return normalise(self.state.get("lang", "en"))


def asking(screens: list[Screen]) -> Screen | None:
    return next((s for s in reversed(screens) if s.asks), None)


def instrument_of(step: str) -> instruments.Instrument | None:
    """The questionnaire a page's step names ("mdi.6"), whatever its item: a page's risk answers are
    read even from an old or odd page (H1)."""
    iid, _, item = step.partition(".")
    if "@" in step or not item or iid not in instruments.available():
        return None
    return instruments.load(iid)


def browser_language(request: web.Request) -> str:
    """The language the page asks for, else the browser's, else English."""
    asked = request.query.get("lang") or request.query.get("hl")
    if asked in LANGUAGES:
        return asked
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"


class Pages:
    """Builds the responses: pages of the intake, plain pages, error pages."""

    def __init__(self, app: App, sessions: Sessions) -> None:
        self.app = app
        self.sessions = sessions

    def respond(self, request: web.Request, body: str, session: tokens.Session | None = None, *,
                status: int = 200, forget: bool = False, short: bool = False) -> web.Response:
        response = web.Response(text=body, content_type="text/html", charset="utf-8", status=status)
        self.sessions.keep(request, response, session, forget=forget, short=short)
        return response

    def problem(self, request: web.Request, msgid: str, status: int, lang: str | None = None, *,
                notices: list[Screen] | None = None, programme: str = "", forget: bool = False) -> web.Response:
        lang = lang or browser_language(request)
        t = Translator(lang)
        links = [(f"/p/{p.id}", p.name(lang)) for p in self.app.registry.all()]
        body = pages.plain(lang, t("web.title"), [t(msgid)], links, notices=notices or [], programme=programme)
        return self.respond(request, body, status=status, forget=forget)

    def whose(self, shown: Shown) -> Screen:
        """Whose answers a page acts on ("See my data", "Delete my answers"), before it acts."""
        lang = shown.lang
        t = Translator(lang)
        programme = self.app.registry.get(shown.state.get("programme"))
        when = format_when(shown.started, lang, programme.timezone if programme else "UTC") \
            if shown.started else ""
        name = str(shown.state.get("answers", {}).get("name") or "")
        if name:
            return Screen(t("web.whose", name=name, when=when))
        return Screen(t("web.whose_unnamed", when=when))

    def crisis(self, state: dict[str, Any], lang: str | None = None) -> Screen:
        """The flow's crisis screen for the state (in `lang` if given)."""
        return self.app.flow.screens.crisis(State.from_dict({**state, "lang": lang} if lang else state))

    def all_crisis(self, lang: str) -> Screen:
        """Crisis help of every programme, when a page does not say which one it came from."""
        t = Translator(lang)
        lines = [p.name(lang) + "\n" + self.app.flow.screens.crisis_lines(
            State.from_dict({**self.app.flow.begin(p.id, lang).state, "lang": lang}), t)
            for p in self.app.registry.all()]
        return Screen("\n\n".join([t("crisis.text"), *lines]), tone=Tone.CRISIS)

    def _help_lines(self, state: dict[str, Any]) -> Screen:
        """The programme's crisis lines (per region and age) under a calm heading: help on every result page."""
        flow_state = State.from_dict(state)
        t = Translator(flow_state.lang)
        return Screen(t("web.help_now.intro") + "\n\n" + self.app.flow.screens.crisis_lines(flow_state, t))

    def _gone(self, request: web.Request, shown: Shown) -> web.Response:
        """Everything erased; the link and the cookie end here."""
        t = Translator(shown.lang)
        programme = self.app.registry.get(shown.state.get("programme"))
        again = [(f"/p/{programme.id}", t("web.start_again"))] if programme else []
        body = pages.plain(shown.lang, t("web.title"), [s.text for s in shown.screens], again,
                           programme=programme.id if programme else "")
        return self.respond(request, body, forget=True)

    def _notices(self, session: tokens.Session, shown: Shown, question: Screen | None, crisis: bool) -> list[Screen]:
        """Crisis help first, then errors and notes; on a result page whom to call, and on a shared phone
        that the session ended."""
        state = shown.state
        notices = [*shown.notices, *(s for s in shown.screens if s is not question)]
        if crisis and not any(s.tone is Tone.CRISIS for s in notices):
            notices.append(self.crisis(state))
        finished = state.get("status") in FINISHED
        if finished and self.app.registry.get(state.get("programme")) is not None:  # as /help is in the chat
            notices.append(self._help_lines(state))
        if finished and session.kind == "w":  # a shared phone: the next person must not find these answers
            completed = state.get("status") == IntakeStatus.COMPLETED
            ended = "web.session_ended" if completed else "web.session_ended_declined"
            notices.append(Screen(Translator(shown.lang)(ended if shown.ended else "web.finished_visit")))
        notices.sort(key=lambda s: s.tone is not Tone.CRISIS)  # crisis help first, before anything else
        return notices

    def _progress(self, shown: Shown, question: Screen | None, questionnaire: pages.Questionnaire | None
                  ) -> int | None:
        """Percent of the whole intake, while it is under way."""
        if question is None or self.app.registry.get(shown.state.get("programme")) is None \
                or shown.state.get("status") != IntakeStatus.ACTIVE:
            return None
        sequence = self.app.flow.screens.sequence(State.from_dict(shown.state))
        step = questionnaire.items[0].step if questionnaire is not None else question.step.partition("@")[0]
        return round(100 * sequence.index(step) / len(sequence)) if step in sequence else None

    def page(self, request: web.Request, session: tokens.Session, shown: Shown, *,
             crisis: bool = False) -> web.Response:
        """The page of `shown`; with `crisis`, the programme's crisis help first if the flow did not add it."""
        session = request.get(ROTATED, session)
        if shown.gone:
            return self._gone(request, shown)
        state, lang = shown.state, shown.lang
        t = Translator(lang)
        programme = self.app.registry.get(state.get("programme"))
        question = asking(shown.screens) or (shown.screens[-1] if shown.screens else None)
        notices = self._notices(session, shown, question, crisis)
        questionnaire = None
        if question is not None and instrument_of(question.step) is not None:  # with the crisis screen for the script
            questionnaire = pages.questionnaire(question.step, lang, state.get("answers", {}), shown.chosen,
                                                self.crisis(state))
        now = self.sessions.now()
        finished = state.get("status") in FINISHED
        body = pages.render(pages.Page(
            lang, programme.name(lang) if programme else t("web.title"),
            session=tokens.renewed(session, now) if session.kind == "t" else "",
            csrf=tokens.csrf_token(session), notices=notices,
            question=question, questionnaire=questionnaire, progress=self._progress(shown, question, questionnaire),
            typed=shown.typed, resume_link=self._resume_link(request, session),
            reach=session.kind == "t",  # a form has no conversation to write back to; a Mini App has its chat
            programme=programme.id if programme else "",
            footer_actions=session.kind != "n" and not (finished and shown.ended),
        ))
        ended_here = finished and session.kind == "w"
        response = self.respond(request, body, session, forget=ended_here and shown.ended,
                                short=ended_here and not shown.ended)
        if session.kind == "w" and not finished:  # shown to the person here: "it is me" slides on
            self.sessions.mark_here(request, response, session)
        return response

    def _resume_link(self, request: web.Request, session: tokens.Session) -> str:
        if session.kind != "w":
            return ""
        return f"{self.sessions.base(request)}/r/{tokens.renewed(session, self.sessions.now())}"

    def first_page(self, request: web.Request, session: tokens.Session, programme: str,
                   lang: str | None) -> web.Response:
        """A programme's first question for a browser that has stored nothing: nothing is stored now either."""
        reply = self.app.flow.begin(programme, lang)
        return self.page(request, session, Shown(reply.state, list(reply.screens)))

    def ask_whose(self, request: web.Request, session: tokens.Session, shown: Shown, programme: str,
                  lang: str | None) -> web.Response:
        """"Continue as Ana? / Start as someone new": nothing of the intake is shown before the answer."""
        t = Translator(shown.lang)
        name = str(shown.state.get("answers", {}).get("name") or "")
        ask = t("web.whose.ask", name=name) if name else t("web.whose.ask_unnamed")
        csrf = tokens.csrf_token(session)
        forms = (pages.button_form("/continue", {"csrf": csrf}, t("web.whose.continue", name=name) if name
                                   else t("web.whose.continue_unnamed"))
                 + pages.button_form("/new", {"csrf": csrf, "p": programme, "hl": lang or ""}, t("web.whose.new")))
        body = pages.plain(shown.lang, t("web.title"), [ask], forms=forms, programme=programme)
        return self.respond(request, body, session)
