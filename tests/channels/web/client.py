"""A form-filling client for the web channel's pages: reads forms out of the HTML, posts them back.

Like a browser without JavaScript: it sends only what a form holds (hidden fields, the pressed
button, the chosen radios, the typed text), so the tests exercise the same HTML a person gets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp.test_utils import TestClient


@dataclass
class Form:
    action: str
    hidden: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # (name, value, label)
    radios: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)  # name -> [(value, data-risk)]
    fields: list[str] = field(default_factory=list)  # text inputs and textareas


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._button: tuple[str, str] | None = None
        self._label: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", "")))
        elif not self.forms:
            return
        elif tag == "input" and a.get("type") == "hidden":
            self.forms[-1].hidden[a["name"]] = a.get("value", "")
        elif tag == "input" and a.get("type") == "radio":
            self.forms[-1].radios.setdefault(a["name"], []).append((a["value"], "data-risk" in a))
        elif tag in ("input", "textarea"):
            self.forms[-1].fields.append(a["name"])
        elif tag == "button":
            self._button = (a.get("name", ""), a.get("value", ""))
            self._label = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.forms:
            self.forms[-1].buttons.append((*self._button, "".join(self._label).strip()))
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._label.append(data)
        self.text.append(data)


@dataclass
class Page:
    status: int
    html: str
    forms: list[Form]
    text: str

    def form(self, action: str) -> Form:
        return next(f for f in self.forms if f.action == action)

    @property
    def answer(self) -> Form:
        return self.form("/answer")

    @property
    def step(self) -> str:
        return self.answer.hidden["step"]

    def crisis(self) -> list[str]:
        return re.findall(r'<section[^>]*class="crisis"[^>]*>(.*?)</section>', self.html, re.S)

    def errors(self) -> list[str]:
        return re.findall(r'<div class="error" role="alert">(.*?)</div>', self.html, re.S)


def parse(status: int, html: str) -> Page:
    parser = _Parser()
    parser.feed(html)
    return Page(status, html, parser.forms, " ".join(" ".join(parser.text).split()))


class WebUser:
    """One person with a browser (a cookie jar) on the web channel."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.page: Page | None = None

    async def get(self, path: str) -> Page:
        response = await self.client.get(path)
        self.page = parse(response.status, await response.text())
        return self.page

    async def post(self, action: str, data: dict[str, str], form: Form | None = None) -> Page:
        form = form or (self.page.form(action) if self.page else Form(action))
        response = await self.client.post(action, data={**form.hidden, **data})
        self.page = parse(response.status, await response.text())
        return self.page

    async def press(self, value: str) -> Page:
        """Press the answer form's button with this value (a choice, "next", "back", "skip")."""
        assert self.page is not None
        form = self.page.answer
        assert any(v == value for _, v, _ in form.buttons), (value, form.buttons)
        return await self.post("/answer", {"b": value}, form)

    async def type(self, text: str) -> Page:
        assert self.page is not None
        return await self.post("/answer", {"text": text}, self.page.answer)

    async def fill(self, scores: dict[str, str]) -> Page:
        """Send a questionnaire page with these items chosen (item step -> score)."""
        assert self.page is not None
        return await self.post("/answer", scores, self.page.answer)
