"""A simulated Telegram user: sends updates to the bot and waits for its replies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.fake_telegram.html import _utf16_len
from tests.fake_telegram.records import (
    BotMessage,
    ButtonMatcher,
    JsonDict,
)

if TYPE_CHECKING:
    from tests.fake_telegram.server import FakeTelegram


class FakeUser:
    """A simulated Telegram user talking to the bot in one chat (private by default).

    All ``send_*``/``tap*`` helpers enqueue an update and return it as a dict; they also move the
    :meth:`wait_for_reply` cursor, so ``wait_for_reply`` returns bot messages sent *after* the last action.
    """

    def __init__(
        self,
        server: FakeTelegram,
        user_id: int,
        first_name: str = "Ana",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "da",
        chat: JsonDict | None = None,
    ) -> None:
        self.server = server
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.user: JsonDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            self.user["last_name"] = last_name
        if username:
            self.user["username"] = username
        if language_code:
            self.user["language_code"] = language_code
        if chat is None:
            chat = {"id": user_id, "type": "private", "first_name": first_name}
            if last_name:
                chat["last_name"] = last_name
            if username:
                chat["username"] = username
        self.chat: JsonDict = chat
        self._cursor = len(server.history(self.chat_id))
        server._register_chat(chat)

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    def __repr__(self) -> str:
        return f"FakeUser(id={self.id}, chat_id={self.chat_id}, type={self.chat['type']!r})"

    # -- derived users --------------------------------------------------------------------------------------

    def in_group(
        self, chat_id: int = -1001234567890, title: str = "IPS group", *, chat_type: str = "group"
    ) -> FakeUser:
        """The same person writing in a group chat (``chat_type`` ``"group"`` or ``"supergroup"``)."""
        return FakeUser(
            self.server,
            self.id,
            self.first_name,
            last_name=self.last_name,
            username=self.username,
            language_code=self.language_code,
            chat={"id": chat_id, "type": chat_type, "title": title},
        )

    # -- sending ------------------------------------------------------------------------------------------

    def _mark(self) -> None:
        self._cursor = len(self.server.history(self.chat_id))

    def _base_message(self) -> JsonDict:
        return {
            "message_id": self.server._next_message_id(self.chat_id),
            "from": dict(self.user),
            "chat": dict(self.chat),
            "date": int(time.time()),
        }

    async def send_message(self, **fields: Any) -> JsonDict:
        """Send a message with arbitrary extra fields (``text=...``, ``photo=[...]``, ...)."""
        self._mark()
        message = self._base_message()
        message.update(fields)
        self.server._user_messages[(self.chat_id, message["message_id"])] = message
        return self.server._enqueue({"message": message})

    async def send_text(self, text: str, *, entities: list[JsonDict] | None = None) -> JsonDict:
        fields: JsonDict = {"text": text}
        if entities:
            fields["entities"] = entities
        return await self.send_message(**fields)

    async def send_command(self, command: str) -> JsonDict:
        """Send e.g. ``"/start reconnect"`` with a ``bot_command`` entity covering ``/start``."""
        if not command.startswith("/"):
            command = "/" + command
        head = command.split(maxsplit=1)[0]
        entity = {"type": "bot_command", "offset": 0, "length": _utf16_len(head)}
        return await self.send_text(command, entities=[entity])

    async def send_sticker(self, emoji: str = "👍") -> JsonDict:
        file_id, unique = self.server._user_file("CAACAgIAAxkBAAI", "sticker.webp", "image/webp")
        sticker = {
            "file_id": file_id,
            "file_unique_id": unique,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": 24000,
        }
        return await self.send_message(sticker=sticker)

    async def send_photo(self, caption: str | None = None) -> JsonDict:
        sizes = []
        for width, height, size in ((90, 67, 1200), (320, 240, 15000), (1280, 960, 120000)):
            file_id, unique = self.server._user_file("AgACAgIAAxkBAAI", "photo.jpg", "image/jpeg")
            sizes.append(
                {
                    "file_id": file_id,
                    "file_unique_id": unique,
                    "width": width,
                    "height": height,
                    "file_size": size,
                }
            )
        fields: JsonDict = {"photo": sizes}
        if caption is not None:
            fields["caption"] = caption
        return await self.send_message(**fields)

    async def send_voice(self, duration: int = 3) -> JsonDict:
        file_id, unique = self.server._user_file("AwACAgIAAxkBAAI", "voice.ogg", "audio/ogg")
        voice = {
            "file_id": file_id,
            "file_unique_id": unique,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": 4000 * duration,
        }
        return await self.send_message(voice=voice)

    async def send_location(self, latitude: float = 55.6761, longitude: float = 12.5683) -> JsonDict:
        return await self.send_message(location={"latitude": latitude, "longitude": longitude})

    async def send_contact(self, phone_number: str = "+4512345678", *, own: bool = True) -> JsonDict:
        """Share a contact; ``own=True`` shares the user's own number (``user_id`` set as Telegram does)."""
        contact: JsonDict = {"phone_number": phone_number, "first_name": self.first_name}
        if own:
            contact["user_id"] = self.id
            if self.last_name:
                contact["last_name"] = self.last_name
        else:
            contact["first_name"] = "Other"
        return await self.send_message(contact=contact)

    async def edit_message(self, message_id: int, text: str) -> JsonDict:
        """Edit one of this user's earlier messages (``edited_message`` update)."""
        original = self.server._user_messages.get((self.chat_id, message_id))
        if original is None:
            raise LookupError(f"user message {message_id} not found in chat {self.chat_id}")
        self._mark()
        edited = dict(original)
        edited["text"] = text
        edited.pop("entities", None)
        edited["edit_date"] = int(time.time())
        self.server._user_messages[(self.chat_id, message_id)] = edited
        return self.server._enqueue({"edited_message": edited})

    async def tap(self, message_id: int, callback_data: str) -> JsonDict:
        """Press an inline button: a ``callback_query`` update with a fresh id and the bot's message."""
        message = self.server._message_for_callback(self.chat_id, message_id)
        self._mark()
        query_id = self.server._new_callback_id()
        query: JsonDict = {
            "id": query_id,
            "from": dict(self.user),
            "message": message,
            "chat_instance": str(abs(hash(("chat_instance", self.chat_id))) % 10**18),
            "data": callback_data,
        }
        return self.server._enqueue({"callback_query": query})

    async def tap_button(self, matcher: ButtonMatcher, *, message_id: int | None = None) -> JsonDict:
        """Tap a button (by text or predicate on the button dict) of the latest bot message with an inline
        keyboard in this chat (or of ``message_id``)."""
        if message_id is None:
            candidates = [m for m in self.server.sent_messages(self.chat_id) if m.buttons]
            if not candidates:
                raise LookupError(f"no bot message with an inline keyboard in chat {self.chat_id}")
            target = candidates[-1]
        else:
            target = self.server._bot_message(self.chat_id, message_id)
        button = target.find_button(matcher)
        if "callback_data" not in button:
            raise LookupError(f"button {button!r} has no callback_data")
        return await self.tap(target.message_id, str(button["callback_data"]))

    async def block_bot(self) -> JsonDict:
        """Block the bot: sends become 403 and a ``my_chat_member`` (kicked) update is queued."""
        self.server.block_user(self.chat_id)
        return self._my_chat_member("member", "kicked")

    async def unblock_bot(self) -> JsonDict:
        self.server.unblock_user(self.chat_id)
        return self._my_chat_member("kicked", "member")

    def _my_chat_member(self, old: str, new: str) -> JsonDict:
        self._mark()

        def member(status: str) -> JsonDict:
            data: JsonDict = {"status": status, "user": dict(self.server.bot_user)}
            if status == "kicked":
                data["until_date"] = 0
            return data

        return self.server._enqueue(
            {
                "my_chat_member": {
                    "chat": dict(self.chat),
                    "from": dict(self.user),
                    "date": int(time.time()),
                    "old_chat_member": member(old),
                    "new_chat_member": member(new),
                }
            }
        )

    # -- observing ----------------------------------------------------------------------------------------

    @property
    def messages(self) -> list[BotMessage]:
        """Current bot messages in this chat (after edits, without deleted ones)."""
        return self.server.sent_messages(self.chat_id)

    @property
    def last_message(self) -> BotMessage | None:
        messages = self.messages
        return messages[-1] if messages else None

    async def wait_for_reply(
        self,
        predicate: Callable[[BotMessage], bool] | None = None,
        timeout: float = 10.0,
    ) -> BotMessage:
        """Wait until the bot sends or edits a message in this chat (after the last user action and after
        replies already returned) that matches ``predicate``; return a snapshot of it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            events = self.server.history(self.chat_id)
            for index in range(self._cursor, len(events)):
                event = events[index]
                if event.kind == "delete":
                    continue
                if predicate is None or predicate(event.message):
                    self._cursor = index + 1
                    return event.message
            waiter = self.server._changed
            if not await waiter.wait(deadline - loop.time()):
                seen = [e.message.content[:80] for e in events[self._cursor :] if e.kind != "delete"]
                raise TimeoutError(
                    f"no matching bot reply in chat {self.chat_id} within {timeout}s; "
                    f"messages since last action: {seen}"
                )
