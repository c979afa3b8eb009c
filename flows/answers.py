"""What a person can send: a tap on a button, typed text, a command, or a whole questionnaire page."""

from __future__ import annotations

from dataclasses import dataclass

COMMANDS = ("start", "back", "skip", "language", "restart", "help", "mydata", "delete")


@dataclass(frozen=True, slots=True)
class Tap:
    """A button press on the screen that asked `step` at `version`."""

    step: str
    version: int
    button: str


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # one of COMMANDS, or anything else (answered as unknown)
    arg: str = ""


@dataclass(frozen=True, slots=True)
class PageAnswers:
    """A whole questionnaire page at once (a web form): the page asked `step` at `version`; `answers` are
    its items' chosen scores (item step -> score) in the page's order; `back` is its "back" button."""

    step: str
    version: int
    answers: tuple[tuple[str, str], ...]
    back: bool = False


Answer = Tap | Text | Command | PageAnswers


def parse_text(text: str) -> Text | Command:
    """``/start reconnect`` and ``/back@SomeBot`` are commands; anything else is text."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2 or len(stripped) > 200:
        return Text(text)
    head, _, arg = stripped[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    if not name.replace("_", "").isalnum():
        return Text(text)
    return Command(name, arg.strip())
