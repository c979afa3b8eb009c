"""Screens to Telegram messages: HTML text (everything escaped) and inline keyboards.

Button payloads carry the question they belong to, ``step|version|button``, so a tap on an old
question can be refused by the flow; `parse_callback` turns a payload back into a `Tap`.
"""

from __future__ import annotations

import hashlib
import html

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from flows.answers import Tap
from flows.screens import Screen

MAX_TEXT = 4096  # Telegram's limit on a message's visible text (UTF-16 code units)
MAX_CALLBACK_BYTES = 64
ELLIPSIS = "…"
STEP_HASH_PREFIX = "#"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int) -> str:
    """`text` shortened to at most `limit` UTF-16 units, never inside a character, with an ellipsis."""
    if utf16_len(text) <= limit:
        return text
    room = limit - utf16_len(ELLIPSIS)
    out: list[str] = []
    used = 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > room:
            break
        out.append(char)
        used += size
    return "".join(out) + ELLIPSIS


def step_token(step: str) -> str:
    """A short stand-in for a step name too long for a payload."""
    return STEP_HASH_PREFIX + hashlib.sha256(step.encode()).hexdigest()[:10]


def callback_data(step: str, version: int, button: str) -> str:
    data = f"{step}|{version}|{button}"
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        data = f"{step_token(step)}|{version}|{button}"
    assert len(data.encode()) <= MAX_CALLBACK_BYTES, "button id too long for callback_data"
    return data


def parse_callback(data: str | None, current_step: str = "") -> Tap | None:
    """The `Tap` a payload stands for; a hashed step is resolved against `current_step` when it matches
    (otherwise it stays a hash, which the flow refuses as a stale tap). None for foreign payloads."""
    if not data:
        return None
    parts = data.split("|", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    step, version, button = parts
    if step.startswith(STEP_HASH_PREFIX) and current_step and step_token(current_step) == step:
        step = current_step
    return Tap(step, int(version), button)


def message_text(screen: Screen) -> str:
    """The HTML text of a screen: progress in italics above the text; all of it escaped."""
    progress = cut(screen.progress, 200) if screen.progress else ""
    head = f"<i>{html.escape(progress)}</i>\n\n" if progress else ""
    room = MAX_TEXT - (utf16_len(progress) + 2 if progress else 0)
    return head + html.escape(cut(screen.text, room) or ELLIPSIS)


def keyboard(screen: Screen) -> InlineKeyboardMarkup | None:
    """Answers one per row; navigation (back, skip) together in the last row."""
    rows = [
        [InlineKeyboardButton(text=cut(b.label, 64), callback_data=callback_data(screen.step, screen.version, b.id))]
        for b in screen.buttons
    ]
    if screen.nav:
        rows.append([
            InlineKeyboardButton(text=cut(b.label, 64), callback_data=callback_data(screen.step, screen.version, b.id))
            for b in screen.nav
        ])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def render(screen: Screen) -> tuple[str, InlineKeyboardMarkup | None]:
    return message_text(screen), keyboard(screen)


def answered_text(question_html: str, label: str) -> str:
    """The question message after it was answered: its text and the chosen answer, no keyboard."""
    tail = "\n\n✔ " + html.escape(cut(label, 200))
    if utf16_len(question_html) + utf16_len(tail) > MAX_TEXT:
        return tail.strip()  # safer than cutting HTML in the middle of a tag
    return question_html + tail
