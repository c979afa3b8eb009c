"""What a person types, checked: cleaned text, a typed number or name of a button, and the answer a
question accepts (a number in range, a phone number, an e-mail address, text within its length).

Each check returns the value, or the message id that tells the person what to change.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from flows.questions import Kind, Question
from flows.screens import Screen

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{6,18}[0-9]$")


def clean_text(raw: str) -> str:
    """Drop control and zero-width characters, normalise, trim; keeps line breaks."""
    text = unicodedata.normalize("NFC", raw)
    kept = [c for c in text if c == "\n" or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co")]
    return "".join(kept).strip()


def match_button(screen: Screen, text: str) -> str | None:
    """The button a typed answer names: its number (1, 2, ...) or its label, any case."""
    if text.isdecimal() and 1 <= int(text) <= len(screen.buttons):
        return screen.buttons[int(text) - 1].id
    folded = text.casefold()
    for button in screen.buttons:
        if button.label.casefold() == folded:
            return button.id
    return None


@dataclass(frozen=True, slots=True)
class Invalid:
    """A typed answer the question does not accept: the message id to show, with its parameters."""

    msgid: str
    params: tuple[tuple[str, Any], ...] = ()


def typed_answer(question: Question, text: str) -> Any | Invalid:
    """The value of a typed (cleaned) answer to `question`, or why it is not accepted."""
    if not text:
        return Invalid("error.empty")
    if len(text) > question.max_length and question.kind is not Kind.NUMBER:
        return Invalid("error.too_long", (("max", question.max_length),))
    if question.kind is Kind.NUMBER:
        digits = text.replace(" ", "")
        if not digits.isdecimal() or not question.minimum <= int(digits) <= question.maximum:
            return Invalid("error.age")
        return int(digits)
    if question.kind is Kind.PHONE and not PHONE_RE.match(text):
        return Invalid("error.phone")
    if question.kind is Kind.EMAIL and not EMAIL_RE.match(text):
        return Invalid("error.email")
    return text
