"""Screens to HTML: server-rendered forms that work without JavaScript; every text escaped.

A page is the flow's screens of one answer: notices (errors, crisis help) first, then the question
as a form. A questionnaire item is shown as the whole instrument on one page, a radio group per
item under the instrument's stem, built from the same instrument data and catalogue ids the chat
uses. The page carries the question's step and version, like a chat button's payload, so an old
page cannot answer a newer question.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flows import instruments
from flows.screens import InputKind, Screen, Tone
from locales import LANGUAGES, Translator

TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def paragraphs(text: str) -> str:
    """Plain text as paragraphs: a blank line between paragraphs, a single newline as a line break."""
    parts = [p for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{esc(p).replace(chr(10), '<br>')}</p>" for p in parts)


@dataclass(slots=True)
class Item:
    """One questionnaire item on a page."""

    step: str
    number: int
    text: str
    options: list[tuple[str, str, bool]]  # (value, label, is a risk answer)
    chosen: str | None = None


@dataclass(slots=True)
class Questionnaire:
    stem: str
    items: list[Item]
    crisis: Screen  # shown at once by the script when a risk answer is chosen


@dataclass(slots=True)
class Page:
    lang: str
    title: str
    session: str = ""  # the session token, repeated in every form (a Mini App has no cookie to rely on)
    csrf: str = ""
    notices: list[Screen] = field(default_factory=list)
    question: Screen | None = None
    questionnaire: Questionnaire | None = None
    progress: int | None = None  # percent of the whole intake
    typed: str = ""  # a typed answer given back after an error: nothing is lost
    resume_link: str = ""
    actions: bool = True  # language, my data, delete
    body: str = ""  # a page of its own (Mini App start, expired link, my data)
    telegram: bool = False
    reach: bool = True  # the channel can write to the person later: the flow's options that need it are shown
    programme: str = ""  # in every form (a page sent after its session ended still gets that programme's help)
    footer_actions: bool = True  # "See my data", "Delete my answers": only when something is stored
    help_link: bool = True  # "Help now" at the top of every page, as /help is in the chat


def questionnaire(step: str, lang: str, answers: Mapping[str, Any], chosen: Mapping[str, str],
                  crisis: Screen) -> Questionnaire | None:
    """The whole instrument that `step` belongs to, with the answers stored or just given."""
    iid, _, _ = step.partition(".")
    if iid not in instruments.available():
        return None
    t = Translator(lang)
    instrument = instruments.load(iid)
    items = []
    for number, item in enumerate(instrument.items, 1):
        key = f"{iid}.{item.id}"
        stored = answers.get(key)
        options = [(str(o.score), t(o.label), bool(instruments.risk_flags(instrument, item.id, o.score)))
                   for o in instrument.options_of(item)]  # MANSA's yes/no items have their own
        pick = chosen.get(key, None if stored is None else str(stored))
        items.append(Item(key, number, t(item.text), options, pick))
    return Questionnaire(t(instrument.intro), items, crisis)


def _hidden(page: Page, screen: Screen | None) -> str:
    fields = [("s", page.session)] if page.session else []  # a browser's session is its cookie only
    fields += [("csrf", page.csrf), ("p", page.programme), ("hl", page.lang)]
    if screen is not None:
        fields += [("step", screen.step), ("version", str(screen.version))]
    return "".join(f'<input type="hidden" name="{n}" value="{esc(v)}">' for n, v in fields)


def _notice(screen: Screen) -> str:
    if screen.tone is Tone.CRISIS:
        return f'<section class="crisis" role="alert">{paragraphs(screen.text)}</section>'
    if screen.tone is Tone.ERROR:
        return f'<div class="error" role="alert">{paragraphs(screen.text)}</div>'
    return f'<section class="note">{paragraphs(screen.text)}</section>'


def _nav(screen: Screen) -> str:
    return "".join(f'<button class="nav" name="b" value="{esc(b.id)}" formnovalidate>{esc(b.label)}</button>'
                   for b in screen.nav)


def _question(page: Page, screen: Screen) -> str:
    head = f'<div id="q" class="text">{paragraphs(screen.text)}</div>'
    if not screen.asks:
        return f'<section class="{screen.tone.value}">{head}</section>'
    form = f'<form method="post" action="/answer" class="answer">{_hidden(page, screen)}'
    buttons = screen.buttons_for(page.reach)  # the flow says which options need a conversation to answer in
    if screen.kind is InputKind.CHOICE:
        choices = "".join(f'<button name="b" value="{esc(b.id)}">{esc(b.label)}</button>' for b in buttons)
        return (f'{form}{head}<div class="choices" role="group" aria-labelledby="q">{choices}</div>'
                f'<div class="navs">{_nav(screen)}</div></form>')
    # a typed answer: the question text is the field's label
    hints = {"q.phone": ' inputmode="tel" autocomplete="tel"', "q.email": ' inputmode="email" autocomplete="email"',
             "q.name": ' autocomplete="given-name"'}
    label = f'<label for="a" id="q" class="text">{paragraphs(screen.text)}</label>'
    if screen.kind is InputKind.NUMBER:
        field_html = f'<input id="a" name="text" inputmode="numeric" value="{esc(page.typed)}" autocomplete="off">'
    elif screen.step in hints:
        field_html = f'<input id="a" name="text" value="{esc(page.typed)}"{hints[screen.step]}>'
    else:
        field_html = f'<textarea id="a" name="text" rows="3">{esc(page.typed)}</textarea>'
    t = Translator(page.lang)
    shortcuts = "".join(f'<button name="b" value="{esc(b.id)}" formnovalidate>{esc(b.label)}</button>'
                        for b in buttons)
    shortcut_html = f'<div class="choices" role="group" aria-label="{esc(t("web.shortcuts"))}">{shortcuts}</div>' \
        if shortcuts else ""
    return (f'{form}{label}{field_html}<div class="navs"><button class="send">{esc(t("web.send"))}</button>'
            f'{_nav(screen)}</div>{shortcut_html}</form>')


def _questionnaire(page: Page, screen: Screen, q: Questionnaire) -> str:
    t = Translator(page.lang)
    crisis = f'<section id="crisis-now" class="crisis" role="alert" hidden>{paragraphs(q.crisis.text)}</section>'
    groups = []
    for item in q.items:
        radios = "".join(
            f'<label><input type="radio" name="{esc(item.step)}" value="{esc(value)}"'
            f'{" data-risk" if risk else ""}{" checked" if item.chosen == value else ""}> {esc(label)}</label>'
            for value, label, risk in item.options
        )
        groups.append(f'<fieldset id="f-{esc(item.step)}"><legend>{item.number}. {esc(item.text)}</legend>'
                      f'{radios}</fieldset>')
    return (f'{crisis}<form method="post" action="/answer" class="answer" novalidate>{_hidden(page, screen)}'
            f'<div class="text">{paragraphs(q.stem)}</div>{"".join(groups)}'
            f'<div class="navs"><button class="send">{esc(t("web.send"))}</button>{_nav(screen)}</div></form>')


def _actions(page: Page) -> str:
    t = Translator(page.lang)
    hidden = _hidden(page, None)
    current = ' aria-current="true"'
    langs = "".join(f'<button name="lang" value="{c}" lang="{c}"{current if c == page.lang else ""}>'
                    f'{esc(Translator(c)(f"language.{c}"))}</button>' for c in LANGUAGES)
    return (f'<nav aria-label="{esc(t("web.language"))}"><form method="post" action="/lang" class="langs">'
            f'{hidden}{langs}</form></nav>')


def help_href(programme: str, lang: str) -> str:
    query = f"p={programme}&lang={lang}" if programme else f"lang={lang}"
    return f"/help?{query}"


def _help_link(page: Page) -> str:
    if not page.help_link:
        return ""
    t = Translator(page.lang)
    return f'<a class="help-now" href="{esc(help_href(page.programme, page.lang))}">{esc(t("web.help_now"))}</a>'


def _footer(page: Page) -> str:
    t = Translator(page.lang)
    parts = []
    if page.resume_link:
        parts.append(f'<section class="resume"><h2>{esc(t("web.resume.title"))}</h2>'
                     f'<p><a href="{esc(page.resume_link)}">{esc(page.resume_link)}</a></p>'
                     f'<p>{esc(t("web.resume.warning"))}</p></section>')
    if page.actions and page.footer_actions:
        hidden = _hidden(page, None)
        parts.append(f'<div class="footer-actions"><form method="post" action="/mydata">{hidden}'
                     f'<button class="nav">{esc(t("web.mydata"))}</button></form>'
                     f'<form method="post" action="/delete">{hidden}'
                     f'<button class="nav">{esc(t("web.delete"))}</button></form></div>')
    return f'<footer>{"".join(parts)}</footer>' if parts else ""


def render(page: Page) -> str:
    t = Translator(page.lang)
    main: list[str] = [_notice(s) for s in page.notices]
    if page.progress is not None:
        text = t("web.progress", percent=page.progress)
        main.append(f'<p class="progress"><label for="pr">{esc(text)}</label> '
                    f'<progress id="pr" max="100" value="{page.progress}">{esc(text)}</progress></p>')
    if page.question is not None and page.questionnaire is not None:
        main.append(_questionnaire(page, page.question, page.questionnaire))
    elif page.question is not None:
        main.append(_question(page, page.question))
    main.append(page.body)
    scripts = f'<script src="{TELEGRAM_SCRIPT}"></script>' if page.telegram else ""
    return (
        f'<!doctype html><html lang="{esc(page.lang)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{esc(page.title)}</title><link rel="stylesheet" href="/static/app.css">{scripts}'
        f'<script src="/static/app.js" defer></script></head><body>'
        f'<header>{_help_link(page)}{_actions(page) if page.actions else ""}</header>'
        f'<main id="main"><h1>{esc(page.title)}</h1>{"".join(main)}</main>{_footer(page)}</body></html>'
    )


def plain(lang: str, title: str, body_text: Iterable[str], links: Iterable[tuple[str, str]] = (), *,
          notices: Iterable[Screen] = (), programme: str = "", forms: str = "") -> str:
    """A page of text and links only (an expired link, an unknown programme); `notices` (crisis help)
    first, `forms` (already HTML) after the text."""
    body = "".join(paragraphs(text) for text in body_text) + forms
    body += "".join(f'<p><a href="{esc(href)}">{esc(label)}</a></p>' for href, label in links)
    return render(Page(lang, title, actions=False, body=body, notices=list(notices), programme=programme))


def button_form(action: str, hidden: Mapping[str, str], label: str, *, method: str = "post") -> str:
    """A form of hidden fields and one button (continue, start as someone new, confirm)."""
    fields = "".join(f'<input type="hidden" name="{esc(n)}" value="{esc(v)}">' for n, v in hidden.items())
    return f'<form method="{method}" action="{esc(action)}">{fields}<button>{esc(label)}</button></form>'
