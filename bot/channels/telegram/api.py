"""The Bot API as the shared Telegram code sees it: a few calls and three errors, no framework.

Rendering, routing (`handlers`, `staff`), delivery and the update inbox loop (`polling`) call a
`TelegramApi`; each runtime (`bot.channels.telegram.aiogram`, `bot.channels.telegram.ptb`) implements
it on its own client, with the same pacing (`bot.channels.telegram.pacing`), the same waiting on 429,
and its errors mapped to these.
"""

from __future__ import annotations

from typing import Any, Protocol

Markup = dict[str, Any]  # an inline keyboard as Telegram's JSON: {"inline_keyboard": [[{"text", "callback_data"}]]}
PARSE_MODE = "HTML"  # what `bot.channels.telegram.render` writes
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
COMMANDS = ("start", "back", "language", "restart", "help", "mydata", "delete")


class ApiError(Exception):
    """Telegram refused a call, or could not be reached. `message` carries no user content."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class NetworkError(ApiError):
    """Telegram could not be reached, or did not answer in time: worth trying again later."""


class BadRequest(ApiError):
    """Telegram refused the call (400): "message is not modified", too old to edit, gone, ..."""


class Forbidden(ApiError):
    """The person blocked the bot (403)."""


class TelegramApi(Protocol):
    """What the shared code needs of a Telegram client. Message ids are Telegram's."""

    @property
    def id(self) -> int: ...  # the bot's own id (the update inbox is kept per bot)

    async def send_text(self, chat_id: int, text: str, markup: Markup | None = None) -> int:
        """sendMessage with HTML text (paced per chat); the new message's id."""
        ...

    async def edit_text(self, chat_id: int, message_id: int, text: str, markup: Markup | None = None) -> None:
        """editMessageText with HTML text; no markup removes the buttons. Not paced."""
        ...

    async def answer_tap(self, query_id: str) -> None:
        """answerCallbackQuery without text: stops the spinner."""
        ...

    async def remove_message(self, chat_id: int, message_id: int) -> None: ...

    async def replace_document(self, chat_id: int, message_id: int, content: bytes, filename: str,
                               caption: str | None) -> None:
        """editMessageMedia: a sent file replaced by another."""
        ...

    async def upload_document(self, chat_id: int, content: bytes, filename: str, caption: str | None) -> int:
        """sendDocument (paced per chat); the new message's id."""
        ...

    async def fetch_updates(self, offset: int | None, wait: int, limit: int) -> list[dict[str, Any]]:
        """getUpdates for `ALLOWED_UPDATES`, answered as Telegram's JSON (stored in the inbox as it came)."""
        ...


