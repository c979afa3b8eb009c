"""Screens rendered for Telegram: payloads fit 64 bytes, text fits 4096, everything is escaped."""

from __future__ import annotations

import html
import re

import pytest

from bot.channels.telegram.render import MAX_TEXT, callback_data, cut, message_text, parse_callback, render, utf16_len
from flows.answers import Tap
from flows.screens import Button, InputKind, Screen
from tests.support.flow import REGISTRY, Walker


def visible(html_text: str) -> str:
    """What the person sees: Telegram's 4096 limit counts this, not the HTML source."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def every_screen(programme: str) -> list[Screen]:
    """All screens a candidate of `programme` can meet, overlays and corrections included."""
    walker = Walker(programme, "sv")
    walker.run_until("summary", {"q.contact": "email"})
    walker.command("language")
    walker.command("back")
    walker.tap("correct")
    for name in ("restart", "delete"):
        walker.command(name)
        walker.command("back")
    walker.command("back")
    walker.run()
    return [s for r in walker.log for s in r.screens]


@pytest.mark.parametrize("programme", [p.id for p in REGISTRY.all()])
def test_every_button_payload_fits_and_parses_back(programme: str) -> None:
    screens = every_screen(programme)
    assert any(s.step.endswith("@correct") for s in screens)
    for screen in screens:
        for button in (*screen.buttons, *screen.nav):
            data = callback_data(screen.step, screen.version + 10_000, button.id)
            assert len(data.encode()) <= 64, data
            assert parse_callback(data) == Tap(screen.step, screen.version + 10_000, button.id)
        text, _ = render(screen)
        assert utf16_len(visible(text)) <= MAX_TEXT


def test_foreign_payloads_are_not_taps() -> None:
    assert parse_callback(None) is None
    assert parse_callback("garbage") is None
    assert parse_callback("a|x|b") is None


def test_user_text_is_escaped_and_long_text_is_cut_to_telegrams_limit() -> None:
    screen = Screen("<b>Ana</b> & co " + "😀" * 5000, "summary", 1, InputKind.CHOICE,
                    (Button("confirm", "<OK>"),), progress="1/7")
    text, markup = render(screen)
    assert text.startswith("<i>1/7</i>\n\n&lt;b&gt;Ana&lt;/b&gt; &amp; co")
    assert utf16_len(visible(text)) <= MAX_TEXT and text.endswith("…")
    assert "\ud83d" not in text  # never half an emoji (a surrogate)
    assert markup is not None and markup["inline_keyboard"][0][0]["text"] == "<OK>"  # labels are plain text
    assert cut("abc", 10) == "abc" and utf16_len(cut("😀" * 10, 5)) <= 5


def test_progress_is_italic_and_optional() -> None:
    assert message_text(Screen("x")) == "x"
    assert message_text(Screen("x", progress="2/9")) == "<i>2/9</i>\n\nx"
