"""Screens to Telegram messages: HTML text (everything escaped, cut to Telegram's limit) and inline
keyboards.

The outbox holds screens as data; `delivery` renders them here when it sends, and `answered_text`
shows an answered question with what was chosen. Button payloads carry the question they belong to,
``step|version|button`` (`callback_data`), so a tap on an old question can be refused by the flow;
`parse_callback` turns a payload back into a `Tap`. Keyboards are Telegram's JSON (`Markup`), which
both runtimes send as they are (aiogram's `SendRendered`, python-telegram-bot's `do_api_request`): no
model in between.
"""

from __future__ import annotations

import html

from bot.channels.telegram.api import Markup
from flows.actions import MAX_BYTES as MAX_CALLBACK_BYTES
from flows.actions import decode
from flows.answers import Tap
from flows.screens import Button, Screen

MAX_TEXT = 4096  # Telegram's limit on a message's visible text (UTF-16 code units)
ELLIPSIS = "…"


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


def callback_data(step: str, version: int, button: str) -> str:
    """``step|version|button`` (`flows.actions.encode`); step names and button ids are short by design
    (a test checks them all)."""
    data = f"{step}|{version}|{button}"
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback_data over {MAX_CALLBACK_BYTES} bytes for step {step!r}")
    return data


def parse_callback(data: str | None) -> Tap | None:
    """The `Tap` a payload stands for, whatever its kind (`flows.actions.decode`); None for a payload
    that is not ours."""
    action = decode(data)
    return None if action is None else Tap(action.step, action.version, action.button)


def message_text(screen: Screen) -> str:
    """The HTML text of a screen: progress in italics above the text; all of it escaped."""
    progress = cut(screen.progress, 200) if screen.progress else ""
    head = f"<i>{html.escape(progress)}</i>\n\n" if progress else ""
    room = MAX_TEXT - (utf16_len(progress) + 2 if progress else 0)
    return head + html.escape(cut(screen.text, room) or ELLIPSIS)


def _button(screen: Screen, button: Button) -> dict[str, str]:
    if button.id.startswith(("https://", "http://")):  # a link (to the staff area: bot/services/staff_detail.py)
        return {"text": cut(button.label, 64), "url": button.id}
    return {"text": cut(button.label, 64), "callback_data": callback_data(screen.step, screen.version, button.id)}


def keyboard(screen: Screen) -> Markup | None:
    """Answers one per row; navigation (back, skip) together in the last row."""
    rows = [[_button(screen, b)] for b in screen.buttons]
    if screen.nav:
        rows.append([_button(screen, b) for b in screen.nav])
    return {"inline_keyboard": rows} if rows else None


def render(screen: Screen) -> tuple[str, Markup | None]:
    return message_text(screen), keyboard(screen)


def answered_text(question_html: str, label: str) -> str:
    """The question message after it was answered: its text and the chosen answer, no keyboard."""
    tail = "\n\n✔ " + html.escape(cut(label, 200))
    if utf16_len(question_html) + utf16_len(tail) > MAX_TEXT:
        return tail.strip()  # safer than cutting HTML in the middle of a tag
    return question_html + tail
