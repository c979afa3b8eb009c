"""Small reads and marks the Telegram handlers need besides `IntakeService.answer`.

A sticker or a photo is not an answer, so it does not go through the flow: the handler marks the
update as processed and shows the current question again, read by the one reading every channel uses
(`bot.services.current`; the same screen a resume shows). Notices that are not answers (group chats,
edited messages) only mark the update, so a redelivered update stays silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.app import App
from bot.channels.telegram.updates import inbox_source
from bot.services.current import CurrentScreens
from bot.services.intake import Person
from flows.screens import Screen


@dataclass(slots=True)
class Current:
    duplicate: bool
    lang: str
    screens: list[Screen] = field(default_factory=list)


async def current_question(app: App, person: Person, *, update_id: int, bot_id: int) -> Current:
    """Mark the update and return the question the person is at (nothing unless an intake is under way)."""
    reading = await CurrentScreens(app.uow, app.flow, app.clock).read(person, event_id=update_id,
                                                                      source=inbox_source(bot_id))
    return Current(duplicate=reading.duplicate, lang=reading.lang, screens=reading.screens)
