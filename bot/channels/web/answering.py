"""Answers from a page: `/answer` (a choice, a typed answer, or a whole questionnaire page) and `/lang`.

This module only turns form fields into the flow's answers and outcomes into pages: a questionnaire
page is one `PageAnswers`, which the flow takes as its taps one at a time (`IntakeFlow.handle_page`),
so it scores, flags risk and triages as in the chat. Its risk answers go to the service first of all
(`IntakeService.note_risks`): the flow reaches an item only after the ones before it, so a risk answer
after an item left out, with "back", or on an old page would otherwise not be stored (H1, H24).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot.channels.web import tokens
from bot.channels.web.assembly import Shown, asking, instrument_of
from bot.channels.web.middleware import BadRequest, version_of
from bot.channels.web.sessions import ROTATED, person
from bot.channels.web.site import Site, chosen_on
from flows import instruments
from flows.answers import Command, PageAnswers, Tap, Text
from flows.screens import Screen, Tone
from locales import LANGUAGES, Translator

MAX_FIELD = 16_000  # characters of one typed answer the flow is asked to judge; the flow's own limits are lower
MAX_DIGITS = 1000  # digits in one typed answer: no question needs more, and int() refuses over 4,300


def routes(site: Site) -> list[web.RouteDef]:
    part = Answering(site)
    return [web.post("/answer", part.answer), web.post("/lang", part.language)]


class Answering:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.app = site.app

    async def _stored(self, request: web.Request, session: tokens.Session,
                      form: MultiDictProxy[Any]) -> tuple[tokens.Session, Shown] | web.Response:
        """The session's stored intake. A browser that has stored nothing stores its intake now, under a
        new token (its first answer); a token whose intake was erased stays dead."""
        if session.kind == "n":
            programme = self.app.registry.get(str(form.get("p", ""))[:40])
            if programme is None:
                return self.site.pages.problem(request, "web.expired", 410)
            lang = str(form.get("hl", ""))
            stored = tokens.new_session("w", self.site.sessions.now())
            outcome = await self.app.intake.start(person(stored, lang if lang in LANGUAGES else None),
                                                  programme.id, anew=True)
            request[ROTATED] = stored
            return stored, Shown(outcome.state, self.app.flow.show(outcome.state))
        current = await self.site.current(session)
        if current is None:
            return await self.site.refused(request, form, "web.expired", 410)
        return session, Shown.of(current)

    async def answer(self, request: web.Request) -> web.Response:
        checked = await self.site.checked(request)
        if isinstance(checked, web.Response):
            return checked
        session, form = checked
        step = str(form.get("step", ""))
        instrument = instrument_of(step)
        given = chosen_on(instrument, form) if instrument is not None else {}
        risky = any(instruments.risk_signal(k, v) for k, v in given.items())
        if risky:
            # before anything else: the flow takes a page's items in order and would store a risk answer
            # only when it reaches it; left out before it, "back" or an old page must not lose it (H1, H24)
            await self.app.intake.note_risks(person(session), given)
        stored = await self._stored(request, session, form)
        if isinstance(stored, web.Response):
            return stored
        session, shown = stored
        version = version_of(form)
        button = str(form.get("b", "")) or None
        question = asking(shown.screens)
        if version is None:  # not from our page ("²", 5,000 digits): a 400, with crisis help for a risk answer
            return await self.site.refused(request, form, "web.bad_request", 400, session)
        asks_this = question is not None and question.step == step and question.version == version
        if instrument is not None and button != "skip" and asks_this:
            return await self._questionnaire(request, session, instrument, given, step, version,
                                             back=button == "back", risky=risky)
        if button is not None:  # a choice, a shortcut, back or skip: the flow refuses an old page's press
            outcome = await self.site.feed(request, session, Tap(step, version, button))
            return self.site.pages.page(request, session, Shown.after(outcome), crisis=risky)
        if not asks_this:
            # a typed answer is not tied to its question by the flow: an old page must not answer a newer one
            shown.notices.append(Screen(Translator(shown.lang)("stale.tap"), tone=Tone.ERROR))
            return self.site.pages.page(request, session, shown, crisis=risky)
        return await self._typed(request, session, shown, step, str(form.get("text", "")))

    async def _typed(self, request: web.Request, session: tokens.Session, shown: Shown, step: str,
                     text: str) -> web.Response:
        if len(text) > MAX_FIELD:
            shown.notices.append(Screen(Translator(shown.lang)("web.too_long", max=MAX_FIELD), tone=Tone.ERROR))
            shown.typed = text  # given back: nothing is lost
            return self.site.pages.page(request, session, shown)
        if sum(c.isdecimal() for c in text) > MAX_DIGITS:  # no question asks that many; int() would refuse it
            raise BadRequest()
        outcome = await self.site.feed(request, session, Text(text))
        after = Shown.after(outcome)
        question = asking(outcome.screens)
        if question is not None and question.step == step and any(s.tone is Tone.ERROR for s in outcome.screens):
            after.typed = text  # refused (too long, not a phone number): the text stays in the field
        return self.site.pages.page(request, session, after)

    async def _questionnaire(self, request: web.Request, session: tokens.Session, instrument: instruments.Instrument,
                             given: dict[str, str], step: str, version: int, *, back: bool,
                             risky: bool) -> web.Response:
        """A questionnaire page: the flow takes it whole (`IntakeFlow.handle_page`), in one answer.

        `given` are the page's valid answers; `risky` says one is a risk answer (stored already)."""
        keys = [f"{instrument.id}.{item.id}" for item in instrument.items]
        page = PageAnswers(step, version, tuple((k, given[k]) for k in keys if k in given), back=back)
        shown = Shown.after(await self.site.feed(request, session, page))
        missing = [n for n, k in enumerate(keys) if k not in given]
        if missing and not back:
            t = Translator(shown.lang)
            first = missing[0]
            # after the flow's crisis help (it comes first on the page), before its other screens
            at = sum(s.tone is Tone.CRISIS for s in shown.screens)
            shown.screens.insert(at, Screen(t("web.missing_item", number=first + 1,
                                                text=t(instrument.items[first].text)), tone=Tone.ERROR))
            shown.chosen = given
        # a risk answer after an item left out is not taken by the flow yet (it takes them in order), but
        # it was stored on arrival and its help is shown now, as the chat shows it on the answer
        return self.site.pages.page(request, session, shown, crisis=risky)

    async def language(self, request: web.Request) -> web.Response:
        site = self.site
        checked = await site.checked(request)
        if isinstance(checked, web.Response):
            return checked
        session, form = checked
        lang = str(form.get("lang", ""))
        if session.kind == "n":  # nothing stored: the first page again, in that language
            programme = self.app.registry.get(str(form.get("p", ""))[:40])
            if programme is None:
                return site.pages.problem(request, "web.expired", 410)
            return site.pages.first_page(request, session, programme.id, lang if lang in LANGUAGES else None)
        current = await site.current(session)
        if current is None:
            return site.pages.problem(request, "web.expired", 410)
        if lang not in LANGUAGES:  # the same page again (a Mini App's session is in the form, not a cookie)
            return site.pages.page(request, session, Shown.of(current))
        overlay = asking((await site.feed(request, session, Command("language"))).screens)
        if overlay is None:
            again = await site.current(session)
            return site.pages.page(request, session, Shown.of(again or current))
        outcome = await site.feed(request, session, Tap(overlay.step, overlay.version, lang))
        return site.pages.page(request, session, Shown.after(outcome))
