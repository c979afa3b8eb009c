"""A whole questionnaire page answered at once (a web form), as the taps a conversation would send.

A conversation asks an instrument's items one at a time; a form shows them all and sends them
together. `answer_page` turns that page into the same taps on the flow's own `handle`, so scoring,
risk flags and the next step are decided exactly as one at a time, in one reply with every step's
events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flows.answers import Answer, PageAnswers, Tap
from flows.events import Event, Reply
from flows.screens import Screen, Tone
from flows.steps import ButtonId, Step

Handle = Callable[[dict[str, Any], Answer], Reply]


def answer_page(handle: Handle, shown: Reply, page: PageAnswers) -> Reply:
    """The reply to `page`, given the current question `shown` (the stored state and its screen).

    The page asked item `page.step`. With `back`: back to the step before the questionnaire. Else back
    first to the earliest item above it whose answer changed, then its items in order, up to the first
    one left out. Crisis help for a risk answer comes first, once. A page not of the current question is
    refused as an old tap is. (A channel that takes pages stores their risk answers first as well, with
    `IntakeService.note_risks`: one after an item left out is not reached here.)"""
    keys = items_of(page.step)
    asked = shown.asking
    if page.step not in keys or asked is None or asked.step != page.step or asked.version != page.version:
        return handle(shown.state, Tap(page.step, page.version, ButtonId.BACK if page.back else ""))
    given = dict(page.answers)
    at = keys.index(page.step)
    stored = shown.state.get("answers", {})
    changed = next((i for i, k in enumerate(keys[:at]) if k in given and str(stored.get(k)) != given[k]), at)
    events: list[Event] = []
    reply = _back(handle, shown, at + 1 if page.back else at - changed, events)
    if page.back:
        return Reply(reply.state, reply.screens, events)
    return _in_order(handle, reply, keys, given, events)


def items_of(step: str) -> list[str]:
    """The steps of every item of the questionnaire that item step `step` (e.g. "mdi.6") belongs to."""
    parsed = Step.parse(step)
    found = parsed.item if parsed is not None else None
    if found is None:
        return []
    instrument, _ = found
    return [f"{instrument.id}.{item.id}" for item in instrument.items]


def _back(handle: Handle, reply: Reply, times: int, events: list[Event]) -> Reply:
    for _ in range(times):
        question = reply.asking
        if question is None:
            break
        reply = handle(reply.state, Tap(question.step, question.version, ButtonId.BACK))
        events += reply.events
    return reply


def _in_order(handle: Handle, reply: Reply, keys: list[str], given: dict[str, str], events: list[Event]) -> Reply:
    crisis: list[Screen] = []
    question = reply.asking
    start = keys.index(question.step) if question is not None and question.step in keys else len(keys)
    for key in keys[start:]:
        if key not in given or question is None or question.step != key:
            break
        reply = handle(reply.state, Tap(key, question.version, given[key]))
        events += reply.events
        crisis += [s for s in reply.screens if s.tone is Tone.CRISIS and s.text not in {c.text for c in crisis}]
        question = reply.asking
    return Reply(reply.state, [*crisis, *(s for s in reply.screens if s.tone is not Tone.CRISIS)], events)
