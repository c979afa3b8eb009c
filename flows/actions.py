"""What a button says: a small typed value, encoded into a button's data and decoded strictly.

Every button the bot shows carries ``step|version|button`` (at most 64 bytes, the messaging
services' limit). The step's prefix names the kind of action: ``book.<referral>`` a
candidate's meeting time, ``fu.<follow-up>`` a follow-up question, ``ref.<referral>`` a referral
offer, ``case.<referral>`` a case card, ``slot.<stage>`` the slot calendar, ``esc.<escalation>``
an escalation's copy; ``chk.`` and ``alert.`` were retired (old buttons people still have are
refused, with the usual answer). Any other step is a question of the intake.

The encoded strings are the same as before this module existed, so every button already sent
still decodes. `decode` never raises: data that is not ours, too long, not UTF-8, or with a
version that is not a small number is None. Whether the person may press it is decided on the
server when the action runs (`bot/services/policy.py`), never by decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from flows.answers import Tap

MAX_BYTES = 64
MAX_VERSION_DIGITS = 9


@dataclass(frozen=True, slots=True)
class Question:
    """An answer to the intake's question `step`, shown at `version`."""

    step: str
    version: int
    button: str

    def tap(self) -> Tap:
        return Tap(self.step, self.version, self.button)


@dataclass(frozen=True, slots=True)
class _Targeted:
    """An action on one record: the text after the prefix (an id; checked again when it runs)."""

    PREFIX: ClassVar[str] = ""
    target: str
    button: str
    version: int = 0

    @property
    def step(self) -> str:
        return f"{self.PREFIX}.{self.target}"


@dataclass(frozen=True, slots=True)
class Booking(_Targeted):
    """A candidate choosing, paging or cancelling a first-meeting time of a referral."""

    PREFIX: ClassVar[str] = "book"


@dataclass(frozen=True, slots=True)
class FollowUpAnswer(_Targeted):
    """A candidate's answer to a follow-up question (its version: which question it was)."""

    PREFIX: ClassVar[str] = "fu"


@dataclass(frozen=True, slots=True)
class OfferPress(_Targeted):
    """A consultant's button on a referral offer (claim, pass, export, seen)."""

    PREFIX: ClassVar[str] = "ref"


@dataclass(frozen=True, slots=True)
class CasePress(_Targeted):
    """A consultant's button on a case card or a meeting notice."""

    PREFIX: ClassVar[str] = "case"


@dataclass(frozen=True, slots=True)
class SlotPress(_Targeted):
    """A peer's step in the slot calendar (`target`: the stage, e.g. ``list``, ``day``)."""

    PREFIX: ClassVar[str] = "slot"


@dataclass(frozen=True, slots=True)
class EscalationPress(_Targeted):
    """"Seen — I will make contact" on an escalation's copy."""

    PREFIX: ClassVar[str] = "esc"


@dataclass(frozen=True, slots=True)
class Retired(_Targeted):
    """A button of a kind the bot no longer shows (``chk.``, ``alert.``): refused when pressed."""

    PREFIX: ClassVar[str] = ""
    kind: str = ""

    @property
    def step(self) -> str:
        return f"{self.kind}.{self.target}"


Targeted = Booking | FollowUpAnswer | OfferPress | CasePress | SlotPress | EscalationPress | Retired
Action = Question | Targeted
KINDS: dict[str, type[Booking | FollowUpAnswer | OfferPress | CasePress | SlotPress | EscalationPress]] = {
    kind.PREFIX: kind for kind in (Booking, FollowUpAnswer, OfferPress, CasePress, SlotPress, EscalationPress)}
RETIRED = frozenset({"chk", "alert"})


def encode(action: Action) -> str:
    """The button data; ValueError over `MAX_BYTES` (step names and ids are short by design)."""
    data = f"{action.step}|{action.version}|{action.button}"
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"button data over {MAX_BYTES} bytes for step {action.step!r}")
    return data


def decode(data: str | bytes | None) -> Action | None:
    """The action a button's data stands for; None for data that is not ours. Never raises."""
    if isinstance(data, bytes):
        try:
            data = data.decode()
        except UnicodeDecodeError:
            return None
    if not isinstance(data, str) or not data:
        return None
    try:
        size = len(data.encode())
    except UnicodeEncodeError:  # a lone surrogate: no button's data
        return None
    if size > MAX_BYTES:
        return None
    parts = data.split("|", 2)
    if len(parts) != 3:
        return None
    step, digits, button = parts
    # "²" is a digit to Python, and int() refuses thousands of digits: not ours either way
    if not (digits.isascii() and digits.isdigit() and len(digits) <= MAX_VERSION_DIGITS):
        return None
    version = int(digits)
    prefix, dot, target = step.partition(".")
    if dot and prefix in KINDS:
        return KINDS[prefix](target, button, version)
    if dot and prefix in RETIRED:
        return Retired(target, button, version, kind=prefix)
    return Question(step, version, button)
