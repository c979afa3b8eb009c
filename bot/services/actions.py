"""The one table of button actions: each kind (`flows.actions`) with its service call and its rule.

A channel decodes a press into an action and hands it to `run_action`, in the unit of work that
marks the update handled (`first_time`, the one place an update is marked, for candidates and
staff alike). The intake's own questions (`flows.actions.Question`) go to `IntakeService.answer`,
which takes the mark in its own unit of work. Adding a button is one entry here and one class in
`flows.actions`.

Every press is checked again on the server when it runs, by the rule named in its entry
(`bot/services/policy.py`), never trusted from the button; a refusal is audited by the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.services import policy
from flows.actions import (
    Booking,
    CasePress,
    EscalationPress,
    FollowUpAnswer,
    OfferPress,
    Retired,
    SlotPress,
    Targeted,
)
from storage.repositories import UnitOfWork

if TYPE_CHECKING:
    from bot.services.casework import Casework
    from bot.services.notify import Who

# (unit of work, casework, who pressed, the action, the pressed message's id, now) -> the service's result
Call = Callable[[UnitOfWork, "Casework", "Who", Any, int, datetime], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Entry:
    call: Call
    rule: Callable[..., bool] | None  # the policy that decides whether the press is allowed; None: the
    why: str  # ... service checks ownership itself, as `why` says


TABLE: dict[type[Targeted], Entry] = {
    OfferPress: Entry(lambda uow, cw, who, a, ref, now: cw.press(uow, who, a.step, a.button, ref, now),
                      policy.may_act, "an active consultant's own open offer of the referral"),
    CasePress: Entry(lambda uow, cw, who, a, ref, now: cw.press(uow, who, a.step, a.button, ref, now),
                     policy.may_act, "the consultant holding the open case"),
    EscalationPress: Entry(lambda uow, cw, who, a, ref, now: cw.escalations.press(uow, who, a.target, a.button,
                                                                                 ref, now),
                           policy.may_mark_seen, "staff the escalation concerns; never peers"),
    SlotPress: Entry(lambda uow, cw, who, a, ref, now: cw.meetings.slot_press(uow, who, a.step, a.button, now),
                     policy.may_use_slot, "the peer whose calendar it is"),
    Booking: Entry(lambda uow, cw, who, a, ref, now: cw.meetings.book_press(uow, who, a.step, a.button, now),
                   policy.may_book, "the candidate of the claimed referral, a slot of its programme"),
    FollowUpAnswer: Entry(lambda uow, cw, who, a, ref, now: cw.followups.press(uow, who, a.step, a.version,
                                                                               a.button, now),
                          None, "the candidate's own follow-up (FollowUps.press)"),
    # an old button: `may_act` allows no kind but "ref" and "case", so it is refused and audited
    Retired: Entry(lambda uow, cw, who, a, ref, now: cw.press(uow, who, a.step, a.button, ref, now),
                   policy.may_act, "nobody: a retired kind"),
}


async def first_time(uow: UnitOfWork, source: str, event_id: int, now: datetime) -> bool:
    """Mark an update handled, in the unit of work of its effect; False if it was handled before."""
    return await uow.updates.mark(source, event_id, now)


async def run_action(uow: UnitOfWork, casework: Casework, who: Who, action: Targeted, ref: int,
                     now: datetime) -> object:
    """The one entry point for a pressed button (other than the intake's questions). `ref`: the
    pressed message, which some answers edit."""
    return await TABLE[type(action)].call(uow, casework, who, action, ref, now)
