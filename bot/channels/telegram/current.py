"""Small reads and marks the Telegram handlers need besides `IntakeService.answer`.

A sticker or a photo is not an answer, so it does not go through the flow: the handler marks the
update as processed and shows the current question again, read from the stored state with
`IntakeFlow.show` (the same screen a resume shows). Notices that are not answers (group chats,
edited messages) only mark the update, so a redelivered update stays silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.app import App
from bot.channels.telegram.updates import inbox_source
from bot.services.intake import Person
from flows.screens import Screen
from locales import normalise


@dataclass(slots=True)
class Current:
    duplicate: bool
    lang: str
    screens: list[Screen] = field(default_factory=list)


async def current_question(app: App, person: Person, *, update_id: int, bot_id: int) -> Current:
    """Mark the update and return the question the person is at (nothing if no intake is under way)."""
    async with app.uow() as uow:
        if not await uow.updates.mark(inbox_source(bot_id), update_id, app.clock.now()):
            return Current(duplicate=True, lang=normalise(person.language))
        candidate = await uow.candidates.find(person.channel, person.external_id)
        intake = await uow.intakes.latest(candidate.id) if candidate is not None else None
        if intake is None or intake.status != "active" or not intake.state:
            return Current(duplicate=False, lang=normalise(candidate.language if candidate else person.language))
        return Current(duplicate=False, lang=intake.state.get("lang", "en"), screens=app.flow.show(intake.state))
