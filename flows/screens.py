"""What the flows ask an adapter to show: screens are data, adapters only render them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class InputKind(StrEnum):
    """What kind of answer a screen expects."""

    CHOICE = "choice"  # one of the buttons
    TEXT = "text"  # free text (buttons, if any, are shortcuts such as "skip")
    NUMBER = "number"  # a whole number typed by the person
    NONE = "none"  # a message only; no answer expected (crisis help, errors, the end)


class Tone(StrEnum):
    """How an adapter may style a screen; the text itself carries the meaning."""

    NORMAL = "normal"
    ERROR = "error"
    CRISIS = "crisis"
    RESULT = "result"


@dataclass(frozen=True, slots=True)
class Button:
    """A choice: `id` comes back in the answer, `label` is localized."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Screen:
    """One message to the person.

    `step` names the question this screen asks (empty for plain messages); adapters put it,
    with `version`, into button payloads so that a tap on an old question can be refused.
    """

    text: str
    step: str = ""
    version: int = 0
    kind: InputKind = InputKind.NONE
    buttons: tuple[Button, ...] = ()
    progress: str = ""
    tone: Tone = Tone.NORMAL
    # navigation (back, skip): not answers, so a console shows them as /commands, not numbers
    nav: tuple[Button, ...] = ()
    # ids of buttons that only a channel able to write to the person later may offer ("contact me here"
    # needs a conversation to answer in; a plain web form has none)
    needs_reach: tuple[str, ...] = ()
    # the pressed question again, updated (a multiple-choice toggle, an overlay on it): a channel that
    # can shows it in place of the pressed message rather than as a new one
    in_place: bool = False

    @property
    def asks(self) -> bool:
        return self.kind is not InputKind.NONE

    def buttons_for(self, reach: bool) -> tuple[Button, ...]:
        """The buttons a channel shows: all of them if it can write to the person later, else the others."""
        return self.buttons if reach else tuple(b for b in self.buttons if b.id not in self.needs_reach)


def screen_to_dict(screen: Screen) -> dict[str, Any]:
    """A screen as JSON data (for the outbox, which renders it when it sends)."""
    return {
        "text": screen.text, "step": screen.step, "version": screen.version, "kind": screen.kind.value,
        "buttons": [[b.id, b.label] for b in screen.buttons], "progress": screen.progress,
        "tone": screen.tone.value, "nav": [[b.id, b.label] for b in screen.nav],
        **({"needs_reach": list(screen.needs_reach)} if screen.needs_reach else {}),
    }


def screen_from_dict(data: dict[str, Any]) -> Screen:
    def buttons(key: str) -> tuple[Button, ...]:
        return tuple(Button(str(i), str(label)) for i, label in data.get(key, []))

    return Screen(str(data["text"]), str(data.get("step", "")), int(data.get("version", 0)),
                  InputKind(data.get("kind", "none")), buttons("buttons"), str(data.get("progress", "")),
                  Tone(data.get("tone", "normal")), buttons("nav"),
                  tuple(str(i) for i in data.get("needs_reach", [])))
